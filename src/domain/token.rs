//! Secret tokens: 256 random bits, shown once (in an email or on the console)
//! and stored only as a SHA-256 hash.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::ParseError;

/// A raw token. Its `Debug` output is redacted so it never lands in a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Token([u8; 32]);

/// The SHA-256 of a token, hex-encoded: the only form that is stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl Token {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// A token derived from a server secret and a context string (e.g. an
    /// outbox row id). Emailed links are derived this way so that an email can
    /// be rendered again on retry without the raw token ever being stored.
    pub fn derive(secret: &[u8], context: &str) -> Self {
        #[allow(clippy::expect_used)]
        let mut mac = Hmac::<Sha256>::new_from_slice(secret)
            .expect("HMAC-SHA256 accepts a key of any length");
        mac.update(context.as_bytes());
        let out = mac.finalize().into_bytes();
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&out);
        Self(bytes)
    }

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let bad = || {
            ParseError::new(
                "token",
                "this link is not complete; copy the whole link from the email",
            )
        };
        if input.len() != 43 {
            return Err(bad());
        }
        let bytes = URL_SAFE_NO_PAD.decode(input).map_err(|_| bad())?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| bad())?;
        Ok(Self(bytes))
    }

    /// The text form that goes into a URL or is printed once.
    pub fn expose(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash(hex::encode(Sha256::digest(self.0)))
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl TokenHash {
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// SHA-256 of a text, hex-encoded: how the text a party was shown is recorded.
pub fn text_hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Text from outside (a mail server's reply) may quote a message. Anything
/// shaped like a link token (40 or more URL-safe base64 characters in a row)
/// is blanked before such text is kept or logged.
pub fn redact_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 40 {
            out.push_str("[redacted]");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_through_its_text_form() {
        let t = Token::generate();
        let text = t.expose();
        assert_eq!(text.len(), 43);
        assert_eq!(Token::parse(&text).unwrap(), t);
        assert_eq!(Token::parse(&text).unwrap().hash(), t.hash());
        assert_ne!(Token::generate(), t);
    }

    #[test]
    fn derived_tokens_are_stable_and_depend_on_secret_and_context() {
        let a = Token::derive(b"secret", "outbox:1");
        assert_eq!(a, Token::derive(b"secret", "outbox:1"));
        assert_ne!(a, Token::derive(b"secret", "outbox:2"));
        assert_ne!(a, Token::derive(b"other", "outbox:1"));
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let t = Token::generate();
        assert!(!format!("{t:?}").contains(&t.expose()));
    }

    #[test]
    fn truncated_or_foreign_tokens_are_refused() {
        assert!(Token::parse("abc").is_err());
        assert!(Token::parse(&"!".repeat(43)).is_err());
    }

    #[test]
    fn token_shaped_words_are_redacted_from_outside_text() {
        let token = Token::generate().expose();
        let reply = format!("550 5.7.1 refused: https://x.example/o/{token} looks like spam");
        let redacted = redact_tokens(&reply);
        assert!(!redacted.contains(&token), "{redacted}");
        assert_eq!(
            redacted,
            "550 5.7.1 refused: https://x.example/o/[redacted] looks like spam"
        );
    }
}
