//! `GET /api/v1/intros/{id}/consent`: the intro's consent record.

use axum::Json;
use axum::extract::{Path, State};

use super::ApiConnector;
use crate::usecases::consent_record;
use crate::web::{ApiError, AppState};

pub async fn show(
    State(state): State<AppState>,
    ApiConnector(connector): ApiConnector,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let intro = state.store.intro(&id, Some(&connector.id)).await?;
    let events = state.store.events(&intro.id).await?;
    Ok(Json(consent_record(&intro, &events)))
}
