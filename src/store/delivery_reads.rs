//! What the worker reads before sending a batch of claimed emails, read for
//! the whole batch at once: their intros, connectors and settings, which
//! addresses asked not to be contacted, the asks each address got lately,
//! and which emails carry a preferences link. Read one email at a time this
//! was eight statements per email, each a hand-off to SQLite's thread; for
//! a batch it is five, plus three per connector (README, performance).

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use sqlx::Row;

use super::rows::{intro_from_row, intro_select};
use super::sql::SqlStore;
use super::{
    Connector, ConnectorSettings, OutboxItem, OutboxKind, SettingsStore, StoreError, StoreResult,
};
use crate::domain::{EmailAddress, Intro, Timestamp, TokenHash};

/// The batch's facts, as they stood when it was read.
#[derive(Debug, Default)]
pub struct DeliveryFacts {
    intros: HashMap<String, Intro>,
    connectors: HashMap<String, (Connector, ConnectorSettings)>,
    /// Address hash → the connectors it stopped (`""`: every connector).
    suppressions: HashMap<String, Vec<String>>,
    address_hashes: HashMap<String, String>,
    /// Normalised address → when asks and reminders went to it, oldest first.
    asks_sent: HashMap<String, Vec<Timestamp>>,
    /// Preferences-token hashes that exist.
    preference_tokens: HashSet<String>,
}

impl DeliveryFacts {
    pub fn intro(&self, intro_id: &str) -> Option<&Intro> {
        self.intros.get(intro_id)
    }

    pub fn connector(&self, connector_id: &str) -> Option<&(Connector, ConnectorSettings)> {
        self.connectors.get(connector_id)
    }

    /// Whether `email` asked not to hear from `connector_id` (or anyone).
    pub fn is_suppressed(&self, email: &EmailAddress, connector_id: &str) -> bool {
        self.address_hashes
            .get(&email.normalized())
            .and_then(|hash| self.suppressions.get(hash))
            .is_some_and(|stopped| stopped.iter().any(|c| c.is_empty() || c == connector_id))
    }

    /// When asks and reminders went to `email` since the batch's `asks_since`.
    pub fn asks_sent(&self, email: &EmailAddress) -> &[Timestamp] {
        self.asks_sent
            .get(&email.normalized())
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    pub fn has_preference_token(&self, hash: &TokenHash) -> bool {
        self.preference_tokens.contains(hash.as_str())
    }
}

#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Reads the facts for `items` (emails about requests need none);
    /// `asks_since` bounds the asks counted per address, and
    /// `preference_tokens` are the hashes whose existence is asked about.
    async fn delivery_facts(
        &self,
        items: &[OutboxItem],
        asks_since: Timestamp,
        preference_tokens: &[TokenHash],
    ) -> StoreResult<DeliveryFacts>;
}

