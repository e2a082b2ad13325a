//! Storage: one trait, with SQLite and PostgreSQL behind one SQL
//! implementation (sqlx `Any`, `$1` placeholders). Each method is one use
//! case and runs in one transaction.

mod accounts;
mod connectors;
mod contact_imports;
mod contacts;
mod dashboard;
mod delivery_reads;
mod guarded_batches;
mod intro_creation;
mod intro_writes;
mod intros;
mod link_batches;
mod mailbox;
mod outbox;
mod outbox_plan;
mod pacing;
mod party_links;
mod people;
mod preferences;
mod requests;
mod rows;
mod settings;
mod sql;
mod sqlite_checkpoints;
mod sqlite_reads;
mod statements;
mod stats;
mod store_impl;
mod unlocked_decisions;
mod write_lane;
#[cfg(test)]
mod write_lane_tests;

use async_trait::async_trait;

use crate::domain::machine::{Command, Context, MachineError};
use crate::domain::{
    EmailAddress, Handle, Intro, IntroStatus, PersonName, Role, Timestamp, TokenHash,
};

/// How often a worker looks for due work on its own, at the most: a commit
/// wakes the workers only for work due sooner than this.
pub const WORKER_POLL: std::time::Duration = std::time::Duration::from_secs(1);

pub use accounts::{AccountStore, OneTimePurpose};
pub use contact_imports::{ContactImportStore, ImportJob, ImportRow};
pub use contacts::{Contact, ContactEdit, ContactSearch, ContactStore, ContactText};
pub use dashboard::{COUNT_CAP, DashboardStore, IntroSearch};
pub use delivery_reads::{DeliveryFacts, DeliveryStore};
pub use mailbox::{MailboxStore, SentMail};
pub use outbox_plan::{OutboxKind, Purpose, Recipient, token_context};
pub use pacing::PacingStore;
pub use party_links::PartyLink;
pub use people::{ERASED_NAME, Erasure, PersonStore};
pub use preferences::{MONTHLY_WINDOW, PreferenceStore, Preferences};
pub use requests::{
    IntroRequest, NewRequest, RequestStatus, RequestStore, Submitted, confirm_token_context,
};
pub use settings::{ConnectorSettings, SettingsStore, Wording};
pub use sql::{Backend, SqlStore, StoreOptions};
pub use stats::{FollowUpCounts, PeriodStats, Stats, StatsStore};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Machine(#[from] MachineError),
    #[error("{0}")]
    Conflict(String),
    /// A guard refused the request (a pair already in progress, a cooldown):
    /// `code` is the API error code, `message` says why and what to do.
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    #[error("{0}")]
    Config(String),
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    // The cause is in the message, and deliberately not a `source`, so a
    // report that walks the chain (`{:#}`) says it once.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// From the synchronous SQLite read path (`sqlite_reads.rs`).
    #[error("database error: {0}")]
    SqliteRead(rusqlite::Error),
    /// A group commit (SQLite) failed: nothing in its batch was kept.
    #[error("the write could not be committed: {0}")]
    Commit(String),
    #[error("database migration failed: {0}")]
    Migrate(sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(e)
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(e)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A connector account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connector {
    pub id: String,
    pub email: EmailAddress,
    pub name: PersonName,
    pub handle: Option<Handle>,
    pub is_admin: bool,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewConnector {
    pub email: EmailAddress,
    pub name: PersonName,
    pub handle: Option<Handle>,
    pub is_admin: bool,
}

/// Which intros to list. Pages go newest first; `after` is the last id of
/// the previous page (ids are UUIDv7, so they sort by creation time).
#[derive(Debug, Clone, Default)]
pub struct IntroFilter {
    pub connector_id: Option<String>,
    pub status: Option<IntroStatus>,
    pub after: Option<String>,
    pub limit: u32,
}

/// One row of an intro's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub kind: String,
    pub actor: String,
    pub role: Option<String>,
    pub channel: String,
    pub text_hash: Option<String>,
    pub status_after: String,
    pub at: Timestamp,
}

/// An email waiting in, or gone through, the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub id: String,
    pub intro_id: String,
    pub connector_id: String,
    pub kind: OutboxKind,
    pub recipient: Recipient,
    pub payload: serde_json::Value,
    pub message_id: String,
    pub status: String,
    pub attempts: u32,
    pub not_before: Timestamp,
    pub last_error: Option<String>,
    pub sent_at: Option<Timestamp>,
}

impl OutboxItem {
    /// An email that is shown, never stored or sent: the previews of the
    /// new-intro form and of the wording settings render it through the
    /// same code the worker sends with.
    pub fn preview(
        intro: &Intro,
        kind: OutboxKind,
        recipient: Recipient,
        payload: serde_json::Value,
        now: Timestamp,
    ) -> Self {
        Self {
            id: "preview".into(),
            intro_id: intro.id.clone(),
            connector_id: intro.connector_id.clone(),
            kind,
            recipient,
            payload,
            message_id: "preview".into(),
            status: "preview".into(),
            attempts: 0,
            not_before: now,
            last_error: None,
            sent_at: None,
        }
    }
}

/// What an emailed link's token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartyToken {
    pub intro_id: String,
    pub role: Role,
    pub purpose: Purpose,
    pub outbox_id: String,
    pub expires_at: Timestamp,
}

/// A party's answer on the page of an intro that had already closed (see
/// the `late_answers` migration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateAnswer {
    /// `yes`, `no`, `later`, `withdrawn`, or `open` (undone).
    pub answer: String,
    pub until: Option<Timestamp>,
    pub at: Timestamp,
}

