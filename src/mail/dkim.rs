//! DKIM signing (RFC 6376) of outgoing messages, RSA-SHA256 or Ed25519-SHA256
//! (RFC 8463), on top of lettre's signer.
//!
//! Two things lettre 0.11.23 does not do by itself are handled here:
//!
//! - Keys. lettre reads RSA keys only as PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`)
//!   and Ed25519 keys only as the bare base64 of the 32-byte seed. What
//!   `openssl genpkey` (and most guides) produce is PKCS#8 PEM
//!   (`BEGIN PRIVATE KEY`), so the key is read here, its algorithm taken from
//!   the PKCS#8 algorithm identifier, and handed to lettre in its own format.
//! - Headers outside `Message::headers()`. lettre signs only headers in the
//!   message's own header list, but a multipart message carries its
//!   `Content-Type` (with the boundary) in the MIME part, which is written out
//!   as part of the top-level header block. Asking lettre to sign
//!   `Content-Type` directly therefore yields a signature that no verifier
//!   accepts. [`DkimSigner::sign`] signs the header fields exactly as they
//!   are written out instead.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use lettre::Message;
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey,
};
use lettre::message::header::{HeaderName, HeaderValue, Headers};

/// Header fields named in every signature's `h=` tag, in this order.
///
/// A name that is absent from a given message is still listed: per RFC 6376
/// §5.4 it then contributes nothing to the hash, and a verifier rejects the
/// message if such a field is added later (for instance a `List-Unsubscribe`
/// or `Cc` slipped into a personal introduction). Every name appears once:
/// lettre cannot sign two instances of one field.
pub const SIGNED_HEADERS: [&str; 12] = [
    "From",
    "To",
    "Cc",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Auto-Submitted",
    "MIME-Version",
    "Content-Type",
];

const DKIM_SIGNATURE: &str = "DKIM-Signature";

/// Signs every outgoing message with DKIM.
pub struct DkimSigner {
    config: DkimConfig,
    selector: String,
    domain: String,
    algorithm: DkimSigningAlgorithm,
}

/// Why a DKIM key, selector or domain was refused.
///
/// No message ever includes key material.
#[derive(Debug, thiserror::Error)]
pub enum DkimError {
    #[error(
        "DKIM key is not a PEM private key ({0}); expected a \
         \"-----BEGIN PRIVATE KEY-----\" (PKCS#8, RSA or Ed25519) or \
         \"-----BEGIN RSA PRIVATE KEY-----\" (PKCS#1) block"
    )]
    NotPem(String),
    #[error(
        "DKIM key is encrypted with a passphrase; store it unencrypted, e.g. \
         `openssl pkey -in encrypted.pem -out dkim.pem`, and protect the file instead"
    )]
    Encrypted,
    #[error("DKIM key algorithm {0} is not supported; DKIM signs with RSA (2048 bits) or Ed25519")]
    UnsupportedAlgorithm(String),
    #[error("DKIM key is malformed: {0}")]
    Malformed(String),
    #[error(
        "DKIM RSA key has {0} bits; DKIM needs at least 1024 (RFC 8301), and 2048 is recommended"
    )]
    RsaKeyTooSmall(usize),
    #[error("DKIM selector {selector:?} is invalid: {reason}")]
    InvalidSelector {
        selector: String,
        reason: &'static str,
    },
    #[error("DKIM domain {domain:?} is invalid: {reason}")]
    InvalidDomain {
        domain: String,
        reason: &'static str,
    },
}

impl DkimSigner {
    /// `pem`: the private key file's text, RSA (PKCS#1 or PKCS#8) or Ed25519 (PKCS#8).
    pub fn new(pem: &str, selector: &str, domain: &str) -> Result<Self, DkimError> {
        check_selector(selector)?;
        check_domain(domain)?;
        if selector.len() + "._domainkey.".len() + domain.len() > 253 {
            return Err(DkimError::InvalidSelector {
                selector: selector.to_string(),
                reason: "selector._domainkey.domain is longer than the 253 characters DNS allows",
            });
        }
        let (algorithm, lettre_key) = read_key(pem)?;
        let key = DkimSigningKey::new(&lettre_key, algorithm).map_err(|err| {
            DkimError::Malformed(format!(
                "the {} key was refused by the signer ({err})",
                algorithm
            ))
        })?;
        let headers = SIGNED_HEADERS
            .iter()
            .map(|name| HeaderName::new_from_ascii_str(name))
            .collect();
        let config = DkimConfig::new(
            selector.to_string(),
            domain.to_string(),
            key,
            headers,
            // relaxed/relaxed survives relays that refold headers or touch whitespace.
            DkimCanonicalization {
                header: DkimCanonicalizationType::Relaxed,
                body: DkimCanonicalizationType::Relaxed,
            },
        );
        Ok(Self {
            config,
            selector: selector.to_string(),
            domain: domain.to_string(),
            algorithm,
        })
    }

    /// Signs in place; the signature covers From, To, Subject, Date, Message-ID,
    /// List-Unsubscribe and List-Unsubscribe-Post (and Cc, Reply-To, MIME-Version,
    /// Content-Type when present).
    ///
    /// Auto-Submitted is covered too; see [`SIGNED_HEADERS`] for how absent
    /// fields are treated. Call this last: any later change to a signed
    /// header or to the body breaks the signature. Signing again replaces the
    /// previous signature.
    pub fn sign(&self, message: &mut Message) {
        // Sign a copy whose header list is the header block as written out,
        // MIME-part fields (Content-Type) included; the body is unchanged.
        let mut as_sent = message.clone();
        *as_sent.headers_mut() = signed_fields_as_sent(message);
        as_sent.sign(&self.config);
        if let Some(signature) = as_sent.headers().get_raw(DKIM_SIGNATURE) {
            message.headers_mut().insert_raw(HeaderValue::new(
                HeaderName::new_from_ascii_str(DKIM_SIGNATURE),
                signature.to_string(),
            ));
        }
    }

