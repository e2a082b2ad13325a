//! `/f/{token}`: did you connect? (yes / not yet / it was not useful)

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::pages::FollowUpPage;
use super::{render, resolve};
use crate::store::Purpose;
use crate::web::{AppState, PageError};

#[derive(Debug, Default, Deserialize)]
pub struct FollowUpForm {
    answer: Option<String>,
}

fn thanks_for(answer: &str) -> Option<&'static str> {
    match answer {
        "yes" => Some("Wonderful."),
        "not_yet" => Some("Thanks for letting us know."),
        "not_useful" => Some("Thanks for the honest answer."),
        _ => None,
    }
}

async fn page(
    state: &AppState,
    token: &str,
    answered: Option<&'static str>,
) -> Result<(FollowUpPage, String, crate::domain::Role), PageError> {
    // Timings do not matter to this page: a copy takes the connector's.
    let mut state = state.clone();
    let (record, intro) = resolve(&mut state, token, Purpose::FollowUp).await?;
    let connector = state.store.connector(&intro.connector_id).await?;
    let other = intro.party(record.role.other());
    let page = FollowUpPage {
        connector_name: connector.name.to_string(),
        connector_first: connector.name.first_name().to_string(),
        other_name: other.name.to_string(),
        other_first: other.name.first_name().to_string(),
        answered,
    };
    Ok((page, intro.id, record.role))
}

pub async fn show(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Html<String>, PageError> {
    let (mut page, intro_id, role) = page(&state, &token, None).await?;
    page.answered = state
        .store
        .follow_up_answer(&intro_id, role)
        .await?
        .as_deref()
        .and_then(thanks_for);
    Ok(Html(render(&page)?))
}

pub async fn answer(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Form(form): Form<FollowUpForm>,
) -> Result<Response, PageError> {
    let answer = form.answer.unwrap_or_default();
    let Some(thanks) = thanks_for(&answer) else {
        let (page, _, _) = page(&state, &token, None).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(render(&page)?)).into_response());
    };
    let (page, intro_id, role) = page(&state, &token, Some(thanks)).await?;
    state
        .store
        .record_follow_up(&intro_id, role, &answer, state.clock.now())
        .await?;
    Ok(Html(render(&page)?).into_response())
}
