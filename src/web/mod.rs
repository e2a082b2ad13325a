//! HTTP: the connector's web app, party pages (`/o`, `/u`, `/f`), the JSON
//! API, health and metrics.

pub mod api;
pub mod app;
mod error;
pub mod limiter;
mod ops;
pub mod party;
mod router;
mod trace;

use std::sync::Arc;

use crate::domain::{Clock, Timings};
use crate::store::Store;

pub use error::{ApiError, PageError};
pub use router::router;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub timings: Timings,
    /// The key emailed links and form tokens are derived from.
    pub secret: Arc<Vec<u8>>,
    /// The origin of every link twoyes shows or sends. (Shared, like the
    /// rest: every request clones the state.)
    pub base_url: Arc<str>,
    /// Where the file transport writes emails (the local mailbox), if it is
    /// the transport in use.
    pub mail_dir: Option<Arc<std::path::Path>>,
    /// Counts lookups of unknown tokens per client (`limiter`).
    pub limiter: Arc<limiter::TokenLimiter>,
}
