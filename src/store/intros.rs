//! Intro use cases: create, apply a command, read, list.

use sqlx::{AnyConnection, Row};

use super::guarded_batches::GuardedChange;
use super::intro_writes::{Due, TransitionRows, intro_update};
use super::rows::{Columns as _, intro_from_row, intro_select};
use super::sql::{Backend, SqlStore};
use super::statements::Statements;
use super::{EventRecord, IntroFilter, StoreError, StoreResult, WORKER_POLL};
use crate::domain::machine::{self, Command, Context, Transition};
use crate::domain::{Intro, Timestamp, TimingOverrides};

/// An intro with its version and its connector's own timings.
const LOAD_SQL: &str = concat!(
    "select x.*, cs.timings as own_timings from (",
    intro_select!(),
    " where i.intro_id = $1) x",
    " left join connector_settings cs on cs.connector_id = x.connector_id"
);

impl SqlStore {
    /// Loads an intro inside a write transaction, with `ctx` taking on its
    /// connector's own timings (one statement: each costs a thread hand-off
    /// inside the write lock). On PostgreSQL the row is locked so that two
    /// decisions on one intro take turns.
    async fn load_for_update(
        &self,
        conn: &mut AnyConnection,
        intro_id: &str,
        ctx: Context,
    ) -> StoreResult<(Intro, Context)> {
        if self.backend == Backend::Postgres {
            sqlx::query("select intro_id from intros where intro_id = $1 for update")
                .bind(intro_id)
                .fetch_optional(&mut *conn)
                .await?;
        }
        let (intro, ctx, _) = load(conn, intro_id, ctx).await?;
        Ok((intro, ctx))
    }

    /// The writes of transition `t` after the `writes` already gathered:
    /// the parties that changed since `before` (`None` for an intro just
    /// inserted as it stands), its one event, its emails, and a wake-up for
    /// the workers if they have work sooner than they would look (the
    /// intro's next due time is `due_at`). Returns them with whether
    /// workers are woken; the intro's own row is the caller's to write.
    pub(super) fn transition_writes(
        &self,
        mut writes: Statements,
        before: Option<&Intro>,
        t: &Transition,
        ctx: &Context,
        due_at: Option<Timestamp>,
    ) -> (Statements, bool) {
        let (rows, wake) = self.transition_rows(before, t, ctx, due_at);
        if wake {
            writes.notify_workers();
        }
        rows.push_to(&mut writes);
        (writes, wake)
    }

    /// `transition_writes` as rows, with whether workers are woken.
    fn transition_rows(
        &self,
        before: Option<&Intro>,
        t: &Transition,
        ctx: &Context,
        due_at: Option<Timestamp>,
    ) -> (TransitionRows, bool) {
        let rows = TransitionRows::new(
            before,
            t,
            ctx,
            due_at,
            &self.options.token_secret,
            &self.options.message_id_domain,
        );
        (rows, wakes_workers(t, due_at, ctx.now))
    }

    /// The writes of transition `t` of a stored intro (`before`): the
    /// update of the intro's own row (only while it is at `version`, if
    /// given, so that it can guard the others) and the rest.
    pub(super) fn change_writes(
        &self,
        before: &Intro,
        t: &Transition,
        ctx: &Context,
        version: Option<i64>,
    ) -> GuardedChange {
        let due_at = machine::next_due(&t.intro, &ctx.timings).map(|(at, _)| at);
        let (rows, wake) = self.transition_rows(Some(before), t, ctx, due_at);
        GuardedChange {
            intro_id: t.intro.id.as_str().to_string(),
            version,
            intro: intro_update(&t.intro, ctx.now, version),
            rows,
            wake,
        }
    }

    /// Writes the transition's new state (from `before`), its one event
    /// and its emails, all sent together. True when the workers should be
    /// woken at commit.
    async fn persist(
        &self,
        conn: &mut AnyConnection,
        before: &Intro,
        t: &Transition,
        ctx: &Context,
    ) -> StoreResult<bool> {
        let change = self.change_writes(before, t, ctx, None);
        let wake = change.wake;
        let (mut writes, (sql, values)) = change.into_statements();
        writes.push(sql, values);
        writes.execute(conn, self.backend).await?;
        Ok(wake)
    }

    pub(super) async fn apply_tx(
        &self,
        intro_id: &str,
        connector_id: Option<&str>,
        command: Command,
        ctx: Context,
    ) -> StoreResult<Intro> {
        if self.backend == Backend::Postgres
            && let Some(intro) = self
                .apply_unlocked(intro_id, connector_id, &command, ctx)
                .await?
        {
            return Ok(intro);
        }
        let mut tx = self.begin_write().await?;
        let (intro, ctx) = self.load_for_update(&mut tx, intro_id, ctx).await?;
        if connector_id.is_some_and(|c| c != intro.connector_id) {
            return Err(StoreError::NotFound);
        }
        let t = machine::apply(&intro, command, &ctx)?;
        let wake = self.persist(&mut tx, &intro, &t, &ctx).await?;
        tx.commit().await?;
        if wake {
            self.wake_workers();
        }
        Ok(t.intro)
    }

