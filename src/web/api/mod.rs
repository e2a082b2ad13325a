//! The JSON API (`/api/v1`), authenticated with bearer tokens.

pub mod intros;
mod json;
pub mod openapi;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::{ApiError, AppState};
use crate::domain::Token;
use crate::store::Connector;

pub use json::IntroJson;

/// The connector whose API token came with the request.
pub struct ApiConnector(pub Connector);

impl FromRequestParts<AppState> for ApiConnector {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(ApiError::unauthorized)?;
        let raw = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(ApiError::unauthorized)?;
        let token = Token::parse(raw.trim()).map_err(|_| ApiError::unauthorized())?;
        let connector = state.store.connector_by_api_token(&token.hash()).await?;
        connector
            .map(ApiConnector)
            .ok_or_else(ApiError::unauthorized)
    }
}

/// A JSON body whose errors are answered in the API's error format.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                e.body_text(),
            )),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::malformed(e.body_text())),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::malformed(
                "send the body as JSON with `Content-Type: application/json`",
            )),
            Err(e) => Err(ApiError::malformed(e.body_text())),
        }
    }
}

pub async fn not_found() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not_found",
        "no such API route; see /api/v1/openapi.json",
    )
}
