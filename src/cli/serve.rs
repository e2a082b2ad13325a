use std::sync::Arc;

use anyhow::Context as _;

use crate::app::{Application, Overrides, make_worker, open_store, shutdown_signal};
use crate::config::Settings;
use crate::domain::SystemClock;
use crate::store::{OneTimePurpose, Store};
use crate::usecases::one_time_link;

pub async fn serve(settings: &Settings, with_worker: bool) -> anyhow::Result<()> {
    let app = Application::build(settings, with_worker, Overrides::default()).await?;
    print_setup_link(settings, app.store().as_ref()).await?;
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

/// With no account yet, the console (not the log) gets a one-time link that
/// creates the first one: there is never an open setup page.
async fn print_setup_link(settings: &Settings, store: &dyn Store) -> anyhow::Result<()> {
    if store.count_connectors().await? > 0 {
        return Ok(());
    }
    let link = one_time_link(
        store,
        &settings.base_url,
        OneTimePurpose::Setup,
        &SystemClock,
    )
    .await
    .context("Failed to create the setup link")?;
    println!(
        "\nNo account exists yet. Open this link to create the first one (it works once, for 72 hours):\n\n    {link}\n"
    );
    Ok(())
}