    /// The `s=` tag: the key is published at `<selector>._domainkey.<domain>`.
    pub fn selector(&self) -> &str {
        &self.selector
    }

    /// The `d=` tag.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The `a=` tag: `rsa-sha256` or `ed25519-sha256`.
    pub fn algorithm(&self) -> &'static str {
        match self.algorithm {
            DkimSigningAlgorithm::Rsa => "rsa-sha256",
            DkimSigningAlgorithm::Ed25519 => "ed25519-sha256",
        }
    }
}

impl fmt::Debug for DkimSigner {
    /// Never prints the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DkimSigner")
            .field("selector", &self.selector)
            .field("domain", &self.domain)
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

/// The message's [`SIGNED_HEADERS`] fields as they appear in its formatted
/// header block, values folded exactly as sent. Where a field occurs twice,
/// the last one is kept: that is the one a verifier matches first.
fn signed_fields_as_sent(message: &Message) -> Headers {
    let formatted = message.formatted();
    let end = formatted
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(formatted.len(), |i| i + 2);
    // lettre writes RFC 2047-encoded ASCII headers, so this is never lossy.
    let block = String::from_utf8_lossy(&formatted[..end]);
    let mut headers = Headers::new();
    for (name, value) in header_fields(&block) {
        if let Some(known) = SIGNED_HEADERS
            .iter()
            .find(|known| known.eq_ignore_ascii_case(name))
        {
            let value = value
                .trim_start_matches([' ', '\t', '\r', '\n'])
                .to_string();
            headers.insert_raw(HeaderValue::dangerous_new_pre_encoded(
                HeaderName::new_from_ascii_str(known),
                value.clone(),
                value,
            ));
        }
    }
    headers
}

/// Splits a header block into `(name, value)`, each value keeping its folding.
fn header_fields(block: &str) -> Vec<(&str, &str)> {
    let bytes = block.as_bytes();
    let mut fields = Vec::new();
    let mut start = 0;
    while start < block.len() {
        let mut search = start;
        let end = loop {
            match block[search..].find("\r\n") {
                Some(i) if matches!(bytes.get(search + i + 2), Some(b' ' | b'\t')) => {
                    search += i + 2;
                }
                Some(i) => break search + i,
                None => break block.len(),
            }
        };
        if let Some((name, value)) = block[start..end].split_once(':') {
            fields.push((name.trim_end(), value));
        }
        start = end + 2;
    }
    fields
}

fn check_selector(selector: &str) -> Result<(), DkimError> {
    check_dns_name(selector).map_err(|reason| DkimError::InvalidSelector {
        selector: selector.to_string(),
        reason,
    })
}

fn check_domain(domain: &str) -> Result<(), DkimError> {
    if domain.ends_with('.') && domain.len() > 1 {
        return Err(DkimError::InvalidDomain {
            domain: domain.to_string(),
            reason: "remove the trailing dot",
        });
    }
    check_dns_name(domain).map_err(|reason| DkimError::InvalidDomain {
        domain: domain.to_string(),
        reason,
    })
}

/// RFC 6376 selectors and domains: dot-separated labels of letters, digits
/// and inner hyphens (RFC 5321 `sub-domain`), at most 63 characters each.
fn check_dns_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("it is empty");
    }
    if !name.is_ascii() {
        return Err("use the ASCII (xn--) form of an international name");
    }
    if name.len() > 253 {
        return Err("it is longer than 253 characters");
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("it has an empty label (two dots in a row, or a dot at an end)");
        }
        if label.len() > 63 {
            return Err("a label is longer than 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err("only letters, digits, '-' and '.' are allowed");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label starts or ends with '-'");
        }
    }
    Ok(())
}

// ---- Reading the key ----------------------------------------------------

const TAG_INTEGER: u8 = 0x02;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;

const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// Reads the PEM and returns the key in the form lettre wants: PKCS#1 PEM
/// for RSA, base64 of the seed for Ed25519.
fn read_key(pem: &str) -> Result<(DkimSigningAlgorithm, String), DkimError> {
    let block = private_key_block(pem)?;
    match block.label {
        "RSA PRIVATE KEY" => Ok((DkimSigningAlgorithm::Rsa, rsa_pkcs1_to_pem(&block.der)?)),
        "PRIVATE KEY" => read_pkcs8(&block.der),
        "ENCRYPTED PRIVATE KEY" => Err(DkimError::Encrypted),
        "EC PRIVATE KEY" => Err(DkimError::UnsupportedAlgorithm("ECDSA".into())),
        "DSA PRIVATE KEY" => Err(DkimError::UnsupportedAlgorithm("DSA".into())),
        "OPENSSH PRIVATE KEY" => Err(DkimError::NotPem(
            "it is an OpenSSH key; convert it with `ssh-keygen -p -m PKCS8 -f <file>`".into(),
        )),
        other => Err(DkimError::NotPem(format!("unknown block \"{other}\""))),
    }
}

struct PemBlock<'a> {
    label: &'a str,
    der: Vec<u8>,
}

