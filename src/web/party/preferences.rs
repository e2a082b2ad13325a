//! `/p/{token}`: a person's own choices about intro requests, reached from
//! the footer of every email to them. `GET` shows them and never changes
//! anything; `POST` saves the whole form. The link is the credential: it is
//! bound to one intro, one party and this purpose, and the choices it
//! reaches are those of that party's address.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{Duration as Days, NaiveDate};
use serde::Deserialize;

use super::{render, resolve};
use crate::domain::machine::{Channel, Command};
use crate::domain::{Consent, Intro, Role, Timestamp};
use crate::store::{Preferences, Purpose, StoreError};
use crate::usecases::context;
use crate::web::{AppState, PageError};

/// The longest pause the page offers, in days; stopping is for longer.
const MAX_PAUSE_DAYS: i64 = 365;
/// The largest monthly maximum the page takes.
const MAX_PER_MONTH: u32 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct PreferencesForm {
    #[serde(default)]
    paused_until: String,
    #[serde(default)]
    monthly_max: String,
    stop_connector: Option<String>,
    stop_all: Option<String>,
}

#[derive(Template)]
#[template(path = "party/preferences.html")]
struct PreferencesPage {
    connector_name: String,
    /// What is in force now, one short sentence each.
    current: Vec<String>,
    saved: bool,
    error: Option<String>,
    paused_until: String,
    monthly_max: String,
    stop_connector: bool,
    stop_all: bool,
    min_date: String,
    max_date: String,
    max_per_month: u32,
}

/// The first day a pause may end on, and the last.
fn date_range(now: Timestamp) -> (NaiveDate, NaiveDate) {
    let today = now.to_datetime().date_naive();
    (today + Days::days(1), today + Days::days(MAX_PAUSE_DAYS))
}

/// A pause ends at the start (00:00 UTC) of the chosen day: from that day
/// on, intro requests may come again. Empty means no pause.
fn parse_pause(text: &str, now: Timestamp) -> Result<Option<Timestamp>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let (first, last) = date_range(now);
    let bad = || {
        format!(
            "Please pick a date between {} and {} to pause until, or leave it empty.",
            first.format("%-d %B %Y"),
            last.format("%-d %B %Y")
        )
    };
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| bad())?;
    if date < first || date > last {
        return Err(bad());
    }
    let start = date.and_hms_opt(0, 0, 0).ok_or_else(bad)?.and_utc();
    Ok(Some(Timestamp::from_millis(start.timestamp_millis())))
}

/// Empty means no limit.
fn parse_monthly_max(text: &str) -> Result<Option<u32>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<u32>() {
        Ok(n) if (1..=MAX_PER_MONTH).contains(&n) => Ok(Some(n)),
        _ => Err(format!(
            "Please enter a whole number from 1 to {MAX_PER_MONTH}, or leave it empty for no limit."
        )),
    }
}

fn choices_from(form: &PreferencesForm, now: Timestamp) -> Result<Preferences, String> {
    Ok(Preferences {
        paused_until: parse_pause(&form.paused_until, now)?,
        monthly_max: parse_monthly_max(&form.monthly_max)?,
        stop_connector: form.stop_connector.is_some(),
        stop_all: form.stop_all.is_some(),
    })
}

/// What is in force, in plain words.
fn current(choices: &Preferences, connector_name: &str, now: Timestamp) -> Vec<String> {
    let mut lines = Vec::new();
    if choices.stop_all {
        lines.push("You get no intro requests from anyone on this twoyes.".to_string());
    } else if choices.stop_connector {
        lines.push(format!("You get no intro requests from {connector_name}."));
    }
    if let Some(until) = choices.paused_until.filter(|u| *u > now) {
        lines.push(format!(
            "Intro requests are paused until {}.",
            until.human_date()
        ));
    }
    if let Some(max) = choices.monthly_max {
        let requests = if max == 1 { "request" } else { "requests" };
        lines.push(format!(
            "You get at most {max} intro {requests} in any 30 days."
        ));
    }
    if lines.is_empty() {
        lines.push("Nothing is set: anyone who uses this twoyes may ask you.".to_string());
    }
    lines
}

fn page(
    connector_name: &str,
    shown: &Preferences,
    form: Option<&PreferencesForm>,
    saved: bool,
    error: Option<String>,
    now: Timestamp,
) -> PreferencesPage {
    let (first, last) = date_range(now);
    let active_pause = shown.paused_until.filter(|u| *u > now);
    PreferencesPage {
        connector_name: connector_name.to_string(),
        current: current(shown, connector_name, now),
        saved,
        error,
        // After an error the form keeps what was typed.
        paused_until: match form {
            Some(f) => f.paused_until.trim().to_string(),
            None => active_pause
                .map(|u| u.to_datetime().date_naive().to_string())
                .unwrap_or_default(),
        },
        monthly_max: match form {
            Some(f) => f.monthly_max.trim().to_string(),
            None => shown.monthly_max.map(|n| n.to_string()).unwrap_or_default(),
        },
        stop_connector: form.map_or(shown.stop_connector, |f| f.stop_connector.is_some()),
        stop_all: form.map_or(shown.stop_all, |f| f.stop_all.is_some()),
        min_date: first.to_string(),
        max_date: last.to_string(),
        max_per_month: MAX_PER_MONTH,
    }
}

