//! Pages for the people being introduced. They act through emailed links;
//! opening a page never changes anything, only submitting its form does.

pub mod decision;
pub mod follow_up;
mod hidden;
pub mod pages;
pub mod preferences;
pub mod unsubscribe;

use super::{AppState, PageError, limiter};
use crate::domain::{Intro, Token};
use crate::store::{PartyLink, PartyToken, Purpose};

/// Finds what a link's token grants; refuses it for any other purpose.
/// Unknown tokens count against the client's limit (`web::limiter`).
/// `state` takes on the intro's connector's own timings, so what the page
/// says (undo minutes) and hides (a recent close) matches their intros.
pub(super) async fn resolve(
    state: &mut AppState,
    raw: &str,
    purpose: Purpose,
) -> Result<(PartyToken, Intro), PageError> {
    resolve_link(state, raw, purpose)
        .await
        .map(|link| (link.token, link.intro))
}

/// Like `resolve`, with the connector's name too; one read in all.
pub(super) async fn resolve_link(
    state: &mut AppState,
    raw: &str,
    purpose: Purpose,
) -> Result<PartyLink, PageError> {
    // A miss (malformed, unknown, or for another purpose) counts against the
    // client's limit; a valid link is never refused by it.
    let miss = |state: &AppState| limiter::page_miss(state, PageError::unknown_link());
    let Ok(token) = Token::parse(raw) else {
        return Err(miss(state));
    };
    let Some(link) = state.store.party_link(&token.hash()).await? else {
        return Err(miss(state));
    };
    if link.token.purpose != purpose {
        return Err(miss(state));
    }
    if link.token.expires_at <= state.clock.now() {
        return Err(PageError::expired_link());
    }
    state.timings = link.timings.apply(&state.timings);
    Ok(link)
}

pub(super) fn render(page: &impl askama::Template) -> Result<String, PageError> {
    page.render().map_err(|e| PageError::internal(&e))
}
