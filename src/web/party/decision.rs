//! `GET /o/{token}` shows the ask; `POST /o/{token}` decides, undoes or withdraws.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{Duration as Days, NaiveDate, NaiveTime};
use serde::Deserialize;

use super::hidden::{self, closure_hidden};
use super::pages::{AskView, DecidePage, DecidedPage};
use super::{render, resolve_link};
use crate::domain::machine::{Channel, Command, Decision, MAX_SNOOZE};
use crate::domain::{
    Consent, Intro, IntroStatus, MachineError, Note, PersonName, PrivateReason, Role, Timestamp,
};
use crate::store::{Purpose, StoreError};
use crate::usecases::context;
use crate::web::{AppState, PageError};

#[derive(Debug, Default, Deserialize)]
pub struct DecisionForm {
    decision: Option<String>,
    later_until: Option<String>,
    reason: Option<String>,
    note: Option<String>,
    action: Option<String>,
}

fn closed_page() -> PageError {
    PageError {
        status: StatusCode::GONE,
        title: "This introduction is no longer open",
        message: "Nothing more is needed from you. Thank you for your time.".into(),
    }
}

pub async fn show(
    State(mut state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    let link = resolve_link(&mut state, &token, Purpose::Decide).await?;
    let (intro, role, connector) = (&link.intro, link.token.role, &link.connector_name);
    page_for(
        &state,
        intro,
        connector,
        role,
        None,
        &DecisionForm::default(),
    )
    .await
}

/// The page a party sees for the intro as it stands.
async fn page_for(
    state: &AppState,
    intro: &Intro,
    connector_name: &PersonName,
    role: Role,
    error: Option<String>,
    form: &DecisionForm,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let looks_open = hidden::looks_open(state, intro, role);
    if intro.status.is_final()
        && intro.status != IntroStatus::Introduced
        && !closure_hidden(state, intro)
    {
        return Err(closed_page());
    }
    let shown;
    let party = if looks_open {
        shown = hidden::shown_party(state, intro, role).await?;
        &shown
    } else {
        intro.party(role)
    };
    let other_first = intro.party(role.other()).name.first_name().to_string();
    let (headline, detail) = match party.consent {
        Consent::Asked => {
            let today = now.to_datetime().date_naive();
            let ask = AskView::new(intro, connector_name, role);
            let page = DecidePage {
                card: ask.card().map_err(|e| PageError::internal(&e))?,
                ask,
                error: error.clone(),
                can_snooze: !party.has_snoozed,
                note: form.note.clone().unwrap_or_default(),
                reason: form.reason.clone().unwrap_or_default(),
                later_until: form
                    .later_until
                    .clone()
                    .unwrap_or_else(|| (today + Days::days(30)).to_string()),
                min_date: (today + Days::days(1)).to_string(),
                max_date: (today + Days::days(365)).to_string(),
                undo_minutes: state.timings.undo_window.as_secs().div_ceil(60),
            };
            let status = if error.is_some() {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::OK
            };
            return Ok((status, Html(render(&page)?)).into_response());
        }
        Consent::Expired => {
            return Err(PageError {
                status: StatusCode::GONE,
                title: "This ask has expired",
                message: "It stayed open for a while without an answer, so it has closed. Nothing more is needed from you.".into(),
            });
        }
        Consent::NotAsked => return Err(PageError::unknown_link()),
        Consent::Accepted if intro.status == IntroStatus::Introduced => (
            "You're introduced!".to_string(),
            format!(
                "You both said yes. The introduction email is on its way to you and {other_first}."
            ),
        ),
        Consent::Accepted
            if intro.party(role.other()).consent == Consent::Accepted && !looks_open =>
        {
            (
                "You both said yes!".to_string(),
                format!(
                    "The introduction to {other_first} goes out as soon as the time to undo has passed."
                ),
            )
        }
        Consent::Accepted => (
            "Thank you, you said yes".to_string(),
            format!(
                "We'll send the introduction once {other_first} has said yes too. If not, you'll get a short note."
            ),
        ),
        Consent::Snoozed => (
            "Thank you, we'll ask again later".to_string(),
            format!(
                "We'll ask you once more on {}.",
                party
                    .snooze_until
                    .map(Timestamp::human_date)
                    .unwrap_or_default()
            ),
        ),
        Consent::Declined => (
            "Thank you for letting us know".to_string(),
            format!(
                "There will be no introduction. {other_first} will not be told that it was you or why."
            ),
        ),
        Consent::Withdrawn => (
            "You have withdrawn".to_string(),
            "There will be no introduction. Nothing more is needed from you.".to_string(),
        ),
    };
    let undo_until = party.undo_until.filter(|until| *until > now);
    let page = DecidedPage {
        headline,
        detail,
        can_undo: undo_until.is_some() && (!intro.status.is_final() || looks_open),
        undo_minutes: undo_until
            .map(|t| now.until(t).as_secs().div_ceil(60))
            .unwrap_or(0),
        undo_until: undo_until
            .map(|t| t.to_datetime().format("%H:%M").to_string())
            .unwrap_or_default(),
        can_withdraw: party.consent == Consent::Accepted
            && !party.decision_pending()
            && (!intro.status.is_final() || looks_open),
    };
    Ok(Html(render(&page)?).into_response())
}

/// Reads the form into a command, or says what is wrong with it.
/// (Public for the parser properties in `tests/fuzz_parsers.rs`.)
pub fn command_from(
    form: &DecisionForm,
    role: Role,
    shown_text_hash: String,
    now: Timestamp,
) -> Result<Command, String> {
    match form.action.as_deref() {
        Some("undo") => return Ok(Command::Undo { role }),
        Some("withdraw") => return Ok(Command::Withdraw { role }),
        Some(_) | None => {}
    }
    let decision = match form.decision.as_deref() {
        Some("yes") => Decision::Yes {
            note: Note::parse(form.note.as_deref().unwrap_or("")).map_err(|e| e.message)?,
        },
        Some("no") => Decision::No {
            reason: PrivateReason::parse(form.reason.as_deref().unwrap_or(""))
                .map_err(|e| e.message)?,
        },
        Some("later") => Decision::NotNow {
            until: parse_later_date(form.later_until.as_deref(), now)?,
        },
        _ => return Err("Please choose yes, not now, or no.".into()),
    };
    Ok(Command::Decide {
        role,
        decision,
        shown_text_hash,
    })
}

/// A date from the form becomes 09:00 UTC that day, after today and within a year.
fn parse_later_date(text: Option<&str>, now: Timestamp) -> Result<Timestamp, String> {
    let bad = || "Please pick a date after today and within a year to be asked again.".to_string();
    let date =
        NaiveDate::parse_from_str(text.unwrap_or("").trim(), "%Y-%m-%d").map_err(|_| bad())?;
    let at = date
        .and_time(NaiveTime::from_hms_opt(9, 0, 0).ok_or_else(bad)?)
        .and_utc();
    let at = Timestamp::from_millis(at.timestamp_millis());
    if date <= now.to_datetime().date_naive() || at > now.plus(MAX_SNOOZE) {
        return Err(bad());
    }
    Ok(at)
}

pub async fn decide(
    State(mut state): State<AppState>,
    Path(token): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Result<Response, PageError> {
    let link = resolve_link(&mut state, &token, Purpose::Decide).await?;
    let (intro, role, connector) = (&link.intro, link.token.role, &link.connector_name);
    let shown = AskView::new(intro, connector, role)
        .text_hash()
        .map_err(|e| PageError::internal(&e))?;
    let command = match command_from(&form, role, shown, state.clock.now()) {
        Ok(command) => command,
        Err(problem) => {
            return page_for(&state, intro, connector, role, Some(problem), &form).await;
        }
    };
    let ctx = context(state.clock.as_ref(), state.timings, Channel::Web);
    let again = Redirect::to(&format!("/o/{token}")).into_response();
    // An intro that closed, whether before this page was loaded or since,
    // is refused as final and handled below.
    match state.store.apply_seen(&link, command.clone(), ctx).await {
        Ok(_) => {
            tracing::info!(intro = %intro.id, role = role.as_str(), "party decision recorded");
            Ok(again)
        }
        Err(StoreError::Machine(MachineError::Final(_))) => {
            // It may have closed since the page was loaded.
            let intro = state.store.intro(&intro.id, None).await?;
            if hidden::looks_open(&state, &intro, role) {
                return match hidden::answer(&state, &intro, role, &command, again).await? {
                    Ok(response) => Ok(response),
                    Err(problem) => {
                        page_for(&state, &intro, connector, role, Some(problem), &form).await
                    }
                };
            }
            page_for(&state, &intro, connector, role, None, &form).await
        }
        Err(StoreError::Machine(MachineError::SnoozeUsed | MachineError::SnoozeDateInvalid)) => {
            let problem =
                "Please pick a date after today and within a year to be asked again.".to_string();
            page_for(&state, intro, connector, role, Some(problem), &form).await
        }
        // A second click, an undo that came too late, a withdraw of an answer
        // that is not a yes: show where things stand.
        Err(StoreError::Machine(_)) => Ok(again),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_dates_must_be_after_today_and_within_a_year() {
        let now = Timestamp::from_millis(1_796_256_000_000); // 2026-12-03
        assert!(parse_later_date(Some("2026-12-04"), now).is_ok());
        assert!(parse_later_date(Some("2026-12-03"), now).is_err());
        assert!(parse_later_date(Some("2028-01-01"), now).is_err());
        assert!(parse_later_date(Some("tomorrow"), now).is_err());
        assert!(parse_later_date(None, now).is_err());
    }

    #[test]
    fn a_form_without_a_choice_is_refused() {
        let form = DecisionForm::default();
        let now = Timestamp::from_millis(0);
        assert!(command_from(&form, Role::Target, String::new(), now).is_err());
    }
}
