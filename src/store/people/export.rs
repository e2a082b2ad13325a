//! `person export`: everything held about one address, as JSON.

use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::time;
use crate::domain::EmailAddress;
use crate::store::StoreResult;
use crate::store::sql::SqlStore;

fn text(row: &AnyRow, col: &str) -> StoreResult<Value> {
    Ok(row
        .try_get::<Option<String>, _>(col)?
        .map_or(Value::Null, Value::String))
}

fn ms(row: &AnyRow, col: &str) -> StoreResult<Value> {
    Ok(time(row.try_get::<Option<i64>, _>(col)?))
}

/// What twoyes keeps about people only as hashes, for the export's reader.
const HASHED: &[&str] = &[
    "suppressions and preferences: keyed by a SHA-256 hash of the address, never the address",
    "decisions (events): a SHA-256 hash of the exact text the person was shown, not the text",
    "links in emails: only a hash of each link's token; the tokens themselves are not stored",
];

impl SqlStore {
    pub(super) async fn person_open_intros_query(
        &self,
        email: &EmailAddress,
    ) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "select distinct i.intro_id from intros i join parties p on p.intro_id = i.intro_id
             where p.email_key = $1 and i.status in ('asking', 'snoozed') order by i.intro_id",
        )
        .bind(email.normalized())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("intro_id"))
            .collect::<Result<_, _>>()?)
    }

    pub(super) async fn person_export_query(&self, email: &EmailAddress) -> StoreResult<Value> {
        let key = email.normalized();
        let all = |sql: &'static str| sqlx::query(sql).bind(key.clone()).fetch_all(&self.pool);

        let mut intros = Vec::new();
        for r in &all(
            "select i.intro_id, i.status, i.mode, i.reason, i.created_at as intro_created_at, i.closed_at,
                    c.name as connector_name, c.email as connector_email, p.role, p.name, p.email, p.blurb,
                    p.intro_note, p.private_reason, p.consent, p.consent_on_record_at, p.asked_at,
                    p.decided_at, p.snooze_until
             from parties p join intros i on i.intro_id = p.intro_id
             join connectors c on c.connector_id = i.connector_id
             where p.email_key = $1 order by i.intro_id",
        )
        .await?
        {
            intros.push(json!({
                "id": text(r, "intro_id")?, "status": text(r, "status")?, "mode": text(r, "mode")?,
                "connector": {"name": text(r, "connector_name")?, "email": text(r, "connector_email")?},
                "reason": text(r, "reason")?, "role": text(r, "role")?,
                "name": text(r, "name")?, "email": text(r, "email")?, "blurb": text(r, "blurb")?,
                "note": text(r, "intro_note")?, "private_reason": text(r, "private_reason")?,
                "consent": text(r, "consent")?, "consent_on_record_at": ms(r, "consent_on_record_at")?,
                "asked_at": ms(r, "asked_at")?, "decided_at": ms(r, "decided_at")?,
                "snoozed_until": ms(r, "snooze_until")?,
                "created_at": ms(r, "intro_created_at")?, "closed_at": ms(r, "closed_at")?,
            }));
        }

        let mut events = Vec::new();
        for r in &all(
            "select e.intro_id, e.kind, e.actor, e.role, e.channel, e.text_hash, e.status_after, e.created_at
             from events e join parties p on p.intro_id = e.intro_id and p.role = e.role
             where p.email_key = $1 order by e.intro_id, e.event_id",
        )
        .await?
        {
            let actor: String = r.try_get("actor")?;
            let role: Option<String> = r.try_get("role")?;
            events.push(json!({
                "intro_id": text(r, "intro_id")?, "kind": text(r, "kind")?,
                "by_them": role.as_deref() == Some(actor.as_str()), "actor": actor,
                "channel": text(r, "channel")?, "text_hash": text(r, "text_hash")?,
                "status_after": text(r, "status_after")?, "at": ms(r, "created_at")?,
            }));
        }

        let mut emails = Vec::new();
        for sql in [
            "select o.intro_id, o.request_id, o.kind, o.status, o.created_at, o.sent_at, o.message_id
             from outbox o join parties p on p.intro_id = o.intro_id
             where p.email_key = $1 and (o.recipient = p.role or o.recipient = 'both') order by o.outbox_id",
            "select o.intro_id, o.request_id, o.kind, o.status, o.created_at, o.sent_at, o.message_id
             from outbox o join requests r on r.request_id = o.request_id
             where r.requester_email_key = $1 order by o.outbox_id",
        ] {
            for r in &all(sql).await? {
                emails.push(json!({
                    "intro_id": text(r, "intro_id")?, "request_id": text(r, "request_id")?,
                    "kind": text(r, "kind")?, "status": text(r, "status")?,
                    "written_at": ms(r, "created_at")?, "sent_at": ms(r, "sent_at")?,
                    "message_id": text(r, "message_id")?,
                }));
            }
        }

        let mut follow_ups = Vec::new();
        for r in &all(
            "select f.intro_id, f.answer, f.answered_at from follow_ups f
             join parties p on p.intro_id = f.intro_id and p.role = f.role
             where p.email_key = $1 order by f.intro_id",
        )
        .await?
        {
            follow_ups.push(
                json!({"intro_id": text(r, "intro_id")?, "answer": text(r, "answer")?,
                                   "at": ms(r, "answered_at")?}),
            );
        }

        let mut late = Vec::new();
        for r in &all(
            "select l.intro_id, l.answer, l.until, l.answered_at from late_answers l
             join parties p on p.intro_id = l.intro_id and p.role = l.role
             where p.email_key = $1 order by l.intro_id",
        )
        .await?
        {
            late.push(
                json!({"intro_id": text(r, "intro_id")?, "answer": text(r, "answer")?,
                             "until": ms(r, "until")?, "at": ms(r, "answered_at")?}),
            );
        }

        let mut contacts = Vec::new();
        for r in &all(
            "select c.name as connector_name, c.email as connector_email, k.name, k.email, k.how_known,
                    k.notes, k.created_at, k.updated_at, k.last_used_at
             from contacts k join connectors c on c.connector_id = k.connector_id
             where k.email_key = $1 order by k.contact_id",
        )
        .await?
        {
            contacts.push(json!({
                "connector": {"name": text(r, "connector_name")?, "email": text(r, "connector_email")?},
                "name": text(r, "name")?, "email": text(r, "email")?,
                "how_known": text(r, "how_known")?, "notes": text(r, "notes")?,
                "created_at": ms(r, "created_at")?, "updated_at": ms(r, "updated_at")?,
                "last_in_an_intro_at": ms(r, "last_used_at")?,
            }));
        }

        let mut requests = Vec::new();
        for r in &all(
            "select q.request_id, q.status, q.requester_name, q.requester_email, q.wants_to_meet, q.reason,
                    q.blurb, q.intro_id, q.decline_message, q.created_at, q.confirmed_at, q.decided_at,
                    c.name as connector_name, c.email as connector_email
             from requests q join connectors c on c.connector_id = q.connector_id
             where q.requester_email_key = $1 order by q.request_id",
        )
        .await?
        {
            requests.push(json!({
                "id": text(r, "request_id")?, "status": text(r, "status")?,
                "connector": {"name": text(r, "connector_name")?, "email": text(r, "connector_email")?},
                "name": text(r, "requester_name")?, "email": text(r, "requester_email")?,
                "wants_to_meet": text(r, "wants_to_meet")?, "reason": text(r, "reason")?,
                "blurb": text(r, "blurb")?, "intro_id": text(r, "intro_id")?,
                "decline_message": text(r, "decline_message")?,
                "created_at": ms(r, "created_at")?, "confirmed_at": ms(r, "confirmed_at")?,
                "decided_at": ms(r, "decided_at")?,
            }));
        }

        let hash = self.address_hash(email);
        let mut suppressions = Vec::new();
        let rows = sqlx::query(
            "select s.connector_id, s.created_at, c.name as connector_name, c.email as connector_email
             from suppressions s left join connectors c on c.connector_id = s.connector_id
             where s.email_hash = $1 order by s.created_at",
        )
        .bind(&hash)
        .fetch_all(&self.pool)
        .await?;
        for r in &rows {
            let scope: String = r.try_get("connector_id")?;
            suppressions.push(json!({
                "scope": if scope.is_empty() { "installation" } else { "connector" },
                "connector": if scope.is_empty() { Value::Null } else {
                    json!({"name": text(r, "connector_name")?, "email": text(r, "connector_email")?})
                },
                "since": ms(r, "created_at")?,
            }));
        }
        let preferences = sqlx::query(
            "select paused_until, monthly_max, updated_at from preferences where email_hash = $1",
        )
        .bind(&hash)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| -> StoreResult<Value> {
            Ok(json!({"paused_until": ms(&r, "paused_until")?,
                      "monthly_max": r.try_get::<Option<i64>, _>("monthly_max")?,
                      "updated_at": ms(&r, "updated_at")?}))
        })
        .transpose()?;

        let account = sqlx::query(
            "select name, email, handle, is_admin, created_at from connectors where email_key = $1",
        )
        .bind(&key)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| -> StoreResult<Value> {
            Ok(
                json!({"name": text(&r, "name")?, "email": text(&r, "email")?,
                      "handle": text(&r, "handle")?, "admin": r.try_get::<i64, _>("is_admin")? != 0,
                      "created_at": ms(&r, "created_at")?}),
            )
        })
        .transpose()?;

        let records = intros.len()
            + events.len()
            + emails.len()
            + follow_ups.len()
            + late.len()
            + contacts.len()
            + requests.len()
            + suppressions.len()
            + usize::from(preferences.is_some())
            + usize::from(account.is_some());
        Ok(json!({
            "email": key,
            "records": records,
            "suppressed_everywhere": suppressions.iter().any(|s| s["scope"] == "installation"),
            "connector_account": account,
            "intros": intros,
            "events": events,
            "emails": emails,
            "follow_up_answers": follow_ups,
            "late_answers": late,
            "contacts": contacts,
            "requests": requests,
            "suppressions": suppressions,
            "preferences": preferences,
            "stored_only_as_hashes": HASHED,
        }))
    }
}