/// The first `... PRIVATE KEY` block; other blocks (`EC PARAMETERS`,
/// certificates) are skipped.
fn private_key_block(pem: &str) -> Result<PemBlock<'_>, DkimError> {
    let mut lines = pem.lines().map(str::trim);
    let mut others = Vec::new();
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut encrypted = false;
        let mut closed = false;
        for line in lines.by_ref() {
            if line == end {
                closed = true;
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                // RFC 1421 headers of legacy OpenSSL keys ("Proc-Type: 4,ENCRYPTED").
                encrypted |= name.eq_ignore_ascii_case("Proc-Type") && value.contains("ENCRYPTED");
                continue;
            }
            body.push_str(line);
        }
        if !label.ends_with("PRIVATE KEY") {
            others.push(label);
            continue;
        }
        if encrypted {
            return Err(DkimError::Encrypted);
        }
        if !closed {
            return Err(DkimError::NotPem(format!("no \"{end}\" line")));
        }
        let der = STANDARD
            .decode(body.as_bytes())
            .map_err(|_| DkimError::NotPem(format!("the \"{label}\" block is not valid base64")))?;
        return Ok(PemBlock { label, der });
    }
    Err(DkimError::NotPem(if others.is_empty() {
        "no \"-----BEGIN ... PRIVATE KEY-----\" line".into()
    } else {
        format!("it holds only {}", others.join(", "))
    }))
}

/// PKCS#8 `PrivateKeyInfo` / `OneAsymmetricKey` (RFC 5208, RFC 5958).
fn read_pkcs8(der: &[u8]) -> Result<(DkimSigningAlgorithm, String), DkimError> {
    let mut info = Der(Der(der).read(TAG_SEQUENCE, "PKCS#8 key")?);
    info.read(TAG_INTEGER, "PKCS#8 version")?;
    let oid = Der(info.read(TAG_SEQUENCE, "PKCS#8 algorithm")?).read(TAG_OID, "algorithm")?;
    let private_key = info.read(TAG_OCTET_STRING, "PKCS#8 private key")?;
    // Anything after (attributes, the v2 public key) is not needed.
    match oid {
        OID_RSA_ENCRYPTION => Ok((DkimSigningAlgorithm::Rsa, rsa_pkcs1_to_pem(private_key)?)),
        OID_ED25519 => {
            // CurvePrivateKey ::= OCTET STRING, the 32-byte seed (RFC 8410).
            let seed = Der(private_key).read(TAG_OCTET_STRING, "Ed25519 key")?;
            if seed.len() != 32 {
                return Err(DkimError::Malformed(format!(
                    "an Ed25519 key has 32 bytes, this one {}",
                    seed.len()
                )));
            }
            Ok((DkimSigningAlgorithm::Ed25519, STANDARD.encode(seed)))
        }
        other => Err(DkimError::UnsupportedAlgorithm(algorithm_name(other))),
    }
}

fn algorithm_name(oid: &[u8]) -> String {
    match oid {
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a] => "RSA-PSS".into(),
        [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01] => "ECDSA".into(),
        [0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01] => "DSA".into(),
        [0x2b, 0x65, 0x6e] => "X25519 (a key-agreement key, not a signing key)".into(),
        [0x2b, 0x65, 0x6f] => "X448".into(),
        [0x2b, 0x65, 0x71] => "Ed448".into(),
        _ => format!("with OID {}", oid_string(oid)),
    }
}

