//! `/settings/wording/{kind}`: edit one email's subject and text with
//! placeholders, preview it with sample people, save (checked: an unknown
//! placeholder is an error), or go back to the built-in wording.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::intro_page::not_found;
use super::{Layout, SignedIn, page};
use crate::domain::{Intro, Role};
use crate::mail::wording::{self, EDITABLE, Wording};
use crate::mail::{Composer, Links, builtin_source};
use crate::store::{Connector, OutboxItem, OutboxKind, Recipient};
use crate::usecases::{ProposeInput, parse_proposal};
use crate::web::{AppState, PageError};

#[derive(Template)]
#[template(path = "app/settings_wording.html")]
struct WordingPage {
    layout: Layout,
    kind: String,
    label: &'static str,
    subject: String,
    body: String,
    customised: bool,
    placeholders: Vec<(String, &'static str)>,
    error: Option<String>,
    preview: Option<(String, String)>,
}

#[derive(Debug, Default, Deserialize)]
pub struct WordingForm {
    #[serde(default)]
    subject: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    action: String,
}

fn label(kind: &str) -> Option<&'static str> {
    EDITABLE.iter().find(|(k, _)| *k == kind).map(|(_, l)| *l)
}

/// Browsers send CRLF; the stored wording uses plain newlines.
fn clean(text: &str) -> String {
    text.replace("\r\n", "\n").trim_end().to_string()
}

pub async fn edit(
    State(state): State<AppState>,
    me: SignedIn,
    Path(kind): Path<String>,
) -> Result<Response, PageError> {
    let label = label(&kind).ok_or_else(not_found)?;
    let settings = state.store.connector_settings(&me.connector.id).await?;
    let current = |part: &str| {
        settings
            .wording
            .get(&(kind.clone(), part.to_string()))
            .cloned()
            .or_else(|| builtin_source(&kind, part).map(clean))
            .unwrap_or_default()
    };
    Ok(page(&WordingPage {
        layout: Layout::new(&state, &me, "/settings"),
        subject: current("subject"),
        body: current("body"),
        customised: settings.wording.keys().any(|(k, _)| *k == kind),
        placeholders: wording::placeholders(&kind),
        label,
        kind,
        error: None,
        preview: None,
    }))
}

pub async fn submit(
    State(state): State<AppState>,
    me: SignedIn,
    Path(kind): Path<String>,
    Form(form): Form<WordingForm>,
) -> Result<Response, PageError> {
    let label = label(&kind).ok_or_else(not_found)?;
    let now = state.clock.now();
    if form.action == "reset" {
        for part in wording::PARTS {
            state
                .store
                .save_wording(&me.connector.id, &kind, part, None, now)
                .await?;
        }
        return Ok(Redirect::to("/settings?saved=wording").into_response());
    }
    let subject = clean(&form.subject);
    let body = clean(&form.body);
    let checked = wording::validate(&kind, "subject", &subject)
        .map_err(|e| format!("Subject: {e}"))
        .and_then(|()| wording::validate(&kind, "body", &body).map_err(|e| format!("Text: {e}")));
    let preview = match &checked {
        Ok(()) => match preview(&state, &me.connector, &kind, &subject, &body) {
            Ok(p) => Ok(p),
            Err(e) => Err(format!("The preview could not be made: {e}")),
        },
        Err(e) => Err(e.clone()),
    };
    if form.action == "save"
        && let Ok(_) = preview
    {
        for (part, source) in [("subject", &subject), ("body", &body)] {
            // Unchanged from the built-in wording: keep following it.
            let builtin = builtin_source(&kind, part).map(clean);
            let source = (builtin.as_deref() != Some(source.as_str())).then_some(source.as_str());
            state
                .store
                .save_wording(&me.connector.id, &kind, part, source, now)
                .await?;
        }
        return Ok(Redirect::to("/settings?saved=wording").into_response());
    }
    let settings = state.store.connector_settings(&me.connector.id).await?;
    let (error, preview) = match preview {
        Ok(p) => (None, Some(p)),
        Err(e) => (Some(e), None),
    };
    let mut response = page(&WordingPage {
        layout: Layout::new(&state, &me, "/settings"),
        subject,
        body,
        customised: settings.wording.keys().any(|(k, _)| *k == kind),
        placeholders: wording::placeholders(&kind),
        label,
        kind,
        preview,
        error: error.clone(),
    });
    if error.is_some() {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
}

/// Renders the draft for sample people, strictly: anything missing is an
/// error here rather than a blank in a real email.
fn preview(
    state: &AppState,
    connector: &Connector,
    kind: &str,
    subject: &str,
    body: &str,
) -> Result<(String, String), String> {
    let intro = sample_intro(state, connector).map_err(|e| e.to_string())?;
    let (outbox_kind, recipient, payload) = match kind {
        "ask" => (OutboxKind::Ask, Recipient::Target, serde_json::json!({})),
        "introduction" => (
            OutboxKind::Introduction,
            Recipient::BothParties,
            serde_json::json!({}),
        ),
        "relay" => (
            OutboxKind::Relay,
            Recipient::Requester,
            serde_json::json!({}),
        ),
        "follow_up" => (
            OutboxKind::FollowUp,
            Recipient::Target,
            serde_json::json!({}),
        ),
        _ => (
            OutboxKind::Notice,
            Recipient::Connector,
            serde_json::json!({"notice": "declined", "role": "target"}),
        ),
    };
    let item = OutboxItem::preview(&intro, outbox_kind, recipient, payload, state.clock.now());
    let links = Links::preview(&state.base_url);
    let composer = Composer::new();
    let (_, ctx) = composer
        .context(&item, &intro, connector, &links, state.timings.expire_after)
        .map_err(|e| e.to_string())?;
    let ctx = minijinja::Value::from(minijinja::value::Serde(ctx));
    let env = wording::strict_env();
    env.render_str(subject, &ctx).map_err(|e| e.to_string())?;
    env.render_str(body, &ctx).map_err(|e| e.to_string())?;
    // Then the same path real emails take, so the preview is what is sent.
    let mut draft = Wording::new();
    draft.insert((kind.to_string(), "subject".into()), subject.to_string());
    draft.insert((kind.to_string(), "body".into()), body.to_string());
    let rendered = composer
        .render_with(
            &item,
            &intro,
            connector,
            &links,
            state.timings.expire_after,
            Some(&draft),
        )
        .map_err(|e| e.to_string())?;
    Ok((rendered.subject, rendered.text))
}

fn sample_intro(
    state: &AppState,
    connector: &Connector,
) -> Result<Intro, crate::usecases::ProposeError> {
    let input = ProposeInput {
        requester_name: "Rita Requester".into(),
        requester_email: "rita@example.com".into(),
        requester_blurb: Some(
            "I build soil sensors for small farms and want to learn how co-ops buy equipment."
                .into(),
        ),
        target_name: "Tom Target".into(),
        target_email: "tom@example.com".into(),
        reason: "You both work on soil health and keep asking me the same questions.".into(),
        note: None,
        topic: None,
        mode: None,
        requester_opted_in: false,
    };
    let mut intro = parse_proposal(&input, connector, state.clock.as_ref())?;
    intro.party_mut(Role::Target).asked_at = Some(state.clock.now());
    Ok(intro)
}
