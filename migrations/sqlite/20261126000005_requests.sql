-- Requests from a connector's public page (`/r/{handle}`). A request is
-- `unconfirmed` until the requester clicks the link emailed to them, then
-- `pending` in the connector's inbox, then `approved` (an intro exists) or
-- `declined` (a kind message was emailed); approving writes the intro in
-- the same transaction. Only the confirmation link's hash is stored.
create table requests (
    request_id text primary key,
    connector_id text not null references connectors (connector_id),
    status text not null,
    requester_name text not null,
    requester_email text not null,
    requester_email_key text not null,
    wants_to_meet text not null,
    reason text not null,
    blurb text not null,
    confirm_token_hash text not null unique,
    confirm_expires_at integer not null,
    confirmed_at integer,
    decided_at integer,
    intro_id text references intros (intro_id),
    decline_message text,
    created_at integer not null
);
create index requests_by_connector on requests (connector_id, status, request_id);
create index requests_by_requester on requests (requester_email_key, created_at);

-- An outbox row now belongs to an intro or to a request. SQLite cannot drop
-- a NOT NULL, so the table is rebuilt. Dropping `outbox` while `party_tokens`
-- points at it would count as a foreign key violation at commit, so the
-- tokens are set aside and put back once the new table has the old name.
create table outbox_new (
    outbox_id text primary key,
    intro_id text references intros (intro_id),
    request_id text references requests (request_id),
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
    sent_at integer,
    check ((intro_id is null) <> (request_id is null))
);
insert into outbox_new (outbox_id, intro_id, connector_id, kind, recipient, payload, message_id, status,
                        attempts, not_before, lease_owner, lease_until, last_error, created_at, sent_at)
    select outbox_id, intro_id, connector_id, kind, recipient, payload, message_id, status,
           attempts, not_before, lease_owner, lease_until, last_error, created_at, sent_at
    from outbox;

create table party_tokens_kept as select * from party_tokens;
drop table party_tokens;
drop table outbox;
alter table outbox_new rename to outbox;

create index outbox_ready on outbox (status, not_before);
create index outbox_by_intro on outbox (intro_id, outbox_id);
create index outbox_by_request on outbox (request_id, outbox_id) where request_id is not null;
create index outbox_by_connector on outbox (connector_id, outbox_id);
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
insert into party_tokens (token_hash, intro_id, role, purpose, outbox_id, expires_at, created_at)
    select token_hash, intro_id, role, purpose, outbox_id, expires_at, created_at from party_tokens_kept;
drop table party_tokens_kept;
