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

    /// The exact words shown, as one canonical text.
    pub fn text_hash(&self) -> String {
        text_hash(&format!(
            "{} would like to introduce you to {}\n\n{}\n\n{}",
            self.connector_name,
            self.other_name,
            self.reason,
            self.other_blurb.as_deref().unwrap_or("")
        ))
    }
}

#[derive(Template)]
#[template(path = "party/decide.html")]
pub struct DecidePage {
    pub ask: AskView,
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
