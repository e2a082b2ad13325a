//! The SQL store: one implementation for SQLite and PostgreSQL through sqlx's
//! `Any` driver. Only what must differ (how a write transaction starts, row
//! locks) is chosen per backend.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};

use super::guarded_batches::GuardedBatches;
use super::link_batches::LinkBatches;
use super::sqlite_checkpoints::Checkpoints;
use super::sqlite_reads::SqliteReader;
use super::write_lane::{WriteLane, WriteTx};
use super::{StoreError, StoreResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> StoreResult<Self> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::Config(format!(
                "the database URL must start with sqlite:// or postgres:// (got `{}`)",
                url.split(':').next().unwrap_or("")
            )))
        }
    }
}

/// What the store needs besides a URL.
#[derive(Clone)]
pub struct StoreOptions {
    /// The key emailed link tokens are derived from (only their hashes are stored).
    pub token_secret: Arc<Vec<u8>>,
    /// The right-hand side of every Message-ID.
    pub message_id_domain: String,
    pub max_connections: u32,
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("token_secret", &"<redacted>")
            .field("message_id_domain", &self.message_id_domain)
            .finish()
    }
}

pub struct SqlStore {
    pub(super) pool: AnyPool,
    pub(super) backend: Backend,
    pub(super) options: StoreOptions,
    /// Woken after every commit that may have made work due, so the worker in
    /// this process picks it up at once instead of at its next poll.
    pub(super) wake: Arc<tokio::sync::Notify>,
    /// SQLite only: every write takes turns here, so commits are grouped.
    lane: Option<Arc<WriteLane>>,
    /// PostgreSQL only: decisions' writes, many to a statement.
    pub(super) batches: Option<GuardedBatches>,
    /// PostgreSQL only: the emailed links' reads, many to a statement.
    pub(super) links: Option<LinkBatches>,
    /// SQLite on a file only: the decision page's read without a thread
    /// hand-off (`sqlite_reads.rs`).
    pub(super) reader: Option<SqliteReader>,
    url: String,
}

/// With checkpoints on their own thread, the write lane still checkpoints
/// past this many pages of log (SQLite's default, 4 MiB): under writes
/// without a pause the thread's checkpoints never catch the log's end, and
/// SQLite starts the log afresh only when a writer finds all of it copied
/// back, so without this it would grow as long as the writes went on. The
/// thread has copied most pages by then, so this checkpoint is short.
/// Measured (`--quick`, creation): 0 (none) 1.84–1.87k req/s with p99 at
/// half peak 12–14 ms; 1000: 1.82–1.98k, 10–13 ms; 4000: 1.95–2.1k but
/// 19 ms; 10000: 1.9–2.1k, 22 ms (each of the lane's checkpoints is a
/// stall for the writes queued behind it).
const LANE_CHECKPOINT_PAGES: u32 = 1000;

/// Durability first: WAL with `synchronous=FULL` means a decision the page
/// acknowledged survives power loss, not just a crash of the process.
/// The busy timeout comes first, so the others wait for a busy database
/// (a CLI command while `serve` writes) instead of failing at once.
const SQLITE_PRAGMAS: &[&str] = &[
    "pragma busy_timeout = 15000",
    "pragma journal_mode = wal",
    "pragma synchronous = full",
    "pragma foreign_keys = on",
    "pragma secure_delete = on", // erased text is zeroed, not left in free pages
    // Savepoint journals (one per use case in a group commit) stay in
    // memory instead of spilling to temporary files (measured: a fifth of
    // the write lane's time went to their pwrite calls).
    "pragma temp_store = memory",
];

