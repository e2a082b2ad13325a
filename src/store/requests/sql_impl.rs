//! `RequestStore` for `SqlStore`.

use async_trait::async_trait;
use sqlx::Row;

use super::{
    COLUMNS, IntroRequest, NewRequest, RequestStore, Submitted, confirm_token_context,
    request_from_row,
};
use crate::domain::{Handle, Note, Timestamp, Token, TokenHash};
use crate::store::outbox_plan::OutboxKind;
use crate::store::sql::{SqlStore, new_id};
use crate::store::{Connector, StoreError, StoreResult};

const DAY_MS: i64 = 86_400_000;

#[async_trait]
impl RequestStore for SqlStore {
    async fn connector_by_handle(&self, handle: &Handle) -> StoreResult<Option<Connector>> {
        let row = sqlx::query("select connector_id from connectors where handle = $1")
            .bind(handle.as_str())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(Some(
                self.connector_query(&row.try_get::<String, _>("connector_id")?)
                    .await?,
            )),
            None => Ok(None),
        }
    }

    async fn submit_request(
        &self,
        new: NewRequest,
        now: Timestamp,
        confirm_until: Timestamp,
        daily_limit: i64,
    ) -> StoreResult<Submitted> {
        let mut tx = self.begin_write().await?;
        let waiting = sqlx::query(
            "select count(*) as n from requests
             where requester_email_key = $1 and status = 'unconfirmed' and created_at > $2",
        )
        .bind(new.requester_email.normalized())
        .bind(now.as_millis() - DAY_MS)
        .fetch_one(&mut *tx)
        .await?
        .try_get::<i64, _>("n")?;
        if waiting >= daily_limit {
            return Ok(Submitted::Limited);
        }
        let request_id = new_id();
        let outbox_id = new_id();
        let token = Token::derive(
            &self.options.token_secret,
            &confirm_token_context(&outbox_id),
        );
        sqlx::query(
            "insert into requests (request_id, connector_id, status, requester_name, requester_email,
                 requester_email_key, wants_to_meet, reason, blurb, confirm_token_hash, confirm_expires_at, created_at)
             values ($1, $2, 'unconfirmed', $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&request_id)
        .bind(&new.connector_id)
        .bind(new.requester_name.as_str())
        .bind(new.requester_email.as_str())
        .bind(new.requester_email.normalized())
        .bind(new.wants_to_meet.as_str())
        .bind(new.reason.as_str())
        .bind(new.blurb.as_str())
        .bind(token.hash().as_str())
        .bind(confirm_until.as_millis())
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await?;
        self.enqueue_request_email(
            &mut tx,
            &outbox_id,
            &request_id,
            &new.connector_id,
            OutboxKind::RequestConfirm,
            now,
        )
        .await?;
        tx.commit().await?;
        self.wake_workers();
        Ok(Submitted::ConfirmationSent)
    }

    async fn request_by_confirm_token(
        &self,
        hash: &TokenHash,
    ) -> StoreResult<Option<IntroRequest>> {
        self.one_request("r.confirm_token_hash = $1", hash.as_str())
            .await
    }

    async fn confirm_request(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> StoreResult<Option<IntroRequest>> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "update requests set status = 'pending', confirmed_at = $1
             where confirm_token_hash = $2 and status = 'unconfirmed' and confirm_expires_at > $1",
        )
        .bind(now.as_millis())
        .bind(hash.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.request_by_confirm_token(hash).await
    }

    async fn connector_requests(
        &self,
        connector_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<IntroRequest>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "select {COLUMNS} from requests r
             where r.connector_id = $1 and r.status <> 'unconfirmed'
             order by r.request_id desc limit $2"
        )))
        .bind(connector_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(request_from_row).collect()
    }

    async fn connector_request(
        &self,
        connector_id: &str,
        request_id: &str,
    ) -> StoreResult<IntroRequest> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "select {COLUMNS} from requests r
             where r.request_id = $1 and r.connector_id = $2 and r.status <> 'unconfirmed'"
        )))
        .bind(request_id)
        .bind(connector_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        request_from_row(&row)
    }

    async fn decline_request(
        &self,
        connector_id: &str,
        request_id: &str,
        message: &Note,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "update requests set status = 'declined', decided_at = $1, decline_message = $2
             where request_id = $3 and connector_id = $4 and status = 'pending'",
        )
        .bind(now.as_millis())
        .bind(message.as_str())
        .bind(request_id)
        .bind(connector_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        self.enqueue_request_email(
            &mut tx,
            &new_id(),
            request_id,
            connector_id,
            OutboxKind::RequestDeclined,
            now,
        )
        .await?;
        tx.commit().await?;
        self.wake_workers();
        Ok(true)
    }

    async fn request_for_outbox(&self, outbox_id: &str) -> StoreResult<Option<IntroRequest>> {
        self.one_request(
            "r.request_id = (select o.request_id from outbox o where o.outbox_id = $1)",
            outbox_id,
        )
        .await
    }

    async fn request_emails(
        &self,
        request_id: &str,
    ) -> StoreResult<Vec<(OutboxKind, String, Option<Timestamp>)>> {
        let rows = sqlx::query(
            "select kind, status, sent_at from outbox where request_id = $1 order by outbox_id",
        )
        .bind(request_id)
        .fetch_all(&self.pool)
        .await?;
        let mut emails = Vec::with_capacity(rows.len());
        for row in rows {
            let kind: String = row.try_get("kind")?;
            let kind = OutboxKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("outbox kind `{kind}`")))?;
            let sent_at = row
                .try_get::<Option<i64>, _>("sent_at")?
                .map(Timestamp::from_millis);
            emails.push((kind, row.try_get("status")?, sent_at));
        }
        Ok(emails)
    }
}
