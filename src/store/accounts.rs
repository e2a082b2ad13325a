//! The web app's accounts: passwords, sessions, one-time links and failed
//! logins. Sessions live in the database so any instance serves any request.

use async_trait::async_trait;
use sqlx::Row;

use super::connectors::insert_connector;
use super::sql::{SqlStore, new_id};
use super::{Connector, NewConnector, StoreError, StoreResult};
use crate::domain::{EmailAddress, Timestamp, TokenHash};

/// What a one-time link is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OneTimePurpose {
    /// Create the installation's first (admin) account.
    Setup,
    /// Set the password of this connector.
    Password { connector_id: String },
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn count_connectors(&self) -> StoreResult<i64>;
    async fn set_password_hash(&self, connector_id: &str, hash: &str) -> StoreResult<()>;
    /// The connector with this login email and their password hash, if any.
    async fn login_account(
        &self,
        email: &EmailAddress,
    ) -> StoreResult<Option<(Connector, Option<String>)>>;

    async fn create_session(
        &self,
        connector_id: &str,
        hash: &TokenHash,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<()>;
    /// The connector a live session belongs to.
    async fn session_connector(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> StoreResult<Option<Connector>>;
    async fn delete_session(&self, hash: &TokenHash) -> StoreResult<()>;

    async fn create_one_time_link(
        &self,
        hash: &TokenHash,
        purpose: &OneTimePurpose,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<()>;
    /// An unused, unexpired link's purpose (it stays unused).
    async fn peek_one_time_link(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> StoreResult<Option<OneTimePurpose>>;
    /// Sets the password the link is for and uses the link up, in one
    /// transaction; `NotFound` when it is unknown, used or expired.
    async fn use_password_link(
        &self,
        hash: &TokenHash,
        password_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Connector>;
    /// Creates the first (admin) account through a setup link and uses the
    /// link up, in one transaction; `Conflict` once any account exists.
    async fn setup_first_account(
        &self,
        hash: &TokenHash,
        new: NewConnector,
        password_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Connector>;

    async fn record_login_failure(&self, keys: &[String], now: Timestamp) -> StoreResult<()>;
    /// Failed logins for `key` since `since`.
    async fn login_failures_since(&self, key: &str, since: Timestamp) -> StoreResult<i64>;
    async fn clear_login_failures(&self, key: &str) -> StoreResult<()>;
}

#[async_trait]
impl AccountStore for SqlStore {
    async fn count_connectors(&self) -> StoreResult<i64> {
        let row = sqlx::query("select count(*) as n from connectors")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    async fn set_password_hash(&self, connector_id: &str, hash: &str) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("update connectors set password_hash = $1 where connector_id = $2")
            .bind(hash)
            .bind(connector_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        // A new password signs every other browser out.
        sqlx::query("delete from sessions where connector_id = $1")
            .bind(connector_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn login_account(
        &self,
        email: &EmailAddress,
    ) -> StoreResult<Option<(Connector, Option<String>)>> {
        let row =
            sqlx::query("select connector_id, password_hash from connectors where email_key = $1")
                .bind(email.normalized())
                .fetch_optional(&self.pool)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let id: String = row.try_get("connector_id")?;
        let hash: Option<String> = row.try_get("password_hash")?;
        Ok(Some((self.connector_query(&id).await?, hash)))
    }

    async fn create_session(
        &self,
        connector_id: &str,
        hash: &TokenHash,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        // Tidy as we go: sessions past their end are of no use to anyone.
        sqlx::query("delete from sessions where expires_at <= $1")
            .bind(now.as_millis())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "insert into sessions (session_hash, connector_id, created_at, expires_at) values ($1, $2, $3, $4)",
        )
        .bind(hash.as_str())
        .bind(connector_id)
        .bind(now.as_millis())
        .bind(expires_at.as_millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn session_connector(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> StoreResult<Option<Connector>> {
        let row = sqlx::query(
            "select connector_id from sessions where session_hash = $1 and expires_at > $2",
        )
        .bind(hash.as_str())
        .bind(now.as_millis())
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

    async fn delete_session(&self, hash: &TokenHash) -> StoreResult<()> {
        sqlx::query("delete from sessions where session_hash = $1")
            .bind(hash.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn create_one_time_link(
        &self,
        hash: &TokenHash,
        purpose: &OneTimePurpose,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        let (kind, connector_id) = match purpose {
            OneTimePurpose::Setup => ("setup", None),
            OneTimePurpose::Password { connector_id } => ("password", Some(connector_id.clone())),
        };
        sqlx::query(
            "insert into one_time_links (token_hash, purpose, connector_id, expires_at, used_at, created_at)
             values ($1, $2, $3, $4, null, $5)",
        )
        .bind(hash.as_str())
        .bind(kind)
        .bind(connector_id)
        .bind(expires_at.as_millis())
        .bind(now.as_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn peek_one_time_link(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> StoreResult<Option<OneTimePurpose>> {
        let row = sqlx::query(
            "select purpose, connector_id from one_time_links
             where token_hash = $1 and used_at is null and expires_at > $2",
        )
        .bind(hash.as_str())
        .bind(now.as_millis())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let purpose: String = row.try_get("purpose")?;
        let connector_id: Option<String> = row.try_get("connector_id")?;
        Ok(match (purpose.as_str(), connector_id) {
            ("setup", _) => Some(OneTimePurpose::Setup),
            ("password", Some(connector_id)) => Some(OneTimePurpose::Password { connector_id }),
            _ => return Err(StoreError::Corrupt("one-time link purpose".into())),
        })
    }

    async fn use_password_link(
        &self,
        hash: &TokenHash,
        password_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Connector> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "select connector_id from one_time_links
             where token_hash = $1 and purpose = 'password' and used_at is null and expires_at > $2",
        )
        .bind(hash.as_str())
        .bind(now.as_millis())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let connector_id: String = row.try_get("connector_id")?;
        sqlx::query("update one_time_links set used_at = $1 where token_hash = $2")
            .bind(now.as_millis())
            .bind(hash.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query("update connectors set password_hash = $1 where connector_id = $2")
            .bind(password_hash)
            .bind(&connector_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("delete from sessions where connector_id = $1")
            .bind(&connector_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.connector_query(&connector_id).await
    }

    async fn setup_first_account(
        &self,
        hash: &TokenHash,
        new: NewConnector,
        password_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Connector> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "update one_time_links set used_at = $1
             where token_hash = $2 and purpose = 'setup' and used_at is null and expires_at > $1",
        )
        .bind(now.as_millis())
        .bind(hash.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let existing = sqlx::query("select count(*) as n from connectors")
            .fetch_one(&mut *tx)
            .await?
            .try_get::<i64, _>("n")?;
        if existing > 0 {
            return Err(StoreError::Conflict(
                "this installation already has an account; sign in instead".into(),
            ));
        }
        let connector = insert_connector(&mut tx, new, Some(password_hash), now).await?;
        tx.commit().await?;
        Ok(connector)
    }

    async fn record_login_failure(&self, keys: &[String], now: Timestamp) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        // Failures older than a day no longer count towards any limit.
        sqlx::query("delete from login_failures where at < $1")
            .bind(now.as_millis() - 86_400_000)
            .execute(&mut *tx)
            .await?;
        for key in keys {
            sqlx::query("insert into login_failures (failure_id, key, at) values ($1, $2, $3)")
                .bind(new_id())
                .bind(key)
                .bind(now.as_millis())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn login_failures_since(&self, key: &str, since: Timestamp) -> StoreResult<i64> {
        let row =
            sqlx::query("select count(*) as n from login_failures where key = $1 and at >= $2")
                .bind(key)
                .bind(since.as_millis())
                .fetch_one(&self.pool)
                .await?;
        Ok(row.try_get("n")?)
    }

    async fn clear_login_failures(&self, key: &str) -> StoreResult<()> {
        sqlx::query("delete from login_failures where key = $1")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
