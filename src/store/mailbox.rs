//! The local mailbox: which written emails belong to a connector. The files
//! are named after their outbox rows, which carry the connector.

use async_trait::async_trait;
use sqlx::Row;

use super::StoreResult;
use super::sql::SqlStore;
use crate::domain::Timestamp;

/// A sent email of one of the connector's intros.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMail {
    pub outbox_id: String,
    /// None for an email about a request from the public page.
    pub intro_id: Option<String>,
    pub kind: String,
    pub sent_at: Option<Timestamp>,
}

#[async_trait]
pub trait MailboxStore: Send + Sync {
    /// Sent emails, newest first; `before` is the last id of the page before.
    async fn sent_mail(
        &self,
        connector_id: &str,
        before: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<SentMail>>;
    /// One sent email, if it is this connector's.
    async fn sent_mail_item(
        &self,
        connector_id: &str,
        outbox_id: &str,
    ) -> StoreResult<Option<SentMail>>;
}

fn from_row(row: &sqlx::any::AnyRow) -> StoreResult<SentMail> {
    Ok(SentMail {
        outbox_id: row.try_get("outbox_id")?,
        intro_id: row.try_get("intro_id")?,
        kind: row.try_get("kind")?,
        sent_at: row
            .try_get::<Option<i64>, _>("sent_at")?
            .map(Timestamp::from_millis),
    })
}

#[async_trait]
impl MailboxStore for SqlStore {
    async fn sent_mail(
        &self,
        connector_id: &str,
        before: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<SentMail>> {
        // Outbox ids are UUIDv7: their order is the order they were written.
        let rows = sqlx::query(
            "select outbox_id, intro_id, kind, sent_at from outbox
             where connector_id = $1 and status = 'sent' and outbox_id < $2
             order by outbox_id desc limit $3",
        )
        .bind(connector_id)
        .bind(before.unwrap_or("~"))
        .bind(i64::from(limit.clamp(1, 200)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    async fn sent_mail_item(
        &self,
        connector_id: &str,
        outbox_id: &str,
    ) -> StoreResult<Option<SentMail>> {
        let row = sqlx::query(
            "select outbox_id, intro_id, kind, sent_at from outbox
             where connector_id = $1 and outbox_id = $2 and status = 'sent'",
        )
        .bind(connector_id)
        .bind(outbox_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }
}
