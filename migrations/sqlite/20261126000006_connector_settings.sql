-- What a connector changes in Settings: the sender's display name and
-- reply-to, their own timings (SPEC §4 durations, as text like "3d"; unset
-- means the installation's), and their wording of each email.
create table connector_settings (
    connector_id text primary key references connectors (connector_id),
    sender_name text,
    reply_to text,
    timings text not null,
    updated_at integer not null
);

-- part: 'subject' or 'body' (the plain text; the HTML is made from it).
create table email_wording (
    connector_id text not null references connectors (connector_id),
    kind text not null,
    part text not null,
    source text not null,
    updated_at integer not null,
    primary key (connector_id, kind, part)
);
