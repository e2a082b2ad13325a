use std::fmt;

use super::ParseError;

/// A connector's public handle, as in `/r/{handle}`: 2–32 characters of
/// `a-z`, `0-9` and `-`, not starting or ending with `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Handle(String);

impl Handle {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let text = input.trim().to_ascii_lowercase();
        let ok = (2..=32).contains(&text.len())
            && !text.starts_with('-')
            && !text.ends_with('-')
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok {
            Ok(Self(text))
        } else {
            Err(ParseError::new(
                "handle",
                "a handle is 2 to 32 letters, digits or dashes, like `ann-lee`",
            ))
        }
    }

    /// A handle suggested from an email address's local part.
    pub fn suggest(from: &str) -> Option<Self> {
        let local = from.split('@').next().unwrap_or("");
        let slug: String = local
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let slug: String = slug.trim_matches('-').chars().take(32).collect();
        Self::parse(slug.trim_end_matches('-')).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_lowercase_slugs() {
        assert_eq!(Handle::parse("Ann-Lee").unwrap().as_str(), "ann-lee");
        assert!(Handle::parse("a").is_err());
        assert!(Handle::parse("-ann").is_err());
        assert!(Handle::parse("ann lee").is_err());
        assert_eq!(
            Handle::suggest("ann.lee@example.com").unwrap().as_str(),
            "ann-lee"
        );
    }
}
