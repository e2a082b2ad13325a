-- twoyes schema, SQLite flavour. Times are unix milliseconds from the app clock.
create table connectors (
    connector_id text primary key,
    email text not null,
    email_key text not null unique,
    name text not null,
    handle text unique,
    is_admin integer not null default 0,
    created_at integer not null
);

create table api_tokens (
    api_token_id text primary key,
    connector_id text not null references connectors (connector_id),
    token_hash text not null unique,
    created_at integer not null,
    last_used_at integer
);

create table intros (
    intro_id text primary key,
    connector_id text not null references connectors (connector_id),
    mode text not null,
    status text not null,
    reason text not null,
    topic text not null,
    note text,
    due_at integer,
    created_at integer not null,
    updated_at integer not null,
    closed_at integer
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
    consent_on_record_at integer,
    asked_at integer,
    ask_count integer not null,
    reminded integer not null,
    decided_at integer,
    undo_until integer,
    snooze_until integer,
    has_snoozed integer not null,
    intro_note text,
    private_reason text,
    created_at integer not null,
    primary key (intro_id, role)
);
create index parties_by_email on parties (email_key);

create table events (
    event_id text primary key,
    intro_id text not null references intros (intro_id),
    kind text not null,
    actor text not null,
    role text,
    channel text not null,
    text_hash text,
    status_after text not null,
    created_at integer not null
);
create index events_by_intro on events (intro_id, event_id);

create table outbox (
    outbox_id text primary key,
    intro_id text not null references intros (intro_id),
    connector_id text not null references connectors (connector_id),
    kind text not null,
    recipient text not null,
    payload text not null,
    message_id text not null unique,
    status text not null,
    attempts integer not null default 0,
    not_before integer not null,
    lease_owner text,
    lease_until integer,
    last_error text,
    created_at integer not null,
    sent_at integer
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
    expires_at integer not null,
    created_at integer not null
);

create table suppressions (
    suppression_id text primary key,
    email_hash text not null,
    connector_id text not null default '',
    created_at integer not null,
    unique (email_hash, connector_id)
);

create table follow_ups (
    intro_id text not null references intros (intro_id),
    role text not null,
    answer text not null,
    answered_at integer not null,
    created_at integer not null,
    primary key (intro_id, role)
);
