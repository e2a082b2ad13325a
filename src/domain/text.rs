//! Free text written by people: names, reasons, blurbs and notes. Each kind has
//! its own bounds; none may carry control characters other than line breaks
//! (and names and topics not even those), so nothing can break a mail header.

use std::fmt;

use super::ParseError;

fn is_line_separator(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}' | '\u{85}')
}

/// Cleans multi-line text: normalises line endings, trims, rejects control
/// characters, and checks the length in characters.
fn clean_multiline(
    field: &'static str,
    label: &str,
    input: &str,
    max: usize,
) -> Result<String, ParseError> {
    let text = input.replace("\r\n", "\n").replace('\r', "\n");
    let text: String = text
        .chars()
        .map(|c| if is_line_separator(c) { '\n' } else { c })
        .collect();
    let text = text.trim().to_string();
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ParseError::new(
            field,
            format!("{label} contains a control character"),
        ));
    }
    let len = text.chars().count();
    if len > max {
        return Err(ParseError::new(
            field,
            format!("{label} is {len} characters; the limit is {max}"),
        ));
    }
    Ok(text)
}

fn clean_line(
    field: &'static str,
    label: &str,
    input: &str,
    max: usize,
) -> Result<String, ParseError> {
    let text = input.trim();
    if text.chars().any(|c| c.is_control() || is_line_separator(c)) {
        return Err(ParseError::new(
            field,
            format!("{label} must be a single line without control characters"),
        ));
    }
    let len = text.chars().count();
    if len > max {
        return Err(ParseError::new(
            field,
            format!("{label} is {len} characters; the limit is {max}"),
        ));
    }
    Ok(text.to_string())
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_type!(
    /// A person's name as shown in greetings and subject lines: one line, 1–100 characters.
    PersonName
);
text_type!(
    /// Why the connector thinks two people should meet: 1–2,000 characters.
    Reason
);
text_type!(
    /// The requester's forwardable description of themselves: up to 1,200 characters.
    Blurb
);
text_type!(
    /// A short note: the connector's, or a party's note for the intro email. Up to 1,000 characters.
    Note
);
text_type!(
    /// A "no" reason, shown only to the connector. Up to 1,000 characters.
    PrivateReason
);
text_type!(
    /// The few words after the dash in `Intro: A <> B — topic`. One line, up to 80 characters.
    Topic
);

impl PersonName {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let text = clean_line("name", "The name", input, 100)?;
        if text.is_empty() {
            return Err(ParseError::new("name", "a name is required"));
        }
        if text.contains(['<', '>', '"']) {
            return Err(ParseError::new("name", "a name may not contain <, > or \""));
        }
        Ok(Self(text))
    }

    /// The first word, for a friendly greeting.
    pub fn first_name(&self) -> &str {
        self.0.split_whitespace().next().unwrap_or(&self.0)
    }
}

impl Reason {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let text = clean_multiline("reason", "The reason", input, 2000)?;
        if text.is_empty() {
            return Err(ParseError::new(
                "reason",
                "a reason is required: say why these two should meet",
            ));
        }
        Ok(Self(text))
    }
}

impl Blurb {
    pub fn parse(input: &str) -> Result<Option<Self>, ParseError> {
        let text = clean_multiline("blurb", "The blurb", input, 1200)?;
        Ok((!text.is_empty()).then_some(Self(text)))
    }

    pub fn word_count(&self) -> usize {
        self.0.split_whitespace().count()
    }
}

impl Note {
    pub fn parse(input: &str) -> Result<Option<Self>, ParseError> {
        let text = clean_multiline("note", "The note", input, 1000)?;
        Ok((!text.is_empty()).then_some(Self(text)))
    }
}

impl PrivateReason {
    pub fn parse(input: &str) -> Result<Option<Self>, ParseError> {
        let text = clean_multiline("reason", "The reason", input, 1000)?;
        Ok((!text.is_empty()).then_some(Self(text)))
    }
}

impl Topic {
    pub fn parse(input: &str) -> Result<Option<Self>, ParseError> {
        let text = clean_line("topic", "The topic", input, 80)?;
        Ok((!text.is_empty()).then_some(Self(text)))
    }

    /// A topic taken from the first line of the reason, cut at a word boundary.
    pub fn from_reason(reason: &Reason) -> Self {
        let first = reason.as_str().lines().next().unwrap_or("").trim();
        let mut out = String::new();
        for word in first.split_whitespace() {
            if out.chars().count() + word.chars().count() + 1 > 60 {
                out.push('…');
                break;
            }
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
        let out = out.trim_end_matches(['.', ',', ';', ':']).to_string();
        Self(out.chars().filter(|c| !c.is_control()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_one_trimmed_line() {
        assert_eq!(PersonName::parse("  Ann Lee ").unwrap().as_str(), "Ann Lee");
        assert_eq!(PersonName::parse("Ann Lee").unwrap().first_name(), "Ann");
        assert!(PersonName::parse("").is_err());
        assert!(PersonName::parse("Ann\r\nBcc: x@y.z").is_err());
        assert!(PersonName::parse("Ann\u{2028}Lee").is_err());
        assert!(PersonName::parse(&"a".repeat(101)).is_err());
        assert!(PersonName::parse("<b>Ann</b>").is_err());
    }

    #[test]
    fn multiline_text_keeps_paragraphs_but_not_control_characters() {
        let r = Reason::parse("Line one\r\nLine two\u{2028}three").unwrap();
        assert_eq!(r.as_str(), "Line one\nLine two\nthree");
        assert!(Reason::parse("   ").is_err());
        assert!(Reason::parse("bell\u{7}").is_err());
        assert_eq!(Blurb::parse("  ").unwrap(), None);
        assert!(Note::parse(&"x".repeat(1001)).is_err());
    }

    #[test]
    fn a_topic_from_a_long_reason_is_cut_at_a_word() {
        let r = Reason::parse("You both build tools for small farms and keep asking me the same questions about soil sensors.\nMore.").unwrap();
        let t = Topic::from_reason(&r);
        assert!(t.as_str().chars().count() <= 61, "{t}");
        assert!(t.as_str().ends_with('…'));
        assert!(t.as_str().starts_with("You both build"));
    }

    proptest! {
        #[test]
        fn single_line_values_never_hold_line_breaks(s in "\\PC*|[\\r\\n\\u{2028}a-z]*") {
            let breaks = |v: &str| v.contains(['\r', '\n', '\u{2028}', '\u{2029}']);
            if let Ok(n) = PersonName::parse(&s) {
                prop_assert!(!breaks(n.as_str()));
            }
            if let Ok(Some(t)) = Topic::parse(&s) {
                prop_assert!(!breaks(t.as_str()));
            }
        }
    }
}
