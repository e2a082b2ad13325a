-- An intro's next due time moves to a table of its own, as on PostgreSQL
-- (see its migration of the same name): one schema for both. A row exists
-- while something is due.
create table intro_due (
    intro_id text primary key references intros (intro_id),
    due_at integer not null
) without rowid;
create index intro_due_at on intro_due (due_at);
insert into intro_due (intro_id, due_at)
    select intro_id, due_at from intros where due_at is not null;
drop index intros_due;
alter table intros drop column due_at;
