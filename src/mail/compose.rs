//! Renders each email from its templates: `templates/<kind>/{subject.txt,
//! body.txt, body.html}`. The HTML templates escape every value; subjects are
//! flattened to one line so user text can never add a header.

use minijinja::{Environment, Value};
use serde_json::json;

use super::MailError;
use super::wording::{self, Wording};
use crate::domain::{Consent, Intro, Party, Role, Timestamp};
use crate::store::{Connector, OutboxItem, OutboxKind, Recipient};

/// The three parts of an email, rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Links that go into an email; raw tokens, so never log this.
#[derive(Default)]
pub struct Links {
    pub decision_url: Option<String>,
    pub unsubscribe_url: Option<String>,
    pub follow_up_url: Option<String>,
    /// The party's preferences page (`/p/`), in the footer of every email
    /// to one party.
    pub preferences_url: Option<String>,
}

impl Links {
    /// Links for a preview: where each private link would be, without one.
    pub fn preview(base_url: &str) -> Self {
        let at = |path: &str| Some(format!("{base_url}/{path}/(their private link)"));
        Self {
            decision_url: at("o"),
            unsubscribe_url: at("u"),
            follow_up_url: at("f"),
            preferences_url: at("p"),
        }
    }
}

macro_rules! template_folder {
    ($env:ident, $($name:literal),+) => {
        $(
            add(&mut $env, concat!($name, "/subject.txt"), include_str!(concat!("templates/", $name, "/subject.txt")));
            add(&mut $env, concat!($name, "/body.txt"), include_str!(concat!("templates/", $name, "/body.txt")));
            add(&mut $env, concat!($name, "/body.html"), include_str!(concat!("templates/", $name, "/body.html")));
        )+
    };
}

fn add(env: &mut Environment<'static>, name: &'static str, source: &'static str) {
    // The templates are part of the binary and checked by tests, so a syntax
    // error here is a build defect; report it loudly rather than panic.
    if let Err(e) = env.add_template(name, source) {
        tracing::error!(template = name, error = %e, "an email template does not compile");
    }
}

/// The HTML part of a connector-worded email: their text, already escaped
/// paragraph by paragraph (`wording::text_to_html`).
const CUSTOM_HTML: &str = r#"{% extends "base.html" %}{% block title %}{{ title }}{% endblock %}{% block content %}{{ body_html }}{% endblock %}"#;

pub struct Composer {
    env: Environment<'static>,
}

impl Default for Composer {
    fn default() -> Self {
        Self::new()
    }
}

fn party_value(p: &Party) -> serde_json::Value {
    json!({
        "name": p.name.as_str(),
        "first_name": p.name.first_name(),
        "email": p.email.as_str(),
        "blurb": p.blurb.as_ref().map(|b| b.as_str()),
        "note": p.intro_note.as_ref().map(|n| n.as_str()),
    })
}

/// Only what a party may read, whatever a connector's wording asks for:
/// before both have said yes, the other person is their name and the blurb
/// meant to be forwarded (no address, no note that a yes would add); a
/// closing note (relay) names nobody but its reader, so its words cannot
/// depend on why or how the intro closed.
fn visible_to_party(kind: OutboxKind, mut ctx: serde_json::Value) -> serde_json::Value {
    let keep = |value: &serde_json::Value, fields: &[&str]| -> serde_json::Value {
        let mut out = serde_json::Map::new();
        for field in fields {
            out.insert((*field).to_string(), value[*field].clone());
        }
        serde_json::Value::Object(out)
    };
    match kind {
        OutboxKind::Ask | OutboxKind::Reminder => {
            for who in ["other", "requester", "target"] {
                ctx[who] = keep(&ctx[who], &["name", "first_name", "blurb"]);
            }
            ctx
        }
        OutboxKind::Relay => json!({
            "connector": ctx["connector"].clone(),
            "recipient": keep(&ctx["recipient"], &["name", "first_name"]),
            "preferences_url": ctx["preferences_url"].clone(),
        }),
        OutboxKind::FollowUp => json!({
            "connector": ctx["connector"].clone(),
            "recipient": keep(&ctx["recipient"], &["name", "first_name"]),
            "other": keep(&ctx["other"], &["name", "first_name"]),
            "follow_up_url": ctx["follow_up_url"].clone(),
            "preferences_url": ctx["preferences_url"].clone(),
        }),
        _ => ctx,
    }
}

/// One line, no control characters, no encoded words: safe for a Subject header.
fn one_line(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| {
            if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
                ' '
            } else {
                c
            }
        })
        .collect();
    // Mail readers decode `=?charset?q?…?=` words even in an unencoded
    // subject: typed text must never read as one.
    flat.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace("=?", "= ?")
}

