//! Signed-in connectors: a session cookie holding a random token whose hash
//! is stored, and the CSRF token every form of that session carries (derived
//! from the session, so nothing more is stored).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::domain::{Timestamp, Token, TokenHash};
use crate::store::Connector;
use crate::web::AppState;

pub const SESSION_COOKIE: &str = "twoyes_session";
/// A random value for forms shown before sign-in (double-submit cookie).
pub const FORM_COOKIE: &str = "twoyes_form";
/// How long a sign-in lasts.
pub const SESSION_DAYS: u64 = 30;

/// The value of one cookie of the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// A `Set-Cookie` value: never readable by scripts, sent on top-level
/// navigation only (`SameSite=Lax`), `Secure` when the site is served over
/// HTTPS.
pub fn set_cookie(state: &AppState, name: &str, value: &str, max_age_secs: u64) -> HeaderValue {
    let secure = if state.base_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let text =
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The CSRF token of a session.
pub fn csrf_for(state: &AppState, session: &TokenHash) -> String {
    Token::derive(&state.secret, &format!("csrf:{}", session.as_str())).expose()
}

/// The session token the request's cookie holds, if it parses.
pub fn session_hash(headers: &HeaderMap) -> Option<TokenHash> {
    let raw = cookie(headers, SESSION_COOKIE)?;
    Token::parse(raw).ok().map(|t| t.hash())
}

/// Starts a session for `connector`: stores its hash, returns the cookie.
pub async fn start(
    state: &AppState,
    connector: &Connector,
    now: Timestamp,
) -> Result<HeaderValue, crate::store::StoreError> {
    let token = Token::generate();
    let lifetime = std::time::Duration::from_secs(SESSION_DAYS * 86_400);
    state
        .store
        .create_session(&connector.id, &token.hash(), now, now.plus(lifetime))
        .await?;
    Ok(set_cookie(
        state,
        SESSION_COOKIE,
        &token.expose(),
        lifetime.as_secs(),
    ))
}

/// A signed-in connector, with the CSRF token their forms must carry.
pub struct SignedIn {
    pub connector: Connector,
    pub csrf: String,
}

/// Not signed in: pages send the browser to the sign-in page and back.
pub struct SignInFirst(Uri);

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        let next = self.0.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let target = format!("/login?next={}", urlencode(next));
        Redirect::to(&target).into_response()
    }
}

fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)])
        .map(|s| s.trim_start_matches('=').to_string())
        .unwrap_or_default()
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let sign_in = || SignInFirst(parts.uri.clone()).into_response();
        let Some(hash) = session_hash(&parts.headers) else {
            return Err(sign_in());
        };
        let connector = state
            .store
            .session_connector(&hash, state.clock.now())
            .await
            .map_err(|e| crate::web::PageError::from(e).into_response())?;
        match connector {
            Some(connector) => Ok(SignedIn {
                csrf: csrf_for(state, &hash),
                connector,
            }),
            None => Err(sign_in()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_cookie_among_several() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; twoyes_session=abc ; b=2"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "c"), None);
    }

    #[test]
    fn next_is_encoded() {
        assert_eq!(
            urlencode("/intros?q=a b&x=1"),
            "%2Fintros%3Fq%3Da+b%26x%3D1"
        );
    }
}