/// Gauges for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct MetricsSnapshot {
    pub intros_by_status: Vec<(String, i64)>,
    pub decisions_by_kind: Vec<(String, i64)>,
    pub outbox_by_status: Vec<(String, i64)>,
    pub outbox_pending: i64,
    pub oldest_pending_age_seconds: f64,
}

#[async_trait]
pub trait Store:
    AccountStore
    + DashboardStore
    + ContactStore
    + ContactImportStore
    + StatsStore
    + MailboxStore
    + SettingsStore
    + PacingStore
    + DeliveryStore
    + RequestStore
    + PersonStore
    + PreferenceStore
    + Send
    + Sync
    + 'static
{
    fn backend(&self) -> Backend;
    /// Notified whenever a commit may have made work due for the worker.
    fn wakeups(&self) -> std::sync::Arc<tokio::sync::Notify>;
    /// Starts listening for work committed by other processes (PostgreSQL).
    fn start_wakeup_listener(&self);
    async fn ping(&self) -> StoreResult<()>;

    async fn add_connector(&self, new: NewConnector, now: Timestamp) -> StoreResult<Connector>;
    async fn connector(&self, connector_id: &str) -> StoreResult<Connector>;
    async fn connector_by_email(&self, email: &EmailAddress) -> StoreResult<Option<Connector>>;
    async fn add_api_token(
        &self,
        connector_id: &str,
        hash: &TokenHash,
        now: Timestamp,
    ) -> StoreResult<()>;
    async fn connector_by_api_token(&self, hash: &TokenHash) -> StoreResult<Option<Connector>>;

    /// Stores a new intro and starts it (the first asks), in one transaction.
    async fn create_intro(&self, intro: Intro, ctx: Context) -> StoreResult<Intro>;
    /// Creates the intro and marks the connector's pending request approved
    /// with it, in one transaction; `Conflict` if the request is no longer
    /// pending (nothing is created then).
    async fn create_intro_from_request(
        &self,
        intro: Intro,
        ctx: Context,
        request_id: &str,
    ) -> StoreResult<Intro>;
    /// Loads the intro, applies the command, and stores the new state, its
    /// event and its emails, in one transaction. With `connector_id`, an intro
    /// of another connector is `NotFound`.
    async fn apply(
        &self,
        intro_id: &str,
        connector_id: Option<&str>,
        command: Command,
        ctx: Context,
    ) -> StoreResult<Intro>;
    /// `apply` (for a party, so any connector) to the intro `link` shows;
    /// where it can, the store spares reading the intro again when it has
    /// not changed since the link was read.
    async fn apply_seen(
        &self,
        link: &PartyLink,
        command: Command,
        ctx: Context,
    ) -> StoreResult<Intro>;
    /// Applies whatever timer is due for this intro, if any.
    async fn apply_due(&self, intro_id: &str, ctx: Context) -> StoreResult<bool>;
    async fn intro(&self, intro_id: &str, connector_id: Option<&str>) -> StoreResult<Intro>;
    async fn list_intros(&self, filter: &IntroFilter) -> StoreResult<Vec<Intro>>;
    async fn events(&self, intro_id: &str) -> StoreResult<Vec<EventRecord>>;
    async fn outbox_for_intro(&self, intro_id: &str) -> StoreResult<Vec<OutboxItem>>;
    async fn due_intro_ids(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<String>>;
    async fn next_due_at(&self) -> StoreResult<Option<Timestamp>>;

    async fn party_token(&self, hash: &TokenHash) -> StoreResult<Option<PartyToken>>;
    /// The token with its intro, connector name and own timings, in one read.
    async fn party_link(&self, hash: &TokenHash) -> StoreResult<Option<PartyLink>>;
    async fn suppress(
        &self,
        email: &EmailAddress,
        connector_id: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<()>;
    async fn record_late_answer(
        &self,
        intro_id: &str,
        role: Role,
        answer: &LateAnswer,
    ) -> StoreResult<()>;
    async fn late_answer(&self, intro_id: &str, role: Role) -> StoreResult<Option<LateAnswer>>;
    async fn record_follow_up(
        &self,
        intro_id: &str,
        role: Role,
        answer: &str,
        now: Timestamp,
    ) -> StoreResult<()>;
    async fn follow_up_answer(&self, intro_id: &str, role: Role) -> StoreResult<Option<String>>;

    /// Leases up to `limit` due emails to `worker` until `lease_until`.
    async fn claim_outbox(
        &self,
        worker: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<OutboxItem>>;
    /// Each `outbox_*` below only acts while `worker` still holds the lease and
    /// returns whether it did.
    async fn outbox_sent(&self, outbox_id: &str, worker: &str, now: Timestamp)
    -> StoreResult<bool>;
    async fn outbox_retry(
        &self,
        outbox_id: &str,
        worker: &str,
        at: Timestamp,
        error: &str,
    ) -> StoreResult<bool>;
    /// Marks it failed for good and tells the connector (unless it was a notice).
    async fn outbox_failed(
        &self,
        outbox_id: &str,
        worker: &str,
        error: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Gives a claimed email back unsent, for the next pass.
    async fn outbox_release(&self, outbox_id: &str, worker: &str) -> StoreResult<bool>;
    async fn outbox_skipped(&self, outbox_id: &str, worker: &str, why: &str) -> StoreResult<bool>;
    async fn next_outbox_at(&self) -> StoreResult<Option<Timestamp>>;

    async fn metrics(&self, now: Timestamp) -> StoreResult<MetricsSnapshot>;
}
