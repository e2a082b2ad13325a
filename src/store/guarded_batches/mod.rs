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
//! as before. A decision on an intro that a batch is writing waits for
//! that batch, instead of waiting in a batch of its own for the intro's
//! row lock and holding up the rest of that batch (the two parties of an
//! intro often answer together: a third of the benchmark's decisions did,
//! and batches took turns behind each other's locks). If the intro was
//! written meanwhile by a decision read at the same version, the waiting
//! one cannot pass its guard: it is answered at once, to read again. If a
//! batch fails as a whole (a constraint one decision broke, a deadlock
//! with another process), nothing of it was written, and each of its
//! decisions is sent again as its own statement, so that each gets its
//! own answer.

use std::collections::{HashMap, HashSet, VecDeque};

use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use super::intro_writes::TransitionRows;
use super::statements::{Statements, Value};
use super::{StoreError, StoreResult};

/// The one statement of a batch.
mod statement;
#[cfg(test)]
mod tests;

use statement::write_together;

/// At most this many decisions in one statement…
const MAX_BATCH: usize = 64;
/// …and this many statements of decisions at once (each on a connection
/// of the pool).
const IN_FLIGHT: usize = 2;

/// A transition's writes, guarded by the update of its intro's own row.
#[derive(Debug)]
pub(super) struct GuardedChange {
    pub(super) intro_id: String,
    /// The version the intro was read at (none: the write is not guarded).
    pub(super) version: Option<i64>,
    /// `intro_update`: its statement and values (status, updated_at,
    /// closed_at, intro_id, and the version it must be at).
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

    fn outcome(&self) -> Outcome {
        Outcome {
            intro_id: self.intro_id.clone(),
            version: self.version,
            written: false,
        }
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

/// What became of a decision sent in a batch.
struct Outcome {
    intro_id: String,
    /// The version its intro was read at.
    version: Option<i64>,
    written: bool,
}

/// The writing task's state: the decisions waiting, and the intros of the
/// batches being written.
#[derive(Default)]
struct Schedule {
    waiting: VecDeque<Job>,
    /// A decision on one of these waits: in a batch of its own it would
    /// wait for the row lock of the batch writing the intro, and hold up
    /// every other decision in its batch meanwhile.
    busy: HashSet<String>,
    in_flight: usize,
}

impl Schedule {
    /// The next batch: waiting decisions in the order they came, up to
    /// `MAX_BATCH`, none on an intro already being written (so one per
    /// intro); the others keep waiting.
    fn next_batch(&mut self) -> Vec<Job> {
        let mut batch = Vec::new();
        let mut rest = VecDeque::new();
        for job in self.waiting.drain(..) {
            if batch.len() < MAX_BATCH && self.busy.insert(job.change.intro_id.clone()) {
                batch.push(job);
            } else {
                rest.push_back(job);
            }
        }
        self.waiting = rest;
        batch
    }

    /// A batch was written: its intros are free again. A waiting decision
    /// read at the version a decision just written on its intro was read
    /// at cannot pass its guard; it is answered now (false: read again)
    /// rather than sent.
    fn finished(&mut self, outcomes: Vec<Outcome>) {
        self.in_flight -= 1;
        let mut moved_on = HashMap::new();
        for outcome in outcomes {
            self.busy.remove(&outcome.intro_id);
            if outcome.written {
                moved_on.insert(outcome.intro_id, outcome.version);
            }
        }
        for job in std::mem::take(&mut self.waiting) {
            let change = &job.change;
            if change.version.is_some() && moved_on.get(&change.intro_id) == Some(&change.version) {
                let _ = job.written.send(Ok(false));
            } else {
                self.waiting.push_back(job);
            }
        }
    }
}

async fn write_batches(pool: AnyPool, mut queue: mpsc::UnboundedReceiver<Job>) {
    let (done, mut finished) = mpsc::unbounded_channel();
    let mut schedule = Schedule::default();
    let mut open = true;
    loop {
        while open && let Ok(job) = queue.try_recv() {
            schedule.waiting.push_back(job);
        }
        while schedule.in_flight < IN_FLIGHT {
            let batch = schedule.next_batch();
            if batch.is_empty() {
                break;
            }
            schedule.in_flight += 1;
            let (pool, done) = (pool.clone(), done.clone());
            tokio::spawn(async move {
                // Should the write panic, its intros are still freed (its
                // callers, their answers dropped, are told it stopped).
                let intros: Vec<Outcome> = batch.iter().map(|j| j.change.outcome()).collect();
                let outcomes = tokio::spawn(async move { write_batch(&pool, batch).await })
                    .await
                    .unwrap_or(intros);
                let _ = done.send(outcomes);
            });
        }
        if !open && schedule.in_flight == 0 {
            return;
        }
        tokio::select! {
            Some(outcomes) = finished.recv() => schedule.finished(outcomes),
            job = queue.recv(), if open => match job {
                Some(job) => schedule.waiting.push_back(job),
                None => open = false,
            },
        }
    }
}

/// Writes `batch` (alone if it is one decision) and answers each of its
/// decisions.
async fn write_batch(pool: &AnyPool, mut batch: Vec<Job>) -> Vec<Outcome> {
    let mut answers = Vec::with_capacity(batch.len());
    if batch.len() == 1
        && let Some(job) = batch.pop()
    {
        let outcome = job.change.outcome();
        let written = job.change.write_alone(pool).await;
        answers.push((outcome, job.written, written));
    } else {
        // The same order of row locks in every batch.
        batch.sort_by(|a, b| a.change.intro_id.cmp(&b.change.intro_id));
        match write_together(pool, &batch).await {
            Ok(applied) => {
                for (k, job) in batch.into_iter().enumerate() {
                    let written = applied.contains(&k);
                    answers.push((job.change.outcome(), job.written, Ok(written)));
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, decisions = batch.len(), "a batch of decisions failed; writing each alone");
                for job in batch {
                    let outcome = job.change.outcome();
                    let written = job.change.write_alone(pool).await;
                    answers.push((outcome, job.written, written));
                }
            }
        }
    }
    answers
        .into_iter()
        .map(|(mut outcome, sender, written)| {
            outcome.written = matches!(written, Ok(true));
            let _ = sender.send(written);
            outcome
        })
        .collect()
}
