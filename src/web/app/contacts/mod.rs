//! `/contacts`: the people a connector knows. A searchable list in keyset
//! pages, and each person's page: their intros with this connector and how
//! they answered, how the connector knows them, notes (editable). CSV import
//! lives in `import`.

mod csv_rows;
mod import;

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use super::intro_page::{not_found, when};
use super::{Layout, SignedIn, page};
use crate::domain::{Intro, PersonName};
use crate::store::{Contact, ContactEdit, ContactSearch, ContactText, StoreError};
use crate::web::{AppState, PageError};

const PAGE: u32 = 50;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/contacts", get(list))
        .route("/contacts/import", get(import::form).post(import::upload))
        .route("/contacts/import/{id}", get(import::show))
        .route("/contacts/{id}", get(show).post(edit))
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    after: Option<String>,
}

pub struct Row {
    pub id: String,
    pub name: String,
    pub email: String,
    pub how_known: String,
    pub last_used: String,
}

#[derive(Template)]
#[template(path = "app/contacts/list.html")]
struct ListPage {
    layout: Layout,
    q: String,
    rows: Vec<Row>,
    total: i64,
    next: Option<String>,
    first_page: bool,
    first_href: String,
}

fn list_href(q: &str, after: Option<&str>) -> String {
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    if !q.is_empty() {
        pairs.push(("q", q));
    }
    if let Some(after) = after {
        pairs.push(("after", after));
    }
    match serde_urlencoded::to_string(&pairs) {
        Ok(query) if !query.is_empty() => format!("/contacts?{query}"),
        _ => "/contacts".to_string(),
    }
}

async fn list(
    State(state): State<AppState>,
    me: SignedIn,
    Query(query): Query<ListQuery>,
) -> Result<Response, PageError> {
    let q = query.q.unwrap_or_default().trim().to_string();
    let total = state.store.contact_count(&me.connector.id).await?;
    let mut contacts = state
        .store
        .search_contacts(&ContactSearch {
            connector_id: me.connector.id.clone(),
            query: Some(q.clone()),
            after: query.after.clone(),
            limit: PAGE + 1,
        })
        .await?;
    let next = if contacts.len() > PAGE as usize {
        contacts.truncate(PAGE as usize);
        contacts.last().map(|c| list_href(&q, Some(&c.id)))
    } else {
        None
    };
    let rows = contacts
        .into_iter()
        .map(|c| Row {
            last_used: c.last_used_at.map(|t| t.human_date()).unwrap_or_default(),
            id: c.id,
            name: c.name,
            email: c.email,
            how_known: c.how_known,
        })
        .collect();
    Ok(page(&ListPage {
        layout: Layout::new(&state, &me, "/contacts"),
        first_href: list_href(&q, None),
        q,
        rows,
        total,
        next,
        first_page: query.after.is_none(),
    }))
}

/// One intro of the contact, from the contact's side.
pub struct IntroLine {
    pub id: String,
    pub topic: String,
    pub role: &'static str,
    pub other: String,
    pub consent: &'static str,
    pub status: &'static str,
    pub created: String,
}

fn intro_line(intro: &Intro, email_key: &str) -> IntroLine {
    let (me, other, role) = if intro.requester.email.normalized() == email_key {
        (&intro.requester, &intro.target, "requester")
    } else {
        (&intro.target, &intro.requester, "target")
    };
    IntroLine {
        id: intro.id.clone(),
        topic: intro.topic.to_string(),
        role,
        other: other.name.to_string(),
        consent: me.consent.as_str(),
        status: intro.status.as_str(),
        created: when(intro.created_at),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct EditForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    how_known: String,
    #[serde(default)]
    notes: String,
}

#[derive(Template)]
#[template(path = "app/contacts/show.html")]
struct ShowPage {
    layout: Layout,
    contact: Contact,
    form: EditForm,
    intros: Vec<IntroLine>,
    error: Option<String>,
    saved: bool,
    added: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    saved: Option<String>,
}

async fn load(state: &AppState, me: &SignedIn, id: &str) -> Result<Contact, PageError> {
    match state.store.contact(&me.connector.id, id).await {
        Ok(c) => Ok(c),
        Err(StoreError::NotFound) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}

async fn render_show(
    state: &AppState,
    me: &SignedIn,
    contact: Contact,
    form: EditForm,
    error: Option<String>,
    saved: bool,
) -> Result<Response, PageError> {
    let key = contact.email.to_ascii_lowercase();
    let intros = state
        .store
        .contact_intros(&me.connector.id, &contact.email)
        .await?
        .iter()
        .map(|i| intro_line(i, &key))
        .collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut response = page(&ShowPage {
        layout: Layout::new(state, me, "/contacts"),
        added: contact.created_at.human_date(),
        contact,
        form,
        intros,
        error,
        saved,
    });
    *response.status_mut() = status;
    Ok(response)
}

async fn show(
    State(state): State<AppState>,
    me: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<ShowQuery>,
) -> Result<Response, PageError> {
    let contact = load(&state, &me, &id).await?;
    let form = EditForm {
        name: contact.name.clone(),
        how_known: contact.how_known.clone(),
        notes: contact.notes.clone(),
    };
    render_show(&state, &me, contact, form, None, query.saved.is_some()).await
}

fn parse_edit(form: &EditForm) -> Result<ContactEdit, String> {
    Ok(ContactEdit {
        name: PersonName::parse(&form.name).map_err(|e| format!("Name: {e}"))?,
        how_known: ContactText::how_known(&form.how_known).map_err(|e| e.to_string())?,
        notes: ContactText::notes(&form.notes).map_err(|e| e.to_string())?,
    })
}

async fn edit(
    State(state): State<AppState>,
    me: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<EditForm>,
) -> Result<Response, PageError> {
    let contact = load(&state, &me, &id).await?;
    let edit = match parse_edit(&form) {
        Ok(edit) => edit,
        Err(error) => return render_show(&state, &me, contact, form, Some(error), false).await,
    };
    match state
        .store
        .update_contact(&me.connector.id, &id, &edit, state.clock.now())
        .await
    {
        Ok(()) => Ok(Redirect::to(&format!("/contacts/{id}?saved=1")).into_response()),
        Err(StoreError::NotFound) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}
