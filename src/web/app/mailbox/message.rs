//! Reading a written `.eml` back for display: the headers a mail client
//! shows and the text part, with the http(s) links in it made clickable.
//! Everything else stays text (the template escapes it).

use mail_parser::{Address, MessageParser};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShownMail {
    pub from: String,
    pub to: String,
    pub cc: String,
    pub subject: String,
    pub date: String,
    pub text: String,
}

fn addresses(a: Option<&Address>) -> String {
    a.map(|a| {
        a.iter()
            .map(|x| match (x.name(), x.address()) {
                (Some(name), Some(addr)) => format!("{name} <{addr}>"),
                (None, Some(addr)) => addr.to_string(),
                (Some(name), None) => name.to_string(),
                (None, None) => String::new(),
            })
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", ")
    })
    .unwrap_or_default()
}

pub fn parse(raw: &[u8]) -> ShownMail {
    let Some(msg) = MessageParser::default().parse(raw) else {
        return ShownMail {
            subject: "(not a readable email)".into(),
            text: String::from_utf8_lossy(raw).into_owned(),
            ..Default::default()
        };
    };
    ShownMail {
        from: addresses(msg.from()),
        to: addresses(msg.to()),
        cc: addresses(msg.cc()),
        subject: msg.subject().unwrap_or("(no subject)").to_string(),
        date: msg.date().map(|d| d.to_rfc3339()).unwrap_or_default(),
        text: msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
    }
}

/// Paths whose links act as the person the email went to.
const PRIVATE_PATHS: &[&str] = &["/o/", "/u/", "/f/", "/p/", "/r/confirm/"];

/// The links that would act as the email's recipient, replaced by a note:
/// a connector reading their mail must not be able to answer for someone.
pub fn mask_private_links(segments: Vec<Segment>) -> Vec<Segment> {
    segments
        .into_iter()
        .map(|segment| match &segment.href {
            Some(href) if PRIVATE_PATHS.iter().any(|p| href.contains(p)) => Segment {
                text: "(their private link, shown only to them)".to_string(),
                href: None,
            },
            _ => segment,
        })
        .collect()
}

/// A piece of the text part: plain, or a link to `href`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub text: String,
    pub href: Option<String>,
}

/// Splits text into plain runs and http(s) URLs. A URL ends at whitespace,
/// a quote or an angle bracket, without trailing sentence punctuation.
pub fn linkify(text: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        let start = match (rest.find("http://"), rest.find("https://")) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => break,
        };
        let tail = &rest[start..];
        let len = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '<' | '>' | '\''))
            .unwrap_or(tail.len());
        let url = tail[..len].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']']);
        let scheme_only = url == "http://" || url == "https://";
        let cut = if scheme_only { len } else { url.len() };
        let plain = &rest[..start];
        if scheme_only {
            out.push(Segment {
                text: rest[..start + cut].to_string(),
                href: None,
            });
        } else {
            if !plain.is_empty() {
                out.push(Segment {
                    text: plain.to_string(),
                    href: None,
                });
            }
            out.push(Segment {
                text: url.to_string(),
                href: Some(url.to_string()),
            });
        }
        rest = &rest[start + cut..];
    }
    if !rest.is_empty() {
        out.push(Segment {
            text: rest.to_string(),
            href: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_become_segments_without_trailing_punctuation() {
        let s = linkify("Decide here: https://x.example/o/abc. Or <http://y.example/u?a=1&b=2>!");
        assert_eq!(s.len(), 5, "{s:?}");
        assert_eq!(s[1].href.as_deref(), Some("https://x.example/o/abc"));
        let masked = mask_private_links(s.clone());
        assert_eq!(masked[1].href, None);
        assert!(!masked.iter().any(|m| m.text.contains("/o/abc")));
        assert_eq!(s[2].text, ". Or <");
        assert_eq!(s[3].href.as_deref(), Some("http://y.example/u?a=1&b=2"));
        assert_eq!(s[4].text, ">!");
    }

    #[test]
    fn other_schemes_and_bare_schemes_stay_text() {
        let s = linkify("javascript:alert(1) and http:// alone");
        assert!(s.iter().all(|s| s.href.is_none()), "{s:?}");
        assert_eq!(
            s.iter().map(|s| s.text.as_str()).collect::<String>(),
            "javascript:alert(1) and http:// alone"
        );
    }

    #[test]
    fn reads_headers_and_the_text_part() {
        let raw = b"From: Connie <c@x.example>\r\nTo: Tom <tom@y.example>\r\nCc: a@z.example\r\nSubject: Hello\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHi <b>Tom</b>\r\n";
        let m = parse(raw);
        assert_eq!(m.from, "Connie <c@x.example>");
        assert_eq!(m.to, "Tom <tom@y.example>");
        assert_eq!(m.cc, "a@z.example");
        assert_eq!(m.subject, "Hello");
        assert!(m.date.starts_with("2026-12-01T10:00:00"), "{}", m.date);
        assert!(m.text.contains("Hi <b>Tom</b>"));
    }
}
