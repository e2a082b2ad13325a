//! Group commit for SQLite. With `synchronous=FULL` every commit waits for an
//! fsync, so one transaction per use case caps writes at the disk's fsync
//! rate. Instead, every write use case takes turns on one connection, each
//! inside its own savepoint of one shared transaction; the use case that
//! finds nobody waiting behind it commits the lot with one fsync, and only
//! then does any of them return. Nothing is acknowledged before it is
//! durable: a failed commit fails every use case in the batch.
//!
//! A use case that fails (or is dropped half-way) has its savepoint rolled
//! back by whoever takes the lane next, so it changes nothing while the
//! others in its batch still commit; only one that leaves while it is not
//! known whether its savepoint was made abandons the whole batch (none of
//! it acknowledged), since undoing the latest savepoint might then undo
//! another's writes. A finished use case leaves its
//! savepoint open (the next one nests inside it, and `COMMIT` releases them
//! all): every statement on the lane waits on a thread hand-off, and the
//! lane is held meanwhile, so statements of overhead are measurable. For
//! the same reason the busiest use cases make their savepoint with their
//! first statement (`begin_opened_by_caller`). A commit runs in a spawned
//! task, so a cancelled request cannot leave the lane half-way through it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sqlx::{AnyConnection, Executor as _};
use tokio::sync::{Mutex, OwnedMutexGuard, watch};

use super::sqlite_checkpoints::Checkpoints;
use super::{StoreError, StoreResult};

/// `WriteTx`'s commit, undo on drop, and access to its connection.
mod tx;

/// A batch commits when it has this many use cases…
const MAX_BATCH: usize = 256;
/// …or is this old, even with more waiting.
const MAX_BATCH_AGE: Duration = Duration::from_millis(10);

type Outcome = Option<Result<(), Arc<str>>>;

pub(super) struct WriteLane {
    state: Arc<Mutex<LaneState>>,
    /// Use cases queued for the lane: while any are, the holder hands the
    /// lane on instead of committing.
    waiting: AtomicUsize,
}

struct LaneState {
    conn: AnyConnection,
    /// Told after each commit, when checkpoints run off the lane.
    checkpoints: Option<Checkpoints>,
    batch: Option<Batch>,
    /// A use case left without committing: its savepoint (the latest
    /// `s`) is to be undone.
    dirty: bool,
    /// What the batch holds is unknown (a use case left while its
    /// savepoint was being made, or while one was being undone): the
    /// whole batch is abandoned; none of it was acknowledged.
    poisoned: bool,
}

/// Where a use case's savepoint stands. Every savepoint is named `s`, so
/// each statement that makes one is the same text and stays prepared. Once
/// it is `Made`, the latest `s` is the one of the use case holding the lane
/// (whoever comes next first undoes a left-over one: `tidy`); before that,
/// the latest `s` is the previous member's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Savepoint {
    /// None made: nothing of the use case ran.
    None,
    /// The statement making it was handed to the caller; whether it ran
    /// is not known yet.
    Pending,
    Made,
}

/// Opens a use case's savepoint (see `WriteLane::begin_opened_by_caller`).
const OPENING: &str = "savepoint s;\n";

struct Batch {
    members: usize,
    started: Instant,
    done: watch::Sender<Outcome>,
}

/// A write transaction: the lane's savepoint on SQLite, a plain pooled
/// transaction on PostgreSQL (which groups its own WAL flushes).
pub struct WriteTx {
    inner: Inner,
}

enum Inner {
    Pooled(sqlx::Transaction<'static, sqlx::Any>),
    Lane {
        guard: Option<OwnedMutexGuard<LaneState>>,
        lane: Arc<WriteLane>,
        savepoint: Savepoint,
    },
    Done,
}

/// Counts a queued use case for as long as it queues, even if dropped.
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl WriteLane {
    /// A lane on `conn`; with `checkpoints`, the connection's automatic
    /// checkpoints should be only a backstop (`sqlite_checkpoints`).
    pub(super) fn new(conn: AnyConnection, checkpoints: Option<Checkpoints>) -> Arc<Self> {
        Arc::new(Self {
            state: Arc::new(Mutex::new(LaneState {
                conn,
                checkpoints,
                batch: None,
                dirty: false,
                poisoned: false,
            })),
            waiting: AtomicUsize::new(0),
        })
    }

    /// Use cases queued for the lane now.
    #[cfg(test)]
    pub(super) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    async fn lock(&self) -> OwnedMutexGuard<LaneState> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _queued = Queued(&self.waiting);
        self.state.clone().lock_owned().await
    }

