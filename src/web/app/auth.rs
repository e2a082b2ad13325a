//! Signing in and out, the first account's setup link, and one-time links
//! that set a password. Failed sign-ins are counted in the database (per
//! address and per client IP), so every instance enforces the same limit.

use std::net::SocketAddr;
use std::time::Duration;

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::session::{self, FORM_COOKIE, SESSION_COOKIE, cookie, session_hash, set_cookie};
use crate::domain::{
    EmailAddress, Handle, MIN_PASSWORD_CHARS, Password, PersonName, Timestamp, Token,
};
use crate::store::{NewConnector, OneTimePurpose, StoreError};
use crate::web::{AppState, PageError};

/// Failed sign-ins allowed per address, and per client IP, in the window.
const PER_EMAIL: i64 = 5;
const PER_IP: i64 = 30;
const WINDOW: Duration = Duration::from_secs(15 * 60);

/// The address the request came from (the socket's peer; behind a proxy,
/// the proxy's).
pub struct ClientIp(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip()),
        ))
    }
}

#[derive(Template)]
#[template(path = "app/login.html")]
struct LoginPage<'a> {
    csrf: &'a str,
    next: &'a str,
    email: &'a str,
    error: Option<&'a str>,
    message: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "app/set_password.html")]
struct SetPasswordPage<'a> {
    csrf: &'a str,
    heading: &'a str,
    button: &'a str,
    setup: bool,
    name: &'a str,
    email: &'a str,
    handle: &'a str,
    error: Option<&'a str>,
    min_chars: usize,
}

/// The value forms shown before sign-in carry, and the cookie that holds it
/// when the browser does not have one yet.
pub fn form_token(state: &AppState, headers: &HeaderMap) -> (String, Option<header::HeaderValue>) {
    match cookie(headers, FORM_COOKIE).filter(|v| v.len() >= 32) {
        Some(v) => (v.to_string(), None),
        None => {
            let value = Token::generate().expose();
            let set = set_cookie(state, FORM_COOKIE, &value, 86_400);
            (value, Some(set))
        }
    }
}

pub fn html_with_cookie(
    status: StatusCode,
    html: String,
    cookie: Option<header::HeaderValue>,
) -> Response {
    let mut response = (status, Html(html)).into_response();
    if let Some(c) = cookie {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

fn render(page: &impl Template) -> Result<String, PageError> {
    page.render().map_err(|e| PageError::internal(&e))
}

/// Only paths of this site: never `//host` or a full URL.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Result<Response, PageError> {
    let next = safe_next(q.next.as_deref());
    if let Some(hash) = session_hash(&headers)
        && state
            .store
            .session_connector(&hash, state.clock.now())
            .await?
            .is_some()
    {
        return Ok(Redirect::to(&next).into_response());
    }
    let (csrf, set) = form_token(&state, &headers);
    let html = render(&LoginPage {
        csrf: &csrf,
        next: &next,
        email: "",
        error: None,
        message: None,
    })?;
    Ok(html_with_cookie(StatusCode::OK, html, set))
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let next = safe_next(form.next.as_deref());
    let (csrf, _) = form_token(&state, &headers);
    let again = |status: StatusCode, error: &str| -> Result<Response, PageError> {
        let html = render(&LoginPage {
            csrf: &csrf,
            next: &next,
            email: &form.email,
            error: Some(error),
            message: None,
        })?;
        Ok(html_with_cookie(status, html, None))
    };
    let email_key = format!("email:{}", form.email.trim().to_ascii_lowercase());
    let ip_key = ip.map(|ip| format!("ip:{ip}"));
    let since = Timestamp::from_millis(now.as_millis() - WINDOW.as_millis() as i64);
    let mut limited = state.store.login_failures_since(&email_key, since).await? >= PER_EMAIL;
    if let Some(ip_key) = &ip_key {
        limited |= state.store.login_failures_since(ip_key, since).await? >= PER_IP;
    }
    if limited {
        return again(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts to sign in. Please wait 15 minutes and try again.",
        );
    }
    let account = match EmailAddress::parse(&form.email) {
        Ok(email) => state.store.login_account(&email).await?,
        Err(_) => None,
    };
    let stored = account.as_ref().and_then(|(_, h)| h.clone());
    let password = Password::typed(&form.password);
    // Argon2 takes tens of milliseconds of CPU: keep it off the async threads.
    let matches = tokio::task::spawn_blocking(move || password.verify(stored.as_deref()))
        .await
        .unwrap_or(false);
    let connector = match account {
        Some((connector, _)) if matches => connector,
        _ => {
            let mut keys = vec![email_key];
            keys.extend(ip_key);
            state.store.record_login_failure(&keys, now).await?;
            return again(
                StatusCode::UNAUTHORIZED,
                "That email and password do not match an account.",
            );
        }
    };
    state.store.clear_login_failures(&email_key).await?;
    let cookie = session::start(&state, &connector, now).await?;
    let mut response = Redirect::to(&next).into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    if let Some(hash) = session_hash(&headers) {
        state.store.delete_session(&hash).await?;
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, SESSION_COOKIE, "", 0),
    );
    Ok(response)
}

