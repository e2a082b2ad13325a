//! WAL checkpoints off the write lane. SQLite copies the write-ahead log
//! back into the database file (a checkpoint, with two fsyncs) on whichever
//! connection commits past a thousand pages: on the write lane that stalls
//! every write queued behind it (measured: 13% of the lane's time during
//! intro creation). The lane tells this thread after each commit instead;
//! it checkpoints on a connection of its own, at most every
//! `CHECKPOINT_GAP`, while the lane goes on writing (a `PASSIVE` checkpoint
//! never blocks the writer or readers). The lane itself only checkpoints
//! the rest past a much larger log (`sql::LANE_CHECKPOINT_PAGES`), so the
//! log cannot grow without end under writes that never pause, nor if this
//! thread stops.
//!
//! Durability does not change: a commit is durable once its WAL frames are
//! synced, before any checkpoint.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// The shortest time between two checkpoints.
const CHECKPOINT_GAP: Duration = Duration::from_millis(100);

/// Tells the checkpoint thread that the log has grown. The thread ends when
/// the last copy of this is dropped.
pub(super) struct Checkpoints {
    commits: SyncSender<()>,
    /// The thread's end was reported (once).
    stopped: AtomicBool,
}

impl Checkpoints {
    /// Starts the thread for the database at `path`; `None` if its
    /// connection cannot be opened (the lane then checkpoints itself).
    pub(super) fn start(path: PathBuf) -> Option<Self> {
        let conn = match open(&path) {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "no checkpoint thread; the write lane checkpoints");
                return None;
            }
        };
        // One pending signal is enough: a checkpoint copies everything
        // committed before it started.
        let (commits, pending) = sync_channel(1);
        let started = std::thread::Builder::new()
            .name("sqlite-checkpoints".into())
            .spawn(move || run(&conn, &pending));
        match started {
            Ok(_) => Some(Self {
                commits,
                stopped: AtomicBool::new(false),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "no checkpoint thread; the write lane checkpoints");
                None
            }
        }
    }

    /// After a commit: the log has grown.
    pub(super) fn committed(&self) {
        match self.commits.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) => {}
            Err(TrySendError::Disconnected(())) => {
                if !self.stopped.swap(true, Ordering::Relaxed) {
                    tracing::warn!("the checkpoint thread has stopped; the write lane checkpoints");
                }
            }
        }
    }
}

fn open(path: &PathBuf) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_millis(100))?;
    Ok(conn)
}

fn run(conn: &Connection, pending: &Receiver<()>) {
    let mut failing = false;
    while pending.recv().is_ok() {
        let outcome = conn.query_row("pragma wal_checkpoint(passive)", [], |row| {
            row.get::<_, i64>(0)
        });
        match outcome {
            Ok(_) if failing => {
                failing = false;
                tracing::info!("WAL checkpoints work again");
            }
            Ok(_) => {}
            // Said once per run of failures, not once a commit.
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "a WAL checkpoint failed; the next commit retries (and the write lane checkpoints past its limit)");
            }
            Err(_) => {}
        }
        std::thread::sleep(CHECKPOINT_GAP);
    }
}
