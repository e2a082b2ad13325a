//! The worker: delivers the outbox and runs the scheduler's timers. Any
//! number may run against one database; leases keep them from sending one
//! row twice.

mod backoff;
mod delivery;
mod delivery_plan;
mod request_mail;
mod scheduler;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::domain::machine::{Channel, Context};
use crate::domain::{Clock, Timings};
use crate::mail::{Composer, Transport};
use crate::store::Store;

pub use backoff::full_jitter;

/// What the worker needs to know about the installation.
#[derive(Clone)]
pub struct WorkerSettings {
    pub base_url: String,
    pub mail_from: String,
    pub timings: Timings,
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// How long a claimed email stays reserved for this worker.
    pub lease: Duration,
    /// The longest the worker sleeps without looking for work (other
    /// processes may have added some).
    pub idle_poll: Duration,
    pub token_secret: Arc<Vec<u8>>,
    /// Signs every message when DKIM is configured.
    pub dkim: Option<Arc<crate::mail::dkim::DkimSigner>>,
    /// Asks and reminders that may reach one address in a day.
    pub max_asks_per_day: u32,
}

pub struct Worker {
    pub(crate) id: String,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) composer: Composer,
    pub(crate) settings: WorkerSettings,
}

impl Worker {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        transport: Arc<dyn Transport>,
        settings: WorkerSettings,
    ) -> Self {
        let id = format!("{}-{}", std::process::id(), uuid::Uuid::now_v7().simple());
        Self {
            id,
            store,
            clock,
            transport,
            composer: Composer::new(),
            settings,
        }
    }

    pub(crate) fn context(&self) -> Context {
        Context {
            now: self.clock.now(),
            timings: self.settings.timings,
            channel: Channel::Scheduler,
            relay_sample: rand::random::<f64>(),
        }
    }

    /// Runs until `shutdown` turns true. Errors are logged and retried after
    /// a pause; the worker never gives up on its own.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(worker = %self.id, transport = %self.transport.describe(), "worker started");
        let wake = self.store.wakeups();
        loop {
            if *shutdown.borrow() {
                break;
            }
            let notified = wake.notified();
            let busy = match self.run_once().await {
                Ok(did_work) => did_work,
                Err(e) => {
                    tracing::error!(error = %e, "worker pass failed; retrying shortly");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = shutdown.changed() => {}
                    }
                    continue;
                }
            };
            if busy {
                continue;
            }
            let pause = self.idle_pause().await;
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!(worker = %self.id, "worker stopped");
    }

    /// One pass of timers and deliveries; true if it did anything.
    pub async fn run_once(&self) -> anyhow::Result<bool> {
        let timers = self.run_due_timers().await?;
        let sent = self.deliver_due().await?;
        Ok(timers + sent > 0)
    }

    /// How long to sleep: until the next timer or email is due, at most `idle_poll`.
    async fn idle_pause(&self) -> Duration {
        let now = self.clock.now();
        let next = [
            self.store.next_due_at().await,
            self.store.next_outbox_at().await,
        ]
        .into_iter()
        .filter_map(|r| r.ok().flatten())
        .min();
        match next {
            Some(at) => now
                .until(at)
                .clamp(Duration::from_millis(5), self.settings.idle_poll),
            None => self.settings.idle_poll,
        }
    }
}
