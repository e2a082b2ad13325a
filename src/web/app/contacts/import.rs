//! `/contacts/import`: upload a CSV file; it is recorded as a job and read
//! in the background, a batch per transaction, while `/contacts/import/{id}`
//! shows the progress (refreshing itself, no script needed) and then the
//! result with each failed row. A job whose process died is taken up again
//! from its last committed batch when its page is next opened.

use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::csv_rows;
use crate::domain::Clock;
use crate::store::{ImportJob, ImportRow, Store, StoreError};
use crate::web::app::intro_page::not_found;
use crate::web::app::{Layout, SignedIn, page};
use crate::web::{AppState, PageError};

/// Rows per transaction.
const BATCH: usize = 200;
/// How long a running import may go without progress before another request
/// takes it over.
const LEASE: Duration = Duration::from_secs(60);

#[derive(Template)]
#[template(path = "app/contacts/import.html")]
struct FormPage {
    layout: Layout,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "app/contacts/job.html")]
struct JobPage {
    layout: Layout,
    job: ImportJob,
    running: bool,
    percent: i64,
    errors: Vec<(i64, String)>,
    more_errors: bool,
}

fn form_page(state: &AppState, me: &SignedIn, error: Option<String>) -> Response {
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut response = page(&FormPage {
        layout: Layout::new(state, me, "/contacts"),
        error,
    });
    *response.status_mut() = status;
    response
}

pub async fn form(State(state): State<AppState>, me: SignedIn) -> Response {
    form_page(&state, &me, None)
}

/// The uploaded file's name and bytes.
async fn read_upload(
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(String, Vec<u8>), String> {
    let unreadable =
        || "The upload could not be read. Choose the file and send it again.".to_string();
    let mut multipart = multipart.map_err(|_| unreadable())?;
    while let Some(field) = multipart.next_field().await.map_err(|_| unreadable())? {
        if field.name() == Some("file") {
            let name: String = field
                .file_name()
                .unwrap_or("contacts.csv")
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect();
            let bytes = field.bytes().await.map_err(|_| unreadable())?;
            if bytes.is_empty() {
                break;
            }
            return Ok((name, bytes.to_vec()));
        }
    }
    Err("Choose a CSV file to import.".into())
}

pub async fn upload(
    State(state): State<AppState>,
    me: SignedIn,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, PageError> {
    let checked = read_upload(multipart).await.and_then(|(name, bytes)| {
        let text = csv_rows::decode(&bytes)?;
        let total = csv_rows::count(&text)?;
        Ok((name, text, total))
    });
    let (name, text, total) = match checked {
        Ok(upload) => upload,
        Err(error) => return Ok(form_page(&state, &me, Some(error))),
    };
    let now = state.clock.now();
    let id = state
        .store
        .create_import(
            &me.connector.id,
            &name,
            &text,
            i64::try_from(total).unwrap_or(i64::MAX),
            now,
            now.plus(LEASE),
        )
        .await?;
    spawn(&state, id.clone());
    Ok(Redirect::to(&format!("/contacts/import/{id}")).into_response())
}

pub async fn show(
    State(state): State<AppState>,
    me: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let job = match state.store.import_job(&me.connector.id, &id).await {
        Ok(job) => job,
        Err(StoreError::NotFound) => return Err(not_found()),
        Err(e) => return Err(e.into()),
    };
    let running = job.status == "running";
    let now = state.clock.now();
    if running
        && job.lease_until < now
        && state.store.claim_import(&id, now, now.plus(LEASE)).await?
    {
        spawn(&state, id.clone());
    }
    let errors = state.store.import_errors(&id).await?;
    let more_errors = job.failed > i64::try_from(errors.len()).unwrap_or(i64::MAX);
    let percent = if job.total > 0 {
        job.processed * 100 / job.total
    } else {
        100
    };
    Ok(page(&JobPage {
        layout: Layout::new(&state, &me, "/contacts"),
        job,
        running,
        percent,
        more_errors,
        errors,
    }))
}

fn spawn(state: &AppState, id: String) {
    let store = state.store.clone();
    let clock = state.clock.clone();
    tokio::spawn(async move {
        if let Err(e) = run(store, clock, &id).await {
            tracing::error!(import = %id, error = %e, "contact import stopped; it resumes when its page is opened");
        }
    });
}

async fn run(store: Arc<dyn Store>, clock: Arc<dyn Clock>, id: &str) -> Result<(), StoreError> {
    let Some((_, text, mut processed)) = store.import_work(id).await? else {
        return Ok(());
    };
    let rows: Vec<ImportRow> = match csv_rows::rows(&text) {
        Ok(rows) => rows
            .skip(usize::try_from(processed).unwrap_or(usize::MAX))
            .collect(),
        // Checked on upload, so only a changed header rule gets here.
        Err(message) => vec![ImportRow::Invalid { line: 1, message }],
    };
    drop(text);
    for batch in rows.chunks(BATCH) {
        let now = clock.now();
        if !store
            .save_import_batch(id, processed, batch, now, now.plus(LEASE))
            .await?
        {
            // Another process took the job over.
            return Ok(());
        }
        processed += i64::try_from(batch.len()).unwrap_or(i64::MAX);
        tokio::task::yield_now().await;
    }
    store.finish_import(id, clock.now()).await
}
