-- Counts the writes of an intro's state. On PostgreSQL a decision is read
-- without a lock and written in one statement that applies only while the
-- version is the one it read (see `store/unlocked_decisions.rs`); every write of the
-- state adds one.
alter table intros add column version bigint not null default 0;

-- A process of an earlier version, still running during an upgrade, writes
-- an intro without counting its version; a decision read before that write
-- must still see it changed. Writers of this version count it themselves
-- (so the trigger does not fire for them).
create function intros_count_version() returns trigger language plpgsql as $$
begin
    new.version := old.version + 1;
    return new;
end
$$;
create trigger intros_count_version before update on intros
    for each row when (new.version = old.version)
    execute function intros_count_version();
