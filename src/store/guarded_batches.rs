//! PostgreSQL: the guarded writes of decisions (see `unlocked_decisions`),
//! many in one statement. Sent one by one, a decision's write was most of
//! PostgreSQL's work for it: on the bench's database, pgbench managed 3.5k
//! such statements a second at 32 clients, and 16k decisions a second
//! written 32 to a statement. So the writes waiting when a statement can
//! start go together: each decision's rows apply only if its intro is still
//! at the version it was read at, and the statement says which did. One
//! statement is one transaction: every decision in it is durable when it
//! returns, and none is acknowledged before.
//!
//! A decision that finds nothing else waiting is sent as its own statement,
//! as before. Two decisions on one intro never share a batch (the second
//! waits for the next one). If a batch fails as a whole (a constraint one
//! decision broke, a deadlock with another process), nothing of it was
//! written, and each of its decisions is sent again as its own statement,
//! so that each gets its own answer.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use sqlx::{AnyPool, Row as _};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::intro_writes::TransitionRows;
use super::statements::{Statements, Value};
use super::{StoreError, StoreResult};

/// At most this many decisions in one statement…
const MAX_BATCH: usize = 64;
/// …and this many statements of decisions at once (each on a connection
/// of the pool).
const IN_FLIGHT: usize = 2;

/// A transition's writes, guarded by the update of its intro's own row.
#[derive(Debug)]
pub(super) struct GuardedChange {
    pub(super) intro_id: String,
    /// `intro_update`: its statement and values (status, due_at,
    /// updated_at, closed_at, intro_id, and the version it must be at).
    pub(super) intro: (String, Vec<Value>),
    pub(super) rows: TransitionRows,
    /// Whether workers are woken when it is written.
    pub(super) wake: bool,
}

impl GuardedChange {
    /// The rows as statements, and apart from them the intro's update.
    pub(super) fn into_statements(self) -> (Statements, (String, Vec<Value>)) {
        let mut writes = Statements::default();
        if self.wake {
            writes.notify_workers();
        }
        self.rows.push_to(&mut writes);
        (writes, self.intro)
    }

    /// Written as one statement of its own, if its guard holds.
    async fn write_alone(self, pool: &AnyPool) -> StoreResult<bool> {
        let mut conn = pool.acquire().await?;
        let (writes, guard) = self.into_statements();
        writes.execute_if(&mut conn, guard).await
    }
}

struct Job {
    change: GuardedChange,
    written: oneshot::Sender<StoreResult<bool>>,
}

/// The queue of guarded writes, and the task that writes them.
pub(super) struct GuardedBatches {
    jobs: mpsc::UnboundedSender<Job>,
}

impl GuardedBatches {
    /// Starts the writing task; it ends when this is dropped.
    pub(super) fn start(pool: AnyPool) -> Self {
        let (jobs, queue) = mpsc::unbounded_channel();
        tokio::spawn(write_batches(pool, queue));
        Self { jobs }
    }

