//! The connector's web app: server-rendered pages (askama), a session per
//! browser, CSRF on every form. Works without JavaScript; `app.js` only adds
//! conveniences (word counters).

pub mod auth;
mod contacts;
pub mod csrf;
mod dashboard;
mod intro_page;
mod mailbox;
pub mod new_intro;
pub mod requests;
pub mod session;
mod settings;
mod settings_wording;
mod stats;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::set_header::SetResponseHeaderLayer;

use super::AppState;
pub use session::SignedIn;

/// What the shared page frame shows: who is signed in, the form token, and
/// which part of the app the page belongs to.
pub struct Layout {
    pub connector_name: String,
    pub csrf: String,
    pub current: &'static str,
    pub mailbox: bool,
}

impl Layout {
    pub fn new(state: &AppState, me: &SignedIn, current: &'static str) -> Self {
        Self {
            connector_name: me.connector.name.to_string(),
            csrf: me.csrf.clone(),
            current,
            mailbox: state.mail_dir.is_some(),
        }
    }

    /// (path, label, is the current page)
    pub fn nav_items(&self) -> Vec<(&'static str, &'static str, bool)> {
        let mut items = vec![
            ("/", "Intros"),
            ("/intros/new", "New intro"),
            ("/requests", "Requests"),
            ("/contacts", "Contacts"),
            ("/stats", "Statistics"),
        ];
        if self.mailbox {
            items.push(("/mailbox", "Mailbox"));
        }
        items.push(("/settings", "Settings"));
        items
            .into_iter()
            .map(|(path, label)| (path, label, path == self.current))
            .collect()
    }
}

/// Renders a page, or explains that it could not be.
pub fn page(template: &impl askama::Template) -> Response {
    match template.render() {
        Ok(html) => axum::response::Html(html).into_response(),
        Err(e) => super::PageError::internal(&e).into_response(),
    }
}

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route(
            "/setup/{token}",
            get(auth::one_time_page).post(auth::one_time_submit),
        )
        .route(
            "/password/{token}",
            get(auth::one_time_page).post(auth::one_time_submit),
        )
        .route("/", get(dashboard::show))
        .route("/intros/new", get(new_intro::form).post(new_intro::submit))
        .route("/intros/{id}", get(intro_page::show))
        .route("/intros/{id}/cancel", post(intro_page::cancel))
        .merge(requests::routes())
        .merge(contacts::routes())
        .merge(stats::routes())
        .merge(mailbox::routes())
        .merge(settings::routes())
        .layer(middleware::from_fn_with_state(state, csrf::verify))
        .layer(DefaultBodyLimit::max(csrf::MAX_FORM_BYTES))
        // Pages show private data: never cache them, never frame them, and
        // run no script but our own file.
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
}

pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// `/static/app.css` and `/static/app.js`, built into the binary.
pub fn assets() -> Router<AppState> {
    let css = || async {
        (
            [
                (header::CONTENT_TYPE, "text/css; charset=utf-8"),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            include_str!("../../../assets/app.css"),
        )
    };
    let js = || async {
        (
            [
                (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            include_str!("../../../assets/app.js"),
        )
    };
    Router::new()
        .route("/static/app.css", get(css))
        .route("/static/app.js", get(js))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
}
