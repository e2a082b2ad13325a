//! `/u/{token}`: stop intro requests. `POST` is RFC 8058's one-click
//! unsubscribe: no cookies, no redirect, answered directly.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Html;
use serde::Deserialize;

use super::pages::UnsubscribePage;
use super::{render, resolve};
use crate::store::Purpose;
use crate::web::{AppState, PageError};

#[derive(Debug, Default, Deserialize)]
pub struct UnsubscribeForm {
    scope: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Html<String>, PageError> {
    let (_, intro) = resolve(&state, &token, Purpose::Unsubscribe).await?;
    let connector = state.store.connector(&intro.connector_id).await?;
    Ok(Html(render(&UnsubscribePage {
        connector_name: connector.name.to_string(),
        done: false,
        done_text: String::new(),
    })?))
}

pub async fn confirm(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Form(form): Form<UnsubscribeForm>,
) -> Result<Html<String>, PageError> {
    let (record, intro) = resolve(&state, &token, Purpose::Unsubscribe).await?;
    let connector = state.store.connector(&intro.connector_id).await?;
    let email = &intro.party(record.role).email;
    let everyone = form.scope.as_deref() == Some("all");
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
