//! A batch's decisions as one statement: their rows as JSON arrays, each
//! decision's rows written only if its intro's version guard held.

use std::collections::HashSet;

use sqlx::{AnyPool, Row as _};

use super::Job;
use crate::domain::Timestamp;
use crate::store::statements::Value;
use crate::store::{StoreError, StoreResult};

/// Every change of `batch` in one statement; the positions of those whose
/// guard held (and whose writes were made).
pub(super) async fn write_together(pool: &AnyPool, batch: &[Job]) -> StoreResult<HashSet<usize>> {
    let mut intros = Vec::new();
    let [mut parties, mut events, mut outbox, mut tokens] = [(); 4].map(|_| Vec::new());
    for (k, job) in batch.iter().enumerate() {
        let change = &job.change;
        let (_, values) = &change.intro;
        if values.len() != 5 {
            return Err(StoreError::Commit(
                "a decision's write has no version".into(),
            ));
        }
        let mut intro = numbered(k, values);
        intro.push(change.wake.into());
        intro.push(change.rows.due.at.map(Timestamp::as_millis).into());
        intros.push(serde_json::Value::Array(intro));
        let rows = &change.rows;
        parties.extend(rows.parties.iter().map(|r| row(k, r)));
        events.push(row(k, &rows.event));
        outbox.extend(rows.outbox.iter().map(|r| row(k, r)));
        tokens.extend(rows.tokens.iter().map(|r| row(k, r)));
    }
    let mut query = sqlx::query(BATCH_SQL);
    for rows in [intros, parties, events, outbox, tokens] {
        query = query.bind(serde_json::Value::Array(rows).to_string());
    }
    let applied = query.fetch_all(pool).await?;
    applied
        .iter()
        .map(|r| {
            let k = r.try_get::<i64, _>(0)?;
            usize::try_from(k).map_err(|_| StoreError::Corrupt(format!("batch position {k}")))
        })
        .collect()
}

/// `[k, values…]` as JSON.
pub(super) fn row(k: usize, values: &[Value]) -> serde_json::Value {
    serde_json::Value::Array(numbered(k, values))
}

fn numbered(k: usize, values: &[Value]) -> Vec<serde_json::Value> {
    let mut row = Vec::with_capacity(values.len() + 1);
    row.push(k.into());
    row.extend(values.iter().map(|v| match v {
        Value::Text(t) => t.clone().into(),
        Value::Int(i) => (*i).into(),
    }));
    row
}

/// Each array holds rows `[k, …]` in the column order of its single-write
/// statement (`intro_update`, `PARTY_UPDATE`, `EVENT_INSERT`,
/// `OUTBOX_COLUMNS`, `TOKEN_COLUMNS`), `k` being the decision's place in
/// the batch; an intro's row ends with whether to wake the workers and its
/// next due time (`Due`: set, or removed when there is none). Only
/// the rows of decisions whose guard held are written; the statement
/// returns those decisions' `k`.
const BATCH_SQL: &str = "with i as (
        select (r->>0)::int as k, r->>1 as status, (r->>2)::bigint as updated_at,
            (r->>3)::bigint as closed_at, r->>4 as intro_id, (r->>5)::bigint as version,
            (r->>6)::boolean as wake, (r->>7)::bigint as due_at
        from json_array_elements($1::json) r
    ), guard as (
        update intros t set status = i.status, updated_at = i.updated_at,
            closed_at = i.closed_at, version = t.version + 1
        from i where t.intro_id = i.intro_id and t.version = i.version
        returning i.k, i.wake
    ), due_set as (
        insert into intro_due (intro_id, due_at)
        select i.intro_id, i.due_at from i where i.due_at is not null and i.k in (select k from guard)
        on conflict (intro_id) do update set due_at = excluded.due_at
        where intro_due.due_at <> excluded.due_at
    ), due_removed as (
        delete from intro_due d using i
        where d.intro_id = i.intro_id and i.due_at is null and i.k in (select k from guard)
    ), parties_written as (
        update parties t set consent = r->>1, asked_at = (r->>2)::bigint,
            ask_count = (r->>3)::bigint, reminded = (r->>4)::bigint,
            decided_at = (r->>5)::bigint, undo_until = (r->>6)::bigint,
            snooze_until = (r->>7)::bigint, has_snoozed = (r->>8)::bigint,
            intro_note = r->>9, private_reason = r->>10
        from json_array_elements($2::json) r
        where t.intro_id = r->>11 and t.role = r->>12 and (r->>0)::int in (select k from guard)
    ), events_written as (
        insert into events (event_id, intro_id, kind, actor, role, channel, text_hash, status_after, created_at)
        select r->>1, r->>2, r->>3, r->>4, r->>5, r->>6, r->>7, r->>8, (r->>9)::bigint
        from json_array_elements($3::json) r where (r->>0)::int in (select k from guard)
    ), outbox_written as (
        insert into outbox (outbox_id, intro_id, connector_id, kind, recipient, payload, message_id,
            not_before, created_at, status, attempts)
        select r->>1, r->>2, r->>3, r->>4, r->>5, r->>6, r->>7, (r->>8)::bigint, (r->>9)::bigint, 'pending', 0
        from json_array_elements($4::json) r where (r->>0)::int in (select k from guard)
    ), tokens_written as (
        insert into party_tokens (token_hash, intro_id, role, purpose, outbox_id, expires_at, created_at)
        select r->>1, r->>2, r->>3, r->>4, r->>5, (r->>6)::bigint, (r->>7)::bigint
        from json_array_elements($5::json) r where (r->>0)::int in (select k from guard)
    ), woken as (
        select pg_notify('twoyes_work', '') from guard where wake limit 1
    )
    select k::bigint, (select count(*) from woken) as woken from guard";
