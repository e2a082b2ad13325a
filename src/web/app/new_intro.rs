//! `GET, POST /intros/new`: propose an intro. The form first shows each ask
//! exactly as its recipient will read it, with warnings (a long blurb, an
//! intro already in progress between the two, a recent decline); only then
//! can it be sent.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Layout, SignedIn, page};
use crate::domain::machine::Channel;
use crate::domain::{Intro, IntroStatus, Mode, Role};
use crate::mail::{Composer, Links};
use crate::store::{Connector, OutboxItem, OutboxKind, Recipient, StoreError};
use crate::usecases::{ProposeError, ProposeInput, parse_proposal, propose_intro};
use crate::web::{AppState, PageError};

/// Blurbs longer than this are hard to read on a phone.
pub const BLURB_WORDS: usize = 120;

#[derive(Debug, Default, Deserialize)]
pub struct NewIntroForm {
    #[serde(default)]
    pub requester_name: String,
    #[serde(default)]
    pub requester_email: String,
    #[serde(default)]
    pub requester_blurb: String,
    #[serde(default)]
    pub target_name: String,
    #[serde(default)]
    pub target_email: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub mode: String,
    #[serde(default)]
    action: String,
}

pub struct Preview {
    pub heading: String,
    pub when: String,
    pub subject: String,
    pub to: String,
    pub text: String,
}

#[derive(Template)]
#[template(path = "app/new_intro.html")]
struct NewIntroPage {
    layout: Layout,
    form: NewIntroForm,
    error: Option<String>,
    warnings: Vec<String>,
    previews: Vec<Preview>,
    contacts: Vec<(String, String)>,
    blurb_words: usize,
}

async fn render(
    state: &AppState,
    me: &SignedIn,
    form: NewIntroForm,
    error: Option<String>,
    warnings: Vec<String>,
    previews: Vec<Preview>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let contacts = state.store.contact_suggestions(&me.connector.id).await?;
    let mut response = page(&NewIntroPage {
        layout: Layout::new(state, me, "/intros/new"),
        form,
        error,
        warnings,
        previews,
        contacts,
        blurb_words: BLURB_WORDS,
    });
    *response.status_mut() = status;
    Ok(response)
}

pub async fn form(State(state): State<AppState>, me: SignedIn) -> Result<Response, PageError> {
    let form = NewIntroForm {
        mode: Mode::TargetFirst.as_str().to_string(),
        ..Default::default()
    };
    render(&state, &me, form, None, vec![], vec![], StatusCode::OK).await
}

/// The form as a proposal (public for `tests/fuzz_parsers.rs`).
pub fn input(form: &NewIntroForm) -> ProposeInput {
    let optional = |s: &str| Some(s.to_string()).filter(|s| !s.trim().is_empty());
    ProposeInput {
        requester_name: form.requester_name.clone(),
        requester_email: form.requester_email.clone(),
        requester_blurb: optional(&form.requester_blurb),
        target_name: form.target_name.clone(),
        target_email: form.target_email.clone(),
        reason: form.reason.clone(),
        note: optional(&form.note),
        topic: None,
        mode: optional(&form.mode),
        requester_opted_in: false,
    }
}

fn error_text(e: &ProposeError) -> String {
    match e {
        ProposeError::Invalid(p) => format!("{}: {}", field_label(p.field), p.message),
        other => other.to_string(),
    }
}

/// A message as a sentence on a page: capital first, full stop last.
pub fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

fn field_label(field: &str) -> &str {
    match field {
        "requester.name" => "Requester's name",
        "requester.email" => "Requester's email",
        "requester.blurb" => "Requester's blurb",
        "target.name" => "Target's name",
        "target.email" => "Target's email",
        "reason" => "Why they should meet",
        "note" => "Your note",
        "mode" => "Who is asked first",
        other => other,
    }
}

