//! `smtp-url` and the settings that tune delivery and signing.

use std::path::PathBuf;

use anyhow::{Context as _, bail};

/// How the SMTP conversation is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// `smtp://host:port`: no TLS (for a relay on this machine or a trusted network).
    Plain,
    /// `smtp://host:port?tls=required`: STARTTLS, and refuse a server without it.
    StartTls,
    /// `smtps://host:port`: TLS from the first byte (port 465).
    Implicit,
}

/// Where and how mail is handed to an SMTP server.
#[derive(Clone, PartialEq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub credentials: Option<(String, String)>,
    /// Extra certificate authorities (PEM) to trust, for a private relay.
    pub ca_file: Option<PathBuf>,
    pub pool_size: usize,
    /// A connection is replaced after this many messages.
    pub recycle_after: u32,
    /// Send-rate cap, messages per second.
    pub max_per_second: Option<f64>,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .field("password", &self.credentials.as_ref().map(|_| "<redacted>"))
            .field("pool_size", &self.pool_size)
            .field("recycle_after", &self.recycle_after)
            .field("max_per_second", &self.max_per_second)
            .finish()
    }
}

/// DKIM signing: the key file, the selector and the domain.
#[derive(Clone, PartialEq, Eq)]
pub struct DkimSettings {
    pub key_pem: String,
    pub selector: String,
    pub domain: String,
}

impl std::fmt::Debug for DkimSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimSettings")
            .field("key_pem", &"<redacted>")
            .field("selector", &self.selector)
            .field("domain", &self.domain)
            .finish()
    }
}

/// The settings beside `smtp-url`, as given (unparsed).
#[derive(Debug, Default)]
pub struct Tuning {
    pub pool_size: Option<String>,
    pub recycle_after: Option<String>,
    pub max_per_second: Option<String>,
    pub ca_file: Option<String>,
}

const HINT: &str = "smtp-url: expected smtp://[user:pass@]host:port[?tls=required] or smtps://[user:pass@]host:port";

pub fn parse(text: &str, tuning: Tuning) -> anyhow::Result<SmtpSettings> {
    let (mut tls, rest, default_port) = if let Some(rest) = text.strip_prefix("smtp://") {
        (SmtpTls::Plain, rest, 25)
    } else if let Some(rest) = text.strip_prefix("smtps://") {
        (SmtpTls::Implicit, rest, 465)
    } else {
        bail!("{HINT}");
    };
    let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
    let authority = authority.trim_end_matches('/');
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("tls", "required")) if tls == SmtpTls::Plain => tls = SmtpTls::StartTls,
            Some(("tls", "required")) => {}
            Some(("tls", "none")) if tls == SmtpTls::Plain => {}
            _ => bail!("smtp-url: unknown option `{pair}` (use tls=required for STARTTLS)"),
        }
    }
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') => (host, port),
        _ => (hostport, ""),
    };
    let port: u16 = if port.is_empty() {
        default_port
    } else {
        port.parse()
            .map_err(|_| anyhow::anyhow!("{HINT} (the port `{port}` is not a number)"))?
    };
    let host = host.trim_matches(['[', ']']);
    if host.is_empty() {
        bail!("{HINT}");
    }
    let credentials = userinfo.map(|u| {
        let (user, pass) = u.split_once(':').unwrap_or((u, ""));
        (percent_decode(user), percent_decode(pass))
    });
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if credentials.is_some() && tls == SmtpTls::Plain && !loopback {
        bail!(
            "smtp-url: a password is sent in plain text only to a relay on this machine; \
             use smtps:// or ?tls=required"
        );
    }
    let pool_size = match tuning.pool_size {
        None => 4,
        Some(n) => n
            .trim()
            .parse()
            .ok()
            .filter(|n| (1..=64).contains(n))
            .ok_or_else(|| {
                anyhow::anyhow!("smtp-pool-size: `{n}` is not a whole number from 1 to 64")
            })?,
    };
    let recycle_after = match tuning.recycle_after {
        None => 100,
        Some(n) => n.trim().parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
            anyhow::anyhow!(
                "smtp-recycle-after: `{n}` is not a whole number of messages (1 or more)"
            )
        })?,
    };
    let max_per_second = match tuning.max_per_second.as_deref().map(str::trim) {
        None | Some("unlimited") => None,
        Some(n) => Some(
            n.parse::<f64>()
                .ok()
                .filter(|r| r.is_finite() && *r >= 0.001)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "smtp-max-per-second: `{n}` is not a number of messages per second from 0.001 up"
                    )
                })?,
        ),
    };
    Ok(SmtpSettings {
        host: host.to_string(),
        port,
        tls,
        credentials,
        ca_file: tuning.ca_file.map(PathBuf::from),
        pool_size,
        recycle_after,
        max_per_second,
    })
}

