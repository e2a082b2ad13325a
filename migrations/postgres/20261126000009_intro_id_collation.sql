-- Every column that names an intro (or an outbox row) compares byte-wise,
-- like the ids it refers to (collate "C", see the init migration). With
-- mixed collations PostgreSQL could not use these columns' indexes in a
-- join: a decision page's one read (token → intro → parties) scanned every
-- party (found with twoyes-bench).
alter table parties alter column intro_id type text collate "C";
alter table events alter column intro_id type text collate "C";
alter table outbox alter column intro_id type text collate "C";
alter table party_tokens alter column intro_id type text collate "C";
alter table party_tokens alter column outbox_id type text collate "C";
alter table follow_ups alter column intro_id type text collate "C";
alter table late_answers alter column intro_id type text collate "C";
alter table requests alter column intro_id type text collate "C";
alter table outbox alter column request_id type text collate "C";
