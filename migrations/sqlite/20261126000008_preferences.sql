-- A person's own choices about intro requests, set on the preferences page
-- (/p/{token}). Keyed by the same address hash as `suppressions`, so this
-- table holds nobody's address. Stopping asks (from one connector, or from
-- everyone) is kept in `suppressions`, which the /u/ page writes too.
-- A row exists only while something is set. Times are unix ms from the app clock.
create table preferences (
    email_hash text primary key,
    -- no ask is proposed to this person before this instant
    paused_until integer,
    -- at most this many asks reach them in any 30 days, across connectors
    monthly_max integer,
    created_at integer not null,
    updated_at integer not null
);
