//! The outbox: emails written in the same transaction as the change that
//! causes them, then delivered by workers under time-limited leases.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::outbox_plan::{OutboxKind, Purpose, Recipient};
use super::sql::{Backend, SqlStore, new_id};
use super::{LateAnswer, MetricsSnapshot, OutboxItem, PartyToken, StoreError, StoreResult};
use crate::domain::{EmailAddress, Role, Timestamp, Token, TokenHash, redact_tokens};

const OUTBOX_COLUMNS: &str = "outbox_id, intro_id, connector_id, kind, recipient, payload, message_id, status, \
                              attempts, not_before, last_error, sent_at";

fn outbox_from_row(row: &AnyRow) -> StoreResult<OutboxItem> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("outbox {what}"));
    let payload: String = row.try_get("payload")?;
    Ok(OutboxItem {
        id: row.try_get("outbox_id")?,
        // Empty for an email about a request, which has no intro yet.
        intro_id: row
            .try_get::<Option<String>, _>("intro_id")?
            .unwrap_or_default(),
        connector_id: row.try_get("connector_id")?,
        kind: OutboxKind::parse(&row.try_get::<String, _>("kind")?)
            .ok_or_else(|| corrupt("kind"))?,
        recipient: Recipient::parse(&row.try_get::<String, _>("recipient")?)
            .ok_or_else(|| corrupt("recipient"))?,
        payload: serde_json::from_str(&payload).map_err(|_| corrupt("payload"))?,
        message_id: row.try_get("message_id")?,
        status: row.try_get("status")?,
        attempts: u32::try_from(row.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
        not_before: Timestamp::from_millis(row.try_get("not_before")?),
        last_error: row.try_get("last_error")?,
        sent_at: row
            .try_get::<Option<i64>, _>("sent_at")?
            .map(Timestamp::from_millis),
    })
}

/// Addresses are kept as a hash in the suppression list, so the list itself
/// does not hold anyone's address.
impl SqlStore {
    /// How an address is kept where only "is this them?" is needed
    /// (suppressions, preferences, an erased person's block): keyed with
    /// `secret.key`, so a copy of the database alone cannot confirm a
    /// guessed address.
    pub(super) fn address_hash(&self, email: &EmailAddress) -> String {
        let key = Token::derive(
            &self.options.token_secret,
            &format!("suppression:{}", email.normalized()),
        );
        key.hash().as_str().to_string()
    }

