//! Connector passwords: parsed at the edge, hashed with Argon2id, never kept
//! in plain text. Hashing is CPU work without I/O; callers run it off the
//! async threads.

use std::fmt;

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, PasswordHash};

use super::ParseError;

/// A password as typed. `Debug` is redacted so it never reaches a log.
#[derive(Clone)]
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

pub const MIN_PASSWORD_CHARS: usize = 10;

impl Password {
    /// A new password must be long enough; any characters are allowed.
    pub fn parse_new(input: &str) -> Result<Self, ParseError> {
        let input = input.trim_end_matches(['\r', '\n']);
        let chars = input.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(ParseError::new(
                "password",
                format!("a password needs at least {MIN_PASSWORD_CHARS} characters"),
            ));
        }
        if chars > 1000 {
            return Err(ParseError::new(
                "password",
                "a password can have at most 1,000 characters",
            ));
        }
        Ok(Self(input.to_string()))
    }

    /// A password typed at login: checked against the hash, not for length.
    pub fn typed(input: &str) -> Self {
        Self(input.chars().take(1000).collect())
    }

    /// Argon2id with the crate's default (OWASP) parameters and a random salt.
    pub fn hash(&self) -> Result<String, ParseError> {
        let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
            .map_err(|e| ParseError::new("password", e.to_string()))?;
        Argon2::default()
            .hash_password(self.0.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ParseError::new("password", e.to_string()))
    }

    /// Whether this is the password `stored` was made from. With no stored
    /// hash a dummy one is checked, so an unknown email takes as long.
    pub fn verify(&self, stored: Option<&str>) -> bool {
        let stored = stored.unwrap_or(DUMMY_HASH);
        let Ok(parsed) = PasswordHash::new(stored) else {
            return false;
        };
        let ok = Argon2::default()
            .verify_password(self.0.as_bytes(), &parsed)
            .is_ok();
        ok && stored != DUMMY_HASH
    }
}

/// The Argon2id hash of a random string nobody knows.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$yVbqnT9o4pW6QwQo3m5uBv8m0H1Gm3bC1iVn7Zb8x1E";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_passwords_are_refused() {
        assert!(Password::parse_new("short").is_err());
        assert!(Password::parse_new("long enough!").is_ok());
    }

    #[test]
    fn a_hash_verifies_its_password_only() {
        let p = Password::parse_new("correct horse battery").unwrap();
        let h = p.hash().unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(p.verify(Some(&h)));
        assert!(!Password::typed("wrong horse battery").verify(Some(&h)));
        assert!(!p.verify(None));
        assert!(!p.verify(Some("not a hash")));
    }

    #[test]
    fn the_dummy_hash_parses() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn debug_does_not_show_the_password() {
        let p = Password::typed("hunter2hunter2");
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
