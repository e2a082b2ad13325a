//! `POST /requests/{id}/approve`: the intro starts with the person the
//! connector picked or typed, the reason and note as edited, and the
//! requester's consent and blurb on record, so the target is asked first and
//! the requester is not asked again. The intro and the approval are written
//! in one transaction: a double submit creates one intro, a crash none.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};

use super::super::SignedIn;
use super::error_text;
use super::inbox::{ApproveForm, Errors, is_open, load, render};
use crate::store::{IntroRequest, StoreError};
use crate::usecases::{ProposeError, ProposeInput, parse_proposal, propose_intro_from_request};
use crate::web::{AppState, PageError};

/// The intro the form describes, with the requester's consent and blurb on
/// record while their confirmation is younger than `reconfirm_after`; or
/// what to fix.
async fn proposal(
    state: &AppState,
    me: &SignedIn,
    request: &IntroRequest,
    form: &ApproveForm,
) -> Result<Result<ProposeInput, String>, PageError> {
    let (target_name, target_email) = match form.contact.trim() {
        "" => (form.target_name.clone(), form.target_email.clone()),
        email => {
            let contacts = state.store.contact_suggestions(&me.connector.id).await?;
            match contacts
                .into_iter()
                .find(|(_, known)| known.eq_ignore_ascii_case(email))
            {
                Some(contact) => contact,
                None => {
                    return Ok(Err("That contact is not in your list; choose again, or choose “Someone new” and type a name and email.".into()));
                }
            }
        }
    };
    let now = state.clock.now();
    let consent_fresh = request
        .confirmed_at
        .is_some_and(|at| at.plus(state.timings.reconfirm_after) > now);
    let input = ProposeInput {
        requester_name: request.requester_name.clone(),
        requester_email: request.requester_email.clone(),
        requester_blurb: Some(request.blurb.clone()),
        target_name,
        target_email,
        reason: form.reason.clone(),
        note: Some(form.note.clone()).filter(|n| !n.trim().is_empty()),
        topic: None,
        mode: None,
        requester_opted_in: consent_fresh,
    };
    Ok(
        match parse_proposal(&input, &me.connector, state.clock.as_ref()) {
            Ok(_) => Ok(input),
            Err(e) => Err(error_text(&e)),
        },
    )
}

/// The request's page again, with what is wrong with the approval.
async fn refuse_approval(
    state: &AppState,
    me: &SignedIn,
    request: IntroRequest,
    form: ApproveForm,
    message: String,
) -> Result<Response, PageError> {
    let errors = Errors {
        approve: Some(message),
        decline: None,
    };
    render(state, me, request, Some(form), None, errors).await
}

pub async fn approve(
    State(state): State<AppState>,
    me: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<ApproveForm>,
) -> Result<Response, PageError> {
    let request = load(&state, &me, &id).await?;
    let back = Redirect::to(&format!("/requests/{id}")).into_response();
    if !is_open(&request) {
        return Ok(back);
    }
    let input = match proposal(&state, &me, &request, &form).await? {
        Ok(input) => input,
        Err(message) => return refuse_approval(&state, &me, request, form, message).await,
    };
    let created = propose_intro_from_request(
        &state.store,
        state.clock.as_ref(),
        state.timings,
        &me.connector,
        &input,
        &id,
    )
    .await;
    match created {
        Ok(intro) => Ok(Redirect::to(&format!("/intros/{}", intro.id)).into_response()),
        // Approved or declined meanwhile (a second tab, a double submit):
        // the request's page shows how it was decided.
        Err(ProposeError::Store(StoreError::Conflict(_))) => Ok(back),
        Err(ProposeError::Store(StoreError::Refused { message, .. })) => {
            let message = crate::web::app::new_intro::sentence(&message);
            refuse_approval(&state, &me, request, form, message).await
        }
        Err(ProposeError::Store(e)) => Err(e.into()),
        Err(e) => refuse_approval(&state, &me, request, form, error_text(&e)).await,
    }
}
