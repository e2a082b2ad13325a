//! SMTP delivery: a pool of connections, each opened on our own socket with
//! `TCP_NODELAY` (lettre's own connect leaves Nagle on and stalls ~40 ms per
//! message against delayed ACKs), with STARTTLS or implicit TLS, AUTH,
//! recycling, and a shared send-rate cap.

mod rate;
mod tls;

use std::time::Duration;

use async_trait::async_trait;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::sync::{Mutex, Semaphore};
use tokio_rustls::TlsConnector;

use super::{OutgoingMessage, SendError, Transport};
use crate::config::{SmtpSettings, SmtpTls};
use crate::domain::redact_tokens;
use rate::RateLimit;

/// How one attempt on one connection went.
struct Sent {
    result: Result<(), SendError>,
    /// The connection, if it may carry another message.
    conn: Option<Pooled>,
    /// The connection was gone before the server could answer.
    lost: bool,
}

/// An open connection and how many messages it has carried.
struct Pooled {
    conn: AsyncSmtpConnection,
    sent: u32,
    idle_since: tokio::time::Instant,
}

pub struct SmtpTransport {
    settings: SmtpSettings,
    credentials: Option<Credentials>,
    hello: ClientId,
    timeout: Duration,
    starttls: Option<TlsParameters>,
    implicit: Option<TlsConnector>,
    idle: Mutex<Vec<Pooled>>,
    slots: Semaphore,
    rate: Option<RateLimit>,
}

/// The EHLO name: `HOSTNAME` when the environment sets it, otherwise the
/// machine's host name as the system reports it.
fn hello_name() -> ClientId {
    match std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()) {
        Some(name) => ClientId::Domain(name),
        None => ClientId::default(),
    }
}

/// A failed message: 5xx is permanent, everything else is worth a retry.
/// A server's reply may quote the message, so token-shaped words go.
fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    let text = redact_tokens(&e.to_string());
    if e.is_permanent() && !about_the_sender(&text) {
        SendError::Permanent(text)
    } else {
        SendError::Temporary(text)
    }
}

/// A 5xx that is about the sending account, not this message: a refused
/// sender address (5.1.7, 5.1.8), a sending quota (5.4.5), authentication
/// required (530). Such a reply would fail every email, so it is retried
/// like a settings problem until someone fixes it.
fn about_the_sender(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    ["5.1.7", "5.1.8", "5.4.5", "(530)", "530 "]
        .iter()
        .any(|code| lower.contains(code))
        || lower.contains("authentication required")
        || lower.contains("sending limit")
}

/// A failed session setup (greeting, STARTTLS, AUTH): a settings or server
/// problem, never the message's fault, so it is retried rather than failed.
fn setup_error(stage: &str, e: &lettre::transport::smtp::Error) -> SendError {
    SendError::Temporary(format!("{stage}: {}", redact_tokens(&e.to_string())))
}

/// The connection itself failed (no SMTP reply), or the server closed it
/// (421, as Postfix does to an idle connection): a fresh one may do better.
fn connection_lost(e: &lettre::transport::smtp::Error) -> bool {
    let closed_by_server = e.status().is_some_and(|code| code.to_string() == "421");
    closed_by_server || (!e.is_transient() && !e.is_permanent())
}

/// Connections idle longer than this are replaced rather than reused:
/// servers close quiet connections on their own (Postfix after 300s).
const MAX_IDLE: Duration = Duration::from_secs(60);

/// Closing must never hold up delivery: connections are closed in the
/// background, and one whose server does not answer QUIT is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

fn close_in_background(mut conn: AsyncSmtpConnection, politely: bool) {
    tokio::spawn(async move {
        if politely {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, conn.quit()).await;
        } else {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, conn.abort()).await;
        }
    });
}

impl SmtpTransport {
    /// `timeout` bounds connecting, greeting, AUTH and each message.
    pub fn new(settings: SmtpSettings, timeout: Duration) -> Result<Self, String> {
        let ca = settings.ca_file.as_deref();
        let (starttls, implicit) = match settings.tls {
            SmtpTls::Plain => (None, None),
            SmtpTls::StartTls => (Some(tls::starttls_parameters(&settings.host, ca)?), None),
            SmtpTls::Implicit => (None, Some(tls::implicit_connector(ca)?)),
        };
        Ok(Self {
            credentials: settings
                .credentials
                .clone()
                .map(|(u, p)| Credentials::new(u, p)),
            hello: hello_name(),
            timeout,
            starttls,
            implicit,
            idle: Mutex::new(Vec::new()),
            slots: Semaphore::new(settings.pool_size),
            rate: settings.max_per_second.map(RateLimit::per_second),
            settings,
        })
    }