/// The preferences link, in the emails that carry one: those to one party.
fn preferences_url<'a>(item: &OutboxItem, links: &'a Links) -> Option<&'a str> {
    let to_one_party = matches!(
        item.kind,
        OutboxKind::Ask | OutboxKind::Reminder | OutboxKind::Relay | OutboxKind::FollowUp
    ) && item.recipient.role().is_some();
    links.preferences_url.as_deref().filter(|_| to_one_party)
}

/// A connector's own wording keeps the person's preferences link: when
/// their text does not use `{{ preferences_url }}`, the footer is added.
fn with_preferences_footer(text: String, item: &OutboxItem, links: &Links) -> String {
    match preferences_url(item, links) {
        Some(url) if !text.contains(url) => format!(
            "{}\n\n--\nPause intro requests, limit them, or stop them: {url}\n",
            text.trim_end()
        ),
        _ => text,
    }
}

/// The built-in wording a connector starts from when they edit an email.
pub fn builtin_source(kind: &str, part: &str) -> Option<&'static str> {
    macro_rules! sources {
        ($($name:literal),+) => {
            match (kind, part) {
                $(
                    ($name, "subject") => Some(include_str!(concat!("templates/", $name, "/subject.txt"))),
                    ($name, "body") => Some(include_str!(concat!("templates/", $name, "/body.txt"))),
                )+
                _ => None,
            }
        };
    }
    sources!("ask", "introduction", "relay", "notice", "follow_up")
}

impl Composer {
    pub fn new() -> Self {
        let mut env = Environment::new();
        add(&mut env, "base.html", include_str!("templates/base.html"));
        add(&mut env, "custom.html", CUSTOM_HTML);
        template_folder!(env, "ask", "introduction", "relay", "notice", "follow_up");
        template_folder!(env, "request_confirm", "request_declined");
        Self { env }
    }

    pub fn render(
        &self,
        item: &OutboxItem,
        intro: &Intro,
        connector: &Connector,
        links: &Links,
        timings_expire_after: std::time::Duration,
    ) -> Result<Rendered, MailError> {
        self.render_with(item, intro, connector, links, timings_expire_after, None)
    }

    /// Renders with the connector's own wording where they have one. Their
    /// wording was checked when saved; should it still fail (a value missing
    /// in an unusual email), the built-in wording is used instead, so the
    /// email still goes.
    pub fn render_with(
        &self,
        item: &OutboxItem,
        intro: &Intro,
        connector: &Connector,
        links: &Links,
        timings_expire_after: std::time::Duration,
        wording: Option<&Wording>,
    ) -> Result<Rendered, MailError> {
        let (folder, ctx) = self.context(item, intro, connector, links, timings_expire_after)?;
        let ctx = Value::from(minijinja::value::Serde(ctx));
        let render = |part: &str| -> Result<String, MailError> {
            let name = format!("{folder}/{part}");
            Ok(self.env.get_template(&name)?.render(&ctx)?)
        };
        let own = |part: &str| -> Option<String> {
            let source = wording?.get(&(folder.to_string(), part.to_string()))?;
            match wording::strict_env().render_str(source, &ctx) {
                Ok(text) => Some(text),
                Err(e) => {
                    tracing::warn!(kind = folder, part, error = %e, "the connector's wording did not render; using the built-in one");
                    None
                }
            }
        };
        let subject = match own("subject") {
            Some(s) => s,
            None => render("subject.txt")?,
        };
        let (text, html) = match own("body") {
            Some(text) => {
                let text = with_preferences_footer(text, item, links);
                let body_html = wording::text_to_html(&text);
                let html = self
                    .env
                    .get_template("custom.html")?
                    .render(minijinja::context! {
                        title => one_line(&subject),
                        body_html => Value::from_safe_string(body_html),
                    })?;
                (text, html)
            }
            None => (render("body.txt")?, render("body.html")?),
        };
        Ok(Rendered {
            subject: one_line(&subject),
            text,
            html,
        })
    }

