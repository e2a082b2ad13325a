-- Requests from a connector's public page (`/r/{handle}`). A request is
-- `unconfirmed` until the requester clicks the link emailed to them, then
-- `pending` in the connector's inbox, then `approved` (an intro exists) or
-- `declined` (a kind message was emailed); approving writes the intro in
-- the same transaction. Only the confirmation link's hash is stored.
create table requests (
    request_id text collate "C" primary key,
    connector_id text not null references connectors (connector_id),
    status text not null,
    requester_name text not null,
    requester_email text not null,
    requester_email_key text not null,
    wants_to_meet text not null,
    reason text not null,
    blurb text not null,
    confirm_token_hash text not null unique,
    confirm_expires_at bigint not null,
    confirmed_at bigint,
    decided_at bigint,
    intro_id text references intros (intro_id),
    decline_message text,
    created_at bigint not null
);
create index requests_by_connector on requests (connector_id, status, request_id);
create index requests_by_requester on requests (requester_email_key, created_at);

-- An outbox row now belongs to an intro or to a request.
alter table outbox alter column intro_id drop not null;
alter table outbox add column request_id text collate "C" references requests (request_id);
alter table outbox add constraint outbox_intro_or_request check ((intro_id is null) <> (request_id is null));
create index outbox_by_request on outbox (request_id, outbox_id) where request_id is not null;
