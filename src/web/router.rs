//! Every route, on one screen.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::routing::{get, post};
use tower_http::set_header::SetResponseHeaderLayer;

use super::{AppState, api, app, limiter, ops, party, trace};

pub fn router(state: AppState) -> Router {
    let party_pages = Router::new()
        .route("/o/{token}", get(party::decision::show).post(party::decision::decide))
        .route("/u/{token}", get(party::unsubscribe::show).post(party::unsubscribe::confirm))
        .route("/f/{token}", get(party::follow_up::show).post(party::follow_up::answer))
        .route("/p/{token}", get(party::preferences::show).post(party::preferences::save))
        // Links carry secrets: never cache these pages, never leak the URL.
        .layer(SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"),
        ));
    let api = Router::new()
        .route("/intros", post(api::intros::create).get(api::intros::list))
        .route("/intros/{id}", get(api::intros::show))
        .route("/intros/{id}/cancel", post(api::intros::cancel))
        .route("/intros/{id}/consent", get(api::consent::show))
        .route("/openapi.json", get(api::openapi::document))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed);
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .merge(party_pages)
        .merge(app::routes(state.clone()))
        .merge(app::assets())
        .nest("/api/v1", api)
        .layer(axum::middleware::from_fn(limiter::client_scope))
        .layer(trace::layer())
        .with_state(state)
}
