//! PostgreSQL decisions without a lock: read, decide, and write everything
//! in one statement that applies only while the intro is at the version
//! read (every write of an intro's state counts one, `intros.version`).
//! Two statements and no `BEGIN`, `FOR UPDATE` or `COMMIT` round trips; a
//! lost race writes nothing and is tried again, then waits for the lock.
//! The writes of decisions waiting at the same time share one statement
//! (`guarded_batches`), each still guarded by its own intro's version.

use super::intros::load;
use super::sql::{Backend, SqlStore};
use super::{PartyLink, StoreError, StoreResult};
use crate::domain::Intro;
use crate::domain::machine::{self, Command, Context, Transition};

/// Unlocked tries of a PostgreSQL decision before it waits its turn on the
/// row lock (see `apply_unlocked`).
const UNLOCKED_TRIES: usize = 3;

impl SqlStore {
    /// PostgreSQL: a decision in two statements, with no transaction of its
    /// own to open and commit. The intro is read without a lock, the
    /// transition computed, and all its writes sent as one statement that
    /// applies only while the intro is at the version read (every write of
    /// its state counts one). If another write came first, nothing was
    /// written and it starts again from a fresh read; `None` after
    /// `UNLOCKED_TRIES` lost races, for the caller to take the lock.
    pub(super) async fn apply_unlocked(
        &self,
        intro_id: &str,
        connector_id: Option<&str>,
        command: &Command,
        ctx: Context,
    ) -> StoreResult<Option<Intro>> {
        let mut refused_at = None;
        for _ in 0..UNLOCKED_TRIES {
            // The connection goes back before the write, which waits its
            // turn on another (`guarded_batches`).
            let (intro, ctx, version) = {
                let mut conn = self.pool.acquire().await?;
                load(&mut conn, intro_id, ctx).await?
            };
            if refused_at == Some(version) {
                // The guard failed, yet nobody wrote the intro: the failure
                // was not a lost race, and trying again would not help.
                return Err(StoreError::Commit(
                    "the decision's write failed although the intro had not changed".into(),
                ));
            }
            if connector_id.is_some_and(|c| c != intro.connector_id) {
                return Err(StoreError::NotFound);
            }
            let t = machine::apply(&intro, command.clone(), &ctx)?;
            if self.write_at_version(&intro, version, &t, &ctx).await? {
                return Ok(Some(t.intro));
            }
            refused_at = Some(version);
        }
        Ok(None)
    }

    /// PostgreSQL: transition `t` of `before`, written in one statement if
    /// the intro is still at `version`; false (and nothing written) if not.
    async fn write_at_version(
        &self,
        before: &Intro,
        version: i64,
        t: &Transition,
        ctx: &Context,
    ) -> StoreResult<bool> {
        let change = self.change_writes(before, t, ctx, Some(version));
        let wake = change.wake;
        let written = match &self.batches {
            Some(batches) => batches.write(change).await?,
            None => {
                let mut conn = self.pool.acquire().await?;
                let (writes, guard) = change.into_statements();
                writes.execute_if(&mut conn, guard).await?
            }
        };
        if written && wake {
            self.wake_workers();
        }
        Ok(written)
    }

    /// `apply` to the intro as `link` showed it. On PostgreSQL, when the
    /// intro has not changed since, that read is the one the decision is
    /// made on: one statement more, not two. Anything else (a change since,
    /// a command the intro as shown refuses) goes the way of `apply`, which
    /// reads it afresh.
    pub(super) async fn apply_seen_tx(
        &self,
        link: &PartyLink,
        command: Command,
        ctx: Context,
    ) -> StoreResult<Intro> {
        if self.backend == Backend::Postgres {
            // The connector's timings as the link's read found them; the
            // fresh read below applies its own over the installation's.
            let seen = Context {
                timings: link.timings.apply(&ctx.timings),
                ..ctx
            };
            if let Ok(t) = machine::apply(&link.intro, command.clone(), &seen)
                && self
                    .write_at_version(&link.intro, link.version, &t, &seen)
                    .await?
            {
                return Ok(t.intro);
            }
        }
        self.apply_tx(&link.intro.id, None, command, ctx).await
    }
}
