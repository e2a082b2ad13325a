//! A closed intro keeps looking open to a party who was still in it, until
//! their relay could have arrived (`relay-delay` after the close). Otherwise
//! the page itself would give a fast "no" away. What the party does on the
//! page meanwhile is kept as a late answer: it changes what their page
//! shows, and nothing else.

use axum::response::Response;

use crate::domain::machine::{Command, Decision};
use crate::domain::{Consent, Intro, IntroStatus, Party, Role, Timestamp};
use crate::store::LateAnswer;
use crate::web::{AppState, PageError};

/// Whether the intro closed (without an introduction) so recently that a
/// relay about it may still be on its way.
pub(super) fn closure_hidden(state: &AppState, intro: &Intro) -> bool {
    match (intro.status, intro.closed_at) {
        (IntroStatus::Introduced, _) | (_, None) => false,
        (status, Some(closed)) => {
            status.is_final() && state.clock.now() < closed.plus(state.timings.relay_delay.max)
        }
    }
}

/// Whether this party's page must still look like an open intro: the
/// closure is hidden and the party had neither answered no nor run out.
pub(super) fn looks_open(state: &AppState, intro: &Intro, role: Role) -> bool {
    intro.status.is_final()
        && closure_hidden(state, intro)
        && matches!(
            intro.party(role).consent,
            Consent::Asked | Consent::Accepted
        )
}

/// The party as their page shows it: as they stood at the close, with what
/// they did on the page since laid over it.
pub(super) fn overlay(
    party: &Party,
    late: Option<&LateAnswer>,
    window: std::time::Duration,
    now: Timestamp,
) -> Party {
    let mut p = party.clone();
    let undo = |at: Timestamp| Some(at.plus(window)).filter(|until| *until > now);
    let Some(late) = late else {
        // A decision still inside its undo window at the close keeps its Undo.
        if p.consent != Consent::Asked {
            p.undo_until = p.decided_at.and_then(undo);
        }
        return p;
    };
    match late.answer.as_str() {
        "yes" => {
            p.consent = Consent::Accepted;
            p.undo_until = undo(late.at);
        }
        "no" => {
            p.consent = Consent::Declined;
            p.undo_until = undo(late.at);
        }
        "later" => {
            p.consent = Consent::Snoozed;
            p.has_snoozed = true;
            p.snooze_until = late.until;
            p.undo_until = undo(late.at);
        }
        "withdrawn" => {
            p.consent = Consent::Withdrawn;
            p.undo_until = None;
        }
        _ => {
            p.consent = Consent::Asked;
            p.undo_until = None;
        }
    }
    p
}

/// The late answer a command on a page that looks open amounts to, if any.
/// `Err` carries a problem to show on the form, as for an open intro.
pub(super) fn late_answer_for(
    command: &Command,
    shown: &Party,
    now: Timestamp,
) -> Result<Option<LateAnswer>, String> {
    let answer = |answer: &str, until| {
        Some(LateAnswer {
            answer: answer.to_string(),
            until,
            at: now,
        })
    };
    Ok(match command {
        Command::Decide { decision, .. } if shown.consent == Consent::Asked => match decision {
            Decision::Yes { .. } => answer("yes", None),
            Decision::No { .. } => answer("no", None),
            Decision::NotNow { .. } if shown.has_snoozed => {
                return Err("\"Not now\" can be chosen only once per intro.".into());
            }
            Decision::NotNow { until } => answer("later", Some(*until)),
        },
        Command::Undo { .. } if shown.undo_until.is_some() => answer("open", None),
        Command::Withdraw { .. }
            if shown.consent == Consent::Accepted && shown.undo_until.is_none() =>
        {
            answer("withdrawn", None)
        }
        _ => None,
    })
}

/// Loads the party as their page shows it.
pub(super) async fn shown_party(
    state: &AppState,
    intro: &Intro,
    role: Role,
) -> Result<Party, PageError> {
    let late = state.store.late_answer(&intro.id, role).await?;
    Ok(overlay(
        intro.party(role),
        late.as_ref(),
        state.timings.undo_window,
        state.clock.now(),
    ))
}

/// Keeps a command given on a page that looks open, and answers like an open intro would.
pub(super) async fn answer(
    state: &AppState,
    intro: &Intro,
    role: Role,
    command: &Command,
    again: Response,
) -> Result<Result<Response, String>, PageError> {
    let shown = shown_party(state, intro, role).await?;
    match late_answer_for(command, &shown, state.clock.now()) {
        Ok(Some(late)) => {
            state
                .store
                .record_late_answer(&intro.id, role, &late)
                .await?;
            Ok(Ok(again))
        }
        Ok(None) => Ok(Ok(again)),
        Err(problem) => Ok(Err(problem)),
    }
}
