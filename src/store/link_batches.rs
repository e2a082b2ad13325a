//! PostgreSQL: the emailed links' reads that are waiting, in one statement.
//! Every decision page and every decision starts with its link's read
//! (`party_links`); sent one by one, each was a round trip of its own, and
//! on two cores each round trip is a wake-up and a context switch on both
//! sides (`perf` on the server during decision POSTs: a third of its time
//! was in the kernel, scheduling and sending to PostgreSQL). So reads
//! that arrive while two statements of reads are running wait, and go
//! together as the next one (up to 64): one statement, the same read for
//! each, its rows handed back by their token's hash. A read that finds
//! nothing running goes at once, on its own, as before.
//!
//! Only reads go this way, each seeing what had committed when its
//! statement started, as a read of its own would. If a statement of many
//! fails, each of its reads is sent again on its own, so that each gets
//! its own answer.

use std::collections::HashMap;

use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use super::party_links::{PARTY_LINK_SQL, PARTY_LINKS_SQL, PartyLink, party_link_from_row};
use super::sqlite_reads::read_one_pooled;
use super::{StoreError, StoreResult};

/// At most this many links in one statement…
const MAX_BATCH: usize = 64;
/// …and this many statements of links at once.
const IN_FLIGHT: usize = 2;

/// A read waiting: the token's hash, and where its link goes.
struct Read {
    hash: String,
    found: oneshot::Sender<StoreResult<Option<PartyLink>>>,
}

/// The queue of link reads, and the task that sends them.
pub(super) struct LinkBatches {
    reads: mpsc::UnboundedSender<Read>,
}

impl LinkBatches {
    /// Starts the reading task; it ends when this is dropped.
    pub(super) fn start(pool: AnyPool) -> Self {
        let (reads, queue) = mpsc::unbounded_channel();
        tokio::spawn(read_batches(pool, queue));
        Self { reads }
    }

    /// The link whose token hashes to `hash`, if there is one.
    pub(super) async fn read(&self, hash: &str) -> StoreResult<Option<PartyLink>> {
        let (found, answer) = oneshot::channel();
        let gone = || StoreError::Database(sqlx::Error::WorkerCrashed);
        self.reads
            .send(Read {
                hash: hash.to_string(),
                found,
            })
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// The next statement's reads: the first `MAX_BATCH` waiting, in the
/// order they came.
fn next_batch(waiting: &mut Vec<Read>) -> Vec<Read> {
    let take = waiting.len().min(MAX_BATCH);
    waiting.drain(..take).collect()
}

async fn read_batches(pool: AnyPool, mut queue: mpsc::UnboundedReceiver<Read>) {
    let (done, mut finished) = mpsc::unbounded_channel::<()>();
    let mut waiting = Vec::new();
    let mut in_flight = 0;
    let mut open = true;
    loop {
        while open && let Ok(read) = queue.try_recv() {
            waiting.push(read);
        }
        while in_flight < IN_FLIGHT && !waiting.is_empty() {
            let batch = next_batch(&mut waiting);
            in_flight += 1;
            let (pool, done) = (pool.clone(), done.clone());
            tokio::spawn(async move {
                // Should the read panic, its callers (their answers
                // dropped) are told the reader stopped, and the next
                // statement can still start.
                let _ = tokio::spawn(async move { read_batch(&pool, batch).await }).await;
                let _ = done.send(());
            });
        }
        if !open && in_flight == 0 {
            return;
        }
        tokio::select! {
            Some(()) = finished.recv() => in_flight -= 1,
            read = queue.recv(), if open => match read {
                Some(read) => waiting.push(read),
                None => open = false,
            },
        }
    }
}

/// Reads `batch` (with the one-link statement if it is one read) and
/// answers each of its reads.
async fn read_batch(pool: &AnyPool, batch: Vec<Read>) {
    if batch.len() > 1 {
        match read_together(pool, &batch).await {
            Ok(links) => {
                for read in batch {
                    let _ = read.found.send(Ok(links.get(&read.hash).cloned()));
                }
                return;
            }
            Err(e) => {
                tracing::debug!(error = %e, reads = batch.len(), "a statement of link reads failed; reading each alone");
            }
        }
    }
    for read in batch {
        let link = read_alone(pool, &read.hash).await;
        let _ = read.found.send(link);
    }
}

/// The links of `batch`, by their token's hash (a link read twice at once
/// is in the statement once and answers both).
async fn read_together(pool: &AnyPool, batch: &[Read]) -> StoreResult<HashMap<String, PartyLink>> {
    let hashes: Vec<&str> = batch.iter().map(|r| r.hash.as_str()).collect();
    let json = serde_json::to_string(&hashes)
        .map_err(|e| StoreError::Corrupt(format!("link hashes: {e}")))?;
    let rows = sqlx::query(PARTY_LINKS_SQL)
        .bind(json)
        .fetch_all(pool)
        .await?;
    let mut links = HashMap::with_capacity(rows.len());
    for row in &rows {
        let hash: String = sqlx::Row::try_get(row, "token_hash")?;
        links.insert(hash, party_link_from_row(row)?);
    }
    Ok(links)
}

/// One link, with the one-link statement.
async fn read_alone(pool: &AnyPool, hash: &str) -> StoreResult<Option<PartyLink>> {
    read_one_pooled(pool, PARTY_LINK_SQL, &[hash], |row| {
        party_link_from_row(row)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(hash: &str) -> Read {
        Read {
            hash: hash.to_string(),
            found: oneshot::channel().0,
        }
    }

    #[test]
    fn a_statement_takes_the_first_sixty_four_in_order() {
        let mut waiting: Vec<Read> = (0..70).map(|i| read(&format!("h{i}"))).collect();
        let batch = next_batch(&mut waiting);
        assert_eq!(batch.len(), MAX_BATCH);
        assert_eq!(batch[0].hash, "h0");
        assert_eq!(batch[63].hash, "h63");
        assert_eq!(waiting.len(), 6);
        assert_eq!(waiting[0].hash, "h64");
        let rest = next_batch(&mut waiting);
        assert_eq!(rest.len(), 6);
        assert!(waiting.is_empty());
    }
}
