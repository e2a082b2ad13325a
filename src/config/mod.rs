//! Settings (SPEC §4): defaults, then `<data-dir>/twoyes.toml`, then
//! `TWOYES_*` environment variables, then flags — each layer wins over the
//! one before. Parsed once, at the edge, into typed values.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::domain::time::parse_duration;
use crate::domain::{EmailAddress, RelayDelay, Timings};

mod smtp;

pub use smtp::{DkimSettings, SmtpSettings, SmtpTls};

/// Raw setting values as given by flags or the environment (clap fills
/// these); `None` means "not given here".
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SettingArgs {
    /// Home of the embedded database, mail files and twoyes.toml.
    #[arg(long, global = true, env = "TWOYES_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// sqlite://… or postgres://… (default: sqlite://<data-dir>/twoyes.db).
    #[arg(
        long,
        global = true,
        env = "TWOYES_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// SMTP server: smtp://[user:pass@]host:port. Unset: mail goes to <data-dir>/mail/ as .eml files.
    #[arg(
        long,
        global = true,
        env = "TWOYES_SMTP_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub smtp_url: Option<String>,
    /// Envelope and From address (the display name is the connector's).
    #[arg(long, global = true, env = "TWOYES_MAIL_FROM", value_name = "EMAIL")]
    pub mail_from: Option<String>,
    /// The one reminder to a party who has not answered, e.g. 3d.
    #[arg(
        long,
        global = true,
        env = "TWOYES_REMIND_AFTER",
        value_name = "DURATION"
    )]
    pub remind_after: Option<String>,
    /// When an unanswered ask expires, e.g. 7d.
    #[arg(
        long,
        global = true,
        env = "TWOYES_EXPIRE_AFTER",
        value_name = "DURATION"
    )]
    pub expire_after: Option<String>,
    /// Time to undo a decision before anything it causes is sent, e.g. 10m.
    #[arg(
        long,
        global = true,
        env = "TWOYES_UNDO_WINDOW",
        value_name = "DURATION"
    )]
    pub undo_window: Option<String>,
    /// A relay goes out at a random time in this range after the close, e.g. 24h..72h (0s: at once).
    #[arg(long, global = true, env = "TWOYES_RELAY_DELAY", value_name = "RANGE")]
    pub relay_delay: Option<String>,
    /// A requester's recorded consent older than this is asked again, e.g. 14d.
    #[arg(
        long,
        global = true,
        env = "TWOYES_RECONFIRM_AFTER",
        value_name = "DURATION"
    )]
    pub reconfirm_after: Option<String>,
    /// When the did-you-connect question goes out after an intro, e.g. 14d, or off.
    #[arg(
        long,
        global = true,
        env = "TWOYES_FOLLOW_UP_AFTER",
        value_name = "DURATION"
    )]
    pub follow_up_after: Option<String>,
    /// A pair whose intro was declined or expired this recently cannot be asked again, e.g. 90d.
    #[arg(long, global = true, env = "TWOYES_COOLDOWN", value_name = "DURATION")]
    pub cooldown: Option<String>,
    /// At most this many asks reach one address per day, across all connectors; the rest wait.
    #[arg(
        long,
        global = true,
        env = "TWOYES_MAX_ASKS_PER_RECIPIENT_PER_DAY",
        value_name = "N"
    )]
    pub max_asks_per_recipient_per_day: Option<String>,
    /// Lower bound of the backoff for temporary SMTP failures, e.g. 30s.
    #[arg(
        long,
        global = true,
        env = "TWOYES_SMTP_RETRY_BASE",
        value_name = "DURATION"
    )]
    pub smtp_retry_base: Option<String>,
    /// How long a worker holds an email it is sending; a crashed worker's emails are taken over after it, e.g. 60s.
    #[arg(
        long,
        global = true,
        env = "TWOYES_OUTBOX_LEASE",
        value_name = "DURATION"
    )]
    pub outbox_lease: Option<String>,
    /// Upper bound of the backoff for temporary SMTP failures, e.g. 2h.
    #[arg(
        long,
        global = true,
        env = "TWOYES_SMTP_RETRY_MAX",
        value_name = "DURATION"
    )]
    pub smtp_retry_max: Option<String>,
    /// SMTP connections kept open and used in parallel.
    #[arg(long, global = true, env = "TWOYES_SMTP_POOL_SIZE", value_name = "N")]
    pub smtp_pool_size: Option<String>,
    /// An SMTP connection is closed and replaced after this many messages.
    #[arg(
        long,
        global = true,
        env = "TWOYES_SMTP_RECYCLE_AFTER",
        value_name = "N"
    )]
    pub smtp_recycle_after: Option<String>,
    /// At most this many messages per second, to stay inside a provider's limits (default: unlimited).
    #[arg(
        long,
        global = true,
        env = "TWOYES_SMTP_MAX_PER_SECOND",
        value_name = "RATE"
    )]
    pub smtp_max_per_second: Option<String>,
    /// A PEM file of extra certificate authorities to trust for SMTP TLS (for a private relay).
    #[arg(long, global = true, env = "TWOYES_SMTP_CA_FILE", value_name = "FILE")]
    pub smtp_ca_file: Option<String>,
    /// Sign every message with this DKIM private key (PEM, RSA or Ed25519).
    #[arg(long, global = true, env = "TWOYES_DKIM_KEY", value_name = "FILE")]
    pub dkim_key: Option<String>,
    /// The DKIM selector (the `s=` tag; DNS at <selector>._domainkey.<domain>).
    #[arg(long, global = true, env = "TWOYES_DKIM_SELECTOR", value_name = "NAME")]
    pub dkim_selector: Option<String>,
    /// The DKIM signing domain (the `d=` tag).
    #[arg(long, global = true, env = "TWOYES_DKIM_DOMAIN", value_name = "DOMAIN")]
    pub dkim_domain: Option<String>,
    /// The origin used in every emailed link (default: http://<bind>). Workers need it too.
    #[arg(long, global = true, env = "TWOYES_BASE_URL", value_name = "URL")]
    pub base_url: Option<String>,
}