    /// Connects, greets, secures and authenticates, all within the timeout.
    async fn open(&self) -> Result<AsyncSmtpConnection, SendError> {
        let (host, port) = (&self.settings.host, self.settings.port);
        tokio::time::timeout(self.timeout, self.connect())
            .await
            .map_err(|_| {
                SendError::Temporary(format!(
                    "the SMTP server at {host}:{port} did not greet in time"
                ))
            })?
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let (host, port) = (self.settings.host.as_str(), self.settings.port);
        let tcp = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| SendError::Temporary(format!("connecting to {host}:{port}: {e}")))?;
        tcp.set_nodelay(true)
            .map_err(|e| SendError::Temporary(format!("TCP_NODELAY: {e}")))?;
        let mut conn = match &self.implicit {
            Some(connector) => {
                let stream = tls::TlsTcp::connect(connector, host, tcp)
                    .await
                    .map_err(|e| SendError::Temporary(format!("TLS with {host}:{port}: {e}")))?;
                AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello).await
            }
            None => AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello).await,
        }
        .map_err(|e| setup_error("greeting", &e))?;
        if let Some(parameters) = &self.starttls {
            if !conn.can_starttls() {
                return Err(SendError::Temporary(format!(
                    "{host}:{port} does not offer STARTTLS, and tls=required"
                )));
            }
            conn.starttls(parameters.clone(), &self.hello)
                .await
                .map_err(|e| setup_error("STARTTLS", &e))?;
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map_err(|e| setup_error("authentication", &e))?;
        }
        Ok(conn)
    }

    /// Sends one message on `pooled`; gives the connection back if it may be reused.
    async fn send_on(&self, mut pooled: Pooled, message: &OutgoingMessage) -> Sent {
        let sending = pooled.conn.send(&message.envelope, &message.raw);
        match tokio::time::timeout(self.timeout, sending).await {
            Ok(Ok(_)) => {
                pooled.sent += 1;
                Sent {
                    result: Ok(()),
                    conn: Some(pooled),
                    lost: false,
                }
            }
            Ok(Err(e)) => {
                let result = Err(classify(&e));
                // After a refused message the session is still usable (RSET is
                // implied by the next MAIL FROM); after anything else start afresh.
                if e.is_permanent() && !pooled.conn.has_broken() {
                    Sent {
                        result,
                        conn: Some(pooled),
                        lost: false,
                    }
                } else {
                    close_in_background(pooled.conn, false);
                    Sent {
                        result,
                        conn: None,
                        lost: connection_lost(&e),
                    }
                }
            }
            Err(_) => {
                close_in_background(pooled.conn, false);
                let result = Err(SendError::Temporary(
                    "the SMTP server did not answer in time".into(),
                ));
                Sent {
                    result,
                    conn: None,
                    lost: false,
                }
            }
        }
    }

    /// Puts a connection back, or closes it once it has carried its share.
    async fn give_back(&self, pooled: Option<Pooled>) {
        let Some(pooled) = pooled else { return };
        if pooled.sent >= self.settings.recycle_after || pooled.conn.has_broken() {
            close_in_background(pooled.conn, true);
            return;
        }
        let pooled = Pooled {
            idle_since: tokio::time::Instant::now(),
            ..pooled
        };
        self.idle.lock().await.push(pooled);
    }
}

#[async_trait]
impl Transport for SmtpTransport {
    fn parallelism(&self) -> usize {
        self.settings.pool_size
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<(), SendError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| SendError::Temporary("the SMTP pool is closed".into()))?;
        if let Some(rate) = &self.rate {
            rate.wait().await;
        }
        let reused = match self.idle.lock().await.pop() {
            Some(old) if old.idle_since.elapsed() > MAX_IDLE => {
                close_in_background(old.conn, true);
                None
            }
            other => other,
        };
        let was_reused = reused.is_some();
        let pooled = match reused {
            Some(pooled) => pooled,
            None => Pooled {
                conn: self.open().await?,
                sent: 0,
                idle_since: tokio::time::Instant::now(),
            },
        };
        let mut sent = self.send_on(pooled, message).await;
        // A server may close a connection that sat idle: when a reused
        // connection turns out to be gone (no SMTP reply at all), the message
        // gets one fresh connection before the failure counts. A 4xx reply
        // is an answer, and waits for the backoff like any other.
        if was_reused && sent.lost {
            let fresh = Pooled {
                conn: self.open().await?,
                sent: 0,
                idle_since: tokio::time::Instant::now(),
            };
            sent = self.send_on(fresh, message).await;
        }
        let (result, pooled) = (sent.result, sent.conn);
        self.give_back(pooled).await;
        result
    }

    fn describe(&self) -> String {
        let tls = match self.settings.tls {
            SmtpTls::Plain => "",
            SmtpTls::StartTls => " (STARTTLS)",
            SmtpTls::Implicit => " (TLS)",
        };
        format!("SMTP at {}:{}{tls}", self.settings.host, self.settings.port)
    }
}

#[cfg(test)]
mod tests {
    use super::about_the_sender;

    #[test]
    fn refusals_about_the_sending_account_are_not_blamed_on_the_message() {
        assert!(about_the_sender(
            "permanent error (550): 5.4.5 Daily user sending limit exceeded"
        ));
        assert!(about_the_sender(
            "permanent error (553): 5.1.8 Sender address rejected"
        ));
        assert!(about_the_sender(
            "permanent error (530): 5.7.0 Authentication Required"
        ));
        assert!(!about_the_sender(
            "permanent error (550): 5.1.1 <tom@example.net>: user unknown"
        ));
        assert!(!about_the_sender(
            "permanent error (554): 5.7.1 message refused"
        ));
    }
}
