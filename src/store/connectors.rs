//! Connector accounts and their API tokens.

use std::sync::LazyLock;

use sqlx::Row;

use super::rows::Columns;
use super::sql::{SqlStore, new_id};
use super::{Connector, NewConnector, StoreError, StoreResult};
use crate::domain::{EmailAddress, Handle, PersonName, Timestamp, TokenHash};

const CONNECTOR_COLUMNS: &str =
    "c.connector_id, c.email, c.name, c.handle, c.is_admin, c.created_at";

fn connector_from_row(row: &(impl Columns + ?Sized)) -> StoreResult<Connector> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("connector {what}"));
    let handle = row.text("handle")?;
    Ok(Connector {
        id: row.required_text("connector_id")?,
        email: EmailAddress::parse(&row.required_text("email")?).map_err(|_| corrupt("email"))?,
        name: PersonName::parse(&row.required_text("name")?).map_err(|_| corrupt("name"))?,
        handle: handle
            .map(|h| Handle::parse(&h))
            .transpose()
            .map_err(|_| corrupt("handle"))?,
        is_admin: row.required_int("is_admin")? != 0,
        created_at: Timestamp::from_millis(row.required_int("created_at")?),
    })
}

impl SqlStore {
    pub(super) async fn add_connector_tx(
        &self,
        new: NewConnector,
        password_hash: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<Connector> {
        let mut tx = self.begin_write().await?;
        let connector = insert_connector(&mut tx, new, password_hash, now).await?;
        tx.commit().await?;
        Ok(connector)
    }

    pub(super) async fn connector_query(&self, connector_id: &str) -> StoreResult<Connector> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "select {CONNECTOR_COLUMNS} from connectors c where c.connector_id = $1"
        )))
        .bind(connector_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        connector_from_row(&row)
    }

    pub(super) async fn connector_by_email_query(
        &self,
        email: &EmailAddress,
    ) -> StoreResult<Option<Connector>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "select {CONNECTOR_COLUMNS} from connectors c where c.email_key = $1"
        )))
        .bind(email.normalized())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(connector_from_row).transpose()
    }

    pub(super) async fn add_api_token_tx(
        &self,
        connector_id: &str,
        hash: &TokenHash,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("insert into api_tokens (api_token_id, connector_id, token_hash, created_at) values ($1, $2, $3, $4)")
            .bind(new_id())
            .bind(connector_id)
            .bind(hash.as_str())
            .bind(now.as_millis())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn connector_by_api_token_query(
        &self,
        hash: &TokenHash,
    ) -> StoreResult<Option<Connector>> {
        // Every API request reads this first: no hand-off on SQLite.
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "select {CONNECTOR_COLUMNS} from connectors c join api_tokens t on t.connector_id = c.connector_id
                 where t.token_hash = $1"
            )
        });
        self.read_one(SQL.as_str(), &[hash.as_str()], |row| {
            connector_from_row(row)
        })
        .await
    }
}

/// Inserts a connector inside the caller's transaction, refusing a taken
/// email or handle with a message that says which.
pub(super) async fn insert_connector(
    conn: &mut sqlx::AnyConnection,
    new: NewConnector,
    password_hash: Option<&str>,
    now: Timestamp,
) -> StoreResult<Connector> {
    let taken = sqlx::query("select count(*) as n from connectors where email_key = $1")
        .bind(new.email.normalized())
        .fetch_one(&mut *conn)
        .await?
        .try_get::<i64, _>("n")?;
    if taken > 0 {
        return Err(StoreError::Conflict(format!(
            "a connector with the email {} already exists",
            new.email
        )));
    }
    if let Some(handle) = &new.handle {
        let taken = sqlx::query("select count(*) as n from connectors where handle = $1")
            .bind(handle.as_str())
            .fetch_one(&mut *conn)
            .await?
            .try_get::<i64, _>("n")?;
        if taken > 0 {
            return Err(StoreError::Conflict(format!(
                "the handle `{handle}` is taken; choose another"
            )));
        }
    }
    let connector = Connector {
        id: new_id(),
        email: new.email,
        name: new.name,
        handle: new.handle,
        is_admin: new.is_admin,
        created_at: now,
    };
    sqlx::query(
        "insert into connectors (connector_id, email, email_key, name, handle, is_admin, created_at, password_hash)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&connector.id)
    .bind(connector.email.as_str())
    .bind(connector.email.normalized())
    .bind(connector.name.as_str())
    .bind(connector.handle.as_ref().map(|h| h.as_str().to_string()))
    .bind(i64::from(connector.is_admin))
    .bind(now.as_millis())
    .bind(password_hash.map(str::to_string))
    .execute(&mut *conn)
    .await?;
    Ok(connector)
}
