//! Turns the machine's effects into outbox rows and the link tokens they carry.

use std::time::Duration;

use serde_json::json;

use crate::domain::machine::{Effect, Notice};
use crate::domain::{Role, Timestamp, Token};

macro_rules! stored_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

stored_enum!(
    /// Which email an outbox row holds.
    OutboxKind {
        Ask => "ask",
        Reminder => "reminder",
        Introduction => "introduction",
        Relay => "relay",
        Notice => "notice",
        FollowUp => "follow_up",
        RequestConfirm => "request_confirm",
        RequestDeclined => "request_declined",
    }
);

impl OutboxKind {
    /// Emails about a request from the public page: they belong to the
    /// request, not to an intro (see `store::requests`).
    pub fn is_about_request(self) -> bool {
        matches!(
            self,
            OutboxKind::RequestConfirm | OutboxKind::RequestDeclined
        )
    }
}

stored_enum!(
    /// Who an outbox row goes to.
    Recipient {
        Requester => "requester",
        Target => "target",
        Connector => "connector",
        BothParties => "both",
    }
);

stored_enum!(
    /// What an emailed link may do; a token is refused for any other purpose.
    Purpose {
        Decide => "decide",
        Unsubscribe => "unsubscribe",
        FollowUp => "follow_up",
        Preferences => "preferences",
    }
);

impl Recipient {
    pub fn party(role: Role) -> Self {
        match role {
            Role::Requester => Recipient::Requester,
            Role::Target => Recipient::Target,
        }
    }

    pub fn role(self) -> Option<Role> {
        match self {
            Recipient::Requester => Some(Role::Requester),
            Recipient::Target => Some(Role::Target),
            _ => None,
        }
    }
}

/// How long emailed links stay valid.
const DECIDE_LINK_LIFETIME: Duration = Duration::from_secs(400 * 86_400);
const UNSUBSCRIBE_LINK_LIFETIME: Duration = Duration::from_secs(3 * 365 * 86_400);
const FOLLOW_UP_LINK_LIFETIME: Duration = Duration::from_secs(90 * 86_400);
/// The preferences link in a party's footer: a year, so that an old email
/// still lets its reader pause or stop intro requests.
pub const PREFERENCES_LINK_LIFETIME: Duration = Duration::from_secs(365 * 86_400);

/// The context string a link token is derived from (see `Token::derive`).
pub fn token_context(purpose: Purpose, outbox_id: &str) -> String {
    format!("{}:{outbox_id}", purpose.as_str())
}

pub struct PlannedEmail {
    pub kind: OutboxKind,
    pub recipient: Recipient,
    pub payload: serde_json::Value,
    pub not_before: Timestamp,
    pub tokens: Vec<(Purpose, Role, Timestamp)>,
}

pub fn plan(effect: &Effect, now: Timestamp) -> PlannedEmail {
    let email = |kind, recipient, payload, not_before| PlannedEmail {
        kind,
        recipient,
        payload,
        not_before,
        tokens: Vec::new(),
    };
    match effect {
        Effect::Ask { role } | Effect::Remind { role } => {
            let kind = if matches!(effect, Effect::Ask { .. }) {
                OutboxKind::Ask
            } else {
                OutboxKind::Reminder
            };
            let mut planned = email(kind, Recipient::party(*role), json!({}), now);
            planned.tokens = vec![
                (Purpose::Decide, *role, now.plus(DECIDE_LINK_LIFETIME)),
                (
                    Purpose::Unsubscribe,
                    *role,
                    now.plus(UNSUBSCRIBE_LINK_LIFETIME),
                ),
                preferences(*role, now),
            ];
            planned
        }
        Effect::Introduce => email(
            OutboxKind::Introduction,
            Recipient::BothParties,
            json!({}),
            now,
        ),
        Effect::Notify(notice) => email(
            OutboxKind::Notice,
            Recipient::Connector,
            notice_payload(notice),
            now,
        ),
        Effect::Relay { role, not_before } => {
            let mut planned = email(
                OutboxKind::Relay,
                Recipient::party(*role),
                json!({}),
                *not_before,
            );
            planned.tokens = vec![preferences(*role, *not_before)];
            planned
        }
        Effect::FollowUp { role, not_before } => {
            let mut planned = email(
                OutboxKind::FollowUp,
                Recipient::party(*role),
                json!({}),
                *not_before,
            );
            planned.tokens = vec![
                (
                    Purpose::FollowUp,
                    *role,
                    not_before.plus(FOLLOW_UP_LINK_LIFETIME),
                ),
                preferences(*role, *not_before),
            ];
            planned
        }
    }
}

/// The footer's preferences link of an email to one party, valid for a year
/// from when the email goes. The introduction has none: it goes to both
/// people, Cc the connector, so a link in it would let anyone on it change
/// another person's choices.
fn preferences(role: Role, sent_from: Timestamp) -> (Purpose, Role, Timestamp) {
    (
        Purpose::Preferences,
        role,
        sent_from.plus(PREFERENCES_LINK_LIFETIME),
    )
}

fn notice_payload(notice: &Notice) -> serde_json::Value {
    match notice {
        Notice::Declined { role } => json!({"notice": "declined", "role": role.as_str()}),
        Notice::Expired { role } => json!({"notice": "expired", "role": role.as_str()}),
        Notice::Withdrawn { role } => json!({"notice": "withdrawn", "role": role.as_str()}),
        Notice::OptedOut { role } => json!({"notice": "opted_out", "role": role.as_str()}),
        Notice::Snoozed { role, until } => {
            json!({"notice": "snoozed", "role": role.as_str(), "until": until.as_millis()})
        }
    }
}

/// The token hash for one link of one outbox row.
pub fn token_hash(secret: &[u8], purpose: Purpose, outbox_id: &str) -> String {
    Token::derive(secret, &token_context(purpose, outbox_id))
        .hash()
        .as_str()
        .to_string()
}
