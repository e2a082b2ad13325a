//! The JSON API (`/api/v1`), authenticated with bearer tokens.

pub mod consent;
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
        // A token that was sent but is unknown counts against the client's
        // limit (`web::limiter`); a valid one is never refused by it.
        let miss = || super::limiter::api_miss(state);
        let token = Token::parse(raw.trim()).map_err(|_| miss())?;
        let connector = state.store.connector_by_api_token(&token.hash()).await?;
        connector.map(ApiConnector).ok_or_else(miss)
    }
}

/// A JSON body whose errors are answered in the API's error format.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(e) => Err(rejection(e)),
        }
    }
}

/// A JSON body's bytes, read as `JsonBody` reads them (the content type
/// aside): the value, or the API error that answers it. Pure, so the parser
/// properties in `tests/fuzz_parsers.rs` run it on arbitrary bytes.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    axum::Json::<T>::from_bytes(bytes)
        .map(|axum::Json(value)| value)
        .map_err(rejection)
}

fn rejection(e: JsonRejection) -> ApiError {
    match e {
        JsonRejection::JsonDataError(e) => data_error(&e),
        JsonRejection::JsonSyntaxError(e) => ApiError::malformed(e.body_text()),
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::malformed("send the body as JSON with `Content-Type: application/json`")
        }
        e => ApiError::malformed(e.body_text()),
    }
}

/// A body of the wrong shape, reported with the path of the field at fault
/// (`requester.name`), found in the error serde_path_to_error wraps.
fn data_error(e: &axum::extract::rejection::JsonDataError) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(inner) = err.downcast_ref::<serde_path_to_error::Error<serde_json::Error>>() {
            let what = inner.inner().to_string();
            let what = what.split(" at line ").next().unwrap_or(&what).to_string();
            // "missing field `name`" names a child of the path.
            let child = what
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split('`').next());
            let path = inner.path().to_string();
            let field = match (path.as_str(), child) {
                (".", Some(child)) => child.to_string(),
                (".", None) => String::new(),
                (path, Some(child)) => format!("{path}.{child}"),
                (path, None) => path.to_string(),
            };
            let mut error = ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                if field.is_empty() {
                    what
                } else {
                    format!("{field}: {what}")
                },
            );
            error.field = (!field.is_empty()).then_some(field);
            return error;
        }
        source = err.source();
    }
    ApiError::new(
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        e.body_text(),
    )
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method; see /api/v1/openapi.json",
    )
}

pub async fn not_found() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not_found",
        "no such API route; see /api/v1/openapi.json",
    )
}
