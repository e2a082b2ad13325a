//! The daily ask cap (`max-asks-per-recipient-per-day`): holding an ask back
//! until the cap allows it (the asks an address got lately are read with a
//! batch's `DeliveryFacts`). Held asks wait; they are never dropped.

use async_trait::async_trait;

use super::StoreResult;
use super::sql::SqlStore;
use crate::domain::Timestamp;

#[async_trait]
pub trait PacingStore: Send + Sync {
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
