-- Counts the writes of an intro's state (see the PostgreSQL migration of
-- the same name). SQLite serializes its writers, so it only keeps count.
alter table intros add column version integer not null default 0;