pub async fn show(
    State(mut state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Html<String>, PageError> {
    let (record, intro) = resolve(&mut state, &token, Purpose::Preferences).await?;
    let connector = state.store.connector(&intro.connector_id).await?;
    let email = &intro.party(record.role).email;
    let choices = state.store.preferences(email, &intro.connector_id).await?;
    let now = state.clock.now();
    Ok(Html(render(&page(
        connector.name.as_str(),
        &choices,
        None,
        false,
        None,
        now,
    ))?))
}

pub async fn save(
    State(mut state): State<AppState>,
    Path(token): Path<String>,
    Form(form): Form<PreferencesForm>,
) -> Result<Response, PageError> {
    let (record, intro) = resolve(&mut state, &token, Purpose::Preferences).await?;
    let connector = state.store.connector(&intro.connector_id).await?;
    let email = &intro.party(record.role).email;
    let now = state.clock.now();
    let choices = match choices_from(&form, now) {
        Ok(choices) => choices,
        Err(problem) => {
            let stored = state.store.preferences(email, &intro.connector_id).await?;
            let html = render(&page(
                connector.name.as_str(),
                &stored,
                Some(&form),
                false,
                Some(problem),
                now,
            ))?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response());
        }
    };
    state
        .store
        .save_preferences(email, &intro.connector_id, &choices, now)
        .await?;
    tracing::info!(intro = %intro.id, "intro request preferences saved by the recipient");
    if choices.stop_connector || choices.stop_all {
        opt_out_of_open_ask(&state, &intro, record.role).await?;
    }
    let saved = state.store.preferences(email, &intro.connector_id).await?;
    Ok(Html(render(&page(
        connector.name.as_str(),
        &saved,
        None,
        true,
        None,
        now,
    ))?)
    .into_response())
}

/// Stopping asks answers the ask this link came with, too, as the `/u/`
/// page does: it closes as a no, and the connector is told.
async fn opt_out_of_open_ask(state: &AppState, intro: &Intro, role: Role) -> Result<(), PageError> {
    if intro.party(role).consent != Consent::Asked || intro.status.is_final() {
        return Ok(());
    }
    let ctx = context(state.clock.as_ref(), state.timings, Channel::Web);
    match state
        .store
        .apply(&intro.id, None, Command::OptOut { role }, ctx)
        .await
    {
        Ok(_) | Err(StoreError::Machine(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tuesday 1 December 2026, 10:00 UTC.
    const NOW: Timestamp = Timestamp::from_millis(1_796_119_200_000);

    #[test]
    fn a_pause_ends_at_the_start_of_a_day_after_today_and_within_a_year() {
        let until = parse_pause("2026-12-24", NOW).unwrap().unwrap();
        assert_eq!(until.to_rfc3339(), "2026-12-24T00:00:00.000Z");
        assert_eq!(parse_pause("  ", NOW), Ok(None));
        for bad in [
            "2026-12-01",
            "2026-11-30",
            "2027-12-02",
            "24/12/2026",
            "soon",
        ] {
            assert!(parse_pause(bad, NOW).is_err(), "{bad}");
        }
        assert!(parse_pause("2027-12-01", NOW).unwrap().is_some());
    }

    #[test]
    fn a_monthly_maximum_is_a_whole_number_from_one_to_fifty() {
        assert_eq!(parse_monthly_max(""), Ok(None));
        assert_eq!(parse_monthly_max(" 3 "), Ok(Some(3)));
        assert_eq!(parse_monthly_max("50"), Ok(Some(50)));
        for bad in ["0", "51", "-1", "2.5", "three"] {
            assert!(parse_monthly_max(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_page_says_what_is_in_force() {
        let nothing = current(&Preferences::default(), "Connie", NOW);
        assert_eq!(nothing.len(), 1);
        assert!(nothing[0].starts_with("Nothing is set"));
        let past_pause = Preferences {
            paused_until: Some(Timestamp::from_millis(NOW.as_millis() - 1)),
            ..Preferences::default()
        };
        assert!(current(&past_pause, "Connie", NOW)[0].starts_with("Nothing is set"));
        let all = Preferences {
            paused_until: parse_pause("2026-12-24", NOW).unwrap(),
            monthly_max: Some(1),
            stop_connector: true,
            stop_all: false,
        };
        assert_eq!(
            current(&all, "Connie", NOW),
            vec![
                "You get no intro requests from Connie.",
                "Intro requests are paused until Thursday 24 December 2026.",
                "You get at most 1 intro request in any 30 days.",
            ]
        );
    }
}