/// DKIM needs all three settings or none.
pub fn parse_dkim(
    key: Option<String>,
    selector: Option<String>,
    domain: Option<String>,
) -> anyhow::Result<Option<DkimSettings>> {
    match (key, selector, domain) {
        (None, None, None) => Ok(None),
        (Some(key), Some(selector), Some(domain)) => {
            let key_pem = std::fs::read_to_string(&key)
                .with_context(|| format!("dkim-key: cannot read {key}"))?;
            let label_ok = |s: &str| {
                !s.is_empty()
                    && s.split('.').all(|l| {
                        !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    })
            };
            if !label_ok(&selector) {
                bail!("dkim-selector: `{selector}` is not a DNS label");
            }
            if !label_ok(&domain) || !domain.contains('.') {
                bail!("dkim-domain: `{domain}` is not a domain name");
            }
            Ok(Some(DkimSettings {
                key_pem,
                selector,
                domain: domain.to_ascii_lowercase(),
            }))
        }
        _ => bail!("dkim-key, dkim-selector and dkim-domain go together: give all three or none"),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> anyhow::Result<SmtpSettings> {
        parse(text, Tuning::default())
    }

    #[test]
    fn the_three_tls_modes_and_their_default_ports() {
        let plain = url("smtp://127.0.0.1:2525").unwrap();
        assert_eq!(
            (plain.tls, plain.port, plain.host.as_str()),
            (SmtpTls::Plain, 2525, "127.0.0.1")
        );
        let starttls = url("smtp://me:pw@mail.example.com:587?tls=required").unwrap();
        assert_eq!((starttls.tls, starttls.port), (SmtpTls::StartTls, 587));
        assert_eq!(starttls.credentials, Some(("me".into(), "pw".into())));
        let implicit = url("smtps://me%40x.org:p%3Ass@mail.example.com").unwrap();
        assert_eq!((implicit.tls, implicit.port), (SmtpTls::Implicit, 465));
        assert_eq!(
            implicit.credentials,
            Some(("me@x.org".into(), "p:ss".into()))
        );
        assert_eq!(url("smtp://mail.example.com").unwrap().port, 25);
    }

    #[test]
    fn passwords_never_travel_in_plain_text_beyond_this_machine() {
        assert!(url("smtp://me:secret@mail.example.com:587").is_err());
        assert!(url("smtp://me:secret@localhost:25").is_ok());
        let shown = format!("{:?}", url("smtps://me:secret@mail.example.com").unwrap());
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn malformed_urls_and_tuning_are_refused() {
        for bad in [
            "http://x",
            "smtp://host:notaport",
            "smtp://",
            "smtp://host?tls=maybe",
            "smtp://host?x=1",
        ] {
            assert!(url(bad).is_err(), "{bad}");
        }
        let tuning = |pool: &str, rate: &str| Tuning {
            pool_size: Some(pool.into()),
            max_per_second: Some(rate.into()),
            ..Tuning::default()
        };
        assert!(parse("smtp://h", tuning("0", "10")).is_err());
        assert!(parse("smtp://h", tuning("4", "-1")).is_err());
        let ok = parse("smtp://h", tuning("8", "2.5")).unwrap();
        assert_eq!((ok.pool_size, ok.max_per_second), (8, Some(2.5)));
    }

    #[test]
    fn dkim_settings_come_all_together() {
        assert_eq!(parse_dkim(None, None, None).unwrap(), None);
        assert!(parse_dkim(Some("/nonexistent".into()), None, None).is_err());
        assert!(
            parse_dkim(
                Some("/nonexistent".into()),
                Some("s1".into()),
                Some("example.com".into())
            )
            .is_err()
        );
    }
}
