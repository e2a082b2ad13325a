//! A synchronous read path on SQLite for the most requested page, the
//! decision page. sqlx runs every SQLite connection on a thread of its own,
//! so each statement is a hand-off there and back (a futex wake and two
//! context switches), which was most of that page's cost next to a handler
//! doing nothing. Here a point read by primary key runs on the calling
//! thread, on a connection of its own, in tens of microseconds: as short
//! as the rendering that follows it, so it does not hold up the runtime.
//! Reads in WAL mode never wait for the writer; should SQLite still say
//! busy, the read goes to sqlx instead.
//!
//! Only reads go this way (the links' read, and the point reads every
//! proposal makes: `SqlStore::read_one`); every write stays on sqlx and
//! the write lane.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::rows::Columns;
use super::{StoreError, StoreResult};

/// Connections kept open between reads (more are opened under a burst).
const MAX_IDLE: usize = 8;

pub(super) struct SqliteReader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Each statement's column name → index (`column_names`), keyed by
    /// where the statement's text lies: hashing the text itself (a
    /// thousand characters for a link) on every read cost more than the read's
    /// own column lookups.
    columns: Mutex<HashMap<(usize, usize), ColumnIndex>>,
}

impl SqliteReader {
    pub(super) fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
            columns: Mutex::new(HashMap::new()),
        }
    }

    fn open(&self) -> StoreResult<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Short: this runs on the async runtime's thread. A busy database
        // (never the writer, in WAL mode) sends the read to sqlx instead.
        conn.busy_timeout(Duration::from_millis(50))?;
        // Nothing on this path writes; make sure nothing can.
        conn.pragma_update(None, "query_only", true)?;
        Ok(conn)
    }

    /// Runs `read` on an idle connection (or a new one) and keeps the
    /// connection for the next read.
    fn read<T>(&self, read: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        let result = read(&conn);
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(conn);
        }
        result
    }
}

impl SqliteReader {
    /// The first row of `sql` with `params` as `$1…`, mapped by `map`.
    pub(super) fn query_one<T>(
        &self,
        sql: &'static str,
        params: &[&str],
        map: impl FnOnce(&NamedRow<'_, '_>) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        self.read(|conn| {
            let mut statement = conn.prepare_cached(sql)?;
            let names = self.column_names(sql, &statement);
            let mut rows = statement.query(rusqlite::params_from_iter(params))?;
            match rows.next()? {
                Some(row) => map(&NamedRow { row, names: &names }).map(Some),
                None => Ok(None),
            }
        })
    }

    /// Column name → index for `sql`, worked out once: rusqlite finds a
    /// column by name by asking SQLite for every column's name in turn,
    /// and an intro has forty columns (a tenth of the page's time).
    fn column_names(&self, sql: &'static str, statement: &rusqlite::Statement<'_>) -> ColumnIndex {
        let mut known = match self.columns.lock() {
            Ok(known) => known,
            Err(poisoned) => poisoned.into_inner(),
        };
        known
            .entry((sql.as_ptr() as usize, sql.len()))
            .or_insert_with(|| {
                Arc::new(
                    statement
                        .column_names()
                        .into_iter()
                        .enumerate()
                        .map(|(i, name)| (name.to_string(), i))
                        .collect(),
                )
            })
            .clone()
    }
}

/// A statement's column name → index.
type ColumnIndex = Arc<HashMap<String, usize, BuildHasherDefault<NameHasher>>>;

/// Hashes short, trusted column names eight bytes at a time (the mixing
/// step of rustc's FxHash): a row's forty lookups cost most of their time
/// in the standard library's DoS-resistant SipHash, and still 2% of the
/// decision page in FNV-1a, a byte at a time.
#[derive(Default)]
struct NameHasher(u64);

impl NameHasher {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        self.mix(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A row whose columns are found by name through a prepared map.
pub(super) struct NamedRow<'r, 's> {
    row: &'r rusqlite::Row<'s>,
    names: &'r ColumnIndex,
}

impl NamedRow<'_, '_> {
    fn index(&self, col: &str) -> StoreResult<usize> {
        self.names
            .get(col)
            .copied()
            .ok_or_else(|| StoreError::Corrupt(format!("no column {col}")))
    }
}

impl Columns for NamedRow<'_, '_> {
    fn text(&self, col: &str) -> StoreResult<Option<String>> {
        Ok(self.row.get::<_, Option<String>>(self.index(col)?)?)
    }
    fn int(&self, col: &str) -> StoreResult<Option<i64>> {
        Ok(self.row.get::<_, Option<i64>>(self.index(col)?)?)
    }
}

impl super::sql::SqlStore {
    /// The first row of `sql` with `params` as `$1…`, mapped by `map`: on a
    /// SQLite file on the calling thread (no hand-off), otherwise, or when
    /// SQLite says busy, through the pool. For short point reads only.
    pub(super) async fn read_one<T>(
        &self,
        sql: &'static str,
        params: &[&str],
        map: impl Fn(&dyn Columns) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        if let Some(reader) = &self.reader {
            match reader.query_one(sql, params, |row| map(row)) {
                Err(e) if is_busy(&e) => {} // sqlx waits out its busy timeout off this thread
                read => return read,
            }
        }
        read_one_pooled(&self.pool, sql, params, map).await
    }
}

/// The first row of `sql` with `params` as `$1…`, mapped by `map`, through
/// the pool.
pub(super) async fn read_one_pooled<T>(
    pool: &sqlx::AnyPool,
    sql: &'static str,
    params: &[&str],
    map: impl Fn(&dyn Columns) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    let mut query = sqlx::query(sql);
    for param in params {
        query = query.bind(*param);
    }
    let row = query.fetch_optional(pool).await?;
    row.as_ref().map(|row| map(row)).transpose()
}

/// Whether SQLite said the database was busy or locked.
pub(super) fn is_busy(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::SqliteRead(rusqlite::Error::SqliteFailure(failure, _))
            if matches!(
                failure.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            )
    )
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::SqliteRead(e)
    }
}