pub async fn submit(
    State(state): State<AppState>,
    me: SignedIn,
    Form(form): Form<NewIntroForm>,
) -> Result<Response, PageError> {
    let proposal = input(&form);
    let intro = match parse_proposal(&proposal, &me.connector, state.clock.as_ref()) {
        Ok(intro) => intro,
        Err(e) => {
            let error = Some(error_text(&e));
            return render(
                &state,
                &me,
                form,
                error,
                vec![],
                vec![],
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    if form.action == "send" {
        let created = propose_intro(
            &state.store,
            state.clock.as_ref(),
            state.timings,
            &me.connector,
            &proposal,
            Channel::Web,
        )
        .await;
        return match created {
            Ok(intro) => Ok(Redirect::to(&format!("/intros/{}", intro.id)).into_response()),
            Err(ProposeError::Store(StoreError::Refused { message, .. })) => {
                let error = Some(sentence(&message));
                render(
                    &state,
                    &me,
                    form,
                    error,
                    vec![],
                    vec![],
                    StatusCode::CONFLICT,
                )
                .await
            }
            Err(ProposeError::Store(e)) => Err(e.into()),
            Err(e) => {
                let error = Some(error_text(&e));
                render(
                    &state,
                    &me,
                    form,
                    error,
                    vec![],
                    vec![],
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await
            }
        };
    }
    let warnings = warnings(&state, &me.connector, &intro).await?;
    let previews = previews(&state, &me.connector, &intro)?;
    render(&state, &me, form, None, warnings, previews, StatusCode::OK).await
}

async fn warnings(
    state: &AppState,
    connector: &Connector,
    intro: &Intro,
) -> Result<Vec<String>, PageError> {
    let mut warnings = Vec::new();
    if let Some(blurb) = &intro.requester.blurb
        && blurb.word_count() > BLURB_WORDS
    {
        warnings.push(format!(
            "The blurb has {} words. Under {BLURB_WORDS} is easier to read on a phone.",
            blurb.word_count()
        ));
    }
    let now = state.clock.now();
    let shared = state
        .store
        .intros_between(&connector.id, &intro.requester.email, &intro.target.email)
        .await?;
    if shared.iter().any(|i| !i.status.is_final()) {
        warnings.push(format!(
            "{} and {} already have an intro in progress.",
            intro.requester.name, intro.target.name
        ));
    }
    // The same cooldown the store enforces when the asks are sent.
    let own = state.store.connector_settings(&connector.id).await?;
    let cooldown = own.timings.apply(&state.timings).cooldown;
    let recent = shared.iter().find(|i| {
        matches!(i.status, IntroStatus::Declined | IntroStatus::Expired)
            && i.closed_at.is_some_and(|at| at.plus(cooldown) > now)
    });
    if let Some(i) = recent {
        let days = i
            .closed_at
            .map(|at| at.until(now).as_secs() / 86_400)
            .unwrap_or(0);
        let opens = i
            .closed_at
            .map(|at| at.plus(cooldown).human_date())
            .unwrap_or_default();
        warnings.push(format!(
            "An intro between {} and {} ended without an introduction {} ago ({}). They can be asked again from {opens}.",
            intro.requester.name,
            intro.target.name,
            if days == 0 { "less than a day".to_string() } else if days == 1 { "1 day".to_string() } else { format!("{days} days") },
            i.status
        ));
    }
    Ok(warnings)
}

/// Each ask, rendered by the same code and templates the worker sends with.
fn previews(
    state: &AppState,
    connector: &Connector,
    intro: &Intro,
) -> Result<Vec<Preview>, PageError> {
    let composer = Composer::new();
    let links = Links::preview(&state.base_url);
    let now = state.clock.now();
    let order = [Role::Target, Role::Requester];
    let mut previews = Vec::new();
    for role in order {
        let mut shown = intro.clone();
        shown.party_mut(role).asked_at = Some(now);
        let item = OutboxItem::preview(
            intro,
            OutboxKind::Ask,
            Recipient::party(role),
            serde_json::json!({}),
            now,
        );
        let rendered = composer
            .render(&item, &shown, connector, &links, state.timings.expire_after)
            .map_err(|e| PageError::internal(&e))?;
        let party = intro.party(role);
        let when = match (intro.mode, role) {
            (Mode::TargetFirst, Role::Requester) => format!(
                "Sent only after {} says yes.",
                intro.target.name.first_name()
            ),
            _ => "Sent as soon as you send the asks.".to_string(),
        };
        previews.push(Preview {
            heading: format!("What {} will read", party.name),
            when,
            subject: rendered.subject,
            to: format!("{} <{}>", party.name, party.email),
            text: rendered.text,
        });
    }
    Ok(previews)
}