impl SqlStore {
    pub async fn connect(url: &str, options: StoreOptions) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_string(),
        };
        let connect_options = AnyConnectOptions::from_str(&url)?;
        let mut pool_options = AnyPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(15));
        if backend == Backend::Sqlite {
            pool_options = pool_options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    for pragma in SQLITE_PRAGMAS {
                        sqlx::query(*pragma).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            });
        }
        // One plain connection first: if the database cannot be reached, say
        // why at once instead of after the pool's acquire timeout.
        {
            use sqlx::Connection;
            let probe = sqlx::AnyConnection::connect_with(&connect_options).await?;
            probe.close().await?;
        }
        let pool = pool_options.connect_with(connect_options).await?;
        let lane = match backend {
            // A connection of its own, with the pragmas every pooled one has,
            // whose checkpoints run on a thread of their own where they can.
            Backend::Sqlite => {
                let mut conn = pool.acquire().await?.detach();
                let checkpoints = sqlite_disk_file(&url).and_then(Checkpoints::start);
                if checkpoints.is_some() {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "pragma wal_autocheckpoint = {LANE_CHECKPOINT_PAGES}"
                    )))
                    .execute(&mut conn)
                    .await?;
                }
                Some(WriteLane::new(conn, checkpoints))
            }
            Backend::Postgres => None,
        };
        let (batches, links) = match backend {
            Backend::Sqlite => (None, None),
            Backend::Postgres => (
                Some(GuardedBatches::start(pool.clone())),
                Some(LinkBatches::start(pool.clone())),
            ),
        };
        let reader = match backend {
            Backend::Sqlite => sqlite_disk_file(&url).map(SqliteReader::new),
            Backend::Postgres => None,
        };
        Ok(Self {
            pool,
            backend,
            options,
            wake: Arc::new(tokio::sync::Notify::new()),
            lane,
            batches,
            links,
            reader,
            url,
        })
    }

    /// Brings the schema up to date. sqlx takes an advisory lock on
    /// PostgreSQL, so processes starting together apply each migration once.
    pub async fn migrate(&self) -> StoreResult<()> {
        match self.backend {
            Backend::Sqlite => {
                // SQLite has no advisory lock: processes starting together on
                // a new file (serve and a CLI command, say) take turns through
                // a lock file beside the database.
                let _lock = match sqlite_file(&self.url) {
                    Some(db) => Some(lock_file(format!("{db}.migrate-lock")).await?),
                    None => None,
                };
                sqlx::migrate!("./migrations/sqlite")
                    .run(&self.pool)
                    .await?
            }
            Backend::Postgres => {
                sqlx::migrate!("./migrations/postgres")
                    .run(&self.pool)
                    .await?
            }
        }
        Ok(())
    }

    /// A transaction that will write. On SQLite it joins the write lane
    /// (one connection, `BEGIN IMMEDIATE`, a savepoint per use case, commits
    /// grouped: see `write_lane`), so writers queue instead of failing
    /// half-way with SQLITE_BUSY and share their fsyncs.
    pub(super) async fn begin_write(&self) -> StoreResult<WriteTx> {
        match &self.lane {
            Some(lane) => lane.begin().await,
            None => Ok(WriteTx::pooled(self.pool.begin().await?)),
        }
    }

    /// `begin_write`, with the SQL that must open the transaction's first
    /// statement (see `WriteLane::begin_opened_by_caller`; none on
    /// PostgreSQL).
    pub(super) async fn begin_write_opened_by_caller(
        &self,
    ) -> StoreResult<(WriteTx, Option<&'static str>)> {
        match &self.lane {
            Some(lane) => lane.begin_opened_by_caller().await,
            None => Ok((WriteTx::pooled(self.pool.begin().await?), None)),
        }
    }

    /// On PostgreSQL, wakes this process's worker whenever any process
    /// commits new work (`NOTIFY twoyes_work`), so a fleet reacts at once.
    pub fn start_wakeup_listener(&self) {
        if self.backend != Backend::Postgres {
            return;
        }
        let url = self.url.clone();
        let wake = self.wake.clone();
        tokio::spawn(async move {
            loop {
                match sqlx::postgres::PgListener::connect(&url).await {
                    Ok(mut listener) => match listener.listen(WAKE_CHANNEL).await {
                        Ok(()) => {
                            while listener.recv().await.is_ok() {
                                wake.notify_one();
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "could not LISTEN for new work"),
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "could not connect to LISTEN for new work")
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }

    pub(super) fn wake_workers(&self) {
        self.wake.notify_waiters();
        self.wake.notify_one();
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The file behind a `sqlite://` URL (none for an in-memory database).
fn sqlite_file(url: &str) -> Option<String> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or(path);
    (!path.is_empty() && !path.contains(":memory:")).then(|| path.to_string())
}

/// The file sqlx opened for `url`, where it is surely the one named there:
/// a URL this parse would read differently (an in-memory database, an
/// escaped path) has none, and leaves its reads and checkpoints to sqlx.
fn sqlite_disk_file(url: &str) -> Option<std::path::PathBuf> {
    if url.contains("mode=memory") {
        return None;
    }
    sqlite_file(url)
        .filter(|path| !path.contains('%') && std::path::Path::new(path).is_file())
        .map(Into::into)
}

/// Waits for an exclusive lock on `path` (created if missing); held until dropped.
async fn lock_file(path: String) -> StoreResult<std::fs::File> {
    let locked = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        file.lock()?;
        Ok(file)
    })
    .await
    .map_err(|e| StoreError::Config(format!("migration lock: {e}")))?;
    locked.map_err(|e| StoreError::Config(format!("migration lock: {e}")))
}

/// The channel commits with new work notify on PostgreSQL.
pub(super) const WAKE_CHANNEL: &str = "twoyes_work";

pub(super) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
