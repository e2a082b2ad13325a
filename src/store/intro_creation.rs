//! Proposing an intro: its writes and the pair's guard in one statement.
//!
//! On SQLite every statement inside the write lane is a thread hand-off
//! that the next use case waits for, so a proposal is one statement there:
//! its savepoint, its writes, then the read of the pair's other intros
//! (which excludes the new one). A refused proposal is undone with its
//! savepoint. Everything that needs no lock (the connector's own timings,
//! the state machine, tokens, the statements) is worked out before the
//! lane is taken.
//!
//! On PostgreSQL two proposals for one pair could otherwise each miss the
//! other's uncommitted intro, so they take turns on a transaction-scoped
//! advisory lock for the pair, and the guard, a later statement, reads
//! what committed before it. That needs PostgreSQL's default isolation,
//! read committed (under repeatable read the lock's statement would fix
//! the snapshot before the wait); the README says so.

use sqlx::Row;

use super::intro_writes::insert_intro;
use super::intros::with_own_timings;
use super::sql::{Backend, SqlStore};
use super::statements::{Statements, Value};
use super::{StoreError, StoreResult};
use crate::domain::machine::{self, Command, Context};
use crate::domain::{Intro, Timestamp};

/// The pair's intros that are in progress or closed without an
/// introduction, other than the one being proposed. They go from one
/// person's parties (either role) to the other's, then the intro: `cross
/// join` fixes that order on SQLite, which otherwise walked every intro of
/// the connector.
const PAIR_SQL: &str = "select i.status as status, i.closed_at as closed_at
       from parties a cross join parties b cross join intros i
      where a.email_key = $2 and b.intro_id = a.intro_id and b.role <> a.role
        and b.email_key = $3 and i.intro_id = a.intro_id and i.connector_id = $1
        and i.intro_id <> $4
        and i.status in ('asking', 'snoozed', 'declined', 'expired')";

const OWN_TIMINGS_SQL: &str =
    "select timings as own_timings from connector_settings where connector_id = $1";

impl SqlStore {
    pub(super) async fn create_intro_tx(
        &self,
        intro: Intro,
        ctx: Context,
        from_request: Option<&str>,
    ) -> StoreResult<Intro> {
        // Read before the lane: a change of settings racing a proposal
        // applies to it or not, as if one had come a moment before the other.
        let ctx = self
            .with_connector_timings(&intro.connector_id, ctx)
            .await?;
        // Written once, as it stands after the start (asks planned).
        let t = machine::apply(&intro, Command::Start, &ctx)?;
        let due_at = machine::next_due(&t.intro, &ctx.timings).map(|(at, _)| at);
        let mut writes = Statements::default();
        insert_intro(&mut writes, &t.intro);
        let (writes, wake) = self.transition_writes(writes, None, &t, &ctx, due_at);
        let pair = (
            PAIR_SQL,
            vec![
                Value::from(&intro.connector_id),
                Value::from(intro.requester.email.normalized()),
                Value::from(intro.target.email.normalized()),
                Value::from(&intro.id),
            ],
        );

        let (mut tx, opening) = self.begin_write_opened_by_caller().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("select pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(pair_key(&intro))
                .execute(&mut *tx)
                .await?;
        }
        // In a task of its own: a request cancelled while this runs would
        // leave unknown whether the savepoint was made, and abandon every
        // write in the batch (`WriteLane::begin_opened_by_caller`).
        let backend = self.backend;
        let (mut tx, others) = tokio::spawn(async move {
            let others = writes
                .execute_then_fetch(&mut tx, backend, opening, pair)
                .await;
            tx.opened_by(&others);
            (tx, others)
        })
        .await
        .map_err(|e| StoreError::Commit(format!("the proposal's writes failed: {e}")))?;
        let others = others?;
        // A refusal drops `tx`, which undoes the writes.
        check_pair(&others, &intro, &ctx)?;
        if let Some(request_id) = from_request {
            // The approval and the intro are one: a double submit, or two
            // tabs, make one intro; a crash leaves neither or both.
            let approved = sqlx::query(
                "update requests set status = 'approved', intro_id = $1, decided_at = $2
                 where request_id = $3 and connector_id = $4 and status = 'pending'",
            )
            .bind(&intro.id)
            .bind(ctx.now.as_millis())
            .bind(request_id)
            .bind(&intro.connector_id)
            .execute(&mut *tx)
            .await?;
            if approved.rows_affected() != 1 {
                return Err(StoreError::Conflict(
                    "this request has already been approved or declined".into(),
                ));
            }
        }
        tx.commit().await?;
        if wake {
            self.wake_workers();
        }
        Ok(t.intro)
    }

    /// `ctx` with the connector's own timings (their `connector_settings`).
    async fn with_connector_timings(
        &self,
        connector_id: &str,
        mut ctx: Context,
    ) -> StoreResult<Context> {
        let own = self
            .read_one(OWN_TIMINGS_SQL, &[connector_id], |row| {
                row.text("own_timings")
            })
            .await?
            .flatten();
        with_own_timings(&mut ctx, own);
        Ok(ctx)
    }
}

/// Proposals for one pair with one connector share this key (the pair in
/// either order).
fn pair_key(intro: &Intro) -> String {
    let (a, b) = (
        intro.requester.email.normalized(),
        intro.target.email.normalized(),
    );
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    format!("{}\n{first}\n{second}", intro.connector_id)
}

/// Refuses a proposal for a pair that has an intro in progress with this
/// connector, or whose last one closed without an introduction less than
/// the connector's `cooldown` ago.
fn check_pair(others: &[sqlx::any::AnyRow], intro: &Intro, ctx: &Context) -> StoreResult<()> {
    let mut in_progress = false;
    let mut last_close: Option<i64> = None;
    for row in others {
        match row.try_get::<Option<String>, _>("status")?.as_deref() {
            Some("asking" | "snoozed") => in_progress = true,
            _ => {
                let closed = row.try_get::<Option<i64>, _>("closed_at")?;
                last_close = last_close.max(closed);
            }
        }
    }
    let (a, b) = (&intro.requester.name, &intro.target.name);
    if in_progress {
        return Err(StoreError::Refused {
            code: "pair_in_progress",
            message: format!(
                "{a} and {b} already have an intro in progress; it has to end before another can start"
            ),
        });
    }
    let opens = last_close.map(|closed| Timestamp::from_millis(closed).plus(ctx.timings.cooldown));
    if let Some(opens) = opens.filter(|opens| *opens > ctx.now) {
        return Err(StoreError::Refused {
            code: "pair_cooldown",
            message: format!(
                "an intro between {a} and {b} ended without an introduction recently; they can be asked again from {}",
                opens.human_date()
            ),
        });
    }
    Ok(())
}
