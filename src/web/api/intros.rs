//! `/api/v1/intros`: create, read, list, cancel.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{ApiConnector, IntroJson, JsonBody};
use crate::domain::machine::{Channel, Command};
use crate::domain::{IntroStatus, ParseError};
use crate::store::IntroFilter;
use crate::usecases::{ProposeInput, context, propose_intro};
use crate::web::{ApiError, AppState};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequesterBody {
    name: String,
    email: String,
    blurb: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetBody {
    name: String,
    email: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    requester: RequesterBody,
    target: TargetBody,
    reason: String,
    note: Option<String>,
    topic: Option<String>,
    mode: Option<String>,
    #[serde(default)]
    requester_opted_in: bool,
}

impl CreateBody {
    /// The body as a proposal, checked by `usecases::parse_proposal`.
    pub fn into_input(self) -> ProposeInput {
        ProposeInput {
            requester_name: self.requester.name,
            requester_email: self.requester.email,
            requester_blurb: self.requester.blurb,
            target_name: self.target.name,
            target_email: self.target.email,
            reason: self.reason,
            note: self.note,
            topic: self.topic,
            mode: self.mode,
            requester_opted_in: self.requester_opted_in,
        }
    }
}

pub async fn create(
    State(state): State<AppState>,
    ApiConnector(connector): ApiConnector,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<(StatusCode, Json<IntroJson>), ApiError> {
    let input = body.into_input();
    let intro = propose_intro(
        &state.store,
        state.clock.as_ref(),
        state.timings,
        &connector,
        &input,
        Channel::Api,
    )
    .await?;
    tracing::info!(intro = %intro.id, "intro proposed through the API");
    Ok((StatusCode::CREATED, Json(IntroJson::from(&intro))))
}

/// Intro ids are UUIDs; anything else cannot name an intro.
fn check_id(id: &str) -> Result<(), ApiError> {
    uuid::Uuid::parse_str(id)
        .map(|_| ())
        .map_err(|_| ApiError::not_found())
}

pub async fn show(
    State(state): State<AppState>,
    ApiConnector(connector): ApiConnector,
    Path(id): Path<String>,
) -> Result<Json<IntroJson>, ApiError> {
    check_id(&id)?;
    let intro = state.store.intro(&id, Some(&connector.id)).await?;
    Ok(Json(IntroJson::from(&intro)))
}

pub async fn cancel(
    State(state): State<AppState>,
    ApiConnector(connector): ApiConnector,
    Path(id): Path<String>,
) -> Result<Json<IntroJson>, ApiError> {
    check_id(&id)?;
    let ctx = context(state.clock.as_ref(), state.timings, Channel::Api);
    let intro = state
        .store
        .apply(&id, Some(&connector.id), Command::Cancel, ctx)
        .await?;
    tracing::info!(intro = %intro.id, "intro cancelled through the API");
    Ok(Json(IntroJson::from(&intro)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ListJson {
    items: Vec<IntroJson>,
    next_cursor: Option<String>,
}

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 200;

pub async fn list(
    State(state): State<AppState>,
    ApiConnector(connector): ApiConnector,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ListJson>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::malformed(e.body_text()))?;
    let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => Some(IntroStatus::parse(text).ok_or_else(|| {
            ApiError::invalid(ParseError::new(
                "status",
                format!("status must be one of asking, snoozed, introduced, declined, expired, cancelled; not `{text}`"),
            ))
        })?),
    };
    let limit = match query.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::invalid(ParseError::new(
                    "limit",
                    format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
                ))
            })?,
    };
    let after = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(text) => {
            uuid::Uuid::parse_str(text).map_err(|_| {
                ApiError::invalid(ParseError::new(
                    "cursor",
                    "cursor must be a next_cursor value from a previous page",
                ))
            })?;
            Some(text.to_string())
        }
    };
    let filter = IntroFilter {
        connector_id: Some(connector.id.clone()),
        status,
        after,
        limit: limit + 1,
    };
    let mut intros = state.store.list_intros(&filter).await?;
    let more = intros.len() > limit as usize;
    intros.truncate(limit as usize);
    let next_cursor = if more {
        intros.last().map(|i| i.id.clone())
    } else {
        None
    };
    Ok(Json(ListJson {
        items: intros.iter().map(IntroJson::from).collect(),
        next_cursor,
    }))
}
