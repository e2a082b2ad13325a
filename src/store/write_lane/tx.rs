//! A write transaction's side of the lane: committing (or handing the lane
//! on and waiting for the batch's outcome), what a dropped one leaves for
//! the next holder to undo, and access to the connection.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::Ordering;

use sqlx::AnyConnection;

use super::{Inner, MAX_BATCH, MAX_BATCH_AGE, Savepoint, WriteTx};
use crate::store::{StoreError, StoreResult};

impl WriteTx {
    pub(in crate::store) fn pooled(tx: sqlx::Transaction<'static, sqlx::Any>) -> Self {
        Self {
            inner: Inner::Pooled(tx),
        }
    }

    /// Makes the use case's writes durable; returns only once they are.
    /// The savepoint stays open (the next use case nests inside it, and
    /// `COMMIT` releases them all). Whoever finds nobody queued behind it
    /// (or a full batch) commits; the others hand the lane on and wait.
    pub async fn commit(mut self) -> StoreResult<()> {
        let (state, lane) = match std::mem::replace(&mut self.inner, Inner::Done) {
            Inner::Pooled(tx) => return Ok(tx.commit().await?),
            Inner::Lane {
                guard: Some(state),
                lane,
                ..
            } => (state, lane),
            Inner::Lane { guard: None, .. } | Inner::Done => {
                return Err(StoreError::Commit("committed twice".into()));
            }
        };
        let Some(batch) = state.batch.as_ref() else {
            return Err(StoreError::Commit("no transaction was open".into()));
        };
        let mut done = batch.done.subscribe();
        let full = batch.members >= MAX_BATCH || batch.started.elapsed() >= MAX_BATCH_AGE;
        if lane.waiting.load(Ordering::SeqCst) > 0 && !full {
            drop(state);
        } else {
            // A task of its own, so a cancelled request cannot stop a
            // commit half-way and leave the batch without an outcome.
            let mut state = state;
            tokio::spawn(async move { state.commit().await })
                .await
                .map_err(|e| StoreError::Commit(format!("the commit task failed: {e}")))?;
        }
        let outcome = loop {
            // The one we handed the lane to may have been cancelled before
            // it got it; then nobody would commit until the next write.
            // A sweep commits the batch if it is still open.
            match tokio::time::timeout(2 * MAX_BATCH_AGE, done.wait_for(Option::is_some)).await {
                Ok(Ok(outcome)) => break outcome.clone(),
                Ok(Err(_)) => {
                    return Err(StoreError::Commit(
                        "the batch ended without an outcome".into(),
                    ));
                }
                Err(_) => {
                    tokio::spawn(lane.clone().sweep());
                }
            }
        };
        match outcome {
            Some(Err(why)) => Err(StoreError::Commit(why.to_string())),
            _ => Ok(()),
        }
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if let Inner::Lane {
            guard,
            lane,
            savepoint,
        } = &mut self.inner
            && let Some(mut state) = guard.take()
        {
            match savepoint {
                Savepoint::Made => state.dirty = true,
                Savepoint::Pending => state.poisoned = true,
                Savepoint::None => {}
            }
            drop(state);
            if lane.waiting.load(Ordering::SeqCst) == 0
                && let Ok(runtime) = tokio::runtime::Handle::try_current()
            {
                runtime.spawn(lane.clone().sweep());
            }
        }
    }
}

impl WriteTx {
    /// After the statement in front of which `begin_opened_by_caller` put
    /// the savepoint: it was made if the statement ran, or failed on a
    /// constraint (which `savepoint s` cannot raise, so it had run). Any
    /// other failure leaves it unknown, and the batch is abandoned.
    pub(in crate::store) fn opened_by<T>(&mut self, outcome: &StoreResult<T>) {
        let made = match outcome {
            Ok(_) => true,
            Err(StoreError::Database(sqlx::Error::Database(e))) => matches!(
                e.kind(),
                sqlx::error::ErrorKind::UniqueViolation
                    | sqlx::error::ErrorKind::ForeignKeyViolation
                    | sqlx::error::ErrorKind::NotNullViolation
                    | sqlx::error::ErrorKind::CheckViolation
            ),
            Err(_) => false,
        };
        if let Inner::Lane { savepoint, .. } = &mut self.inner
            && made
            && *savepoint == Savepoint::Pending
        {
            *savepoint = Savepoint::Made;
        }
    }
}

impl Deref for WriteTx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match &self.inner {
            Inner::Pooled(tx) => tx,
            Inner::Lane {
                guard: Some(state), ..
            } => &state.conn,
            Inner::Lane { guard: None, .. } | Inner::Done => {
                unreachable!("a write transaction is used after it ended")
            }
        }
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match &mut self.inner {
            Inner::Pooled(tx) => tx,
            Inner::Lane {
                guard: Some(state), ..
            } => &mut state.conn,
            Inner::Lane { guard: None, .. } | Inner::Done => {
                unreachable!("a write transaction is used after it ended")
            }
        }
    }
}
