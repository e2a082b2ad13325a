//! The party pages' templates (`templates/party/`). Askama escapes every value.

use askama::Template;

use crate::domain::{Intro, Role, text_hash};

#[derive(Template)]
#[template(path = "party/message.html")]
pub struct MessagePage<'a> {
    pub title: &'a str,
    pub message: &'a str,
}

/// What an ask shows a party; its text is hashed into the decision's event.
pub struct AskView {
    pub connector_name: String,
    pub connector_first: String,
    pub other_name: String,
    pub other_first: String,
    pub reason: String,
    pub other_blurb: Option<String>,
}

impl AskView {
    pub fn new(intro: &Intro, connector_name: &crate::domain::PersonName, role: Role) -> Self {
        let other = intro.party(role.other());
        Self {
            connector_name: connector_name.to_string(),
            connector_first: connector_name.first_name().to_string(),
            other_name: other.name.to_string(),
            other_first: other.name.first_name().to_string(),
            reason: intro.reason.to_string(),
            other_blurb: other.blurb.as_ref().map(|b| b.to_string()),
        }
    }

    /// The ask as the page shows it: the part of the page a decision
    /// answers, rendered (and escaped) exactly as sent to the browser.
    pub fn card(&self) -> Result<String, askama::Error> {
        AskCard { ask: self }.render()
    }

    /// The hash recorded with a decision: of the rendered ask card, so it
    /// changes when the words or their template change.
    pub fn text_hash(&self) -> Result<String, askama::Error> {
        Ok(text_hash(&self.card()?))
    }
}

#[derive(Template)]
#[template(path = "party/ask_card.html")]
struct AskCard<'a> {
    ask: &'a AskView,
}

#[derive(Template)]
#[template(path = "party/decide.html")]
pub struct DecidePage {
    pub ask: AskView,
    /// `AskView::card`, already rendered and escaped.
    pub card: String,
    pub error: Option<String>,
    pub can_snooze: bool,
    pub note: String,
    pub reason: String,
    pub later_until: String,
    pub min_date: String,
    pub max_date: String,
    pub undo_minutes: u64,
}

#[derive(Template)]
#[template(path = "party/decided.html")]
pub struct DecidedPage {
    pub headline: String,
    pub detail: String,
    pub can_undo: bool,
    pub undo_until: String,
    /// Whole minutes left to undo, rounded up.
    pub undo_minutes: u64,
    pub can_withdraw: bool,
}

#[derive(Template)]
#[template(path = "party/unsubscribe.html")]
pub struct UnsubscribePage {
    pub connector_name: String,
    pub done: bool,
    pub done_text: String,
}

#[derive(Template)]
#[template(path = "party/follow_up.html")]
pub struct FollowUpPage {
    pub connector_name: String,
    pub connector_first: String,
    pub other_name: String,
    pub other_first: String,
    pub answered: Option<&'static str>,
}
