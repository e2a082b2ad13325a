//! Timers: settle undo windows, remind, expire, ask again after "not now".

use super::Worker;
use crate::store::StoreError;

const BATCH: u32 = 100;

impl Worker {
    /// Applies every timer that is due now; returns how many it applied.
    pub(crate) async fn run_due_timers(&self) -> anyhow::Result<usize> {
        let now = self.clock.now();
        let ids = self.store.due_intro_ids(now, BATCH).await?;
        let mut applied = 0;
        for id in ids {
            match self.store.apply_due(&id, self.context()).await {
                Ok(true) => applied += 1,
                Ok(false) => {}
                // Someone else moved it on: nothing to do.
                Err(StoreError::Machine(e)) => {
                    tracing::debug!(intro = %id, error = %e, "timer no longer applies")
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(applied)
    }
}
