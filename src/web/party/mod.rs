//! Pages for the people being introduced. They act through emailed links;
//! opening a page never changes anything, only submitting its form does.

pub mod decision;
pub mod follow_up;
mod hidden;
pub mod pages;
pub mod unsubscribe;

use super::{AppState, PageError};
use crate::domain::{Intro, Token};
use crate::store::{PartyToken, Purpose};

/// Finds what a link's token grants; refuses it for any other purpose.
/// `state` takes on the intro's connector's own timings, so what the page
/// says (undo minutes) and hides (a recent close) matches their intros.
pub(super) async fn resolve(
    state: &mut AppState,
    raw: &str,
    purpose: Purpose,
) -> Result<(PartyToken, Intro), PageError> {
    let token = Token::parse(raw).map_err(|_| PageError::unknown_link())?;
    let record = state
        .store
        .party_token(&token.hash())
        .await?
        .ok_or_else(PageError::unknown_link)?;
    if record.purpose != purpose {
        return Err(PageError::unknown_link());
    }
    if record.expires_at <= state.clock.now() {
        return Err(PageError::expired_link());
    }
    let intro = state.store.intro(&record.intro_id, None).await?;
    let own = state.store.connector_settings(&intro.connector_id).await?;
    state.timings = own.timings.apply(&state.timings);
    Ok((record, intro))
}

pub(super) fn render(page: &impl askama::Template) -> Result<String, PageError> {
    page.render().map_err(|e| PageError::internal(&e))
}
