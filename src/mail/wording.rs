//! A connector's own wording of an email: the subject and the plain-text
//! body, written with `{{ placeholders }}` (minijinja). Checked on save: a
//! placeholder the email does not have is an error, never a blank. The HTML
//! part is made from the text, every character of it escaped.

use minijinja::{Environment, UndefinedBehavior};

/// The emails whose wording a connector can change, with a label.
pub const EDITABLE: &[(&str, &str)] = &[
    ("ask", "Ask (and its reminder)"),
    ("introduction", "Introduction"),
    ("relay", "Closing note to a party"),
    ("follow_up", "Did you connect?"),
    ("notice", "Notices to you"),
];

pub const PARTS: &[&str] = &["subject", "body"];

pub use crate::store::Wording;

/// Every email to one party carries it; if the wording leaves it out, it is
/// added at the end (`compose::with_preferences_footer`).
const PREFERENCES: &str = "preferences_url";
const PREFERENCES_WHAT: &str =
    "their link to pause, limit or stop intro requests (added at the end if you leave it out)";

const PERSON: &[&str] = &["name", "first_name", "email", "blurb", "note"];

/// The placeholders an email of `kind` has, with what each holds.
pub fn placeholders(kind: &str) -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = vec![
        ("connector.name".into(), "your name"),
        ("connector.first_name".into(), "your first name"),
        ("connector.email".into(), "your email"),
    ];
    let person = |out: &mut Vec<(String, &'static str)>, who: &str, what: &'static str| {
        for field in PERSON {
            out.push((format!("{who}.{field}"), what));
        }
    };
    let intro_wide = |out: &mut Vec<(String, &'static str)>| {
        person(
            out,
            "requester",
            "the requester's name, first_name, email, blurb, note",
        );
        person(
            out,
            "target",
            "the target's name, first_name, email, blurb, note",
        );
        out.push(("reason".into(), "why you think they should meet"));
        out.push(("topic".into(), "the intro's topic"));
        out.push((
            "connector_note".into(),
            "your note for the introduction (or the reason)",
        ));
    };
    let limited =
        |out: &mut Vec<(String, &'static str)>, who: &str, fields: &[&str], what: &'static str| {
            for field in fields {
                out.push((format!("{who}.{field}"), what));
            }
        };
    match kind {
        "ask" => {
            // Before both have said yes, the other person is their name and
            // the blurb meant to be forwarded: no address, no note.
            limited(
                &mut out,
                "requester",
                &["name", "first_name", "blurb"],
                "the requester's name, first_name, blurb",
            );
            limited(
                &mut out,
                "target",
                &["name", "first_name", "blurb"],
                "the target's name, first_name, blurb",
            );
            out.push(("reason".into(), "why you think they should meet"));
            out.push(("topic".into(), "the intro's topic"));
            out.push((
                "connector_note".into(),
                "your note for the introduction (or the reason)",
            ));
            person(&mut out, "recipient", "the person this email goes to");
            limited(
                &mut out,
                "other",
                &["name", "first_name", "blurb"],
                "the other person's name, first_name, blurb",
            );
            out.push(("reminder".into(), "true in the reminder"));
            out.push(("expires_on".into(), "the date the ask closes"));
            out.push((
                "decision_url".into(),
                "their private decision link (required)",
            ));
            out.push((
                "unsubscribe_url".into(),
                "their link to stop all asks (required)",
            ));
            out.push((PREFERENCES.into(), PREFERENCES_WHAT));
        }
        "introduction" => intro_wide(&mut out),
        // A closing note reads the same whatever closed the intro: it names
        // only its reader, and has no reason, status, answer or note.
        "relay" => {
            limited(
                &mut out,
                "recipient",
                &["name", "first_name"],
                "the person this email goes to",
            );
            out.push((PREFERENCES.into(), PREFERENCES_WHAT));
        }
        "follow_up" => {
            limited(
                &mut out,
                "recipient",
                &["name", "first_name"],
                "the person this email goes to",
            );
            limited(
                &mut out,
                "other",
                &["name", "first_name"],
                "the other person",
            );
            out.push((
                "follow_up_url".into(),
                "their one-click answer link (required)",
            ));
            out.push((PREFERENCES.into(), PREFERENCES_WHAT));
        }
        "notice" => {
            intro_wide(&mut out);
            person(&mut out, "party", "the person the notice is about");
            person(&mut out, "other", "the other person");
            for (name, what) in [
                (
                    "notice",
                    "what happened: declined, expired, snoozed, withdrawn, opted_out, cancelled, delivery_failed",
                ),
                (
                    "private_reason",
                    "the reason they gave you privately, if any",
                ),
                (
                    "relay_planned",
                    "true when the others will get a closing note",
                ),
                ("both_expired", "true when neither answered"),
                ("until", "the date a \"not now\" asks again"),
                ("failed_to", "who an undeliverable email was for"),
                ("failed_kind", "which email could not be delivered"),
                ("reply", "the mail server's answer"),
            ] {
                out.push((name.into(), what));
            }
        }
        _ => {}
    }
    out
}

/// What must appear in a body, so the email still does its job.
fn required(kind: &str) -> &'static [&'static str] {
    match kind {
        "ask" => &["decision_url", "unsubscribe_url"],
        "follow_up" => &["follow_up_url"],
        _ => &[],
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WordingError(pub String);

/// Checks a connector's wording of one part of an email.
pub fn validate(kind: &str, part: &str, source: &str) -> Result<(), WordingError> {
    if !EDITABLE.iter().any(|(k, _)| *k == kind) || !PARTS.contains(&part) {
        return Err(WordingError(format!(
            "there is no email part {kind}/{part}"
        )));
    }
    if source.trim().is_empty() {
        return Err(WordingError("this cannot be empty".into()));
    }
    if source.len() > 20_000 {
        return Err(WordingError(
            "this is too long (at most 20,000 characters)".into(),
        ));
    }
    if part == "subject" && source.trim().contains('\n') {
        return Err(WordingError("a subject is one line".into()));
    }
    let env = strict_env();
    let template = env.template_from_str(source).map_err(|e| {
        WordingError(format!(
            "this does not read as a template: {}",
            e.detail().unwrap_or("syntax error")
        ))
    })?;
    let known = placeholders(kind);
    let is_known = |name: &str| {
        known
            .iter()
            .any(|(k, _)| k == name || k.starts_with(&format!("{name}.")))
    };
    let mut unknown: Vec<String> = template
        .undeclared_variables(true)
        .into_iter()
        .filter(|name| !is_known(name) && !["range", "dict", "namespace"].contains(&name.as_str()))
        .collect();
    unknown.sort();
    if !unknown.is_empty() {
        return Err(WordingError(format!(
            "unknown placeholder{} {}: use only those listed for this email",
            if unknown.len() == 1 { "" } else { "s" },
            unknown
                .iter()
                .map(|u| format!("{{{{ {u} }}}}"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if part == "body" {
        let used = template.undeclared_variables(false);
        for name in required(kind) {
            if !used.contains(*name) {
                return Err(WordingError(format!(
                    "this email must include {{{{ {name} }}}}, or its reader cannot act on it"
                )));
            }
        }
    }
    Ok(())
}

/// Instructions a connector's wording may take to render: far more than
/// any email needs, and a bound on a template written to loop for ever.
pub const RENDER_FUEL: u64 = 50_000;

/// An environment in which a missing value is an error, not a blank, and
/// rendering stops after `RENDER_FUEL` instructions.
pub fn strict_env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(RENDER_FUEL));
    env
}

/// The HTML part for a connector-worded text: paragraphs, line breaks and
/// links, with every character of the text escaped.
pub fn text_to_html(text: &str) -> String {
    let mut html = String::new();
    for paragraph in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        html.push_str("<p>");
        let lines: Vec<String> = paragraph.lines().map(linkify).collect();
        html.push_str(&lines.join("<br>\n"));
        html.push_str("</p>\n");
    }
    html
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a line, turning http(s) URLs into links.
fn linkify(line: &str) -> String {
    let mut out = String::new();
    for (i, word) in line.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if word.starts_with("https://") || word.starts_with("http://") {
            let e = escape(word);
            out.push_str(&format!("<a href=\"{e}\">{e}</a>"));
        } else {
            out.push_str(&escape(word));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_placeholders_pass() {
        assert_eq!(
            validate(
                "ask",
                "body",
                "Hi {{ recipient.first_name }}, {{ decision_url }} {{ unsubscribe_url }}"
            ),
            Ok(())
        );
        assert_eq!(
            validate(
                "relay",
                "subject",
                "About {{ connector.first_name }}'s idea"
            ),
            Ok(())
        );
    }

    #[test]
    fn a_party_email_cannot_reach_what_would_give_an_answer_away() {
        // A relay names only its reader; an ask shows no address or note.
        for (kind, source) in [
            ("relay", "{{ other.name }}"),
            ("relay", "{% if recipient.note %}x{% endif %}"),
            (
                "ask",
                "{{ other.email }} {{ decision_url }} {{ unsubscribe_url }}",
            ),
            (
                "ask",
                "{{ target.note }} {{ decision_url }} {{ unsubscribe_url }}",
            ),
            ("follow_up", "{{ other.email }} {{ follow_up_url }}"),
        ] {
            assert!(validate(kind, "body", source).is_err(), "{kind}: {source}");
        }
    }

    #[test]
    fn an_unknown_placeholder_is_an_error_not_a_blank() {
        let e = validate("ask", "subject", "Hi {{ recipient.nickname }}").unwrap_err();
        assert!(e.0.contains("recipient.nickname"), "{e}");
        let e = validate("relay", "body", "It ended because {{ notice }}").unwrap_err();
        assert!(e.0.contains("notice"), "relays never learn why: {e}");
    }

    #[test]
    fn an_ask_must_keep_its_links() {
        let e = validate("ask", "body", "Hi {{ recipient.first_name }}").unwrap_err();
        assert!(e.0.contains("decision_url"), "{e}");
    }

    #[test]
    fn syntax_errors_and_multi_line_subjects_are_refused() {
        assert!(validate("ask", "subject", "Hi {{ recipient.name").is_err());
        assert!(validate("ask", "subject", "one\ntwo").is_err());
        assert!(validate("nope", "subject", "x").is_err());
    }

    #[test]
    fn every_builtin_wording_passes_its_own_check() {
        for (kind, _) in EDITABLE {
            for part in PARTS {
                let source = crate::mail::builtin_source(kind, part).unwrap();
                assert_eq!(
                    validate(kind, part, source.trim_end()),
                    Ok(()),
                    "{kind}/{part}"
                );
            }
        }
    }

    #[test]
    fn a_wording_that_loops_for_ever_runs_out_of_fuel() {
        let source =
            "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}";
        assert_eq!(validate("relay", "body", source), Ok(()));
        let rendered = strict_env().render_str(source, minijinja::context! {});
        assert!(rendered.is_err(), "stopped, not hung");
    }

    #[test]
    fn html_from_text_escapes_everything_and_links_urls() {
        let html = text_to_html("Hi <b>Ann</b> & co,\n\nSee https://x.example/o/a?b=1&c=2\nthanks");
        assert!(html.contains("Hi &lt;b&gt;Ann&lt;/b&gt; &amp; co,"));
        assert!(html.contains("<a href=\"https://x.example/o/a?b=1&amp;c=2\">"));
        assert!(html.contains("<br>"));
    }
}
