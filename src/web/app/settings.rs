//! `/settings`: the sender's display name and reply-to, the connector's own
//! timings (SPEC §4), and links to edit the wording of each email.

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use std::collections::HashMap;

use super::{Layout, SignedIn, page, settings_wording};
use crate::domain::{EmailAddress, PersonName, TIMING_NAMES, TimingOverrides, timing_text};
use crate::mail::wording::EDITABLE;
use crate::store::ConnectorSettings;
use crate::web::{AppState, PageError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/settings", get(show))
        .route("/settings/sender", post(save_sender))
        .route("/settings/timings", post(save_timings))
        .route(
            "/settings/wording/{kind}",
            get(settings_wording::edit).post(settings_wording::submit),
        )
}

pub struct TimingRow {
    pub name: &'static str,
    pub value: String,
    pub default: String,
    pub help: &'static str,
}

pub struct WordingRow {
    pub kind: &'static str,
    pub label: &'static str,
    pub customised: bool,
}

#[derive(Template)]
#[template(path = "app/settings.html")]
struct SettingsPage {
    layout: Layout,
    saved: Option<&'static str>,
    error: Option<String>,
    sender_name: String,
    sender_default: String,
    reply_to: String,
    reply_default: String,
    timings: Vec<TimingRow>,
    wording: Vec<WordingRow>,
    handle: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct SavedQuery {
    saved: Option<String>,
}

fn help(name: &str) -> &'static str {
    match name {
        "remind-after" => "One reminder to someone who has not answered.",
        "expire-after" => "An unanswered ask closes after this.",
        "undo-window" => "Time to undo an answer before anything it causes is sent.",
        "relay-delay" => {
            "A closing note goes out at a random time in this range (e.g. 24h..72h), so its timing gives no fast “no” away."
        }
        "reconfirm-after" => "A requester's recorded consent older than this is asked again.",
        "follow-up-after" => "When “did you connect?” goes out; “off” turns it off.",
        "cooldown" => {
            "Two people whose intro was declined or expired this recently cannot be asked again."
        }
        _ => "",
    }
}

async fn render(
    state: &AppState,
    me: &SignedIn,
    form_values: Option<(&HashMap<String, String>, String)>,
    saved: Option<&'static str>,
) -> Result<Response, PageError> {
    let settings: ConnectorSettings = state.store.connector_settings(&me.connector.id).await?;
    let (values, error) = match form_values {
        Some((values, error)) => (Some(values), Some(error)),
        None => (None, None),
    };
    let timings = TIMING_NAMES
        .iter()
        .map(|name| TimingRow {
            name,
            value: values
                .and_then(|v| v.get(*name).cloned())
                .or_else(|| settings.timings.get(name).map(str::to_string))
                .unwrap_or_default(),
            default: timing_text(&state.timings, name),
            help: help(name),
        })
        .collect();
    let wording = EDITABLE
        .iter()
        .map(|(kind, label)| WordingRow {
            kind,
            label,
            customised: settings.wording.keys().any(|(k, _)| k == kind),
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut response = page(&SettingsPage {
        layout: Layout::new(state, me, "/settings"),
        saved,
        error,
        sender_name: values
            .and_then(|v| v.get("sender_name").cloned())
            .or_else(|| settings.sender_name.as_ref().map(|n| n.to_string()))
            .unwrap_or_default(),
        sender_default: me.connector.name.to_string(),
        reply_to: values
            .and_then(|v| v.get("reply_to").cloned())
            .or_else(|| settings.reply_to.as_ref().map(|r| r.to_string()))
            .unwrap_or_default(),
        reply_default: me.connector.email.to_string(),
        timings,
        wording,
        handle: me.connector.handle.as_ref().map(|h| h.to_string()),
    });
    *response.status_mut() = status;
    Ok(response)
}

pub async fn show(
    State(state): State<AppState>,
    me: SignedIn,
    Query(q): Query<SavedQuery>,
) -> Result<Response, PageError> {
    let saved = match q.saved.as_deref() {
        Some("sender") => Some("Sender saved."),
        Some("timings") => Some("Timings saved. They apply to every intro from now on."),
        Some("wording") => Some("Wording saved. The next emails use it."),
        _ => None,
    };
    render(&state, &me, None, saved).await
}

pub async fn save_sender(
    State(state): State<AppState>,
    me: SignedIn,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let text = |k: &str| form.get(k).map(|v| v.trim()).unwrap_or("");
    let name = match text("sender_name") {
        "" => Ok(None),
        n => PersonName::parse(n).map(Some),
    };
    let reply = match text("reply_to") {
        "" => Ok(None),
        r => EmailAddress::parse(r).map(Some),
    };
    match (name, reply) {
        (Ok(name), Ok(reply)) => {
            state
                .store
                .save_sender(
                    &me.connector.id,
                    name.as_ref(),
                    reply.as_ref(),
                    state.clock.now(),
                )
                .await?;
            Ok(Redirect::to("/settings?saved=sender").into_response())
        }
        (Err(e), _) => {
            render(
                &state,
                &me,
                Some((&form, format!("Sender name: {e}"))),
                None,
            )
            .await
        }
        (_, Err(e)) => render(&state, &me, Some((&form, format!("Reply-to: {e}"))), None).await,
    }
}

pub async fn save_timings(
    State(state): State<AppState>,
    me: SignedIn,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let pairs = TIMING_NAMES
        .iter()
        .map(|name| (*name, form.get(*name).map(String::as_str).unwrap_or("")));
    match TimingOverrides::parse(pairs, &state.timings) {
        Ok(timings) => {
            state
                .store
                .save_timings(&me.connector.id, &timings, state.clock.now())
                .await?;
            Ok(Redirect::to("/settings?saved=timings").into_response())
        }
        Err(e) => render(&state, &me, Some((&form, e.message)), None).await,
    }
}
