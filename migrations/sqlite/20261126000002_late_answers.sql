-- What a party did on their decision page after the intro had closed but
-- before their relay could have arrived: the page keeps answering as if the
-- intro were open, so a fast "no" is not given away. Display only; it
-- changes nothing else.
create table late_answers (
    intro_id text not null references intros (intro_id),
    role text not null,
    answer text not null,
    until integer,
    answered_at integer not null,
    created_at integer not null,
    primary key (intro_id, role)
);