    pub(super) async fn claim_outbox_tx(
        &self,
        worker: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<OutboxItem>> {
        let mut tx = self.begin_write().await?;
        let pick = match self.backend {
            Backend::Sqlite => {
                "select outbox_id from outbox where status = 'pending' and not_before <= $1
                 and (lease_until is null or lease_until < $1) order by not_before limit $2"
            }
            // Other workers skip the rows this one is claiming instead of waiting.
            Backend::Postgres => {
                "select outbox_id from outbox where status = 'pending' and not_before <= $1
                 and (lease_until is null or lease_until < $1) order by not_before limit $2
                 for update skip locked"
            }
        };
        let ids: Vec<String> = sqlx::query(pick)
            .bind(now.as_millis())
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get("outbox_id"))
            .collect::<Result<_, _>>()?;
        let mut items = Vec::with_capacity(ids.len());
        for id in ids {
            sqlx::query(
                "update outbox set lease_owner = $1, lease_until = $2, attempts = attempts + 1 where outbox_id = $3",
            )
            .bind(worker)
            .bind(lease_until.as_millis())
            .bind(&id)
            .execute(&mut *tx)
            .await?;
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "select {OUTBOX_COLUMNS} from outbox where outbox_id = $1"
            )))
            .bind(&id)
            .fetch_one(&mut *tx)
            .await?;
            match outbox_from_row(&row) {
                Ok(item) => items.push(item),
                // A row this version cannot read (written by a newer one
                // during an upgrade, say) stays leased and is left for a
                // worker that can read it; it must not stop the others.
                Err(e) => {
                    tracing::warn!(outbox = %id, error = %e, "skipping an outbox row this version cannot read")
                }
            }
        }
        tx.commit().await?;
        Ok(items)
    }

    /// Finishes a leased row, but only while `worker` still holds the lease:
    /// a worker that froze past its lease cannot overwrite the new owner.
    async fn finish_leased(
        &self,
        sql: &'static str,
        outbox_id: &str,
        worker: &str,
        a: Option<i64>,
        b: Option<&str>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(sql)
            .bind(a)
            .bind(b.map(str::to_string))
            .bind(outbox_id)
            .bind(worker)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(done == 1)
    }

    pub(super) async fn outbox_sent_tx(
        &self,
        outbox_id: &str,
        worker: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.finish_leased(
            "update outbox set status = 'sent', sent_at = $1, last_error = $2, lease_owner = null, lease_until = null
             where outbox_id = $3 and lease_owner = $4 and status = 'pending'",
            outbox_id,
            worker,
            Some(now.as_millis()),
            None,
        )
        .await
    }

    pub(super) async fn outbox_retry_tx(
        &self,
        outbox_id: &str,
        worker: &str,
        at: Timestamp,
        error: &str,
    ) -> StoreResult<bool> {
        let done = self
            .finish_leased(
                "update outbox set not_before = $1, last_error = $2, lease_owner = null, lease_until = null
                 where outbox_id = $3 and lease_owner = $4 and status = 'pending'",
                outbox_id,
                worker,
                Some(at.as_millis()),
                Some(error),
            )
            .await?;
        self.wake_workers();
        Ok(done)
    }

    pub(super) async fn outbox_skipped_tx(
        &self,
        outbox_id: &str,
        worker: &str,
        why: &str,
    ) -> StoreResult<bool> {
        let sql = "update outbox set status = 'skipped', sent_at = $1, last_error = $2, lease_owner = null, lease_until = null
                 where outbox_id = $3 and lease_owner = $4 and status = 'pending'";
        self.finish_leased(sql, outbox_id, worker, None, Some(why))
            .await
    }

    /// Marks a row failed for good and, unless it was itself a notice, tells
    /// the connector in the same transaction.
    pub(super) async fn outbox_failed_tx(
        &self,
        outbox_id: &str,
        worker: &str,
        error: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "select kind, recipient, intro_id, connector_id from outbox
             where outbox_id = $1 and lease_owner = $2 and status = 'pending'",
        )
        .bind(outbox_id)
        .bind(worker)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(false) };
        let kind: String = row.try_get("kind")?;
        let intro_id: Option<String> = row.try_get("intro_id")?;
        sqlx::query(
            "update outbox set status = 'failed', sent_at = $1, last_error = $2, lease_owner = null, lease_until = null
             where outbox_id = $3",
        )
        .bind(now.as_millis())
        .bind(redact_tokens(error))
        .bind(outbox_id)
        .execute(&mut *tx)
        .await?;
        // A request's email has no intro for a notice to be about; the
        // request's page shows the failure instead.
        if let Some(intro_id) = intro_id.filter(|_| kind != OutboxKind::Notice.as_str()) {
            let payload = serde_json::json!({
                "notice": "delivery_failed",
                "failed_kind": kind,
                "failed_recipient": row.try_get::<String, _>("recipient")?,
                "reply": redact_tokens(error),
            });
            let notice_id = new_id();
            sqlx::query(
                "insert into outbox (outbox_id, intro_id, connector_id, kind, recipient, payload, message_id, status,
                     attempts, not_before, created_at)
                 values ($1, $2, $3, 'notice', 'connector', $4, $5, 'pending', 0, $6, $6)",
            )
            .bind(&notice_id)
            .bind(intro_id)
            .bind(row.try_get::<String, _>("connector_id")?)
            .bind(payload.to_string())
            .bind(format!("<{}@{}>", uuid::Uuid::new_v4().simple(), self.options.message_id_domain))
            .bind(now.as_millis())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.wake_workers();
        Ok(true)
    }

    pub(super) async fn outbox_release_tx(
        &self,
        outbox_id: &str,
        worker: &str,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "update outbox set lease_owner = null, lease_until = null, attempts = attempts - 1
             where outbox_id = $1 and lease_owner = $2 and status = 'pending'",
        )
        .bind(outbox_id)
        .bind(worker)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(done == 1)
    }

    pub(super) async fn next_outbox_at_query(&self) -> StoreResult<Option<Timestamp>> {
        let row = sqlx::query(
            "select min(case when lease_until is not null and lease_until > not_before then lease_until else not_before end) as due
             from outbox where status = 'pending'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(row
            .try_get::<Option<i64>, _>("due")?
            .map(Timestamp::from_millis))
    }

    pub(super) async fn outbox_for_intro_query(
        &self,
        intro_id: &str,
    ) -> StoreResult<Vec<OutboxItem>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "select {OUTBOX_COLUMNS} from outbox where intro_id = $1 order by outbox_id"
        )))
        .bind(intro_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(outbox_from_row).collect()
    }

    pub(super) async fn party_token_query(
        &self,
        hash: &TokenHash,
    ) -> StoreResult<Option<PartyToken>> {
        let row = sqlx::query("select intro_id, role, purpose, outbox_id, expires_at from party_tokens where token_hash = $1")
            .bind(hash.as_str())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let corrupt = |what: &str| StoreError::Corrupt(format!("token {what}"));
        Ok(Some(PartyToken {
            intro_id: row.try_get("intro_id")?,
            role: Role::parse(&row.try_get::<String, _>("role")?).ok_or_else(|| corrupt("role"))?,
            purpose: Purpose::parse(&row.try_get::<String, _>("purpose")?)
                .ok_or_else(|| corrupt("purpose"))?,
            outbox_id: row.try_get("outbox_id")?,
            expires_at: Timestamp::from_millis(row.try_get("expires_at")?),
        }))
    }

    pub(super) async fn suppress_tx(
        &self,
        email: &EmailAddress,
        connector_id: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "insert into suppressions (suppression_id, email_hash, connector_id, created_at) values ($1, $2, $3, $4)
             on conflict (email_hash, connector_id) do nothing",
        )
        .bind(new_id())
        .bind(self.address_hash(email))
        .bind(connector_id.unwrap_or(""))
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn record_late_answer_tx(
        &self,
        intro_id: &str,
        role: Role,
        answer: &LateAnswer,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "insert into late_answers (intro_id, role, answer, until, answered_at, created_at)
             values ($1, $2, $3, $4, $5, $5)
             on conflict (intro_id, role) do update
             set answer = excluded.answer, until = excluded.until, answered_at = excluded.answered_at",
        )
        .bind(intro_id)
        .bind(role.as_str())
        .bind(&answer.answer)
        .bind(answer.until.map(Timestamp::as_millis))
        .bind(answer.at.as_millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn late_answer_query(
        &self,
        intro_id: &str,
        role: Role,
    ) -> StoreResult<Option<LateAnswer>> {
        let row = sqlx::query(
            "select answer, until, answered_at from late_answers where intro_id = $1 and role = $2",
        )
        .bind(intro_id)
        .bind(role.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(LateAnswer {
            answer: row.try_get("answer")?,
            until: row
                .try_get::<Option<i64>, _>("until")?
                .map(Timestamp::from_millis),
            at: Timestamp::from_millis(row.try_get("answered_at")?),
        }))
    }

    pub(super) async fn record_follow_up_tx(
        &self,
        intro_id: &str,
        role: Role,
        answer: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "insert into follow_ups (intro_id, role, answer, answered_at, created_at) values ($1, $2, $3, $4, $4)
             on conflict (intro_id, role) do update set answer = excluded.answer, answered_at = excluded.answered_at",
        )
        .bind(intro_id)
        .bind(role.as_str())
        .bind(answer)
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn follow_up_answer_query(
        &self,
        intro_id: &str,
        role: Role,
    ) -> StoreResult<Option<String>> {
        let row = sqlx::query("select answer from follow_ups where intro_id = $1 and role = $2")
            .bind(intro_id)
            .bind(role.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => Some(r.try_get("answer")?),
            None => None,
        })
    }

    pub(super) async fn metrics_query(&self, now: Timestamp) -> StoreResult<MetricsSnapshot> {
        let counts = |sql: &'static str| async move {
            let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
            rows.iter()
                .map(|r| Ok((r.try_get::<String, _>("k")?, r.try_get::<i64, _>("n")?)))
                .collect::<StoreResult<Vec<_>>>()
        };
        let intros_by_status =
            counts("select status as k, count(*) as n from intros group by status").await?;
        let decisions_by_kind = counts(
            "select kind as k, count(*) as n from events
             where kind in ('decided_yes', 'decided_not_now', 'decided_no', 'withdrawn', 'undone') group by kind",
        )
        .await?;
        let outbox_by_status = counts(
            "select kind || ':' || status as k, count(*) as n from outbox group by kind, status",
        )
        .await?;
        let pending = sqlx::query(
            "select count(*) as n, min(not_before) as oldest from outbox where status = 'pending' and not_before <= $1",
        )
        .bind(now.as_millis())
        .fetch_one(&self.pool)
        .await?;
        let oldest: Option<i64> = pending.try_get("oldest")?;
        Ok(MetricsSnapshot {
            intros_by_status,
            decisions_by_kind,
            outbox_by_status,
            outbox_pending: pending.try_get("n")?,
            oldest_pending_age_seconds: oldest
                .map(|o| (now.as_millis() - o).max(0) as f64 / 1000.0)
                .unwrap_or(0.0),
        })
    }
}
