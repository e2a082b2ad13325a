//! `/u/{token}`: stop intro requests. `POST` is RFC 8058's one-click
//! unsubscribe: no cookies, no redirect, answered directly.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::Html;
use serde::Deserialize;

use super::pages::UnsubscribePage;
use super::{render, resolve};
use crate::domain::Consent;
use crate::domain::machine::{Channel, Command};
use crate::store::{Purpose, StoreError};
use crate::usecases::context;
use crate::web::{AppState, PageError};

#[derive(Debug, Default, Deserialize)]
struct UnsubscribeForm {
    scope: Option<String>,
}

/// Whether the page's second button ("everyone") was pressed. Mail clients
/// send RFC 8058's `List-Unsubscribe=One-Click` as multipart or urlencoded;
/// any body that is not our own form means "this connector".
fn wants_everyone(headers: &HeaderMap, body: &[u8]) -> bool {
    let urlencoded = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    urlencoded
        && serde_urlencoded::from_bytes::<UnsubscribeForm>(body)
            .ok()
            .and_then(|f| f.scope)
            .as_deref()
            == Some("all")
}

pub async fn show(
    State(mut state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Html<String>, PageError> {
    let (_, intro) = resolve(&mut state, &token, Purpose::Unsubscribe).await?;
    let connector = state.store.connector(&intro.connector_id).await?;
    Ok(Html(render(&UnsubscribePage {
        connector_name: connector.name.to_string(),
        done: false,
        done_text: String::new(),
    })?))
}

pub async fn confirm(
    State(mut state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Html<String>, PageError> {
    let (record, intro) = resolve(&mut state, &token, Purpose::Unsubscribe).await?;
    let connector = state.store.connector(&intro.connector_id).await?;
    let email = &intro.party(record.role).email;
    let everyone = wants_everyone(&headers, &body);
    let scope = if everyone {
        None
    } else {
        Some(intro.connector_id.as_str())
    };
    state
        .store
        .suppress(email, scope, state.clock.now())
        .await?;
    tracing::info!(intro = %intro.id, everyone, "intro requests stopped by the recipient");
    // Stopping the asks answers this one, too: it closes as a no.
    if intro.party(record.role).consent == Consent::Asked && !intro.status.is_final() {
        let ctx = context(state.clock.as_ref(), state.timings, Channel::Web);
        let command = Command::OptOut { role: record.role };
        match state.store.apply(&intro.id, None, command, ctx).await {
            Ok(_) | Err(StoreError::Machine(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let done_text = if everyone {
        "You will not get intro requests from anyone on this twoyes again.".to_string()
    } else {
        format!(
            "You will not get intro requests from {} again.",
            connector.name
        )
    };
    Ok(Html(render(&UnsubscribePage {
        connector_name: connector.name.to_string(),
        done: true,
        done_text,
    })?))
}
