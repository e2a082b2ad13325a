//! Errors as HTTP answers, mapped to statuses in one place. Internal causes
//! are logged here, once, and never shown.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use crate::domain::{MachineError, ParseError};
use crate::store::StoreError;
use crate::usecases::ProposeError;

/// An API error: `{"error": {"code": …, "message": …}}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send a valid API token as `Authorization: Bearer <token>`",
        )
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such intro")
    }

    /// Too many unknown tokens from one client (`web::limiter`).
    pub fn too_many_lookups() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "too many unknown tokens from this address; wait a minute and send a valid token",
        )
    }

    pub fn invalid(e: ParseError) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_field",
            message: e.message,
            field: Some(e.field.to_string()),
        }
    }

    fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side; nothing was changed",
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::not_found(),
            StoreError::Machine(MachineError::Final(status)) => Self::new(
                StatusCode::CONFLICT,
                "intro_final",
                format!("this intro is already {status}"),
            ),
            StoreError::Machine(m) => Self::new(StatusCode::CONFLICT, "conflict", m.to_string()),
            StoreError::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            StoreError::Refused { code, message } => Self::new(StatusCode::CONFLICT, code, message),
            other => Self::internal(&other),
        }
    }
}

impl From<ProposeError> for ApiError {
    fn from(e: ProposeError) -> Self {
        match e {
            ProposeError::Invalid(p) => Self::invalid(p),
            ProposeError::OptedOut { .. } => {
                Self::new(StatusCode::CONFLICT, "recipient_opted_out", e.to_string())
            }
            ProposeError::Paused { .. } => {
                Self::new(StatusCode::CONFLICT, "recipient_paused", e.to_string())
            }
            ProposeError::MonthlyLimit { .. } => Self::new(
                StatusCode::CONFLICT,
                "recipient_monthly_limit",
                e.to_string(),
            ),
            ProposeError::Store(s) => s.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(field) = self.field {
            error["field"] = json!(field);
        }
        (self.status, axum::Json(json!({ "error": error }))).into_response()
    }
}

/// A party page that explains what happened instead of the page they wanted.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: String,
}

impl PageError {
    pub fn unknown_link() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            title: "We don't recognise this link",
            message: "Please check that you copied the whole link from the email.".into(),
        }
    }

    /// Too many unknown links from one client (`web::limiter`). Valid links
    /// still work; the page says so, kindly.
    pub fn too_many_lookups() -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            title: "Please wait a minute",
            message: "We could not recognise several links from your connection in a short time. \
                      Wait a minute, then open the link again, copying the whole link from the email. \
                      Links that are complete keep working."
                .into(),
        }
    }

    pub fn expired_link() -> Self {
        Self {
            status: StatusCode::GONE,
            title: "This link has expired",
            message: "It is no longer possible to answer here. Nothing more is needed from you."
                .into(),
        }
    }

    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "page failed");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            title: "Something went wrong on our side",
            message: "Nothing was changed. Please try again in a minute.".into(),
        }
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::unknown_link(),
            other => Self::internal(&other),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let page = super::party::pages::MessagePage {
            title: self.title,
            message: &self.message,
        };
        match askama::Template::render(&page) {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "error page did not render");
                (self.status, self.title).into_response()
            }
        }
    }
}