    /// Writes `change` if its intro is still at the version it was read
    /// at: true once it is durable, false (and nothing written) if the
    /// intro had moved on.
    pub(super) async fn write(&self, change: GuardedChange) -> StoreResult<bool> {
        let (written, answer) = oneshot::channel();
        let gone = || StoreError::Commit("the decisions' writer has stopped".into());
        self.jobs
            .send(Job { change, written })
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn write_batches(pool: AnyPool, mut queue: mpsc::UnboundedReceiver<Job>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut held = VecDeque::new();
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let first = match held.pop_front() {
            Some(job) => job,
            None => match queue.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        let batch = gather(first, &mut held, &mut queue);
        let pool = pool.clone();
        tokio::spawn(async move {
            write_batch(&pool, batch).await;
            drop(slot);
        });
    }
}

/// `first` and whatever else is waiting, up to `MAX_BATCH`, one per intro:
/// a second decision on an intro already in the batch is held for the next.
fn gather(
    first: Job,
    held: &mut VecDeque<Job>,
    queue: &mut mpsc::UnboundedReceiver<Job>,
) -> Vec<Job> {
    let mut batch = vec![first];
    let mut again = VecDeque::new();
    while batch.len() < MAX_BATCH {
        let Some(job) = held.pop_front().or_else(|| queue.try_recv().ok()) else {
            break;
        };
        if batch
            .iter()
            .any(|b| b.change.intro_id == job.change.intro_id)
        {
            again.push_back(job);
        } else {
            batch.push(job);
        }
    }
    again.extend(held.drain(..));
    *held = again;
    batch
}

async fn write_batch(pool: &AnyPool, mut batch: Vec<Job>) {
    if batch.len() == 1
        && let Some(job) = batch.pop()
    {
        let _ = job.written.send(job.change.write_alone(pool).await);
        return;
    }
    // The same order of row locks in every batch.
    batch.sort_by(|a, b| a.change.intro_id.cmp(&b.change.intro_id));
    match write_together(pool, &batch).await {
        Ok(applied) => {
            for (k, job) in batch.into_iter().enumerate() {
                let _ = job.written.send(Ok(applied.contains(&k)));
            }
        }
        Err(e) => {
            tracing::debug!(error = %e, decisions = batch.len(), "a batch of decisions failed; writing each alone");
            for job in batch {
                let _ = job.written.send(job.change.write_alone(pool).await);
            }
        }
    }
}

/// Every change of `batch` in one statement; the positions of those whose
/// guard held (and whose writes were made).
async fn write_together(pool: &AnyPool, batch: &[Job]) -> StoreResult<HashSet<usize>> {
    let mut intros = Vec::new();
    let [mut parties, mut events, mut outbox, mut tokens] = [(); 4].map(|_| Vec::new());
    for (k, job) in batch.iter().enumerate() {
        let change = &job.change;
        let (_, values) = &change.intro;
        if values.len() != 6 {
            return Err(StoreError::Commit(
                "a decision's write has no version".into(),
            ));
        }
        let mut intro = numbered(k, values);
        intro.push(change.wake.into());
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
fn row(k: usize, values: &[Value]) -> serde_json::Value {
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
/// the batch; an intro's row ends with whether to wake the workers. Only
/// the rows of decisions whose guard held are written; the statement
/// returns those decisions' `k`.
const BATCH_SQL: &str = "with i as (
        select (r->>0)::int as k, r->>1 as status, (r->>2)::bigint as due_at,
            (r->>3)::bigint as updated_at, (r->>4)::bigint as closed_at, r->>5 as intro_id,
            (r->>6)::bigint as version, (r->>7)::boolean as wake
        from json_array_elements($1::json) r
    ), guard as (
        update intros t set status = i.status, due_at = i.due_at, updated_at = i.updated_at,
            closed_at = i.closed_at, version = t.version + 1
        from i where t.intro_id = i.intro_id and t.version = i.version
        returning i.k, i.wake
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

#[cfg(test)]
mod tests {
    use super::*;

    fn job(intro_id: &str) -> Job {
        let change = GuardedChange {
            intro_id: intro_id.to_string(),
            intro: (String::new(), Vec::new()),
            rows: TransitionRows {
                parties: Vec::new(),
                event: Vec::new(),
                outbox: Vec::new(),
                tokens: Vec::new(),
            },
            wake: false,
        };
        Job {
            change,
            written: oneshot::channel().0,
        }
    }

    fn intros(batch: &[Job]) -> Vec<&str> {
        batch.iter().map(|j| j.change.intro_id.as_str()).collect()
    }

    #[test]
    fn a_second_decision_on_an_intro_waits_for_the_next_batch() {
        let (jobs, mut queue) = mpsc::unbounded_channel();
        for intro in ["a", "a", "b", "c", "a"] {
            assert!(jobs.send(job(intro)).is_ok());
        }
        let mut held = VecDeque::new();
        let first = queue.try_recv().expect("a job");
        let batch = gather(first, &mut held, &mut queue);
        assert_eq!(intros(&batch), ["a", "b", "c"]);
        // The held ones go first, in the order they came, one per batch.
        let first = held.pop_front().expect("a held job");
        assert_eq!(intros(&gather(first, &mut held, &mut queue)), ["a"]);
        let first = held.pop_front().expect("a held job");
        assert!(jobs.send(job("d")).is_ok());
        assert_eq!(intros(&gather(first, &mut held, &mut queue)), ["a", "d"]);
        assert!(held.is_empty());
    }

    #[test]
    fn a_batch_holds_at_most_max_batch_decisions() {
        let (jobs, mut queue) = mpsc::unbounded_channel();
        for i in 0..MAX_BATCH + 3 {
            assert!(jobs.send(job(&i.to_string())).is_ok());
        }
        let mut held = VecDeque::new();
        let first = queue.try_recv().expect("a job");
        assert_eq!(gather(first, &mut held, &mut queue).len(), MAX_BATCH);
        let first = queue.try_recv().expect("a job");
        assert_eq!(gather(first, &mut held, &mut queue).len(), 3);
    }

    #[test]
    fn rows_become_json_arrays_led_by_their_place_in_the_batch() {
        let values = [
            Value::from("x"),
            Value::Text(None),
            Value::from(5),
            Value::Int(None),
        ];
        assert_eq!(row(3, &values).to_string(), r#"[3,"x",null,5,null]"#);
    }
}