fn oid_string(oid: &[u8]) -> String {
    let mut arcs = Vec::new();
    let mut value: u64 = 0;
    for &byte in oid {
        value = (value << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// Checks a PKCS#1 `RSAPrivateKey` and writes it as the PEM lettre parses.
fn rsa_pkcs1_to_pem(der: &[u8]) -> Result<String, DkimError> {
    let mut key = Der(Der(der).read(TAG_SEQUENCE, "RSA key")?);
    key.read(TAG_INTEGER, "RSA key version")?;
    let modulus = key.read(TAG_INTEGER, "RSA modulus")?;
    let bits = match modulus.iter().position(|&b| b != 0) {
        Some(i) => (modulus.len() - i) * 8 - modulus[i].leading_zeros() as usize,
        None => 0,
    };
    if bits < 1024 {
        return Err(DkimError::RsaKeyTooSmall(bits));
    }
    let encoded = STANDARD.encode(der);
    let mut pem = String::with_capacity(encoded.len() + encoded.len() / 64 + 64);
    pem.push_str("-----BEGIN RSA PRIVATE KEY-----\n");
    for (i, c) in encoded.chars().enumerate() {
        if i > 0 && i % 64 == 0 {
            pem.push('\n');
        }
        pem.push(c);
    }
    pem.push_str("\n-----END RSA PRIVATE KEY-----\n");
    Ok(pem)
}

/// Just enough DER to walk a key: definite lengths, one-byte tags.
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    /// Reads one element with tag `tag` and returns its contents.
    fn read(&mut self, tag: u8, what: &str) -> Result<&'a [u8], DkimError> {
        let bad = || DkimError::Malformed(format!("cannot read the {what}"));
        let [found, first, rest @ ..] = self.0 else {
            return Err(bad());
        };
        if *found != tag {
            return Err(bad());
        }
        let (len, rest) = if *first < 0x80 {
            (usize::from(*first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return Err(bad());
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |len, &b| (len << 8) | usize::from(b));
            (len, &rest[n..])
        };
        if rest.len() < len {
            return Err(bad());
        }
        let (contents, after) = rest.split_at(len);
        self.0 = after;
        Ok(contents)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::{Duration, SystemTime};

    use lettre::message::header::ContentType;
    use lettre::message::{Mailbox, MultiPart, SinglePart};
    use mail_auth::common::parse::TxtRecordParser;
    use mail_auth::common::verify::DomainKey;
    use mail_auth::hickory_resolver::config::{ResolverConfig, ResolverOpts};
    use mail_auth::{
        AuthenticatedMessage, DkimResult, MessageAuthenticator, Parameters, ResolverCache, Txt,
    };

    use super::*;

    // TEST-ONLY KEYS. Never use them for real mail: they are public.
    // rcgen cannot generate RSA keys with the ring backend, so one RSA-2048
    // key made with `openssl genpkey -algorithm RSA -pkeyopt
    // rsa_keygen_bits:2048` is committed here, in PKCS#8 and (via `openssl
    // rsa -traditional`) PKCS#1 form.
    const TEST_ONLY_RSA_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQC9HUMyeY5LAhb6
IBEdXuwuFl3ccTXwKHEGpXcdL0SnhXdHOLknkaQJ+6yZu22fCE6ZtlBx6wbQ+XRa
nzBqkdnlKYHcvu/4R+OKOyv+qmafsugAvsfxsMiDaKWneGyd2geR8p0sy8mrtk1p
0g6mHSuVx62GCzVkzVlZvfg9xowxAFanyZYQF6ur7Ci41jXK2vUN0DT+WgISKiJh
qUvseFVPiNKZwdqKmeYBr4t0WaWOf0OERbVoR2ixIICHtGQCrWNXV/gQbO3JgSUM
Me3d7JvaPdPpE+wJBmqSvE3WCkC+vjt9E9IUAA1+bXMocSwq6BpAeiNBFlHebVRI
Cdilgo5lAgMBAAECggEAGXOaQG1L9rwEbqD+h1bn72NIOkEBnYg71JqpTMQN99kb
uU9LhU/xuqbkpFitbgVWsBOcK7C8spxCtL2O7RDNuVdG6HgethSqwsb9lUvGqFXn
fnjZUlBUtBwoi0DxpqREzOImQB9PItfT/wVrvknXvKk/08tSDMvMQNUzLHvlEI+m
gERUK+2dzccMkPvkq2gGlvWkSTmG1dgsG+YvB4hGX+J/ukHthuZwzCRbBynQPKDJ
0eKQLL1/0IPpfHz1a3yI/yspV5QNy9BrzP3ZaWkwg/3tE5VNqe8XcTcQ6ar2iKMV
VhHuPNPPtDDfcHUZfOMSHi51coLE+gjYSeeaRNxvAwKBgQDvRDT3mYFB9KGCGr/7
pMiVBZcF4pZF65R52bZiJadNLsAyo5RfNtRFzHcQCBMzPg4vHAqkghfTJgGRLp++
WOkLtIrJHOmFh3UIQcBINoOHu98LlvB1rX7kA5MXveYFcMrBjr1sBPHaFCCRf/Wg
m7N7ZLoNkXoZtzFOUCUCIKNjowKBgQDKVyOL7Hdzor8hWd75iVvK3dOXbQ7EIGIB
hIyjXKzXTezVmJp0i5xrgcIjz/CcGzDenXXEICvrr/rmr+TrTww1DCaPErP6d6Yp
M4W8GgKmF3CgLM1YOSvu3S7i/tmyLQPBQkNyTLOtfKfxFa5QtAG8XTJoduUl+aRv
HJQ8rSCmVwKBgQCsUwKXBY8L0sXz75IwCpmQgusniO9UQny4We46uAXL2A0DK79z
6AhwkPd7q2UwtdP/aAHeQ/gm0iu0xdC1hlGqZYjDmjgyPMI0hS6Yk/KdctkM/tQG
3UMTs+Nf6Rxe9MKDL2wL/W+28mIWiQN+fkWBbKV3mjxHgyJW1fAhnSIwYwKBgQCg
VTpClwb0Z2Kib89i1ngZIXuYAv/vY2WlpD24+Sewl/vyKTFC5pn1CmYm8I/NczJf
RFBcL839vX3ILFruJr4ajt1DA+P/ta3B+iSfr9Cnge1pzvaMUQlCBpwvnRgtusO9
8N73BFZgQ2XkgHSXWHwDoane40+irtWggfnotpsnkwKBgGTPJLdQqEH0xN0j2Rjw
73tdrzYiUaUR2PGjnrDo3ZopQprrOdS0lFzcgRkBJy4zuNqCeO2utHEDBohulAav
6EuORHCNI42zCff7/58MP3uoAkTcMqhMoEPYirAvvNZN4Ij2h7fY4Gy0cpnw1LYq
sBUeU5x8BZVUbKk2djywUAYY
-----END PRIVATE KEY-----
";

    const TEST_ONLY_RSA_PKCS1: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIEpAIBAAKCAQEAvR1DMnmOSwIW+iARHV7sLhZd3HE18ChxBqV3HS9Ep4V3Rzi5
J5GkCfusmbttnwhOmbZQcesG0Pl0Wp8wapHZ5SmB3L7v+Efjijsr/qpmn7LoAL7H
8bDIg2ilp3hsndoHkfKdLMvJq7ZNadIOph0rlcethgs1ZM1ZWb34PcaMMQBWp8mW
EBerq+wouNY1ytr1DdA0/loCEioiYalL7HhVT4jSmcHaipnmAa+LdFmljn9DhEW1
aEdosSCAh7RkAq1jV1f4EGztyYElDDHt3eyb2j3T6RPsCQZqkrxN1gpAvr47fRPS
FAANfm1zKHEsKugaQHojQRZR3m1USAnYpYKOZQIDAQABAoIBABlzmkBtS/a8BG6g
/odW5+9jSDpBAZ2IO9SaqUzEDffZG7lPS4VP8bqm5KRYrW4FVrATnCuwvLKcQrS9
ju0QzblXRuh4HrYUqsLG/ZVLxqhV53542VJQVLQcKItA8aakRMziJkAfTyLX0/8F
a75J17ypP9PLUgzLzEDVMyx75RCPpoBEVCvtnc3HDJD75KtoBpb1pEk5htXYLBvm
LweIRl/if7pB7YbmcMwkWwcp0DygydHikCy9f9CD6Xx89Wt8iP8rKVeUDcvQa8z9
2WlpMIP97ROVTanvF3E3EOmq9oijFVYR7jzTz7Qw33B1GXzjEh4udXKCxPoI2Enn
mkTcbwMCgYEA70Q095mBQfShghq/+6TIlQWXBeKWReuUedm2YiWnTS7AMqOUXzbU
Rcx3EAgTMz4OLxwKpIIX0yYBkS6fvljpC7SKyRzphYd1CEHASDaDh7vfC5bwda1+
5AOTF73mBXDKwY69bATx2hQgkX/1oJuze2S6DZF6GbcxTlAlAiCjY6MCgYEAylcj
i+x3c6K/IVne+Ylbyt3Tl20OxCBiAYSMo1ys103s1ZiadIuca4HCI8/wnBsw3p11
xCAr66/65q/k608MNQwmjxKz+nemKTOFvBoCphdwoCzNWDkr7t0u4v7Zsi0DwUJD
ckyzrXyn8RWuULQBvF0yaHblJfmkbxyUPK0gplcCgYEArFMClwWPC9LF8++SMAqZ
kILrJ4jvVEJ8uFnuOrgFy9gNAyu/c+gIcJD3e6tlMLXT/2gB3kP4JtIrtMXQtYZR
qmWIw5o4MjzCNIUumJPynXLZDP7UBt1DE7PjX+kcXvTCgy9sC/1vtvJiFokDfn5F
gWyld5o8R4MiVtXwIZ0iMGMCgYEAoFU6QpcG9Gdiom/PYtZ4GSF7mAL/72NlpaQ9
uPknsJf78ikxQuaZ9QpmJvCPzXMyX0RQXC/N/b19yCxa7ia+Go7dQwPj/7Wtwfok
n6/Qp4Htac72jFEJQgacL50YLbrDvfDe9wRWYENl5IB0l1h8A6Gp3uNPoq7VoIH5
6LabJ5MCgYBkzyS3UKhB9MTdI9kY8O97Xa82IlGlEdjxo56w6N2aKUKa6znUtJRc
3IEZAScuM7jagnjtrrRxAwaIbpQGr+hLjkRwjSONswn3+/+fDD97qAJE3DKoTKBD
2IqwL7zWTeCI9oe32OBstHKZ8NS2KrAVHlOcfAWVVGypNnY8sFAGGA==
-----END RSA PRIVATE KEY-----
";

    /// TEST-ONLY: `openssl genpkey -algorithm ed25519`, the PKCS#8 v1 form
    /// without the public key that operators will usually have.
    const TEST_ONLY_ED25519_OPENSSL: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIGeORlgwXfR+TzCukfbsIg6jD9nxyhIyeV5B9D90KBaX
-----END PRIVATE KEY-----
";
    /// Its public key, from `openssl pkey -pubout` (the last 32 bytes).
    const TEST_ONLY_ED25519_OPENSSL_PUBLIC: &str =
        "MCowBQYDK2VwAyEAC/UA2Upl1DP1TMB6Owx6US2BnnnlhlPp/i84MM2ywLQ=";

    const SELECTOR: &str = "twoyes2026";
    const DOMAIN: &str = "example.org";

    /// Must cover these whatever the message (issue 4 item 4).
    const REQUIRED: [&str; 7] = [
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
    ];

    // The custom headers twoyes sends.
    use crate::mail::message::{AutoSubmitted, ListUnsubscribe, ListUnsubscribePost};

    fn mailbox(name: &str, address: &str) -> Mailbox {
        Mailbox::new(Some(name.to_string()), address.parse().unwrap())
    }

    /// Built like `build_message`: a confirmation request with one-click
    /// unsubscribe, or (`unsubscribe == false`) the introduction itself with
    /// Cc and Reply-To. Non-ASCII names and a subject long enough to be folded.
    fn representative(unsubscribe: bool) -> Message {
        let mut builder = Message::builder()
            .from(mailbox("Zoë at twoyes", "intro@example.org"))
            .subject(
                "Renée, would you like to be introduced to Bob Example? \
                 He asked for an introduction about the open-source garden project",
            )
            .message_id(Some(
                "<0198c3a4-6f1e-7b2a-9c1d-3e4f5a6b7c8d@example.org>".into(),
            ))
            .date(SystemTime::UNIX_EPOCH + Duration::from_millis(1_767_225_600_123))
            .to(mailbox("Renée Ågren", "renee@example.net"));
        if unsubscribe {
            builder = builder
                .header(AutoSubmitted)
                .header(ListUnsubscribe(
                    "<https://twoyes.example.org/unsubscribe/\
                     v1.0198c3a46f1e7b2a9c1d3e4f5a6b7c8d.Zm9vYmFyYmF6cXV4cXV1eA>"
                        .into(),
                ))
                .header(ListUnsubscribePost);
        } else {
            builder = builder
                .to(mailbox("Bob Example", "bob@example.com"))
                .cc(mailbox("Carol Connector", "carol@example.com"))
                .reply_to(mailbox("Carol Connector", "carol@example.com"));
        }
        let body = MultiPart::alternative()
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body("Hello Renée,\n\nBob would like to meet you.  \n\n\n".to_string()),
            )
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body("<p>Hello Renée,</p>\n<p>Bob would like to meet you.</p>\n".to_string()),
            );
        builder.multipart(body).unwrap()
    }

    /// An in-memory TXT cache: mail-auth consults it before any DNS query.
    #[derive(Default)]
    struct TxtCache(Mutex<HashMap<Box<str>, Txt>>);

    impl ResolverCache<Box<str>, Txt> for TxtCache {
        fn get<Q>(&self, name: &Q) -> Option<Txt>
        where
            Box<str>: std::borrow::Borrow<Q>,
            Q: std::hash::Hash + Eq + ?Sized,
        {
            self.0.lock().unwrap().get(name).cloned()
        }
        fn remove<Q>(&self, name: &Q) -> Option<Txt>
        where
            Box<str>: std::borrow::Borrow<Q>,
            Q: std::hash::Hash + Eq + ?Sized,
        {
            self.0.lock().unwrap().remove(name)
        }
        fn insert(&self, key: Box<str>, value: Txt, _: std::time::Instant) {
            self.0.lock().unwrap().insert(key, value);
        }
    }

    struct Verified {
        results: Vec<DkimResult>,
        signed_headers: Vec<Vec<String>>,
        algorithms: Vec<String>,
    }

    /// Verifies with mail-auth, the key served from `txt` (the DNS record's
    /// text) out of the cache. The resolver has no name servers at all, so
    /// a cache miss fails instead of reaching the network.
    async fn verify(raw: &[u8], txt: &str) -> Verified {
        let cache = TxtCache::default();
        let key = DomainKey::parse(txt.as_bytes()).expect("the test DNS record parses");
        cache.0.lock().unwrap().insert(
            format!("{SELECTOR}._domainkey.{DOMAIN}.").into_boxed_str(),
            Txt::from(key),
        );
        let authenticator = MessageAuthenticator::new(
            ResolverConfig::from_parts(None, vec![], vec![]),
            ResolverOpts::default(),
        )
        .unwrap();
        let message = AuthenticatedMessage::parse(raw).expect("mail-auth parses the message");
        let outputs = authenticator
            .verify_dkim(Parameters::new(&message).with_txt_cache(&cache))
            .await;
        Verified {
            results: outputs.iter().map(|o| o.result().clone()).collect(),
            signed_headers: outputs
                .iter()
                .filter_map(|o| o.signature().map(|s| s.h.clone()))
                .collect(),
            algorithms: outputs
                .iter()
                .filter_map(|o| o.signature().map(|s| format!("{:?}", s.a)))
                .collect(),
        }
    }

    fn rsa_txt() -> String {
        // Public key taken by ring (through rcgen) from the original PKCS#8
        // file, independently of this module's key conversion.
        let spki = rcgen::KeyPair::from_pem(TEST_ONLY_RSA_PKCS8)
            .unwrap()
            .public_key_der();
        format!("v=DKIM1; k=rsa; p={}", STANDARD.encode(spki))
    }

    fn ed25519_txt(public: &[u8]) -> String {
        assert_eq!(public.len(), 32);
        format!("v=DKIM1; k=ed25519; p={}", STANDARD.encode(public))
    }

    fn signed(pem: &str, unsubscribe: bool) -> String {
        let signer = DkimSigner::new(pem, SELECTOR, DOMAIN).unwrap();
        let mut message = representative(unsubscribe);
        signer.sign(&mut message);
        String::from_utf8(message.formatted()).unwrap()
    }

    /// Replaces the first occurrence of `from` (which must be present).
    fn tamper(raw: &str, from: &str, to: &str) -> String {
        assert!(raw.contains(from), "{from:?} not in\n{raw}");
        raw.replacen(from, to, 1)
    }

    fn assert_pass(verified: &Verified) {
        assert_eq!(verified.results, vec![DkimResult::Pass]);
        let h: Vec<String> = verified.signed_headers[0]
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        for required in REQUIRED {
            assert!(
                h.iter().any(|n| n == required),
                "h= lacks {required}: {h:?}"
            );
        }
    }

    fn assert_fail(verified: &Verified) {
        assert_eq!(verified.results.len(), 1);
        assert!(
            matches!(verified.results[0], DkimResult::Fail(_)),
            "expected fail, got {:?}",
            verified.results
        );
    }

    async fn check_key(pem: &str, txt: &str, algorithm: &str) {
        let raw = signed(pem, true);
        let verified = verify(raw.as_bytes(), txt).await;
        assert_pass(&verified);
        assert_eq!(verified.algorithms, vec![algorithm.to_string()]);

        // The subject is folded: change a word on its first line, then on
        // its continuation line.
        let forged = tamper(&raw, "would you like", "could you like");
        assert_fail(&verify(forged.as_bytes(), txt).await);
        let forged = tamper(&raw, "open-source garden", "closed-source garden");
        assert_fail(&verify(forged.as_bytes(), txt).await);

        // The unsubscribe target and the one-click switch are covered.
        let forged = tamper(
            &raw,
            "twoyes.example.org/unsubscribe",
            "evil.example/unsubscribe",
        );
        assert_fail(&verify(forged.as_bytes(), txt).await);
        let forged = tamper(
            &raw,
            "List-Unsubscribe=One-Click",
            "List-Unsubscribe=One-Clack",
        );
        assert_fail(&verify(forged.as_bytes(), txt).await);

        // Content-Type comes from the MIME part, not the message's own
        // headers; it is covered all the same.
        let forged = tamper(&raw, "multipart/alternative", "multipart/mixed");
        assert_fail(&verify(forged.as_bytes(), txt).await);
    }

    #[tokio::test]
    async fn rsa_pkcs8_key_signs_and_an_independent_verifier_passes_it() {
        check_key(TEST_ONLY_RSA_PKCS8, &rsa_txt(), "RsaSha256").await;
    }

    #[tokio::test]
    async fn rsa_pkcs1_key_signs_and_an_independent_verifier_passes_it() {
        check_key(TEST_ONLY_RSA_PKCS1, &rsa_txt(), "RsaSha256").await;
    }

    #[tokio::test]
    async fn ed25519_key_generated_now_signs_and_verifies() {
        // ring writes PKCS#8 v2, with the public key inside.
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let txt = ed25519_txt(key.public_key_raw());
        check_key(&key.serialize_pem(), &txt, "Ed25519Sha256").await;
    }

    #[tokio::test]
    async fn ed25519_key_from_openssl_signs_and_verifies() {
        let spki = STANDARD.decode(TEST_ONLY_ED25519_OPENSSL_PUBLIC).unwrap();
        let txt = ed25519_txt(&spki[spki.len() - 32..]);
        check_key(TEST_ONLY_ED25519_OPENSSL, &txt, "Ed25519Sha256").await;
    }

    #[tokio::test]
    async fn the_verifier_rejects_a_signature_made_with_another_key() {
        let signing = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let published = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let raw = signed(&signing.serialize_pem(), true);
        assert_pass(&verify(raw.as_bytes(), &ed25519_txt(signing.public_key_raw())).await);
        assert_fail(&verify(raw.as_bytes(), &ed25519_txt(published.public_key_raw())).await);
    }

    #[tokio::test]
    async fn introduction_with_cc_and_reply_to_is_covered_and_no_unsubscribe_can_be_added() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let txt = ed25519_txt(key.public_key_raw());
        let raw = signed(&key.serialize_pem(), false);
        let verified = verify(raw.as_bytes(), &txt).await;
        assert_pass(&verified);
        let h = verified.signed_headers[0].join(":").to_ascii_lowercase();
        for name in ["cc", "reply-to", "mime-version", "content-type"] {
            assert!(h.split(':').any(|n| n == name), "h= lacks {name}: {h}");
        }

        let forged = tamper(&raw, "carol@example.com", "mallory@example.com");
        assert_fail(&verify(forged.as_bytes(), &txt).await);

        // A one-click unsubscribe slipped into a personal email is caught.
        let added = format!(
            "List-Unsubscribe: <https://evil.example/u>\r\n\
             List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n{raw}"
        );
        assert_fail(&verify(added.as_bytes(), &txt).await);
    }

    #[tokio::test]
    async fn body_changes_are_detected_and_re_signing_replaces_the_signature() {
        let signer = DkimSigner::new(TEST_ONLY_RSA_PKCS8, SELECTOR, DOMAIN).unwrap();
        let mut message = representative(true);
        signer.sign(&mut message);
        signer.sign(&mut message);
        let raw = String::from_utf8(message.formatted()).unwrap();
        assert_eq!(raw.matches("DKIM-Signature:").count(), 1);
        let txt = rsa_txt();
        assert_pass(&verify(raw.as_bytes(), &txt).await);

        let forged = tamper(&raw, "<p>Hello Ren", "<p>Goodbye Ren");
        let verified = verify(forged.as_bytes(), &txt).await;
        assert!(
            matches!(
                verified.results[..],
                [DkimResult::Neutral(_) | DkimResult::Fail(_)]
            ),
            "{:?}",
            verified.results
        );
    }

    #[test]
    fn signature_header_names_selector_domain_and_algorithm() {
        let raw = signed(TEST_ONLY_RSA_PKCS8, true);
        let unfolded = raw.replace("\r\n ", " ");
        let line = unfolded
            .lines()
            .find(|l| l.starts_with("DKIM-Signature:"))
            .unwrap();
        for tag in [
            "a=rsa-sha256;",
            "d=example.org;",
            "s=twoyes2026;",
            "c=relaxed/relaxed;",
            "h=from:to:cc:reply-to:subject:date:message-id:list-unsubscribe:\
             list-unsubscribe-post:auto-submitted:mime-version:content-type;",
        ] {
            assert!(line.contains(tag), "{tag} missing from {line}");
        }
        let signer = DkimSigner::new(TEST_ONLY_ED25519_OPENSSL, SELECTOR, DOMAIN).unwrap();
        assert_eq!(signer.algorithm(), "ed25519-sha256");
        assert_eq!(signer.selector(), SELECTOR);
        assert_eq!(signer.domain(), DOMAIN);
    }

    #[test]
    fn signer_is_shareable_and_its_debug_output_has_no_key() {
        fn shareable<T: Send + Sync + 'static>() {}
        shareable::<DkimSigner>();
        let signer = DkimSigner::new(TEST_ONLY_RSA_PKCS1, SELECTOR, DOMAIN).unwrap();
        let debug = format!("{signer:?}");
        assert!(
            debug.contains("rsa-sha256") && debug.contains(SELECTOR),
            "{debug}"
        );
        assert!(debug.len() < 200, "{debug}");
    }

    #[test]
    fn pem_with_crlf_and_surrounding_text_is_accepted() {
        let pem = format!(
            "Key for example.org, made 2026-01-01\r\n{}",
            TEST_ONLY_RSA_PKCS8.replace('\n', "\r\n")
        );
        DkimSigner::new(&pem, SELECTOR, DOMAIN).unwrap();
        // openssl ecparam writes "EC PARAMETERS" first; certificates may precede too.
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n{TEST_ONLY_ED25519_OPENSSL}"
        );
        DkimSigner::new(&pem, SELECTOR, DOMAIN).unwrap();
    }

    fn key_error(pem: &str) -> DkimError {
        DkimSigner::new(pem, SELECTOR, DOMAIN).unwrap_err()
    }

    #[test]
    fn keys_that_are_not_pem_private_keys_are_refused_clearly() {
        assert!(matches!(key_error(""), DkimError::NotPem(_)));
        // lettre's own Ed25519 format, the bare seed, is not a PEM file.
        assert!(matches!(
            key_error("Z45GWDBd9H5PMK6R9uwiDqMP2fHKEjJ5XkH0P3QoFpc="),
            DkimError::NotPem(_)
        ));
        let public = format!(
            "-----BEGIN PUBLIC KEY-----\n{TEST_ONLY_ED25519_OPENSSL_PUBLIC}\n-----END PUBLIC KEY-----\n"
        );
        let err = key_error(&public);
        assert!(matches!(err, DkimError::NotPem(_)));
        assert!(err.to_string().contains("only PUBLIC KEY"), "{err}");
        let truncated = TEST_ONLY_RSA_PKCS8.replace("-----END PRIVATE KEY-----", "");
        assert!(matches!(key_error(&truncated), DkimError::NotPem(_)));
        let garbled = TEST_ONLY_RSA_PKCS8.replace("MIIEvg", "MII*vg");
        assert!(matches!(key_error(&garbled), DkimError::NotPem(_)));
        let openssh =
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbg==\n-----END OPENSSH PRIVATE KEY-----\n";
        assert!(key_error(openssh).to_string().contains("ssh-keygen"));
    }

    #[test]
    fn encrypted_keys_are_refused_clearly() {
        let pkcs8 =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(matches!(key_error(pkcs8), DkimError::Encrypted));
        let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\
                      DEK-Info: AES-128-CBC,0011\n\nMIIB\n-----END RSA PRIVATE KEY-----\n";
        assert!(matches!(key_error(legacy), DkimError::Encrypted));
        assert!(key_error(legacy).to_string().contains("openssl pkey"));
    }

    #[test]
    fn other_algorithms_are_refused_by_name() {
        let ecdsa = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let err = key_error(&ecdsa.serialize_pem());
        assert!(
            matches!(&err, DkimError::UnsupportedAlgorithm(name) if name == "ECDSA"),
            "{err}"
        );
        assert!(err.to_string().contains("RSA (2048 bits) or Ed25519"));
        let sec1 = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n";
        assert!(matches!(
            key_error(sec1),
            DkimError::UnsupportedAlgorithm(_)
        ));
        // X25519 PKCS#8: same layout as Ed25519, OID 1.3.101.110.
        let x25519 = STANDARD.encode(
            [
                &[
                    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e,
                ][..],
                &[0x04, 0x22, 0x04, 0x20],
                &[7; 32],
            ]
            .concat(),
        );
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{x25519}\n-----END PRIVATE KEY-----\n");
        assert!(key_error(&pem).to_string().contains("X25519"));
        let unknown = STANDARD.encode(
            [
                &[
                    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x06, 0x01,
                ][..],
                &[0x04, 0x22, 0x04, 0x20],
                &[7; 32],
            ]
            .concat(),
        );
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{unknown}\n-----END PRIVATE KEY-----\n");
        assert!(key_error(&pem).to_string().contains("OID 1.3.6.1"));
    }

    #[test]
    fn short_and_damaged_keys_are_refused() {
        // RSAPrivateKey { version 0, a 512-bit modulus, ... }: refused before parsing on.
        let mut modulus = vec![0x00, 0xc5];
        modulus.extend([0x01; 63]);
        let mut der = vec![0x30, 0x46, 0x02, 0x01, 0x00, 0x02, 0x41];
        der.extend(&modulus);
        let pem = format!(
            "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n",
            STANDARD.encode(&der)
        );
        let err = key_error(&pem);
        assert!(matches!(err, DkimError::RsaKeyTooSmall(512)), "{err}");

        // A 2048-bit modulus and nothing else: lettre's parser refuses it.
        let mut der = vec![
            0x30, 0x82, 0x01, 0x07, 0x02, 0x01, 0x00, 0x02, 0x82, 0x01, 0x01, 0x00,
        ];
        der.extend([0xc5; 256]);
        let pem = format!(
            "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n",
            STANDARD.encode(&der)
        );
        assert!(matches!(key_error(&pem), DkimError::Malformed(_)));

        // Ed25519 with a 31-byte seed.
        let short = STANDARD.encode(
            [
                &[
                    0x30, 0x2d, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70,
                ][..],
                &[0x04, 0x21, 0x04, 0x1f],
                &[7; 31],
            ]
            .concat(),
        );
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{short}\n-----END PRIVATE KEY-----\n");
        assert!(matches!(key_error(&pem), DkimError::Malformed(_)));

        // A PKCS#8 file cut short.
        let der = STANDARD.decode(TEST_ONLY_ED25519_OPENSSL.lines().nth(1).unwrap());
        let cut = STANDARD.encode(&der.unwrap()[..20]);
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{cut}\n-----END PRIVATE KEY-----\n");
        assert!(matches!(key_error(&pem), DkimError::Malformed(_)));
    }

    #[test]
    fn selectors_and_domains_are_checked() {
        let ok = |s: &str, d: &str| DkimSigner::new(TEST_ONLY_ED25519_OPENSSL, s, d);
        ok("s1", "example.org").unwrap();
        ok("2026-01.mail", "mail.Example-Corp.co.uk").unwrap();
        for selector in [
            "",
            "s 1",
            "s;1",
            "s=1",
            "a..b",
            ".s",
            "-s",
            "s_1",
            "sélecteur",
        ] {
            assert!(
                matches!(
                    ok(selector, "example.org"),
                    Err(DkimError::InvalidSelector { .. })
                ),
                "{selector:?} accepted"
            );
        }
        for domain in [
            "",
            "example.org.",
            "exa mple.org",
            "example..org",
            "bücher.de",
            "a;d=b",
        ] {
            assert!(
                matches!(ok("s1", domain), Err(DkimError::InvalidDomain { .. })),
                "{domain:?} accepted"
            );
        }
        let long = "a".repeat(64);
        assert!(ok(&long, "example.org").is_err());
        assert!(ok("s1", &format!("{long}.org")).is_err());
        let err = ok("s1", "bücher.de").unwrap_err().to_string();
        assert!(err.contains("xn--"), "{err}");
    }

    #[test]
    fn header_fields_keep_folding_and_split_where_fields_end() {
        let block = "From: a@b\r\nSubject: one\r\n two\r\n\tthree\r\nTo:c@d\r\n";
        assert_eq!(
            header_fields(block),
            vec![
                ("From", " a@b"),
                ("Subject", " one\r\n two\r\n\tthree"),
                ("To", "c@d")
            ]
        );
    }

    #[test]
    fn oids_print_dotted() {
        assert_eq!(oid_string(OID_RSA_ENCRYPTION), "1.2.840.113549.1.1.1");
        assert_eq!(oid_string(OID_ED25519), "1.3.101.112");
    }
}
