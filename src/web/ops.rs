//! For operators: health and Prometheus metrics.

use std::fmt::Write;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use super::AppState;

pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ok\n"),
        Err(e) => {
            tracing::error!(error = %e, "health check: database does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n")
        }
    }
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let snapshot = match state.store.metrics(state.clock.now()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "metrics: database does not answer");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, "text/plain")],
                String::new(),
            );
        }
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP twoyes_intros Intros by status.\n# TYPE twoyes_intros gauge"
    );
    for status in crate::domain::IntroStatus::ALL {
        let n = snapshot
            .intros_by_status
            .iter()
            .find(|(k, _)| k == status.as_str())
            .map_or(0, |(_, n)| *n);
        let _ = writeln!(out, "twoyes_intros{{status=\"{}\"}} {n}", status.as_str());
    }
    let _ = writeln!(
        out,
        "# HELP twoyes_decisions_total Decisions taken by parties.\n# TYPE twoyes_decisions_total counter"
    );
    for kind in [
        "decided_yes",
        "decided_not_now",
        "decided_no",
        "withdrawn",
        "undone",
    ] {
        let n = snapshot
            .decisions_by_kind
            .iter()
            .find(|(k, _)| k == kind)
            .map_or(0, |(_, n)| *n);
        let _ = writeln!(out, "twoyes_decisions_total{{decision=\"{kind}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP twoyes_emails Emails by kind and delivery state.\n# TYPE twoyes_emails gauge"
    );
    for (key, n) in &snapshot.outbox_by_status {
        let (kind, status) = key.split_once(':').unwrap_or((key, ""));
        let _ = writeln!(
            out,
            "twoyes_emails{{kind=\"{kind}\",status=\"{status}\"}} {n}"
        );
    }
    let sent: i64 = snapshot
        .outbox_by_status
        .iter()
        .filter(|(k, _)| k.ends_with(":sent"))
        .map(|(_, n)| n)
        .sum();
    let failed: i64 = snapshot
        .outbox_by_status
        .iter()
        .filter(|(k, _)| k.ends_with(":failed"))
        .map(|(_, n)| n)
        .sum();
    let _ = writeln!(
        out,
        "# HELP twoyes_emails_sent_total Emails delivered.\n# TYPE twoyes_emails_sent_total counter\ntwoyes_emails_sent_total {sent}"
    );
    let _ = writeln!(
        out,
        "# HELP twoyes_emails_failed_total Emails that failed for good.\n# TYPE twoyes_emails_failed_total counter\ntwoyes_emails_failed_total {failed}"
    );
    let _ = writeln!(
        out,
        "# HELP twoyes_outbox_depth Emails due and not yet sent.\n# TYPE twoyes_outbox_depth gauge\ntwoyes_outbox_depth {}",
        snapshot.outbox_pending
    );
    let _ = writeln!(
        out,
        "# HELP twoyes_outbox_oldest_age_seconds Age of the oldest due email.\n# TYPE twoyes_outbox_oldest_age_seconds gauge\ntwoyes_outbox_oldest_age_seconds {}",
        snapshot.oldest_pending_age_seconds
    );
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        out,
    )
}