/// `$first, $first+1, …` for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[async_trait]
impl DeliveryStore for SqlStore {
    async fn delivery_facts(
        &self,
        items: &[OutboxItem],
        asks_since: Timestamp,
        preference_tokens: &[TokenHash],
    ) -> StoreResult<DeliveryFacts> {
        let mut facts = DeliveryFacts::default();
        let items: Vec<&OutboxItem> = items
            .iter()
            .filter(|i| !i.kind.is_about_request())
            .collect();
        if items.is_empty() {
            return Ok(facts);
        }
        let mut intro_ids: Vec<&str> = items.iter().map(|i| i.intro_id.as_str()).collect();
        intro_ids.sort_unstable();
        intro_ids.dedup();
        let sql = format!(
            "{} where i.intro_id in ({})",
            intro_select!(),
            placeholders(1, intro_ids.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in &intro_ids {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&self.pool).await? {
            // An intro that cannot be read fails only its own emails (they
            // find no intro, and retry until they are given up on).
            match intro_from_row(&row) {
                Ok(intro) => {
                    facts.intros.insert(intro.id.clone(), intro);
                }
                Err(e) => tracing::error!(error = %e, "an intro of this batch cannot be read"),
            }
        }

        let mut connector_ids: Vec<&str> = items.iter().map(|i| i.connector_id.as_str()).collect();
        connector_ids.sort_unstable();
        connector_ids.dedup();
        for id in connector_ids {
            // A missing one fails only its own emails (`connector()` is
            // `None`), never the whole batch.
            let connector = match self.connector_query(id).await {
                Ok(connector) => connector,
                Err(StoreError::NotFound) => continue,
                Err(e @ StoreError::Corrupt(_)) => {
                    tracing::error!(error = %e, "a connector of this batch cannot be read");
                    continue;
                }
                Err(e) => return Err(e),
            };
            let settings = self.connector_settings(id).await?;
            facts
                .connectors
                .insert(id.to_string(), (connector, settings));
        }

        self.read_suppressions(&mut facts).await?;
        self.read_asks_sent(&mut facts, &items, asks_since).await?;
        if !preference_tokens.is_empty() {
            let sql = format!(
                "select token_hash from party_tokens where token_hash in ({})",
                placeholders(1, preference_tokens.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for hash in preference_tokens {
                query = query.bind(hash.as_str());
            }
            for row in query.fetch_all(&self.pool).await? {
                facts.preference_tokens.insert(row.try_get("token_hash")?);
            }
        }
        Ok(facts)
    }
}

impl SqlStore {
    /// Every suppression of every party of the batch's intros.
    async fn read_suppressions(&self, facts: &mut DeliveryFacts) -> StoreResult<()> {
        for intro in facts.intros.values() {
            for party in intro.parties() {
                facts
                    .address_hashes
                    .entry(party.email.normalized().to_string())
                    .or_insert_with(|| self.address_hash(&party.email));
            }
        }
        let hashes: Vec<&String> = facts.address_hashes.values().collect();
        if hashes.is_empty() {
            // `in ()` is SQLite's extension; PostgreSQL refuses it.
            return Ok(());
        }
        let sql = format!(
            "select email_hash, connector_id from suppressions where email_hash in ({})",
            placeholders(1, hashes.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for hash in &hashes {
            query = query.bind(hash.as_str());
        }
        let rows = query.fetch_all(&self.pool).await?;
        for row in rows {
            facts
                .suppressions
                .entry(row.try_get("email_hash")?)
                .or_default()
                .push(row.try_get("connector_id")?);
        }
        Ok(())
    }

    /// The asks and reminders sent lately to the addresses the batch's asks
    /// and reminders go to (the daily cap).
    async fn read_asks_sent(
        &self,
        facts: &mut DeliveryFacts,
        items: &[&OutboxItem],
        since: Timestamp,
    ) -> StoreResult<()> {
        let mut addresses: Vec<String> = items
            .iter()
            .filter(|i| matches!(i.kind, OutboxKind::Ask | OutboxKind::Reminder))
            .filter_map(|i| {
                let role = i.recipient.role()?;
                let intro = facts.intros.get(&i.intro_id)?;
                Some(intro.party(role).email.normalized().to_string())
            })
            .collect();
        addresses.sort_unstable();
        addresses.dedup();
        if addresses.is_empty() {
            return Ok(());
        }
        // From the people's parties to their emails: `cross join` and the
        // status as an expression (`|| ''`, no index) keep SQLite from
        // starting at every sent email (measured: it made each delivery
        // read the whole outbox).
        let sql = format!(
            "select p.email_key, o.sent_at from parties p cross join outbox o
             where p.email_key in ({}) and o.intro_id = p.intro_id and o.recipient = p.role
               and o.kind in ('ask', 'reminder') and o.status || '' = 'sent' and o.sent_at >= $1
             order by o.sent_at",
            placeholders(2, addresses.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(since.as_millis());
        for address in &addresses {
            query = query.bind(address.as_str());
        }
        for row in query.fetch_all(&self.pool).await? {
            facts
                .asks_sent
                .entry(row.try_get("email_key")?)
                .or_default()
                .push(Timestamp::from_millis(row.try_get("sent_at")?));
        }
        Ok(())
    }
}
