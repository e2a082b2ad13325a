-- The decision page reads a link's token, then its intro's two parties, by
-- their primary keys. A rowid table keeps such a key in an index of its own
-- and the row in a second B-tree, so each lookup was two descents; a table
-- WITHOUT ROWID keeps the row in its key's B-tree, one descent (see the
-- README's performance section). Nothing refers to either table, so each is
-- rebuilt in place: copied, dropped, and the copy renamed.
create table party_tokens_new (
    token_hash text primary key,
    intro_id text not null references intros (intro_id),
    role text not null,
    purpose text not null,
    outbox_id text not null references outbox (outbox_id),
    expires_at integer not null,
    created_at integer not null
) without rowid;
insert into party_tokens_new (token_hash, intro_id, role, purpose, outbox_id, expires_at, created_at)
    select token_hash, intro_id, role, purpose, outbox_id, expires_at, created_at from party_tokens;
drop table party_tokens;
alter table party_tokens_new rename to party_tokens;

create table parties_new (
    intro_id text not null references intros (intro_id),
    role text not null,
    name text not null,
    email text not null,
    email_key text not null,
    blurb text,
    consent text not null,
    consent_on_record_at integer,
    asked_at integer,
    ask_count integer not null,
    reminded integer not null,
    decided_at integer,
    undo_until integer,
    snooze_until integer,
    has_snoozed integer not null,
    intro_note text,
    private_reason text,
    created_at integer not null,
    primary key (intro_id, role)
) without rowid;
insert into parties_new (intro_id, role, name, email, email_key, blurb, consent, consent_on_record_at,
                         asked_at, ask_count, reminded, decided_at, undo_until, snooze_until,
                         has_snoozed, intro_note, private_reason, created_at)
    select intro_id, role, name, email, email_key, blurb, consent, consent_on_record_at,
           asked_at, ask_count, reminded, decided_at, undo_until, snooze_until,
           has_snoozed, intro_note, private_reason, created_at
    from parties;
drop table parties;
alter table parties_new rename to parties;
create index parties_by_email on parties (email_key);
