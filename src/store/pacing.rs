//! The daily ask cap (`max-asks-per-recipient-per-day`): how many asks one
//! address got lately, across all connectors, and holding an ask back
//! until the cap allows it. Held asks wait; they are never dropped.

use async_trait::async_trait;
use sqlx::Row;

use super::StoreResult;
use super::sql::SqlStore;
use crate::domain::{EmailAddress, Timestamp};

#[async_trait]
pub trait PacingStore: Send + Sync {
    /// When the asks and reminders sent to `email` since `since` were sent,
    /// oldest first.
    async fn asks_sent_since(
        &self,
        email: &EmailAddress,
        since: Timestamp,
    ) -> StoreResult<Vec<Timestamp>>;
    /// Gives a claimed email back to wait until `until`, without counting
    /// the claim as an attempt; false if `worker` no longer holds it.
    async fn outbox_hold(
        &self,
        outbox_id: &str,
        worker: &str,
        until: Timestamp,
    ) -> StoreResult<bool>;
}

#[async_trait]
impl PacingStore for SqlStore {
    async fn asks_sent_since(
        &self,
        email: &EmailAddress,
        since: Timestamp,
    ) -> StoreResult<Vec<Timestamp>> {
        let rows = sqlx::query(
            // From the person's parties to their emails: `cross join` and
            // the status as an expression (`|| ''`, no index) keep SQLite
            // from starting at every sent email instead (measured: it made
            // each delivery read the whole outbox).
            "select o.sent_at from parties p cross join outbox o
             where p.email_key = $1 and o.intro_id = p.intro_id and o.recipient = p.role
               and o.kind in ('ask', 'reminder') and o.status || '' = 'sent' and o.sent_at >= $2
             order by o.sent_at",
        )
        .bind(email.normalized())
        .bind(since.as_millis())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok(Timestamp::from_millis(r.try_get::<i64, _>("sent_at")?)))
            .collect()
    }

    async fn outbox_hold(
        &self,
        outbox_id: &str,
        worker: &str,
        until: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "update outbox set lease_owner = null, lease_until = null, attempts = attempts - 1,
                 not_before = $1
             where outbox_id = $2 and lease_owner = $3 and status = 'pending'",
        )
        .bind(until.as_millis())
        .bind(outbox_id)
        .bind(worker)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(done == 1)
    }
}
