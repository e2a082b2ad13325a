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
use rate::RateLimit;

/// An open connection and how many messages it has carried.
struct Pooled {
    conn: AsyncSmtpConnection,
    sent: u32,
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

fn hostname_or_localhost() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

fn classify(e: lettre::transport::smtp::Error) -> SendError {
    if e.is_permanent() {
        SendError::Permanent(e.to_string())
    } else {
        SendError::Temporary(e.to_string())
    }
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
            hello: ClientId::Domain(hostname_or_localhost()),
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
        .map_err(classify)?;
        if let Some(parameters) = &self.starttls {
            if !conn.can_starttls() {
                return Err(SendError::Temporary(format!(
                    "{host}:{port} does not offer STARTTLS, and tls=required"
                )));
            }
            conn.starttls(parameters.clone(), &self.hello)
                .await
                .map_err(classify)?;
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map_err(classify)?;
        }
        Ok(conn)
    }

    /// Sends one message on `pooled`; gives the connection back if it may be reused.
    async fn send_on(
        &self,
        mut pooled: Pooled,
        message: &OutgoingMessage,
    ) -> (Result<(), SendError>, Option<Pooled>) {
        let sending = pooled.conn.send(&message.envelope, &message.raw);
        match tokio::time::timeout(self.timeout, sending).await {
            Ok(Ok(_)) => {
                pooled.sent += 1;
                (Ok(()), Some(pooled))
            }
            Ok(Err(e)) => {
                let err = classify(e);
                // After a refused message the session is still usable (RSET is
                // implied by the next MAIL FROM); after anything else start afresh.
                if matches!(err, SendError::Permanent(_)) && !pooled.conn.has_broken() {
                    (Err(err), Some(pooled))
                } else {
                    pooled.conn.abort().await;
                    (Err(err), None)
                }
            }
            Err(_) => {
                pooled.conn.abort().await;
                (
                    Err(SendError::Temporary(
                        "the SMTP server did not answer in time".into(),
                    )),
                    None,
                )
            }
        }
    }

    /// Puts a connection back, or closes it once it has carried its share.
    async fn give_back(&self, pooled: Option<Pooled>) {
        let Some(mut pooled) = pooled else { return };
        if pooled.sent >= self.settings.recycle_after || pooled.conn.has_broken() {
            let _ = pooled.conn.quit().await;
            return;
        }
        self.idle.lock().await.push(pooled);
    }
}

#[async_trait]
impl Transport for SmtpTransport {
    async fn send(&self, message: &OutgoingMessage) -> Result<(), SendError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| SendError::Temporary("the SMTP pool is closed".into()))?;
        if let Some(rate) = &self.rate {
            rate.wait().await;
        }
        let reused = self.idle.lock().await.pop();
        let was_reused = reused.is_some();
        let pooled = match reused {
            Some(pooled) => pooled,
            None => Pooled {
                conn: self.open().await?,
                sent: 0,
            },
        };
        let (result, pooled) = match self.send_on(pooled, message).await {
            // A server may close a connection that sat idle: a failure on a
            // reused connection gets one fresh connection before it counts.
            (Err(SendError::Temporary(_)), _) if was_reused => {
                let fresh = Pooled {
                    conn: self.open().await?,
                    sent: 0,
                };
                self.send_on(fresh, message).await
            }
            other => other,
        };
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