    /// The values an email's templates see, and its template folder.
    pub fn context(
        &self,
        item: &OutboxItem,
        intro: &Intro,
        connector: &Connector,
        links: &Links,
        expire_after: std::time::Duration,
    ) -> Result<(&'static str, serde_json::Value), MailError> {
        let mut ctx = json!({
            "connector": {
                "name": connector.name.as_str(),
                "first_name": connector.name.first_name(),
                "email": connector.email.as_str(),
            },
            "requester": party_value(&intro.requester),
            "target": party_value(&intro.target),
            "reason": intro.reason.as_str(),
            "topic": intro.topic.as_str(),
            "connector_note": intro.note.as_ref().map(|n| n.as_str()).unwrap_or(intro.reason.as_str()),
            "decision_url": links.decision_url,
            "unsubscribe_url": links.unsubscribe_url,
            "follow_up_url": links.follow_up_url,
            "preferences_url": preferences_url(item, links),
        });
        let role = item.recipient.role();
        if let Some(role) = role {
            ctx["recipient"] = party_value(intro.party(role));
            ctx["other"] = party_value(intro.party(role.other()));
        }
        let folder = match item.kind {
            OutboxKind::Ask | OutboxKind::Reminder => {
                let role = role.ok_or(MailError::Unroutable("an ask goes to a party"))?;
                let asked_at = intro.party(role).asked_at.unwrap_or(item.not_before);
                ctx["reminder"] = json!(item.kind == OutboxKind::Reminder);
                ctx["expires_on"] = json!(asked_at.plus(expire_after).human_date());
                "ask"
            }
            OutboxKind::Introduction => "introduction",
            OutboxKind::Relay => "relay",
            OutboxKind::FollowUp => "follow_up",
            OutboxKind::RequestConfirm | OutboxKind::RequestDeclined => {
                return Err(MailError::Unroutable(
                    "an email about a request is rendered by render_request",
                ));
            }
            OutboxKind::Notice if item.payload["notice"] == "delivery_failed" => {
                let payload = &item.payload;
                let failed = payload["failed_recipient"]
                    .as_str()
                    .and_then(Recipient::parse);
                let mailbox = |p: &Party| format!("{} <{}>", p.name, p.email);
                let failed_to = match failed {
                    Some(Recipient::Requester) => mailbox(&intro.requester),
                    Some(Recipient::Target) => mailbox(&intro.target),
                    Some(Recipient::BothParties) => {
                        format!(
                            "{} and {}",
                            mailbox(&intro.requester),
                            mailbox(&intro.target)
                        )
                    }
                    Some(Recipient::Connector) | None => {
                        format!("{} <{}>", connector.name, connector.email)
                    }
                };
                let kind = payload["failed_kind"].as_str().unwrap_or("");
                let label = match OutboxKind::parse(kind) {
                    Some(OutboxKind::Ask) => "ask",
                    Some(OutboxKind::Reminder) => "reminder",
                    Some(OutboxKind::Introduction) => "introduction",
                    Some(OutboxKind::Relay) => "closing",
                    Some(OutboxKind::FollowUp) => "follow-up",
                    _ => "notice",
                };
                ctx["notice"] = json!("delivery_failed");
                ctx["failed_to"] = json!(failed_to);
                ctx["failed_kind"] = json!(label);
                ctx["reply"] = payload["reply"].clone();
                "notice"
            }
            OutboxKind::Notice => {
                let payload = &item.payload;
                let role = payload["role"]
                    .as_str()
                    .and_then(Role::parse)
                    .ok_or(MailError::Unroutable("notice role"))?;
                let other = intro.party(role.other());
                ctx["notice"] = payload["notice"].clone();
                ctx["party"] = party_value(intro.party(role));
                ctx["other"] = party_value(other);
                ctx["private_reason"] = json!(
                    intro
                        .party(role)
                        .private_reason
                        .as_ref()
                        .map(|r| r.as_str())
                );
                let other_closed = matches!(
                    other.consent,
                    Consent::Declined | Consent::Withdrawn | Consent::Expired
                );
                ctx["relay_planned"] =
                    json!(other.is_involved() && !other_closed && payload["notice"] != "snoozed");
                ctx["both_expired"] =
                    json!(payload["notice"] == "expired" && other.consent == Consent::Expired);
                if let Some(until) = payload["until"].as_i64() {
                    ctx["until"] = json!(Timestamp::from_millis(until).human_date());
                }
                "notice"
            }
        };
        if item.kind != OutboxKind::Notice && item.recipient == Recipient::Connector {
            return Err(MailError::Unroutable("only notices go to the connector"));
        }
        Ok((folder, visible_to_party(item.kind, ctx)))
    }
}

impl Composer {
    /// Renders an email about a request from the public page (there is no
    /// intro yet); `ctx` holds the values its templates use.
    pub fn render_request(
        &self,
        kind: OutboxKind,
        ctx: serde_json::Value,
    ) -> Result<Rendered, MailError> {
        let folder = match kind {
            OutboxKind::RequestConfirm => "request_confirm",
            OutboxKind::RequestDeclined => "request_declined",
            _ => return Err(MailError::Unroutable("not an email about a request")),
        };
        let ctx = Value::from(minijinja::value::Serde(ctx));
        let render = |part: &str| -> Result<String, MailError> {
            let name = format!("{folder}/{part}");
            Ok(self.env.get_template(&name)?.render(&ctx)?)
        };
        Ok(Rendered {
            subject: one_line(&render("subject.txt")?),
            text: render("body.txt")?,
            html: render("body.html")?,
        })
    }
}
