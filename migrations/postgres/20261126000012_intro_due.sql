-- An intro's next due time moves to a table of its own. A decision changes
-- no indexed column of `intros` but this one, and a changed indexed column
-- makes PostgreSQL write a new entry in every index of the row (seven for
-- an intro); with it gone, a decision's update of the intro and of its
-- party can stay on their page (a HOT update: no index entry at all), and
-- only this small table's two indexes change. Pages are left 30% free so
-- that such updates find room beside the row (found with twoyes-bench; see
-- the README's performance section). A row exists while something is due.
create table intro_due (
    intro_id text collate "C" primary key references intros (intro_id),
    due_at bigint not null
);
create index intro_due_at on intro_due (due_at);
insert into intro_due (intro_id, due_at)
    select intro_id, due_at from intros where due_at is not null;
drop index intros_due;
alter table intros drop column due_at;
alter table intros set (fillfactor = 70);
alter table parties set (fillfactor = 70);
