//! Wiring: settings in, a running server (and worker) out.
//! `Application::build` → `port()` → `run_until_stopped()`, so tests boot the
//! real thing on port 0.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Settings;
use crate::domain::{Clock, SystemClock};
use crate::mail::dkim::DkimSigner;
use crate::mail::{FileTransport, SmtpTransport, Transport};
use crate::store::{SqlStore, Store, StoreOptions, WORKER_POLL};
use crate::web::{AppState, router};
use crate::worker::{Worker, WorkerSettings};

/// What tests (or embedders) may swap out.
#[derive(Clone, Default)]
pub struct Overrides {
    pub clock: Option<Arc<dyn Clock>>,
    pub transport: Option<Arc<dyn Transport>>,
    /// How long an idle worker sleeps before looking again (default and
    /// most: `store::WORKER_POLL`, since commits wake workers only for work
    /// due sooner than that).
    pub idle_poll: Option<Duration>,
}

/// Reads the key emailed links are derived from, creating it on first run.
/// Processes that start together agree on one key: it is written to a
/// temporary file and linked into place only if no key exists yet.
pub fn load_or_create_secret(data_dir: &Path) -> anyhow::Result<Arc<Vec<u8>>> {
    let path = data_dir.join("secret.key");
    if !path.exists() {
        create_secret(data_dir, &path)?;
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("Failed to read {}", path.display()))?;
    let bytes =
        hex::decode(text.trim()).with_context(|| format!("{} is not a hex key", path.display()))?;
    anyhow::ensure!(
        bytes.len() >= 32,
        "{} is too short to be a key",
        path.display()
    );
    Ok(Arc::new(bytes))
}

fn create_secret(data_dir: &Path, path: &Path) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("Failed to create {}", data_dir.display()))?;
    let tmp = data_dir.join(format!(".secret.key.{}", uuid::Uuid::now_v7().simple()));
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("Failed to create {}", tmp.display()))?;
    file.write_all(hex::encode(key).as_bytes())?;
    file.sync_all()?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("Failed to create {}", path.display())),
    }
}

/// Opens the database the settings name and brings its schema up to date.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<SqlStore>> {
    std::fs::create_dir_all(&settings.data_dir).with_context(|| {
        format!(
            "Failed to create the data directory {}",
            settings.data_dir.display()
        )
    })?;
    let options = StoreOptions {
        token_secret: load_or_create_secret(&settings.data_dir)?,
        message_id_domain: settings.mail_from.domain().to_string(),
        max_connections: 8,
    };
    let store = SqlStore::connect(&settings.database_url, options)
        .await
        .context("Failed to open the database")?;
    store
        .migrate()
        .await
        .context("Failed to bring the database schema up to date")?;
    Ok(Arc::new(store))
}

/// The DKIM signer the settings ask for, if any.
pub fn make_dkim_signer(settings: &Settings) -> anyhow::Result<Option<Arc<DkimSigner>>> {
    let Some(dkim) = &settings.dkim else {
        return Ok(None);
    };
    let signer =
        DkimSigner::new(&dkim.key_pem, &dkim.selector, &dkim.domain).context("dkim-key")?;
    Ok(Some(Arc::new(signer)))
}

pub fn make_transport(settings: &Settings) -> anyhow::Result<Arc<dyn Transport>> {
    Ok(match &settings.smtp {
        None => Arc::new(
            FileTransport::new(settings.mail_dir())
                .with_context(|| format!("Failed to create {}", settings.mail_dir().display()))?,
        ),
        Some(smtp) => {
            // A send must end well inside the lease, or another worker could
            // take the email over while it is still being sent.
            let timeout = (settings.outbox_lease / 3).min(Duration::from_secs(30));
            Arc::new(SmtpTransport::new(smtp.clone(), timeout).map_err(anyhow::Error::msg)?)
        }
    })
}

pub fn make_worker(
    settings: &Settings,
    store: Arc<dyn Store>,
    overrides: &Overrides,
) -> anyhow::Result<Worker> {
    store.start_wakeup_listener();
    let clock = overrides
        .clock
        .clone()
        .unwrap_or_else(|| Arc::new(SystemClock));
    let transport = match &overrides.transport {
        Some(t) => t.clone(),
        None => make_transport(settings)?,
    };
    let worker_settings = WorkerSettings {
        base_url: settings.base_url.clone(),
        mail_from: settings.mail_from.to_string(),
        timings: settings.timings,
        retry_base: settings.smtp_retry_base,
        retry_max: settings.smtp_retry_max,
        lease: settings.outbox_lease,
        idle_poll: overrides
            .idle_poll
            .map_or(WORKER_POLL, |poll| poll.min(WORKER_POLL)),
        token_secret: load_or_create_secret(&settings.data_dir)?,
        dkim: make_dkim_signer(settings)?,
        max_asks_per_day: settings.max_asks_per_recipient_per_day,
    };
    Ok(Worker::new(store, clock, transport, worker_settings))
}

pub struct Application {
    listener: TcpListener,
    port: u16,
    state: AppState,
    worker: Option<Worker>,
}

impl Application {
    pub async fn build(
        settings: &Settings,
        with_worker: bool,
        overrides: Overrides,
    ) -> anyhow::Result<Self> {
        let store: Arc<dyn Store> = open_store(settings).await?;
        let clock = overrides
            .clock
            .clone()
            .unwrap_or_else(|| Arc::new(SystemClock));
        let worker = if with_worker {
            Some(make_worker(settings, store.clone(), &overrides)?)
        } else {
            None
        };
        let listener = TcpListener::bind(settings.bind)
            .await
            .with_context(|| format!("Failed to listen on {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let state = AppState {
            store,
            clock,
            timings: settings.timings,
            secret: load_or_create_secret(&settings.data_dir)?,
            base_url: settings.base_url.as_str().into(),
            mail_dir: (settings.smtp.is_none() && overrides.transport.is_none())
                .then(|| settings.mail_dir().into()),
            limiter: Arc::default(),
        };
        Ok(Self {
            listener,
            port,
            state,
            worker,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.state.store.clone()
    }

    /// Serves until Ctrl-C or SIGTERM, then finishes in-flight requests.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (tx, rx) = watch::channel(false);
        let worker = self.worker.map(|w| tokio::spawn(w.run(rx.clone())));
        let mut server_rx = rx.clone();
        let app = router(self.state);
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        let server = axum::serve(self.listener, app).with_graceful_shutdown(async move {
            let _ = server_rx.wait_for(|stop| *stop).await;
        });
        let server = tokio::spawn(async move { server.await });
        stop.await;
        let _ = tx.send(true);
        server
            .await
            .context("the HTTP server task failed")?
            .context("the HTTP server failed")?;
        if let Some(worker) = worker {
            worker.await.context("the worker task failed")?;
        }
        Ok(())
    }
}

pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
