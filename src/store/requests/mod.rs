//! Requests from a connector's public page. A request and the email it
//! causes (the requester's confirmation link, or the connector's kind "no")
//! are written in one transaction; the email goes out through the outbox.
//! Every connector-facing query is scoped to that connector, and only sees
//! requests whose address was confirmed.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;

mod sql_impl;

use super::outbox_plan::{OutboxKind, Recipient};
use super::sql::{Backend, SqlStore};
use super::{Connector, StoreError, StoreResult};
use crate::domain::{Blurb, EmailAddress, Handle, Note, PersonName, Reason, Timestamp, TokenHash};

/// Where a request stands; see the `requests` migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    Unconfirmed,
    Pending,
    Approved,
    Declined,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Unconfirmed => "unconfirmed",
            RequestStatus::Pending => "pending",
            RequestStatus::Approved => "approved",
            RequestStatus::Declined => "declined",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            RequestStatus::Unconfirmed,
            RequestStatus::Pending,
            RequestStatus::Approved,
            RequestStatus::Declined,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// What a requester typed on the public page, parsed.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub connector_id: String,
    pub requester_name: PersonName,
    pub requester_email: EmailAddress,
    /// Whom they want to meet: a name, or a few words about the person.
    pub wants_to_meet: PersonName,
    pub reason: Reason,
    pub blurb: Blurb,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntroRequest {
    pub id: String,
    pub connector_id: String,
    pub status: RequestStatus,
    pub requester_name: String,
    pub requester_email: String,
    pub wants_to_meet: String,
    pub reason: String,
    pub blurb: String,
    pub confirm_expires_at: Timestamp,
    pub confirmed_at: Option<Timestamp>,
    pub decided_at: Option<Timestamp>,
    pub intro_id: Option<String>,
    pub decline_message: Option<String>,
    pub created_at: Timestamp,
}

/// What became of a submitted request. The page says the same either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    ConfirmationSent,
    /// Too many unconfirmed requests for this address today: nothing stored.
    Limited,
}

/// The context a confirmation link's token is derived from.
pub fn confirm_token_context(outbox_id: &str) -> String {
    format!("request_confirm:{outbox_id}")
}

#[async_trait]
pub trait RequestStore: Send + Sync {
    async fn connector_by_handle(&self, handle: &Handle) -> StoreResult<Option<Connector>>;
    /// Stores the request and its confirmation email, unless the address
    /// already has `daily_limit` unconfirmed requests from the last day.
    async fn submit_request(
        &self,
        new: NewRequest,
        now: Timestamp,
        confirm_until: Timestamp,
        daily_limit: i64,
    ) -> StoreResult<Submitted>;
    async fn request_by_confirm_token(&self, hash: &TokenHash)
    -> StoreResult<Option<IntroRequest>>;
    /// Marks an unconfirmed, unexpired request confirmed; returns it as it
    /// now stands (confirmed before or not), `None` for an unknown link.
    async fn confirm_request(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> StoreResult<Option<IntroRequest>>;
    /// A connector's confirmed requests, newest first.
    async fn connector_requests(
        &self,
        connector_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<IntroRequest>>;
    /// One confirmed request of this connector; `NotFound` otherwise.
    async fn connector_request(
        &self,
        connector_id: &str,
        request_id: &str,
    ) -> StoreResult<IntroRequest>;
    /// Declines a pending request and queues `message` to the requester, in
    /// one transaction; false when it is not pending any more.
    async fn decline_request(
        &self,
        connector_id: &str,
        request_id: &str,
        message: &Note,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// The request an outbox row is about (for the worker).
    async fn request_for_outbox(&self, outbox_id: &str) -> StoreResult<Option<IntroRequest>>;
    /// The delivery state of a request's emails: (kind, status, when sent).
    async fn request_emails(
        &self,
        request_id: &str,
    ) -> StoreResult<Vec<(OutboxKind, String, Option<Timestamp>)>>;
}

const COLUMNS: &str = "r.request_id, r.connector_id, r.status, r.requester_name, r.requester_email, \
     r.wants_to_meet, r.reason, r.blurb, r.confirm_expires_at, r.confirmed_at, r.decided_at, \
     r.intro_id, r.decline_message, r.created_at";

fn request_from_row(row: &AnyRow) -> StoreResult<IntroRequest> {
    let at = |name: &str| -> StoreResult<Option<Timestamp>> {
        Ok(row
            .try_get::<Option<i64>, _>(name)?
            .map(Timestamp::from_millis))
    };
    let status: String = row.try_get("status")?;
    Ok(IntroRequest {
        id: row.try_get("request_id")?,
        connector_id: row.try_get("connector_id")?,
        status: RequestStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("request status `{status}`")))?,
        requester_name: row.try_get("requester_name")?,
        requester_email: row.try_get("requester_email")?,
        wants_to_meet: row.try_get("wants_to_meet")?,
        reason: row.try_get("reason")?,
        blurb: row.try_get("blurb")?,
        confirm_expires_at: Timestamp::from_millis(row.try_get("confirm_expires_at")?),
        confirmed_at: at("confirmed_at")?,
        decided_at: at("decided_at")?,
        intro_id: row.try_get("intro_id")?,
        decline_message: row.try_get("decline_message")?,
        created_at: Timestamp::from_millis(row.try_get("created_at")?),
    })
}

impl SqlStore {
    async fn one_request(&self, condition: &str, key: &str) -> StoreResult<Option<IntroRequest>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "select {COLUMNS} from requests r where {condition}"
        )))
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(request_from_row).transpose()
    }

    /// Queues an email about a request inside the caller's transaction.
    async fn enqueue_request_email(
        &self,
        conn: &mut sqlx::AnyConnection,
        outbox_id: &str,
        request_id: &str,
        connector_id: &str,
        kind: OutboxKind,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "insert into outbox (outbox_id, request_id, connector_id, kind, recipient, payload, message_id, status,
                 attempts, not_before, created_at)
             values ($1, $2, $3, $4, $5, '{}', $6, 'pending', 0, $7, $7)",
        )
        .bind(outbox_id)
        .bind(request_id)
        .bind(connector_id)
        .bind(kind.as_str())
        .bind(Recipient::Requester.as_str())
        .bind(format!(
            "<{}@{}>",
            uuid::Uuid::new_v4().simple(),
            self.options.message_id_domain
        ))
        .bind(now.as_millis())
        .execute(&mut *conn)
        .await?;
        if self.backend == Backend::Postgres {
            sqlx::query("select pg_notify('twoyes_work', '')")
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}
