//! Mail: render an outbox row into a message, and hand it to a transport.

mod compose;
#[cfg(test)]
mod compose_tests;
pub mod dkim;
#[cfg(test)]
mod injection_tests;
mod message;
mod smtp;
#[cfg(test)]
mod snapshot_tests;
mod transport;
pub mod wording;

pub use compose::{Composer, Links, Rendered, builtin_source};
pub use message::{MessageParts, build_message};
pub use smtp::SmtpTransport;
pub use transport::{FileTransport, MemoryTransport, OutgoingMessage, SendError, Transport};

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("email template: {0}")]
    Template(#[from] minijinja::Error),
    #[error("email could not be built: {0}")]
    Build(#[from] lettre::error::Error),
    #[error("email address: {0}")]
    Address(#[from] lettre::address::AddressError),
    #[error("email has nowhere to go: {0}")]
    Unroutable(&'static str),
}