    pub(super) async fn apply_due_tx(&self, intro_id: &str, ctx: Context) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let (intro, ctx) = self.load_for_update(&mut tx, intro_id, ctx).await?;
        let Some(command) = machine::due_now(&intro, &ctx.timings, ctx.now) else {
            // Nothing due (another worker got here first, or timings changed):
            // store the fresh due time so the intro is not picked again early.
            let mut writes = Statements::default();
            Due {
                intro_id: intro_id.to_string(),
                at: machine::next_due(&intro, &ctx.timings).map(|(at, _)| at),
                new: false,
            }
            .push_to(&mut writes);
            writes.execute(&mut tx, self.backend).await?;
            tx.commit().await?;
            return Ok(false);
        };
        let t = machine::apply(&intro, command, &ctx)?;
        let wake = self.persist(&mut tx, &intro, &t, &ctx).await?;
        tx.commit().await?;
        if wake {
            self.wake_workers();
        }
        Ok(true)
    }

    pub(super) async fn intro_query(
        &self,
        intro_id: &str,
        connector_id: Option<&str>,
    ) -> StoreResult<Intro> {
        let row = sqlx::query(concat!(intro_select!(), " where i.intro_id = $1"))
            .bind(intro_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        let intro = intro_from_row(&row)?;
        if connector_id.is_some_and(|c| c != intro.connector_id) {
            return Err(StoreError::NotFound);
        }
        Ok(intro)
    }

    pub(super) async fn list_intros_query(&self, filter: &IntroFilter) -> StoreResult<Vec<Intro>> {
        // '~' sorts after every UUID character, so it means "from the newest".
        let after = filter.after.clone().unwrap_or_else(|| "~".to_string());
        let status = filter.status.map(|s| s.as_str()).unwrap_or("");
        let limit = i64::from(filter.limit.clamp(1, 500));
        let rows =
            match &filter.connector_id {
                Some(connector_id) => sqlx::query(concat!(
                    intro_select!(),
                    " where i.connector_id = $1 and ($2 = '' or i.status = $2) and i.intro_id < $3",
                    " order by i.intro_id desc limit $4"
                ))
                .bind(connector_id)
                .bind(status)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?,
                None => {
                    sqlx::query(concat!(
                        intro_select!(),
                        " where ($1 = '' or i.status = $1) and i.intro_id < $2",
                        " order by i.intro_id desc limit $3"
                    ))
                    .bind(status)
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
                }
            };
        rows.iter().map(intro_from_row).collect()
    }

    pub(super) async fn events_query(&self, intro_id: &str) -> StoreResult<Vec<EventRecord>> {
        let rows = sqlx::query(
            "select kind, actor, role, channel, text_hash, status_after, created_at
             from events where intro_id = $1 order by event_id",
        )
        .bind(intro_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(EventRecord {
                    kind: r.try_get("kind")?,
                    actor: r.try_get("actor")?,
                    role: r.try_get("role")?,
                    channel: r.try_get("channel")?,
                    text_hash: r.try_get("text_hash")?,
                    status_after: r.try_get("status_after")?,
                    at: Timestamp::from_millis(r.try_get("created_at")?),
                })
            })
            .collect()
    }

    pub(super) async fn due_intro_ids_query(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "select intro_id from intro_due where due_at <= $1 order by due_at limit $2",
        )
        .bind(now.as_millis())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>("intro_id")?))
            .collect()
    }

    pub(super) async fn next_due_at_query(&self) -> StoreResult<Option<Timestamp>> {
        let row = sqlx::query("select min(due_at) as due from intro_due")
            .fetch_one(&self.pool)
            .await?;
        Ok(row
            .try_get::<Option<i64>, _>("due")?
            .map(Timestamp::from_millis))
    }
}

/// An intro (see `LOAD_SQL`), with `ctx` taking on its connector's own
/// timings, and its version.
pub(super) async fn load(
    conn: &mut AnyConnection,
    intro_id: &str,
    mut ctx: Context,
) -> StoreResult<(Intro, Context, i64)> {
    let row = sqlx::query(LOAD_SQL)
        .bind(intro_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    with_own_timings(&mut ctx, row.try_get("own_timings")?);
    Ok((intro_from_row(&row)?, ctx, row.required_int("version")?))
}

/// Whether a transition leaves work for the workers sooner than they would
/// look on their own (they look at least every `WORKER_POLL`): an email to
/// send, or a timer due within that time (twice it: `now` is when the use
/// case began, and its retries or a wait for a lock may have taken a while
/// before the commit). A decision that only opens an undo window wakes
/// nobody, so it costs no worker pass.
fn wakes_workers(t: &Transition, due_at: Option<Timestamp>, now: Timestamp) -> bool {
    !t.effects.is_empty() || due_at.is_some_and(|at| at <= now.plus(2 * WORKER_POLL))
}

/// `ctx` takes on a connector's own timings (their `connector_settings`
/// JSON, if they have any) over the installation's.
pub(super) fn with_own_timings(ctx: &mut Context, json: Option<String>) {
    if let Some(json) = json {
        ctx.timings = TimingOverrides::from_json(&json).apply(&ctx.timings);
    }
}
