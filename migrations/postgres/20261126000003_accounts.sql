-- The web app's accounts: a password per connector, server-side sessions
-- (any instance serves any request), one-time links to set a password or to
-- create the first account, and failed logins for rate limiting.
alter table connectors add column password_hash text;

create table sessions (
    session_hash text primary key,
    connector_id text not null references connectors (connector_id),
    created_at bigint not null,
    expires_at bigint not null
);
create index sessions_by_connector on sessions (connector_id);

-- purpose: 'setup' (create the first, admin, account) or 'password'.
create table one_time_links (
    token_hash text primary key,
    purpose text not null,
    connector_id text references connectors (connector_id),
    expires_at bigint not null,
    used_at bigint,
    created_at bigint not null
);

-- key: 'email:<normalized address>' or 'ip:<address>'.
create table login_failures (
    failure_id text primary key,
    key text not null,
    at bigint not null
);
create index login_failures_by_key on login_failures (key, at);

-- Search by the start of any word of a party's name, or of their address.
create table intro_search (
    connector_id text not null,
    term text collate "C" not null,
    intro_id text collate "C" not null references intros (intro_id),
    primary key (connector_id, term, intro_id)
);
insert into intro_search (connector_id, term, intro_id)
    select distinct i.connector_id, lower(p.name), i.intro_id
    from parties p join intros i on i.intro_id = p.intro_id
    union
    select distinct i.connector_id, p.email_key, i.intro_id
    from parties p join intros i on i.intro_id = p.intro_id;