    pub(super) async fn begin(self: &Arc<Self>) -> StoreResult<WriteTx> {
        let (mut tx, opening) = self.begin_opened_by_caller().await?;
        if let (
            Inner::Lane {
                guard: Some(state),
                savepoint,
                ..
            },
            Some(opening),
        ) = (&mut tx.inner, opening)
        {
            // Failed, it may have taken the transaction with it (an I/O
            // error rolls back): left `Pending`, the dropped `tx` abandons
            // the batch.
            state.conn.execute(sqlx::AssertSqlSafe(opening)).await?;
            *savepoint = Savepoint::Made;
        }
        Ok(tx)
    }

    /// Like `begin`, but the use case's savepoint is made by its first
    /// statement, which saves a thread hand-off inside the lane: the
    /// returned SQL must go in front of that statement, nothing may run on
    /// the transaction before it, and once it has run without error the
    /// caller says so (`WriteTx::opened_by`). Until then a dropped
    /// transaction abandons its batch (whether its savepoint was made, and
    /// so what to undo, is not known).
    pub(super) async fn begin_opened_by_caller(
        self: &Arc<Self>,
    ) -> StoreResult<(WriteTx, Option<&'static str>)> {
        let mut tx = WriteTx {
            inner: Inner::Lane {
                guard: Some(self.lock().await),
                lane: self.clone(),
                savepoint: Savepoint::None,
            },
        };
        // From here on, a dropped `tx` tidies after itself.
        let Inner::Lane {
            guard: Some(state),
            savepoint,
            ..
        } = &mut tx.inner
        else {
            return Err(StoreError::Commit(
                "the write lane is in no state to begin".into(),
            ));
        };
        state.tidy().await?;
        if state.batch.is_none() {
            let begun = state.conn.execute("begin immediate").await;
            if let Err(e) = begun {
                // Leave no transaction open.
                let _ = state.conn.execute("rollback").await;
                return Err(e.into());
            }
            state.batch = Some(Batch {
                members: 0,
                started: Instant::now(),
                done: watch::channel(None).0,
            });
        }
        *savepoint = Savepoint::Pending;
        if let Some(batch) = state.batch.as_mut() {
            batch.members += 1;
        }
        Ok((tx, Some(OPENING)))
    }
}

impl LaneState {
    /// Undoes what a failed or abandoned use case left behind.
    async fn tidy(&mut self) -> StoreResult<()> {
        if std::mem::take(&mut self.poisoned) {
            self.fail("a write was abandoned half-way").await;
            return Ok(());
        }
        if !std::mem::take(&mut self.dirty) {
            return Ok(());
        }
        // Poisoned while it runs: cancelled half-way, whether the latest `s`
        // is still the left-over one is not known.
        self.poisoned = true;
        let undone = sqlx::raw_sql("rollback to savepoint s; release savepoint s")
            .execute(&mut self.conn)
            .await;
        self.poisoned = false;
        if let Err(e) = undone {
            self.fail(&e.to_string()).await;
            return Err(e.into());
        }
        Ok(())
    }

    async fn commit(&mut self) {
        let Some(batch) = self.batch.take() else {
            return;
        };
        let outcome = match self.conn.execute("commit").await {
            Ok(_) => {
                if let Some(checkpoints) = &self.checkpoints {
                    checkpoints.committed();
                }
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, members = batch.members, "a group commit failed");
                let _ = self.conn.execute("rollback").await;
                Err(Arc::from(e.to_string()))
            }
        };
        let _ = batch.done.send(Some(outcome));
    }

    /// Abandons the whole batch: nothing in it was acknowledged, and every
    /// member is told its write failed.
    async fn fail(&mut self, why: &str) {
        tracing::error!(
            error = why,
            "the write transaction failed; rolling back its batch"
        );
        // The batch is gone before the rollback: if this is cancelled
        // half-way, the next `begin immediate` finds the transaction still
        // open, fails, and rolls it back.
        self.dirty = false;
        self.poisoned = false;
        if let Some(batch) = self.batch.take() {
            let _ = batch.done.send(Some(Err(Arc::from(why))));
        }
        let _ = self.conn.execute("rollback").await;
    }
}

impl WriteLane {
    /// Run when a use case left without committing and nobody may come
    /// after it, or when a batch waits too long for its commit: tidies what
    /// was left and commits what the batch holds.
    async fn sweep(self: Arc<Self>) {
        let mut state = self.lock().await;
        if state.tidy().await.is_ok() && state.batch.is_some() {
            state.commit().await;
        }
    }
}
