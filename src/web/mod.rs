//! HTTP: party pages (`/o`, `/u`, `/f`), the JSON API, health and metrics.

pub mod api;
mod error;
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
}
