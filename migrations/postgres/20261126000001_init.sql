-- twoyes schema, PostgreSQL flavour. Times are unix milliseconds from the app clock.
-- Ids are UUIDv7 text compared byte-wise (collate "C"), so they sort by time
-- whatever the database collation.
create table connectors (
    connector_id text primary key,
    email text not null,
    email_key text not null unique,
    name text not null,
    handle text unique,
    is_admin bigint not null default 0,
    created_at bigint not null
);

create table api_tokens (
    api_token_id text primary key,
    connector_id text not null references connectors (connector_id),
    token_hash text not null unique,
    created_at bigint not null,
    last_used_at bigint
);

create table intros (
    intro_id text collate "C" primary key,
    connector_id text not null references connectors (connector_id),
    mode text not null,
    status text not null,
    reason text not null,
    topic text not null,
    note text,
    due_at bigint,
    created_at bigint not null,
    updated_at bigint not null,
    closed_at bigint
);
create index intros_by_connector on intros (connector_id, intro_id);
create index intros_by_connector_status on intros (connector_id, status, intro_id);
create index intros_by_status on intros (status, intro_id);
create index intros_due on intros (due_at) where due_at is not null;

create table parties (
    intro_id text not null references intros (intro_id),
    role text not null,
    name text not null,
    email text not null,
    email_key text not null,
    blurb text,
    consent text not null,
    consent_on_record_at bigint,
    asked_at bigint,
    ask_count bigint not null,
    reminded bigint not null,
    decided_at bigint,
    undo_until bigint,
    snooze_until bigint,
    has_snoozed bigint not null,
    intro_note text,
    private_reason text,
    created_at bigint not null,
    primary key (intro_id, role)
);
create index parties_by_email on parties (email_key);

create table events (
    event_id text collate "C" primary key,
    intro_id text not null references intros (intro_id),
    kind text not null,
    actor text not null,
    role text,
    channel text not null,
    text_hash text,
    status_after text not null,
    created_at bigint not null
);
create index events_by_intro on events (intro_id, event_id);

create table outbox (
    outbox_id text collate "C" primary key,
    intro_id text not null references intros (intro_id),
    connector_id text not null references connectors (connector_id),
    kind text not null,
    recipient text not null,
    payload text not null,
    message_id text not null unique,
    status text not null,
    attempts bigint not null default 0,
    not_before bigint not null,
    lease_owner text,
    lease_until bigint,
    last_error text,
    created_at bigint not null,
    sent_at bigint
);
create index outbox_ready on outbox (status, not_before);
create index outbox_by_intro on outbox (intro_id, outbox_id);
-- At most one introduction email per intro, whatever the code above does.
create unique index outbox_one_introduction on outbox (intro_id) where kind = 'introduction';

create table party_tokens (
    token_hash text primary key,
    intro_id text not null references intros (intro_id),
    role text not null,
    purpose text not null,
    outbox_id text not null references outbox (outbox_id),
    expires_at bigint not null,
    created_at bigint not null
);

create table suppressions (
    suppression_id text primary key,
    email_hash text not null,
    connector_id text not null default '',
    created_at bigint not null,
    unique (email_hash, connector_id)
);

create table follow_ups (
    intro_id text not null references intros (intro_id),
    role text not null,
    answer text not null,
    answered_at bigint not null,
    created_at bigint not null,
    primary key (intro_id, role)
);