/// Where the HTTP server listens.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct HttpArgs {
    /// HTTP listen address.
    #[arg(long, env = "TWOYES_BIND", value_name = "ADDR")]
    pub bind: Option<String>,
}

/// Every setting, parsed.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub bind: SocketAddr,
    pub base_url: String,
    pub smtp: Option<SmtpSettings>,
    pub mail_from: EmailAddress,
    pub timings: Timings,
    pub smtp_retry_base: Duration,
    pub smtp_retry_max: Duration,
    pub outbox_lease: Duration,
    pub dkim: Option<DkimSettings>,
    /// Asks (and reminders) that may reach one address per day.
    pub max_asks_per_recipient_per_day: u32,
}

/// The keys `twoyes.toml` may hold; any other key is refused rather than
/// silently ignored.
const KNOWN: &[&str] = &[
    "data-dir",
    "database-url",
    "bind",
    "base-url",
    "smtp-url",
    "mail-from",
    "remind-after",
    "expire-after",
    "undo-window",
    "relay-delay",
    "reconfirm-after",
    "follow-up-after",
    "cooldown",
    "max-asks-per-recipient-per-day",
    "smtp-retry-base",
    "smtp-retry-max",
    "outbox-lease",
    "smtp-pool-size",
    "smtp-recycle-after",
    "smtp-max-per-second",
    "smtp-ca-file",
    "dkim-key",
    "dkim-selector",
    "dkim-domain",
];

fn read_file(data_dir: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let path = data_dir.join("twoyes.toml");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e).with_context(|| format!("Failed to read {}", path.display())),
    };
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", path.display()))?;
    let mut out = BTreeMap::new();
    for (key, value) in table {
        if !KNOWN.contains(&key.as_str()) {
            bail!("{}: unknown setting `{key}`", path.display());
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            other => bail!(
                "{}: `{key}` should be a string or a number, not {}",
                path.display(),
                other.type_str()
            ),
        };
        out.insert(key, text);
    }
    Ok(out)
}

impl Settings {
    pub fn resolve(args: &SettingArgs, http: &HttpArgs) -> anyhow::Result<Self> {
        let data_dir = args
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("./twoyes-data"));
        let file = read_file(&data_dir)?;
        let pick =
            |given: &Option<String>, key: &str| given.clone().or_else(|| file.get(key).cloned());
        let duration =
            |given: &Option<String>, key: &str, default: &str| -> anyhow::Result<Duration> {
                let text = pick(given, key).unwrap_or_else(|| default.to_string());
                parse_duration(&text).map_err(|e| anyhow::anyhow!("{key}: {e}"))
            };

