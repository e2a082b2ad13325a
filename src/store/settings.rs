//! A connector's settings: sender name, reply-to, their own timings and
//! their wording of each email.

use async_trait::async_trait;
use sqlx::Row;

use super::StoreResult;
use super::sql::SqlStore;
use crate::domain::{EmailAddress, PersonName, Timestamp, TimingOverrides};

/// A connector's wording: (email kind, part) → their template source.
pub type Wording = std::collections::BTreeMap<(String, String), String>;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectorSettings {
    /// The display name on the From line (default: the connector's name).
    pub sender_name: Option<PersonName>,
    /// Where replies go (default: the connector's email).
    pub reply_to: Option<EmailAddress>,
    pub timings: TimingOverrides,
    pub wording: Wording,
}

#[async_trait]
pub trait SettingsStore: Send + Sync {
    async fn connector_settings(&self, connector_id: &str) -> StoreResult<ConnectorSettings>;
    async fn save_sender(
        &self,
        connector_id: &str,
        sender_name: Option<&PersonName>,
        reply_to: Option<&EmailAddress>,
        now: Timestamp,
    ) -> StoreResult<()>;
    async fn save_timings(
        &self,
        connector_id: &str,
        timings: &TimingOverrides,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Sets the wording of one part of one email; `None` goes back to the
    /// built-in wording.
    async fn save_wording(
        &self,
        connector_id: &str,
        kind: &str,
        part: &str,
        source: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<()>;
}

impl SqlStore {
    /// Makes sure the connector has a settings row to update.
    async fn ensure_settings_row(
        &self,
        conn: &mut sqlx::AnyConnection,
        connector_id: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        let exists = sqlx::query("select 1 as one from connector_settings where connector_id = $1")
            .bind(connector_id)
            .fetch_optional(&mut *conn)
            .await?
            .is_some();
        if !exists {
            sqlx::query(
                "insert into connector_settings (connector_id, sender_name, reply_to, timings, updated_at)
                 values ($1, null, null, '{}', $2)",
            )
            .bind(connector_id)
            .bind(now.as_millis())
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl SettingsStore for SqlStore {
    async fn connector_settings(&self, connector_id: &str) -> StoreResult<ConnectorSettings> {
        let mut settings = ConnectorSettings::default();
        let row = sqlx::query(
            "select sender_name, reply_to, timings from connector_settings where connector_id = $1",
        )
        .bind(connector_id)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = row {
            let name: Option<String> = row.try_get("sender_name")?;
            let reply_to: Option<String> = row.try_get("reply_to")?;
            // Stored values were parsed on save; anything odd counts as unset.
            settings.sender_name = name.and_then(|n| PersonName::parse(&n).ok());
            settings.reply_to = reply_to.and_then(|r| EmailAddress::parse(&r).ok());
            settings.timings = TimingOverrides::from_json(&row.try_get::<String, _>("timings")?);
        }
        let rows =
            sqlx::query("select kind, part, source from email_wording where connector_id = $1")
                .bind(connector_id)
                .fetch_all(&self.pool)
                .await?;
        for row in rows {
            settings.wording.insert(
                (row.try_get("kind")?, row.try_get("part")?),
                row.try_get("source")?,
            );
        }
        Ok(settings)
    }

    async fn save_sender(
        &self,
        connector_id: &str,
        sender_name: Option<&PersonName>,
        reply_to: Option<&EmailAddress>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        self.ensure_settings_row(&mut tx, connector_id, now).await?;
        sqlx::query(
            "update connector_settings set sender_name = $1, reply_to = $2, updated_at = $3 where connector_id = $4",
        )
        .bind(sender_name.map(|n| n.as_str().to_string()))
        .bind(reply_to.map(|r| r.as_str().to_string()))
        .bind(now.as_millis())
        .bind(connector_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn save_timings(
        &self,
        connector_id: &str,
        timings: &TimingOverrides,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        self.ensure_settings_row(&mut tx, connector_id, now).await?;
        sqlx::query(
            "update connector_settings set timings = $1, updated_at = $2 where connector_id = $3",
        )
        .bind(timings.to_json())
        .bind(now.as_millis())
        .bind(connector_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn save_wording(
        &self,
        connector_id: &str,
        kind: &str,
        part: &str,
        source: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "delete from email_wording where connector_id = $1 and kind = $2 and part = $3",
        )
        .bind(connector_id)
        .bind(kind)
        .bind(part)
        .execute(&mut *tx)
        .await?;
        if let Some(source) = source {
            sqlx::query(
                "insert into email_wording (connector_id, kind, part, source, updated_at) values ($1, $2, $3, $4, $5)",
            )
            .bind(connector_id)
            .bind(kind)
            .bind(part)
            .bind(source)
            .bind(now.as_millis())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
