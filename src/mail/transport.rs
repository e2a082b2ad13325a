//! Where built messages go: `.eml` files (the embedded default), SMTP, or
//! memory (tests).

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use lettre::address::Envelope;

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
    /// How many sends may usefully run at once (a pool's size).
    fn parallelism(&self) -> usize {
        1
    }
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
