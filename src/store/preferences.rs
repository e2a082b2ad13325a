//! A person's own choices about intro requests, set on the preferences page
//! (`/p/{token}`): a pause, a monthly maximum, and stopping asks from one
//! connector or from everyone. The pause and the maximum live in
//! `preferences`; stopping lives in `suppressions`, which the one-click
//! unsubscribe page (`/u/`) writes too, so both pages agree. Both tables
//! are keyed by the address's hash, never by the address.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::Row;

use super::sql::{SqlStore, new_id};
use super::{StoreError, StoreResult};
use crate::domain::{EmailAddress, Timestamp};

/// The window a monthly maximum counts asks in.
pub const MONTHLY_WINDOW: Duration = Duration::from_secs(30 * 86_400);

/// What one person has chosen, as seen from one connector's link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preferences {
    /// No new intro may ask them before this instant.
    pub paused_until: Option<Timestamp>,
    /// At most this many asks in any 30 days, across connectors.
    pub monthly_max: Option<u32>,
    /// No asks from the connector of the link they came through.
    pub stop_connector: bool,
    /// No asks from anyone on this installation.
    pub stop_all: bool,
}

#[async_trait]
pub trait PreferenceStore: Send + Sync {
    /// The choices of the person at `email`; `stop_connector` is about
    /// `connector_id`.
    async fn preferences(
        &self,
        email: &EmailAddress,
        connector_id: &str,
    ) -> StoreResult<Preferences>;
    /// Saves every choice at once, in one transaction. A pause and a
    /// maximum that are both unset leave no row behind.
    async fn save_preferences(
        &self,
        email: &EmailAddress,
        connector_id: &str,
        choices: &Preferences,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Asks (not reminders) sent or waiting to go to this address since
    /// `since`, from every connector.
    async fn asks_to_since(&self, email: &EmailAddress, since: Timestamp) -> StoreResult<u32>;
}

/// The saved choices, and whether a stop from everyone or from this
/// connector is on record: one statement (every proposal reads this for
/// both people).
const PREFERENCES_SQL: &str = "select p.paused_until, p.monthly_max,
     (select count(*) from suppressions s where s.email_hash = $1 and s.connector_id = '') as stop_all,
     (select count(*) from suppressions s where s.email_hash = $1 and s.connector_id = $2) as stop_connector
   from (select 1 as one) x left join preferences p on p.email_hash = $1";

#[async_trait]
impl PreferenceStore for SqlStore {
    async fn preferences(
        &self,
        email: &EmailAddress,
        connector_id: &str,
    ) -> StoreResult<Preferences> {
        let hash = self.address_hash(email);
        let read = self
            .read_one(PREFERENCES_SQL, &[&hash, connector_id], |row| {
                Ok(Preferences {
                    paused_until: row.timestamp("paused_until")?,
                    monthly_max: row.int("monthly_max")?.and_then(|n| u32::try_from(n).ok()),
                    stop_all: row.required_int("stop_all")? > 0,
                    stop_connector: row.required_int("stop_connector")? > 0,
                })
            })
            .await?;
        read.ok_or_else(|| StoreError::Corrupt("the preferences read returned no row".into()))
    }

    async fn save_preferences(
        &self,
        email: &EmailAddress,
        connector_id: &str,
        choices: &Preferences,
        now: Timestamp,
    ) -> StoreResult<()> {
        let hash = self.address_hash(email);
        let mut tx = self.begin_write().await?;
        if choices.paused_until.is_none() && choices.monthly_max.is_none() {
            sqlx::query("delete from preferences where email_hash = $1")
                .bind(&hash)
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query(
                "insert into preferences (email_hash, paused_until, monthly_max, created_at, updated_at)
                 values ($1, $2, $3, $4, $4)
                 on conflict (email_hash) do update
                 set paused_until = excluded.paused_until, monthly_max = excluded.monthly_max,
                     updated_at = excluded.updated_at",
            )
            .bind(&hash)
            .bind(choices.paused_until.map(Timestamp::as_millis))
            .bind(choices.monthly_max.map(i64::from))
            .bind(now.as_millis())
            .execute(&mut *tx)
            .await?;
        }
        for (scope, stop) in [
            (connector_id, choices.stop_connector),
            ("", choices.stop_all),
        ] {
            if stop {
                sqlx::query(
                    "insert into suppressions (suppression_id, email_hash, connector_id, created_at)
                     values ($1, $2, $3, $4) on conflict (email_hash, connector_id) do nothing",
                )
                .bind(new_id())
                .bind(&hash)
                .bind(scope)
                .bind(now.as_millis())
                .execute(&mut *tx)
                .await?;
            } else {
                sqlx::query("delete from suppressions where email_hash = $1 and connector_id = $2")
                    .bind(&hash)
                    .bind(scope)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn asks_to_since(&self, email: &EmailAddress, since: Timestamp) -> StoreResult<u32> {
        let row = sqlx::query(
            // From the person's parties to their emails (see `delivery_reads.rs`).
            "select count(*) as n from parties p cross join outbox o
             where p.email_key = $1 and o.intro_id = p.intro_id and o.recipient = p.role
               and o.kind = 'ask' and o.status || '' in ('pending', 'sent') and o.created_at >= $2",
        )
        .bind(email.normalized())
        .bind(since.as_millis())
        .fetch_one(&self.pool)
        .await?;
        Ok(u32::try_from(row.try_get::<i64, _>("n")?).unwrap_or(u32::MAX))
    }
}
