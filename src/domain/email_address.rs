use std::fmt;

use super::ParseError;

/// A mailbox address that is safe to put in a header: ASCII, one `@`, a
/// dotted domain, no spaces, quotes, brackets or control characters.
/// The domain is lower-cased; the local part is kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailAddress(String);

const FORBIDDEN: &[char] = &['<', '>', '(', ')', ',', ';', ':', '"', '[', ']', '\\', '@'];

impl EmailAddress {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        Self::parse_inner(input, true)
    }

    /// Like `parse`, but a single-label domain (`twoyes@localhost`) is
    /// accepted: for the installation's own From address only.
    pub fn parse_sender(input: &str) -> Result<Self, ParseError> {
        Self::parse_inner(input, false)
    }

    fn parse_inner(input: &str, dotted_domain: bool) -> Result<Self, ParseError> {
        let text = input.trim();
        let invalid = |why: &str| {
            ParseError::new(
                "email",
                format!("`{}` is not an email address: {why}", shorten(text)),
            )
        };
        if text.is_empty() {
            return Err(ParseError::new("email", "an email address is required"));
        }
        if text.len() > 254 {
            return Err(invalid("it is longer than 254 characters"));
        }
        if !text.is_ascii() {
            return Err(invalid("only plain ASCII addresses are supported"));
        }
        let Some((local, domain)) = text.rsplit_once('@') else {
            return Err(invalid("it has no @"));
        };
        if local.is_empty() || local.len() > 64 {
            return Err(invalid("the part before @ must be 1 to 64 characters"));
        }
        if local
            .chars()
            .any(|c| c.is_ascii_control() || c.is_whitespace() || FORBIDDEN.contains(&c))
        {
            return Err(invalid(
                "the part before @ has a character that is not allowed",
            ));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(invalid("the part before @ has a misplaced dot"));
        }
        let domain = domain.to_ascii_lowercase();
        let labels: Vec<&str> = domain.split('.').collect();
        if dotted_domain && labels.len() < 2 {
            return Err(invalid("the domain needs a dot, like example.com"));
        }
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if !labels.iter().all(label_ok) {
            return Err(invalid("the domain is not valid"));
        }
        Ok(Self(format!("{local}@{domain}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }

    /// The address as a key for lookups that should not care about case.
    pub fn normalized(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

pub(crate) fn shorten(text: &str) -> String {
    let clean: String = text.chars().filter(|c| !c.is_control()).take(60).collect();
    if text.chars().count() > 60 {
        format!("{clean}…")
    } else {
        clean
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for EmailAddress {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ordinary_addresses_parse_and_domains_are_lowercased() {
        let e = EmailAddress::parse("  Ann.Lee+intro@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "Ann.Lee+intro@example.com");
        assert_eq!(e.domain(), "example.com");
    }

    #[test]
    fn malformed_addresses_are_rejected_with_a_reason() {
        for bad in [
            "",
            "ann",
            "@example.com",
            "ann@",
            "ann@localhost",
            "ann@@example.com",
            "an n@example.com",
            "ann@exa mple.com",
            "ann@example..com",
            "ann\r\n@example.com",
            "<ann@example.com>",
            "ann@-example.com",
            "änn@example.com",
            ".ann@example.com",
        ] {
            let err = EmailAddress::parse(bad).unwrap_err();
            assert!(!err.message.is_empty(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn a_parsed_address_never_carries_header_breaking_characters(s in "\\PC{0,80}") {
            if let Ok(e) = EmailAddress::parse(&s) {
                prop_assert!(!e.as_str().chars().any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>' || c == ','));
            }
        }
    }
}
