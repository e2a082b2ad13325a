//! The intro aggregate: one intro, its two parties, and their consents.

use std::fmt;

use super::{Blurb, EmailAddress, Note, PersonName, PrivateReason, Reason, Timestamp, Topic};

macro_rules! str_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }
    };
}

str_enum!(
    /// Who asks whom first.
    Mode { TargetFirst => "target_first", Parallel => "parallel" }
);
str_enum!(
    /// The intro's one status. The last four are final.
    IntroStatus {
        Asking => "asking",
        Snoozed => "snoozed",
        Introduced => "introduced",
        Declined => "declined",
        Expired => "expired",
        Cancelled => "cancelled",
    }
);
str_enum!(
    /// One party's consent.
    Consent {
        NotAsked => "not_asked",
        Asked => "asked",
        Accepted => "accepted",
        Declined => "declined",
        Snoozed => "snoozed",
        Expired => "expired",
        Withdrawn => "withdrawn",
    }
);
str_enum!(
    /// Which side of the intro a party is on.
    Role { Requester => "requester", Target => "target" }
);

impl IntroStatus {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Introduced | Self::Declined | Self::Expired | Self::Cancelled
        )
    }
}

impl Role {
    pub fn other(self) -> Self {
        match self {
            Role::Requester => Role::Target,
            Role::Target => Role::Requester,
        }
    }
}

/// One person in an intro, and where they stand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub role: Role,
    pub name: PersonName,
    pub email: EmailAddress,
    /// The requester's forwardable blurb (targets usually have none).
    pub blurb: Option<Blurb>,
    pub consent: Consent,
    /// When the requester's consent was recorded outside an ask (the request
    /// page, or the API's `requester_opted_in`).
    pub consent_on_record_at: Option<Timestamp>,
    /// The last time this party was asked.
    pub asked_at: Option<Timestamp>,
    pub ask_count: u32,
    pub reminded: bool,
    pub decided_at: Option<Timestamp>,
    /// While set, the decision may still be undone and causes nothing.
    pub undo_until: Option<Timestamp>,
    pub snooze_until: Option<Timestamp>,
    pub has_snoozed: bool,
    /// A yes may carry a note for the introduction email.
    pub intro_note: Option<Note>,
    /// A no may carry a reason, shown only to the connector.
    pub private_reason: Option<PrivateReason>,
}

impl Party {
    pub fn new(role: Role, name: PersonName, email: EmailAddress, blurb: Option<Blurb>) -> Self {
        Self {
            role,
            name,
            email,
            blurb,
            consent: Consent::NotAsked,
            consent_on_record_at: None,
            asked_at: None,
            ask_count: 0,
            reminded: false,
            decided_at: None,
            undo_until: None,
            snooze_until: None,
            has_snoozed: false,
            intro_note: None,
            private_reason: None,
        }
    }

    /// Whether this party was ever asked, or asked for the intro themselves:
    /// such a party hears how it ended.
    pub fn is_involved(&self) -> bool {
        self.ask_count > 0 || self.consent_on_record_at.is_some()
    }

    pub fn decision_pending(&self) -> bool {
        self.undo_until.is_some()
    }
}

/// An intro between a requester and a target, proposed by a connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intro {
    pub id: String,
    pub connector_id: String,
    pub mode: Mode,
    pub status: IntroStatus,
    pub reason: Reason,
    pub topic: Topic,
    /// The connector's note for the introduction email.
    pub note: Option<Note>,
    pub requester: Party,
    pub target: Party,
    pub created_at: Timestamp,
    pub closed_at: Option<Timestamp>,
}

impl Intro {
    pub fn party(&self, role: Role) -> &Party {
        match role {
            Role::Requester => &self.requester,
            Role::Target => &self.target,
        }
    }

    pub fn party_mut(&mut self, role: Role) -> &mut Party {
        match role {
            Role::Requester => &mut self.requester,
            Role::Target => &mut self.target,
        }
    }

    pub fn parties(&self) -> [&Party; 2] {
        [&self.requester, &self.target]
    }
}
