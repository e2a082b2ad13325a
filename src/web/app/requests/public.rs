//! The requester's side: `/r/{handle}` (the form), `/r/{handle}/sent`
//! ("check your email") and `/r/confirm/{token}` (a button; only the POST
//! confirms). Nothing here says what became of a request after it was
//! confirmed.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::super::auth::{form_token, html_with_cookie};
use super::super::new_intro::BLURB_WORDS;
use super::{CONFIRM_TTL, UNCONFIRMED_PER_DAY, not_found};
use crate::domain::{
    Blurb, EmailAddress, Handle, ParseError, PersonName, Reason, Timestamp, Token,
};
use crate::store::{Connector, IntroRequest, NewRequest, RequestStatus};
use crate::web::{AppState, PageError};

#[derive(Debug, Default, Deserialize)]
pub struct RequestForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    wants_to_meet: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    blurb: String,
}

#[derive(Template)]
#[template(path = "public/request_form.html")]
struct FormPage<'a> {
    csrf: &'a str,
    handle: &'a str,
    connector_name: &'a str,
    connector_first_name: &'a str,
    form: &'a RequestForm,
    error: Option<&'a str>,
    blurb_words: usize,
}

#[derive(Template)]
#[template(path = "public/request_sent.html")]
struct SentPage<'a> {
    connector_name: &'a str,
}

/// What the confirmation page shows: a button, a thank-you, or an expiry.
#[derive(Template)]
#[template(path = "public/request_confirm.html")]
struct ConfirmPage<'a> {
    csrf: &'a str,
    token: &'a str,
    state: &'a str,
    connector_name: &'a str,
    connector_first_name: &'a str,
    wants_to_meet: &'a str,
    handle: Option<&'a str>,
}

fn render(page: &impl Template) -> Result<String, PageError> {
    page.render().map_err(|e| PageError::internal(&e))
}

async fn connector_for(state: &AppState, raw: &str) -> Result<Connector, PageError> {
    let handle = Handle::parse(raw).map_err(|_| not_found())?;
    state
        .store
        .connector_by_handle(&handle)
        .await?
        .ok_or_else(not_found)
}

pub async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(handle): Path<String>,
) -> Result<Response, PageError> {
    let connector = connector_for(&state, &handle).await?;
    let (csrf, set_cookie) = form_token(&state, &headers);
    let html = form_page(&connector, &csrf, &RequestForm::default(), None)?;
    Ok(html_with_cookie(StatusCode::OK, html, set_cookie))
}

fn form_page(
    connector: &Connector,
    csrf: &str,
    form: &RequestForm,
    error: Option<&str>,
) -> Result<String, PageError> {
    render(&FormPage {
        csrf,
        handle: connector.handle.as_ref().map_or("", |h| h.as_str()),
        connector_name: connector.name.as_str(),
        connector_first_name: connector.name.first_name(),
        form,
        error,
        blurb_words: BLURB_WORDS,
    })
}

/// The form as a request, or the message that says what to fix.
/// (Public for the parser properties in `tests/fuzz_parsers.rs`.)
pub fn parse(form: &RequestForm, connector: &Connector) -> Result<NewRequest, String> {
    fn labelled(label: &'static str) -> impl Fn(ParseError) -> String {
        move |e| format!("{label}: {}", e.message)
    }
    let blurb = Blurb::parse(&form.blurb)
        .map_err(labelled("About you"))?
        .ok_or("About you: please write a few lines about yourself that can be forwarded")?;
    Ok(NewRequest {
        connector_id: connector.id.clone(),
        requester_name: PersonName::parse(&form.name).map_err(labelled("Your name"))?,
        requester_email: EmailAddress::parse(&form.email).map_err(labelled("Your email"))?,
        wants_to_meet: PersonName::parse(&form.wants_to_meet)
            .map_err(labelled("Whom you would like to meet"))?,
        reason: Reason::parse(&form.reason).map_err(labelled("Why"))?,
        blurb,
    })
}

pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(handle): Path<String>,
    Form(form): Form<RequestForm>,
) -> Result<Response, PageError> {
    let connector = connector_for(&state, &handle).await?;
    let new = match parse(&form, &connector) {
        Ok(new) => new,
        Err(message) => {
            let (csrf, _) = form_token(&state, &headers);
            let html = form_page(&connector, &csrf, &form, Some(&message))?;
            return Ok(html_with_cookie(
                StatusCode::UNPROCESSABLE_ENTITY,
                html,
                None,
            ));
        }
    };
    let now = state.clock.now();
    // Over the daily limit the answer is the same: nothing tells a visitor
    // whether an address has asked before.
    state
        .store
        .submit_request(new, now, now.plus(CONFIRM_TTL), UNCONFIRMED_PER_DAY)
        .await?;
    let handle = connector.handle.as_ref().map_or("", |h| h.as_str());
    Ok(Redirect::to(&format!("/r/{handle}/sent")).into_response())
}

pub async fn sent(
    State(state): State<AppState>,
    Path(handle): Path<String>,
) -> Result<Response, PageError> {
    let connector = connector_for(&state, &handle).await?;
    let html = render(&SentPage {
        connector_name: connector.name.as_str(),
    })?;
    Ok(html_with_cookie(StatusCode::OK, html, None))
}

/// The request a confirmation link is for (`unknown_link` otherwise).
async fn linked_request(state: &AppState, raw: &str) -> Result<IntroRequest, PageError> {
    let miss = || crate::web::limiter::page_miss(state, PageError::unknown_link());
    let token = Token::parse(raw).map_err(|_| miss())?;
    state
        .store
        .request_by_confirm_token(&token.hash())
        .await?
        .ok_or_else(miss)
}

fn confirm_state(request: &IntroRequest, now: Timestamp) -> &'static str {
    match request.status {
        RequestStatus::Unconfirmed if request.confirm_expires_at <= now => "expired",
        RequestStatus::Unconfirmed => "ask",
        // Whatever happened since, the page says the same.
        _ => "done",
    }
}

async fn confirm_response(
    state: &AppState,
    headers: &HeaderMap,
    raw: &str,
    request: &IntroRequest,
) -> Result<Response, PageError> {
    let connector = state.store.connector(&request.connector_id).await?;
    let page_state = confirm_state(request, state.clock.now());
    let (csrf, set_cookie) = form_token(state, headers);
    let html = render(&ConfirmPage {
        csrf: &csrf,
        token: raw,
        state: page_state,
        connector_name: connector.name.as_str(),
        connector_first_name: connector.name.first_name(),
        wants_to_meet: &request.wants_to_meet,
        handle: connector.handle.as_ref().map(|h| h.as_str()),
    })?;
    let status = if page_state == "expired" {
        StatusCode::GONE
    } else {
        StatusCode::OK
    };
    Ok(html_with_cookie(status, html, set_cookie))
}

/// Opening the link only shows the button: mail scanners open every link.
pub async fn confirm_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, PageError> {
    let request = linked_request(&state, &raw).await?;
    confirm_response(&state, &headers, &raw, &request).await
}

pub async fn confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, PageError> {
    let miss = || crate::web::limiter::page_miss(&state, PageError::unknown_link());
    let token = Token::parse(&raw).map_err(|_| miss())?;
    let request = state
        .store
        .confirm_request(&token.hash(), state.clock.now())
        .await?
        .ok_or_else(miss)?;
    confirm_response(&state, &headers, &raw, &request).await
}
