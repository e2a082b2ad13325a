-- Counts the writes of an intro's state. On PostgreSQL a decision is read
-- without a lock and written in one statement that applies only while the
-- version is the one it read (see `store/intros.rs`); every write of the
-- state adds one.
alter table intros add column version bigint not null default 0;
