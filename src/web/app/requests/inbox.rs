//! The connector's side: `/requests` lists confirmed requests; each one's
//! page offers Approve (see `approve.rs`) and Decline, with a kind message
//! that is emailed to the requester.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::super::intro_page::when;
use super::super::{Layout, SignedIn, page};
use super::not_found;
use crate::domain::Note;
use crate::store::{IntroRequest, OutboxKind, RequestStatus, StoreError};
use crate::web::{AppState, PageError};

#[derive(Template)]
#[template(path = "app/requests/inbox.html")]
struct InboxPage {
    layout: Layout,
    public_url: Option<String>,
    open: Vec<(IntroRequest, String)>,
    decided: Vec<(IntroRequest, String)>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ApproveForm {
    #[serde(default)]
    pub(super) contact: String,
    #[serde(default)]
    pub(super) target_name: String,
    #[serde(default)]
    pub(super) target_email: String,
    #[serde(default)]
    pub(super) reason: String,
    #[serde(default)]
    pub(super) note: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct DeclineForm {
    #[serde(default)]
    message: String,
}

#[derive(Template)]
#[template(path = "app/requests/request.html")]
struct RequestPage {
    layout: Layout,
    request: IntroRequest,
    received: String,
    blurb_words: usize,
    is_open: bool,
    contacts: Vec<(String, String)>,
    approve: ApproveForm,
    decline: DeclineForm,
    approve_error: Option<String>,
    decline_error: Option<String>,
    emails: Vec<(&'static str, String)>,
}

pub async fn list(State(state): State<AppState>, me: SignedIn) -> Result<Response, PageError> {
    let requests = state
        .store
        .connector_requests(&me.connector.id, 200)
        .await?;
    let (open, decided): (Vec<_>, Vec<_>) = requests
        .into_iter()
        .map(|r| {
            let at = when(r.confirmed_at.unwrap_or(r.created_at));
            (r, at)
        })
        .partition(|(r, _)| is_open(r));
    let public_url = me
        .connector
        .handle
        .as_ref()
        .map(|h| format!("{}/r/{}", state.base_url.trim_end_matches('/'), h.as_str()));
    Ok(page(&InboxPage {
        layout: Layout::new(&state, &me, "/requests"),
        public_url,
        open,
        decided,
    }))
}

pub(super) fn is_open(r: &IntroRequest) -> bool {
    r.status == RequestStatus::Pending
}

pub(super) async fn load(
    state: &AppState,
    me: &SignedIn,
    id: &str,
) -> Result<IntroRequest, PageError> {
    match state.store.connector_request(&me.connector.id, id).await {
        Ok(request) => Ok(request),
        Err(StoreError::NotFound) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}

fn default_decline(request: &IntroRequest, me: &SignedIn) -> String {
    format!(
        "Thank you for asking me to introduce you to {}. I'm not able to make this introduction, and I would rather tell you so than keep you waiting. I hope you find another way to connect, and you are always welcome to ask me again.\n\nAll the best,\n{}",
        request.wants_to_meet,
        me.connector.name.first_name()
    )
}

pub(super) struct Errors {
    pub(super) approve: Option<String>,
    pub(super) decline: Option<String>,
}

pub(super) async fn render(
    state: &AppState,
    me: &SignedIn,
    request: IntroRequest,
    approve: Option<ApproveForm>,
    decline: Option<DeclineForm>,
    errors: Errors,
) -> Result<Response, PageError> {
    let contacts = state.store.contact_suggestions(&me.connector.id).await?;
    let approve = approve.unwrap_or_else(|| ApproveForm {
        // A contact whose name is what the requester typed is likely the one.
        contact: contacts
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(request.wants_to_meet.trim()))
            .map(|(_, email)| email.clone())
            .unwrap_or_default(),
        reason: request.reason.clone(),
        ..Default::default()
    });
    let decline = decline.unwrap_or_else(|| DeclineForm {
        message: default_decline(&request, me),
    });
    let emails = state
        .store
        .request_emails(&request.id)
        .await?
        .into_iter()
        .map(|(kind, status, sent_at)| {
            let what = match kind {
                OutboxKind::RequestConfirm => "Confirmation link to the requester",
                _ => "Your message to the requester",
            };
            let state = match sent_at {
                Some(at) => format!("{status} {}", when(at)),
                None => status,
            };
            (what, state)
        })
        .collect();
    let status = if errors.approve.is_some() || errors.decline.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut response = page(&RequestPage {
        layout: Layout::new(state, me, "/requests"),
        received: when(request.confirmed_at.unwrap_or(request.created_at)),
        blurb_words: request.blurb.split_whitespace().count(),
        is_open: is_open(&request),
        request,
        contacts,
        approve,
        decline,
        approve_error: errors.approve,
        decline_error: errors.decline,
        emails,
    });
    *response.status_mut() = status;
    Ok(response)
}

const NO_ERRORS: Errors = Errors {
    approve: None,
    decline: None,
};

pub async fn show(
    State(state): State<AppState>,
    me: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let request = load(&state, &me, &id).await?;
    render(&state, &me, request, None, None, NO_ERRORS).await
}

pub async fn decline(
    State(state): State<AppState>,
    me: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<DeclineForm>,
) -> Result<Response, PageError> {
    let request = load(&state, &me, &id).await?;
    let error = match Note::parse(&form.message) {
        Ok(Some(message)) => {
            state
                .store
                .decline_request(&me.connector.id, &id, &message, state.clock.now())
                .await?;
            return Ok(Redirect::to(&format!("/requests/{id}")).into_response());
        }
        Ok(None) => format!(
            "Write a few kind words to {}; they are emailed just as you write them.",
            request.requester_name
        ),
        Err(e) => format!("Your message: {}", e.message),
    };
    let errors = Errors {
        approve: None,
        decline: Some(error),
    };
    render(&state, &me, request, None, Some(form), errors).await
}
