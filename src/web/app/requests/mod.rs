//! Requests: a connector's public page `/r/{handle}`, where someone asks for
//! an introduction and confirms their address by an emailed link (opening it
//! shows a button; only pressing it confirms), and the connector's inbox
//! `/requests`, where confirmed requests are approved (an intro starts, with
//! the requester's consent and blurb on record) or declined with a kind
//! message. Another connector's request is a 404, and nothing on the
//! requester's pages says what became of the intro.

mod approve;
mod inbox;
pub mod public;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};

use crate::usecases::ProposeError;
use crate::web::{AppState, PageError};

/// How long a confirmation link works.
const CONFIRM_TTL: std::time::Duration = std::time::Duration::from_secs(72 * 3600);
/// Unconfirmed requests one address may have from the last day; more are
/// answered as if sent, and nothing is stored or emailed.
const UNCONFIRMED_PER_DAY: i64 = 3;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/r/{handle}", get(public::form).post(public::submit))
        .route("/r/{handle}/sent", get(public::sent))
        .route(
            "/r/confirm/{token}",
            get(public::confirm_page).post(public::confirm),
        )
        .route("/requests", get(inbox::list))
        .route("/requests/{id}", get(inbox::show))
        .route("/requests/{id}/approve", post(approve::approve))
        .route("/requests/{id}/decline", post(inbox::decline))
}

/// A handle nobody has, or a request that is not this connector's.
fn not_found() -> PageError {
    PageError {
        status: StatusCode::NOT_FOUND,
        title: "Not found",
        message: "There is nothing here, or it belongs to another account.".into(),
    }
}

/// A form error as the connector reads it.
fn error_text(e: &ProposeError) -> String {
    match e {
        ProposeError::Invalid(p) => {
            let label = match p.field {
                "requester.name" => "The requester's name",
                "requester.email" => "The requester's email",
                "requester.blurb" => "The requester's blurb",
                "target.name" => "The name of the person to ask",
                "target.email" => "The email of the person to ask",
                "reason" => "Why they should meet",
                "note" => "Your note",
                other => other,
            };
            format!("{label}: {}", p.message)
        }
        other => other.to_string(),
    }
}
