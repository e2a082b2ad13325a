//! `/mailbox`: with the file transport (the embedded default), the emails
//! twoyes wrote for this connector, read back from `<data-dir>/mail/`, so
//! the whole flow can be tried in a browser: the links in them are real.
//! A file belongs to a connector through its outbox row (the file is named
//! after it). Without the file transport, these pages do not exist.

mod message;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use super::intro_page::{not_found, when};
use super::{Layout, SignedIn, page};
use crate::store::SentMail;
use crate::web::{AppState, PageError};
use message::{Segment, ShownMail};

const PAGE: u32 = 50;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/mailbox", get(list))
        .route("/mailbox/{id}", get(show))
}

/// The mail directory, or 404 when mail does not go to files.
fn mail_dir(state: &AppState) -> Result<&std::path::Path, PageError> {
    state.mail_dir.as_deref().ok_or_else(not_found)
}

/// The file an outbox row was written to (the same name `FileTransport` uses).
async fn read_mail(dir: &std::path::Path, outbox_id: &str) -> Option<ShownMail> {
    let name: String = outbox_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let raw = tokio::fs::read(dir.join(format!("{name}.eml")))
        .await
        .ok()?;
    Some(message::parse(&raw))
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    before: Option<String>,
}

pub struct Row {
    pub id: String,
    pub subject: String,
    pub to: String,
    pub kind: String,
    pub sent: String,
}

#[derive(Template)]
#[template(path = "app/mailbox/list.html")]
struct ListPage {
    layout: Layout,
    dir: String,
    rows: Vec<Row>,
    older: Option<String>,
    first_page: bool,
}

async fn row(dir: &std::path::Path, m: &SentMail) -> Row {
    let shown = read_mail(dir, &m.outbox_id).await;
    Row {
        id: m.outbox_id.clone(),
        subject: shown
            .as_ref()
            .map(|s| s.subject.clone())
            .unwrap_or_else(|| "(the file is no longer there)".into()),
        to: shown.map(|s| s.to).unwrap_or_default(),
        kind: m.kind.replace('_', " "),
        sent: m.sent_at.map(when).unwrap_or_default(),
    }
}

async fn list(
    State(state): State<AppState>,
    me: SignedIn,
    Query(query): Query<ListQuery>,
) -> Result<Response, PageError> {
    let dir = mail_dir(&state)?;
    let mut mails = state
        .store
        .sent_mail(&me.connector.id, query.before.as_deref(), PAGE + 1)
        .await?;
    let older = if mails.len() > PAGE as usize {
        mails.truncate(PAGE as usize);
        mails
            .last()
            .map(|m| format!("/mailbox?before={}", m.outbox_id))
    } else {
        None
    };
    let mut rows = Vec::with_capacity(mails.len());
    for m in &mails {
        rows.push(row(dir, m).await);
    }
    Ok(page(&ListPage {
        layout: Layout::new(&state, &me, "/mailbox"),
        dir: dir.display().to_string(),
        rows,
        older,
        first_page: query.before.is_none(),
    }))
}

#[derive(Template)]
#[template(path = "app/mailbox/show.html")]
struct ShowPage {
    layout: Layout,
    mail: ShownMail,
    intro_id: Option<String>,
    segments: Vec<Segment>,
}

async fn show(
    State(state): State<AppState>,
    me: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let dir = mail_dir(&state)?;
    let Some(item) = state.store.sent_mail_item(&me.connector.id, &id).await? else {
        return Err(not_found());
    };
    let Some(mail) = read_mail(dir, &item.outbox_id).await else {
        return Err(not_found());
    };
    Ok(page(&ShowPage {
        layout: Layout::new(&state, &me, "/mailbox"),
        // The installation's administrator can read the mail files on disk
        // anyway, and needs the links to try twoyes out end to end; any
        // other connector sees where a private link was, not the link.
        segments: if me.connector.is_admin {
            message::linkify(&mail.text)
        } else {
            message::mask_private_links(message::linkify(&mail.text))
        },
        intro_id: item.intro_id.filter(|i| !i.is_empty()),
        mail,
    }))
}