fn link_gone() -> PageError {
    PageError {
        status: StatusCode::NOT_FOUND,
        title: "This link has been used or has expired",
        message: "Ask whoever runs this twoyes for a new one.".into(),
    }
}

async fn link_purpose(state: &AppState, raw: &str) -> Result<(Token, OneTimePurpose), PageError> {
    let miss = || crate::web::limiter::page_miss(state, link_gone());
    let token = Token::parse(raw).map_err(|_| miss())?;
    let purpose = state
        .store
        .peek_one_time_link(&token.hash(), state.clock.now())
        .await?
        .ok_or_else(miss)?;
    Ok((token, purpose))
}

#[derive(Debug, Default, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    handle: String,
    #[serde(default)]
    password: String,
}

pub async fn one_time_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, PageError> {
    let (_, purpose) = link_purpose(&state, &raw).await?;
    let (csrf, set) = form_token(&state, &headers);
    let html = password_page(&state, &purpose, &csrf, &PasswordForm::default(), None).await?;
    Ok(html_with_cookie(StatusCode::OK, html, set))
}

async fn password_page(
    state: &AppState,
    purpose: &OneTimePurpose,
    csrf: &str,
    form: &PasswordForm,
    error: Option<&str>,
) -> Result<String, PageError> {
    let (heading, button, setup, email) = match purpose {
        OneTimePurpose::Setup => (
            "Welcome to twoyes",
            "Create my account",
            true,
            form.email.clone(),
        ),
        OneTimePurpose::Password { connector_id } => {
            let connector = state.store.connector(connector_id).await?;
            (
                "Choose your password",
                "Save password and sign in",
                false,
                connector.email.to_string(),
            )
        }
    };
    render(&SetPasswordPage {
        csrf,
        heading,
        button,
        setup,
        name: &form.name,
        email: &email,
        handle: &form.handle,
        error,
        min_chars: MIN_PASSWORD_CHARS,
    })
}

pub async fn one_time_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Form(form): Form<PasswordForm>,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let (token, purpose) = link_purpose(&state, &raw).await?;
    let (csrf, _) = form_token(&state, &headers);
    let result = create_or_set(&state, &token, &purpose, &form, now).await;
    let connector = match result {
        Ok(connector) => connector,
        Err(Refused::Input(message)) => {
            let html = password_page(&state, &purpose, &csrf, &form, Some(&message)).await?;
            return Ok(html_with_cookie(
                StatusCode::UNPROCESSABLE_ENTITY,
                html,
                None,
            ));
        }
        Err(Refused::Page(page)) => return Err(page),
    };
    let cookie = session::start(&state, &connector, now).await?;
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

enum Refused {
    Input(String),
    Page(PageError),
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Refused::Page(link_gone()),
            StoreError::Conflict(m) => Refused::Input(m),
            other => Refused::Page(other.into()),
        }
    }
}

async fn create_or_set(
    state: &AppState,
    token: &Token,
    purpose: &OneTimePurpose,
    form: &PasswordForm,
    now: Timestamp,
) -> Result<crate::store::Connector, Refused> {
    let input = |e: crate::domain::ParseError| Refused::Input(e.message);
    let password = Password::parse_new(&form.password).map_err(input)?;
    let hash = tokio::task::spawn_blocking(move || password.hash())
        .await
        .map_err(|e| Refused::Page(PageError::internal(&e)))?
        .map_err(input)?;
    match purpose {
        OneTimePurpose::Password { .. } => Ok(state
            .store
            .use_password_link(&token.hash(), &hash, now)
            .await?),
        OneTimePurpose::Setup => {
            let email = EmailAddress::parse(&form.email).map_err(input)?;
            let name = PersonName::parse(&form.name).map_err(input)?;
            let handle = match form.handle.trim() {
                "" => Handle::suggest(email.as_str()),
                h => Some(Handle::parse(h).map_err(input)?),
            };
            let new = NewConnector {
                email,
                name,
                handle,
                is_admin: true,
            };
            Ok(state
                .store
                .setup_first_account(&token.hash(), new, &hash, now)
                .await?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/intros/1")), "/intros/1");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
