//! One person's data across the installation (GDPR, issue 6): everything held
//! about an address, as one JSON document, and erasing it. A person is found
//! by their normalized address (`email_key` columns) and, where only a hash
//! is kept (suppressions, preferences), by that hash.

mod erase;
mod export;
mod scrub;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::StoreResult;
use super::sql::SqlStore;
use crate::domain::{EmailAddress, Timestamp};

/// The name an erased party keeps in the intros they were in. It is shown
/// to the other party in the one neutral relay of an intro that closes
/// because of the erasure, so it must read naturally there ("the
/// introduction to the other person will not go ahead") and must not say
/// that anyone asked to be forgotten: that would be as telling as a "no".
pub const ERASED_NAME: &str = "the other person";

/// What `erase_person` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Erasure {
    /// The address the erased person's intros now carry instead of theirs.
    pub placeholder: String,
    /// Intros of theirs whose party row now holds only the placeholder.
    pub intros_pseudonymised: u64,
    /// Rows deleted: contacts, requests and their emails, link tokens,
    /// search terms, preferences, failed logins.
    pub rows_removed: u64,
    /// Rows in which their name or address was replaced inside someone
    /// else's text (a connector's reason, notes, an SMTP error).
    pub rows_scrubbed: u64,
    /// Emails to them (or naming them to the other party) that had not gone
    /// out yet and now never will.
    pub emails_dropped: u64,
    /// Every outbox row whose written copy names them: their `.eml` files.
    #[serde(skip)]
    pub outbox_ids: Vec<String>,
}

#[async_trait]
pub trait PersonStore: Send + Sync {
    /// Everything held about the person at `email`, as one JSON document.
    /// An address nobody knows gives a valid document with no records.
    async fn person_export(&self, email: &EmailAddress) -> StoreResult<serde_json::Value>;
    /// Their intros that are not final yet (to be cancelled before erasing).
    async fn person_open_intros(&self, email: &EmailAddress) -> StoreResult<Vec<String>>;
    /// Forgets them in one transaction (see `erase`); `Conflict` if one of
    /// their intros is still open, or if the address is a connector's.
    async fn erase_person(&self, email: &EmailAddress, now: Timestamp) -> StoreResult<Erasure>;
    /// After an erasure: moves SQLite's write-ahead log into the database
    /// and empties it, then rebuilds the file, so no freed page keeps an
    /// old copy. Nothing to do on PostgreSQL.
    async fn compact_after_erase(&self) -> StoreResult<()>;
}

#[async_trait]
impl PersonStore for SqlStore {
    async fn person_export(&self, email: &EmailAddress) -> StoreResult<serde_json::Value> {
        self.person_export_query(email).await
    }

    async fn person_open_intros(&self, email: &EmailAddress) -> StoreResult<Vec<String>> {
        self.person_open_intros_query(email).await
    }

    async fn erase_person(&self, email: &EmailAddress, now: Timestamp) -> StoreResult<Erasure> {
        self.erase_person_tx(email, now).await
    }

    async fn compact_after_erase(&self) -> StoreResult<()> {
        self.compact_after_erase_sqlite().await
    }
}

/// The placeholder address of an erased person: keyed with the
/// installation's secret, so the same person always gets the same one and
/// nobody without the key can tell whose it is.
pub(super) fn placeholder_address(secret: &[u8], email: &EmailAddress) -> String {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(b"twoyes-erased:");
    mac.update(email.normalized().as_bytes());
    let digest = mac.finalize().into_bytes();
    format!("erased-{}@erased.invalid", hex::encode(&digest[..4]))
}

/// A timestamp column as RFC 3339, or null.
fn time(ms: Option<i64>) -> serde_json::Value {
    ms.map_or(serde_json::Value::Null, |ms| {
        serde_json::Value::String(Timestamp::from_millis(ms).to_rfc3339())
    })
}
