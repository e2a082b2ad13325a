use std::sync::Arc;

use anyhow::Context as _;

use crate::app::{Application, Overrides, make_worker, open_store, shutdown_signal};
use crate::config::Settings;
use crate::store::Store;

pub async fn serve(settings: &Settings, with_worker: bool) -> anyhow::Result<()> {
    let app = Application::build(settings, with_worker, Overrides::default()).await?;
    tracing::info!(
        port = app.port(),
        base_url = %settings.base_url,
        worker = with_worker,
        "twoyes is listening on {}",
        settings.bind
    );
    if settings.smtp.is_none() && with_worker {
        tracing::info!(
            "no smtp-url set: emails are written to {}",
            settings.mail_dir().display()
        );
    }
    app.run_until_stopped().await
}

pub async fn worker(settings: &Settings) -> anyhow::Result<()> {
    let store: Arc<dyn Store> = open_store(settings).await?;
    let worker = make_worker(settings, store, &Overrides::default())?;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(worker.run(rx));
    shutdown_signal().await;
    let _ = tx.send(true);
    task.await.context("the worker task failed")
}
