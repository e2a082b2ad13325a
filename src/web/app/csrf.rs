//! CSRF protection for every form of the web app: a POST must carry a
//! `csrf` field equal to its session's token (or, before sign-in, to the
//! random value in the form cookie). Anything else gets 403 and changes
//! nothing. Multipart forms (file uploads) carry it in the query string.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::session::{FORM_COOKIE, cookie, csrf_for, session_hash};
use crate::web::{AppState, PageError};

/// The largest form body the app accepts (a CSV import is the biggest).
pub const MAX_FORM_BYTES: usize = 8 * 1024 * 1024;

pub async fn verify(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_FORM_BYTES).await else {
        return PageError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            title: "That was too much to send at once",
            message: "Nothing was changed. Please send less (a CSV file can be at most 8 MB)."
                .into(),
        }
        .into_response();
    };
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let from_body = is_form.then(|| field(&bytes, "csrf")).flatten();
    let sent = from_body.or_else(|| field(parts.uri.query().unwrap_or("").as_bytes(), "csrf"));
    let mut accepted = Vec::new();
    if let Some(hash) = session_hash(&parts.headers) {
        accepted.push(csrf_for(&state, &hash));
    }
    if let Some(value) = cookie(&parts.headers, FORM_COOKIE).filter(|v| v.len() >= 32) {
        accepted.push(value.to_string());
    }
    let ok = sent.is_some_and(|sent| accepted.iter().any(|a| same(a.as_bytes(), sent.as_bytes())));
    if !ok {
        return forbidden();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn forbidden() -> Response {
    PageError {
        status: StatusCode::FORBIDDEN,
        title: "This form has expired",
        message: "Nothing was changed. Go back, reload the page and send the form again.".into(),
    }
    .into_response()
}

/// One field of a urlencoded body or query.
fn field(encoded: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(encoded)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Compares in time that does not depend on where the inputs differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_field() {
        assert_eq!(field(b"a=1&csrf=x%2By", "csrf").as_deref(), Some("x+y"));
        assert_eq!(field(b"a=1", "csrf"), None);
    }

    #[test]
    fn compares_whole_values() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
    }
}
