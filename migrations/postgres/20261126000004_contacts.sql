-- Contacts: the people a connector knows, one row per connector and
-- normalized email address. People in the connector's intros become contacts
-- automatically; CSV imports add and update them in the background.
create table contacts (
    contact_id text collate "C" primary key,
    connector_id text not null references connectors (connector_id),
    name text not null,
    -- lower-cased name: the list's sort order and keyset cursor
    name_key text collate "C" not null,
    email text not null,
    email_key text not null,
    how_known text not null default '',
    notes text not null default '',
    created_at bigint not null,
    updated_at bigint not null,
    -- when the person last appeared in one of the connector's intros
    last_used_at bigint,
    unique (connector_id, email_key)
);
create index contacts_by_name on contacts (connector_id, name_key, contact_id);

-- One CSV import: the uploaded text (cleared once processed), progress, and
-- a lease so that an import whose process died is taken up again.
create table contact_imports (
    import_id text collate "C" primary key,
    connector_id text not null references connectors (connector_id),
    file_name text not null,
    status text not null,
    input text not null,
    total bigint not null,
    processed bigint not null default 0,
    added bigint not null default 0,
    updated bigint not null default 0,
    failed bigint not null default 0,
    lease_until bigint not null,
    created_at bigint not null,
    finished_at bigint
);
create index contact_imports_by_connector on contact_imports (connector_id, import_id);

create table contact_import_errors (
    import_id text not null references contact_imports (import_id),
    line bigint not null,
    message text not null,
    primary key (import_id, line)
);

-- Statistics and the local mailbox read by connector and time.
create index if not exists intros_closed_by_connector on intros (connector_id, closed_at) where closed_at is not null;
create index if not exists intros_created_by_connector on intros (connector_id, created_at);
create index if not exists outbox_by_connector on outbox (connector_id, outbox_id);

-- Everyone already in an intro becomes a contact of its connector, under the
-- name and address of their latest intro.
insert into contacts (contact_id, connector_id, name, name_key, email, email_key,
                      how_known, notes, created_at, updated_at, last_used_at)
select p.intro_id || '-' || p.role, i.connector_id, p.name, lower(p.name), p.email, p.email_key,
       '', '', p.created_at, p.created_at, p.created_at
from parties p join intros i on i.intro_id = p.intro_id
where not exists (
    select 1 from parties p2 join intros i2 on i2.intro_id = p2.intro_id
    where i2.connector_id = i.connector_id and p2.email_key = p.email_key
      and (p2.created_at > p.created_at
           or (p2.created_at = p.created_at and p2.intro_id > p.intro_id)
           or (p2.created_at = p.created_at and p2.intro_id = p.intro_id and p2.role > p.role))
);
