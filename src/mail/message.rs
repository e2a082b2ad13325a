//! Builds the MIME message: headers from parsed values only, text + HTML.

use std::time::{Duration, SystemTime};

use lettre::Message;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};

use super::{MailError, Rendered};
use crate::domain::{EmailAddress, Timestamp};

/// Everything a message needs besides its rendered body.
pub struct MessageParts<'a> {
    pub message_id: &'a str,
    pub from_name: &'a str,
    pub from_address: &'a str,
    pub to: Vec<(&'a str, &'a EmailAddress)>,
    pub cc: Vec<(&'a str, &'a EmailAddress)>,
    pub reply_to: Vec<(&'a str, &'a EmailAddress)>,
    /// `false` only for the introduction itself, which is a person's email.
    pub auto_submitted: bool,
    /// RFC 8058 one-click unsubscribe URL.
    pub list_unsubscribe: Option<String>,
    /// A mailto for clients that cannot POST: it reaches the connector, a
    /// person who can stop the asks (twoyes reads no incoming mail).
    pub list_unsubscribe_mailto: Option<String>,
    pub date: Timestamp,
}

#[derive(Clone)]
pub(crate) struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_string())
    }
}

#[derive(Clone)]
pub(crate) struct ListUnsubscribe(pub(crate) String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

#[derive(Clone)]
pub(crate) struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_string())
    }
}

fn mailbox(name: &str, email: &EmailAddress) -> Result<Mailbox, MailError> {
    Ok(Mailbox::new(
        Some(name.to_string()),
        email.as_str().parse()?,
    ))
}

pub fn build_message(parts: &MessageParts<'_>, body: &Rendered) -> Result<Message, MailError> {
    let from = Mailbox::new(
        Some(parts.from_name.to_string()),
        parts.from_address.parse()?,
    );
    let millis = u64::try_from(parts.date.as_millis()).unwrap_or(0);
    let mut builder = Message::builder()
        .from(from)
        .subject(body.subject.clone())
        .message_id(Some(parts.message_id.to_string()))
        .date(SystemTime::UNIX_EPOCH + Duration::from_millis(millis));
    for (name, email) in &parts.to {
        builder = builder.to(mailbox(name, email)?);
    }
    for (name, email) in &parts.cc {
        builder = builder.cc(mailbox(name, email)?);
    }
    for (name, email) in &parts.reply_to {
        builder = builder.reply_to(mailbox(name, email)?);
    }
    if parts.auto_submitted {
        builder = builder.header(AutoSubmitted);
    }
    if let Some(url) = &parts.list_unsubscribe {
        let value = match &parts.list_unsubscribe_mailto {
            Some(mailto) => format!("<{url}>, <{mailto}>"),
            None => format!("<{url}>"),
        };
        builder = builder
            .header(ListUnsubscribe(value))
            .header(ListUnsubscribePost);
    }
    let body = MultiPart::alternative()
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(body.text.clone()),
        )
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_HTML)
                .body(body.html.clone()),
        );
    Ok(builder.multipart(body)?)
}
