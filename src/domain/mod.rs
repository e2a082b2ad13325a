//! The pure core: parsed values and the intro state machine. No I/O here.

mod email_address;
mod handle;
pub mod intro;
pub mod machine;
mod named_address;
mod password;
mod text;
pub mod time;
mod timing_overrides;
mod timings;
mod token;

pub use email_address::EmailAddress;
pub use handle::Handle;
pub use intro::{Consent, Intro, IntroStatus, Mode, Party, Role};
pub use machine::{
    Actor, Channel, Command, Decision, Effect, Event, EventKind, MachineError, Notice, Transition,
};
pub use named_address::NamedAddress;
pub use password::{MIN_PASSWORD_CHARS, Password};
pub use text::{Blurb, Note, PersonName, PrivateReason, Reason, Topic};
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
pub use timing_overrides::{TIMING_NAMES, TimingOverrides, timing_text};
pub use timings::{RelayDelay, Timings};
pub use token::{Token, TokenHash, redact_tokens, text_hash};

/// Input that could not be parsed into a domain value. `field` names the
/// input (for API errors), `message` says what is wrong in plain words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub field: &'static str,
    pub message: String,
}

impl ParseError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }

    /// The same error, reported under another field name (e.g. `target.email`).
    pub fn in_field(mut self, field: &'static str) -> Self {
        self.field = field;
        self
    }
}
