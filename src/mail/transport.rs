//! Where built messages go: `.eml` files (the embedded default), SMTP, or
//! memory (tests).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use tokio::sync::Mutex;

/// A message ready to go: its envelope and its bytes.
#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    pub outbox_id: String,
    pub message_id: String,
    pub envelope: Envelope,
    pub raw: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later (4xx, timeouts, connection trouble).
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// The server refused for good (5xx).
    #[error("permanent failure: {0}")]
    Permanent(String),
}

#[async_trait]
pub trait Transport: Send + Sync + 'static {
    async fn send(&self, message: &OutgoingMessage) -> Result<(), SendError>;
    fn describe(&self) -> String;
}

/// Writes each message to `<dir>/<outbox-id>.eml`. A retry of the same row
/// overwrites the same file, so a message is never written twice.
pub struct FileTransport {
    dir: PathBuf,
}

impl FileTransport {
    pub fn new(dir: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }
}

#[async_trait]
impl Transport for FileTransport {
    async fn send(&self, message: &OutgoingMessage) -> Result<(), SendError> {
        let name: String = message
            .outbox_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        let path = self.dir.join(format!("{name}.eml"));
        let tmp = self.dir.join(format!(".{name}.eml.tmp"));
        let raw = message.raw.clone();
        let write = move || -> std::io::Result<()> {
            use std::io::Write;
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&raw)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        tokio::task::spawn_blocking(write)
            .await
            .map_err(|e| SendError::Temporary(format!("writing the mail file: {e}")))?
            .map_err(|e| SendError::Temporary(format!("writing the mail file: {e}")))
    }

    fn describe(&self) -> String {
        format!("mail files in {}", self.dir.display())
    }
}

/// Keeps messages in memory, for tests.
#[derive(Default, Clone)]
pub struct MemoryTransport {
    sent: Arc<std::sync::Mutex<Vec<OutgoingMessage>>>,
}

impl MemoryTransport {
    pub fn messages(&self) -> Vec<OutgoingMessage> {
        self.sent.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Transport for MemoryTransport {
    async fn send(&self, message: &OutgoingMessage) -> Result<(), SendError> {
        match self.sent.lock() {
            Ok(mut sent) => {
                sent.push(message.clone());
                Ok(())
            }
            Err(_) => Err(SendError::Temporary("memory transport poisoned".into())),
        }
    }

    fn describe(&self) -> String {
        "memory".into()
    }
}

/// Plain SMTP over one reused connection. The socket is opened by us with
/// `TCP_NODELAY`: lettre's own connect leaves Nagle on and stalls ~40 ms per
/// message against delayed ACKs.
pub struct SmtpTransport {
    host: String,
    port: u16,
    credentials: Option<Credentials>,
    hello: ClientId,
    connection: Mutex<Option<AsyncSmtpConnection>>,
    timeout: Duration,
}

impl SmtpTransport {
    pub fn new(
        host: String,
        port: u16,
        credentials: Option<(String, String)>,
        timeout: Duration,
    ) -> Self {
        let hello = ClientId::Domain(hostname_or_localhost());
        Self {
            host,
            port,
            credentials: credentials.map(|(u, p)| Credentials::new(u, p)),
            hello,
            connection: Mutex::new(None),
            timeout,
        }
    }

    /// Connects, greets and authenticates, all within the timeout.
    async fn open(&self) -> Result<AsyncSmtpConnection, SendError> {
        tokio::time::timeout(self.timeout, self.connect())
            .await
            .map_err(|_| {
                SendError::Temporary(format!(
                    "the SMTP server at {}:{} did not greet in time",
                    self.host, self.port
                ))
            })?
    }

    /// Sends one message; gives the connection back if it can be reused.
    async fn send_on(
        &self,
        mut conn: AsyncSmtpConnection,
        message: &OutgoingMessage,
    ) -> (Result<(), SendError>, Option<AsyncSmtpConnection>) {
        let result =
            tokio::time::timeout(self.timeout, conn.send(&message.envelope, &message.raw)).await;
        match result {
            Ok(Ok(_)) => (Ok(()), Some(conn)),
            Ok(Err(e)) => {
                let err = classify(e);
                // After a refused message the session is still usable; after
                // anything else start afresh.
                if matches!(err, SendError::Permanent(_)) && !conn.has_broken() {
                    (Err(err), Some(conn))
                } else {
                    conn.abort().await;
                    (Err(err), None)
                }
            }
            Err(_) => {
                conn.abort().await;
                (
                    Err(SendError::Temporary(
                        "the SMTP server did not answer in time".into(),
                    )),
                    None,
                )
            }
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let addr = (self.host.as_str(), self.port);
        let stream = tokio::time::timeout(self.timeout, tokio::net::TcpStream::connect(addr))
            .await
            .map_err(|_| {
                SendError::Temporary(format!(
                    "connecting to {}:{} timed out",
                    self.host, self.port
                ))
            })?
            .map_err(|e| {
                SendError::Temporary(format!("connecting to {}:{}: {e}", self.host, self.port))
            })?;
        stream
            .set_nodelay(true)
            .map_err(|e| SendError::Temporary(format!("TCP_NODELAY: {e}")))?;
        let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello)
            .await
            .map_err(classify)?;
        if let Some(creds) = &self.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], creds)
                .await
                .map_err(classify)?;
        }
        Ok(conn)
    }
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

#[async_trait]
impl Transport for SmtpTransport {
    async fn send(&self, message: &OutgoingMessage) -> Result<(), SendError> {
        let mut slot = self.connection.lock().await;
        let reused = slot.take().filter(|conn| !conn.has_broken());
        let was_reused = reused.is_some();
        let conn = match reused {
            Some(conn) => conn,
            None => self.open().await?,
        };
        match self.send_on(conn, message).await {
            (Ok(()), conn) => {
                *slot = conn;
                Ok(())
            }
            // A server may close a connection that sat idle: a failure on a
            // reused connection gets one fresh connection before it counts.
            (Err(SendError::Temporary(_)), _) if was_reused => {
                let conn = self.open().await?;
                let (result, conn) = self.send_on(conn, message).await;
                *slot = conn;
                result
            }
            (Err(e), conn) => {
                *slot = conn;
                Err(e)
            }
        }
    }

    fn describe(&self) -> String {
        format!("SMTP at {}:{}", self.host, self.port)
    }
}
