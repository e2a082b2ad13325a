//! `GET /intros/{id}`: one intro's timeline (every event: who, when, through
//! which channel), each party's consent, the emails and their delivery, and
//! Cancel while the intro is open. Another connector's intro is a 404.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};

use super::{Layout, SignedIn, page};
use crate::domain::machine::{Channel, Command};
use crate::domain::{Intro, Party, Role, Timestamp};
use crate::store::{EventRecord, OutboxItem, OutboxKind, Recipient, StoreError};
use crate::usecases::context;
use crate::web::{AppState, PageError};

pub struct PartyView {
    pub role: &'static str,
    pub name: String,
    pub email: String,
    pub consent: &'static str,
    pub blurb: Option<String>,
    pub note: Option<String>,
    pub private_reason: Option<String>,
    pub snooze_until: Option<String>,
}

pub struct EventView {
    pub what: String,
    pub who: String,
    pub channel: String,
    pub at: String,
    pub at_iso: String,
}

pub struct MailView {
    pub what: &'static str,
    pub to: String,
    pub status: String,
    pub when: String,
    pub attempts: u32,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "app/intro.html")]
struct IntroPage {
    layout: Layout,
    id: String,
    status: &'static str,
    mode: &'static str,
    topic: String,
    reason: String,
    note: Option<String>,
    created: String,
    parties: Vec<PartyView>,
    events: Vec<EventView>,
    mails: Vec<MailView>,
    can_cancel: bool,
}

/// "2026-11-26 13:05 UTC": exact enough for a timeline.
pub fn when(t: Timestamp) -> String {
    t.to_datetime().format("%Y-%m-%d %H:%M UTC").to_string()
}

fn party_view(p: &Party) -> PartyView {
    PartyView {
        role: match p.role {
            Role::Requester => "Requester",
            Role::Target => "Target",
        },
        name: p.name.to_string(),
        email: p.email.to_string(),
        consent: p.consent.as_str(),
        blurb: p.blurb.as_ref().map(|b| b.to_string()),
        note: p.intro_note.as_ref().map(|n| n.to_string()),
        private_reason: p.private_reason.as_ref().map(|r| r.to_string()),
        snooze_until: p.snooze_until.map(|t| t.human_date()),
    }
}

fn event_view(intro: &Intro, e: &EventRecord) -> EventView {
    let who = match e.actor.as_str() {
        "connector" => "You".to_string(),
        "system" => "twoyes".to_string(),
        role => Role::parse(role)
            .map(|r| intro.party(r).name.to_string())
            .unwrap_or_else(|| role.to_string()),
    };
    let what = match e.kind.as_str() {
        "started" => "Proposed the intro",
        "decided_yes" => "Said yes",
        "decided_not_now" => "Said not now",
        "decided_no" => "Said no",
        "undone" => "Undid their answer",
        "withdrawn" => "Withdrew their yes",
        "cancelled" => "Cancelled the intro",
        "settled" => "Answer became final (undo window over)",
        "reminded" => "Sent a reminder",
        "expired" => "Ask expired without an answer",
        "asked_again" => "Asked again after “not now”",
        "opted_out" => "Asked not to get intro requests",
        other => other,
    };
    EventView {
        what: format!("{what} → intro {}", e.status_after),
        who,
        channel: e.channel.clone(),
        at: when(e.at),
        at_iso: e.at.to_rfc3339(),
    }
}

fn mail_view(intro: &Intro, connector_name: &str, m: &OutboxItem) -> MailView {
    let to = match m.recipient {
        Recipient::Requester => intro.requester.name.to_string(),
        Recipient::Target => intro.target.name.to_string(),
        Recipient::Connector => format!("{connector_name} (you)"),
        Recipient::BothParties => {
            format!("{} and {}", intro.requester.name, intro.target.name)
        }
    };
    let what = match m.kind {
        OutboxKind::Ask => "Ask",
        OutboxKind::Reminder => "Reminder",
        OutboxKind::Introduction => "Introduction",
        OutboxKind::Relay => "Closing note",
        OutboxKind::Notice => "Notice to you",
        OutboxKind::FollowUp => "Did you connect?",
        OutboxKind::RequestConfirm | OutboxKind::RequestDeclined => "About the request",
    };
    let when = match m.sent_at {
        Some(t) => format!("sent {}", self::when(t)),
        None => format!("due {}", self::when(m.not_before)),
    };
    MailView {
        what,
        to,
        status: m.status.clone(),
        when,
        attempts: m.attempts,
        error: m.last_error.clone(),
    }
}

pub async fn show(
    State(state): State<AppState>,
    me: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let intro = match state.store.intro(&id, Some(&me.connector.id)).await {
        Ok(intro) => intro,
        Err(StoreError::NotFound) => return Err(not_found()),
        Err(e) => return Err(e.into()),
    };
    let events = state.store.events(&intro.id).await?;
    let mails = state.store.outbox_for_intro(&intro.id).await?;
    let connector_name = me.connector.name.to_string();
    Ok(page(&IntroPage {
        layout: Layout::new(&state, &me, ""),
        id: intro.id.clone(),
        status: intro.status.as_str(),
        mode: intro.mode.as_str(),
        topic: intro.topic.to_string(),
        reason: intro.reason.to_string(),
        note: intro.note.as_ref().map(|n| n.to_string()),
        created: when(intro.created_at),
        parties: vec![party_view(&intro.target), party_view(&intro.requester)],
        events: events.iter().map(|e| event_view(&intro, e)).collect(),
        mails: mails
            .iter()
            .map(|m| mail_view(&intro, &connector_name, m))
            .collect(),
        can_cancel: !intro.status.is_final(),
    }))
}

pub fn not_found() -> PageError {
    PageError {
        status: axum::http::StatusCode::NOT_FOUND,
        title: "Not found",
        message: "There is nothing here, or it belongs to another account.".into(),
    }
}

pub async fn cancel(
    State(state): State<AppState>,
    me: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let ctx = context(state.clock.as_ref(), state.timings, Channel::Web);
    match state
        .store
        .apply(&id, Some(&me.connector.id), Command::Cancel, ctx)
        .await
    {
        // Already final: the page shows how it ended.
        Ok(_) | Err(StoreError::Machine(_)) => {
            Ok(Redirect::to(&format!("/intros/{id}")).into_response())
        }
        Err(StoreError::NotFound) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}