        let database_url = pick(&args.database_url, "database-url")
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("twoyes.db").display()));
        let bind_text = pick(&http.bind, "bind").unwrap_or_else(|| "127.0.0.1:8080".into());
        let bind: SocketAddr = bind_text.parse().map_err(|_| {
            anyhow::anyhow!("bind: `{bind_text}` is not an address like 127.0.0.1:8080")
        })?;
        let base_url = pick(&args.base_url, "base-url").unwrap_or_else(|| format!("http://{bind}"));
        let base_url = parse_base_url(&base_url)?;
        let mail_from_text =
            pick(&args.mail_from, "mail-from").unwrap_or_else(|| "twoyes@localhost".into());
        let mail_from = parse_mail_from(&mail_from_text)?;
        let smtp = pick(&args.smtp_url, "smtp-url")
            .map(|u| {
                smtp::parse(
                    &u,
                    smtp::Tuning {
                        pool_size: pick(&args.smtp_pool_size, "smtp-pool-size"),
                        recycle_after: pick(&args.smtp_recycle_after, "smtp-recycle-after"),
                        max_per_second: pick(&args.smtp_max_per_second, "smtp-max-per-second"),
                        ca_file: pick(&args.smtp_ca_file, "smtp-ca-file"),
                    },
                )
            })
            .transpose()?;

        let relay_text =
            pick(&args.relay_delay, "relay-delay").unwrap_or_else(|| "24h..72h".into());
        let relay_delay: RelayDelay = relay_text
            .parse()
            .map_err(|e| anyhow::anyhow!("relay-delay: {e}"))?;
        let follow_up_text =
            pick(&args.follow_up_after, "follow-up-after").unwrap_or_else(|| "14d".into());
        let follow_up_after = if follow_up_text.trim() == "off" {
            None
        } else {
            Some(
                parse_duration(&follow_up_text)
                    .map_err(|e| anyhow::anyhow!("follow-up-after: {e}"))?,
            )
        };
        let timings = Timings {
            remind_after: duration(&args.remind_after, "remind-after", "3d")?,
            expire_after: duration(&args.expire_after, "expire-after", "7d")?,
            undo_window: duration(&args.undo_window, "undo-window", "10m")?,
            relay_delay,
            reconfirm_after: duration(&args.reconfirm_after, "reconfirm-after", "14d")?,
            follow_up_after,
            cooldown: duration(&args.cooldown, "cooldown", "90d")?,
        };
        let cap_text = pick(
            &args.max_asks_per_recipient_per_day,
            "max-asks-per-recipient-per-day",
        )
        .unwrap_or_else(|| "3".into());
        let max_asks_per_recipient_per_day: u32 = cap_text
            .trim()
            .parse()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "max-asks-per-recipient-per-day: `{cap_text}` is not a whole number of at least 1"
                )
            })?;
        if timings.expire_after.is_zero() {
            bail!("expire-after: must be longer than 0s");
        }
        let smtp_retry_base = duration(&args.smtp_retry_base, "smtp-retry-base", "30s")?;
        let smtp_retry_max = duration(&args.smtp_retry_max, "smtp-retry-max", "2h")?;
        if smtp_retry_base > smtp_retry_max {
            bail!("smtp-retry-base must not be larger than smtp-retry-max");
        }
        let outbox_lease = duration(&args.outbox_lease, "outbox-lease", "60s")?;
        if outbox_lease < Duration::from_secs(1) {
            bail!("outbox-lease: must be at least 1s");
        }
        Ok(Self {
            data_dir,
            database_url,
            bind,
            base_url,
            smtp,
            mail_from,
            timings,
            smtp_retry_base,
            smtp_retry_max,
            outbox_lease,
            max_asks_per_recipient_per_day,
            dkim: smtp::parse_dkim(
                pick(&args.dkim_key, "dkim-key"),
                pick(&args.dkim_selector, "dkim-selector"),
                pick(&args.dkim_domain, "dkim-domain"),
            )?,
        })
    }

    pub fn mail_dir(&self) -> PathBuf {
        self.data_dir.join("mail")
    }
}

fn parse_base_url(text: &str) -> anyhow::Result<String> {
    let trimmed = text.trim().trim_end_matches('/');
    let ok = (trimmed.starts_with("http://") || trimmed.starts_with("https://"))
        && trimmed.len() > "https://".len()
        && !trimmed.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        bail!("base-url: `{text}` is not an origin like https://intros.example.com");
    }
    Ok(trimmed.to_string())
}

/// The From address may be on a bare host (`twoyes@localhost`) on a laptop.
fn parse_mail_from(text: &str) -> anyhow::Result<EmailAddress> {
    EmailAddress::parse_sender(text).map_err(|e| anyhow::anyhow!("mail-from: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_lose_their_trailing_slash() {
        assert_eq!(
            parse_base_url("https://intros.example.com/").unwrap(),
            "https://intros.example.com"
        );
        assert!(parse_base_url("intros.example.com").is_err());
    }

    #[test]
    fn flags_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("twoyes.toml"),
            "undo-window = \"5m\"\nexpire-after = \"2d\"\n",
        )
        .unwrap();
        let args = SettingArgs {
            data_dir: Some(dir.path().to_path_buf()),
            undo_window: Some("1m".into()),
            ..Default::default()
        };
        let s = Settings::resolve(&args, &HttpArgs::default()).unwrap();
        assert_eq!(s.timings.undo_window, Duration::from_secs(60));
        assert_eq!(s.timings.expire_after, Duration::from_secs(2 * 86_400));
        assert_eq!(s.base_url, "http://127.0.0.1:8080");
    }

    #[test]
    fn unknown_settings_in_the_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("twoyes.toml"), "undo-windw = \"5m\"\n").unwrap();
        let args = SettingArgs {
            data_dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        };
        let err = Settings::resolve(&args, &HttpArgs::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown setting `undo-windw`"), "{err}");
    }
}
