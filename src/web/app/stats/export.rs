//! `/stats.csv`: the numbers of the statistics page, one row per month and
//! a `total` row, for a spreadsheet.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::load;
use crate::store::Stats;
use crate::web::app::SignedIn;
use crate::web::{AppState, PageError};

fn csv_text(stats: &Stats, months: &[String]) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record([
        "month",
        "proposed",
        "introduced",
        "declined",
        "expired",
        "cancelled",
        "acceptance_rate",
        "yes_answers",
        "median_hours_to_yes",
        "follow_up_connected",
        "follow_up_not_yet",
        "follow_up_not_useful",
    ])?;
    let total = ("total".to_string(), &stats.total);
    for (month, s) in months.iter().cloned().zip(&stats.periods).chain([total]) {
        out.write_record([
            month,
            s.proposed.to_string(),
            s.introduced.to_string(),
            s.declined.to_string(),
            s.expired.to_string(),
            s.cancelled.to_string(),
            s.acceptance_rate()
                .map(|r| format!("{r:.4}"))
                .unwrap_or_default(),
            s.yeses.to_string(),
            s.median_ms_to_yes
                .map(|ms| format!("{:.2}", ms as f64 / 3_600_000.0))
                .unwrap_or_default(),
            s.followed_connected.to_string(),
            s.followed_not_yet.to_string(),
            s.followed_not_useful.to_string(),
        ])?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

pub async fn csv(State(state): State<AppState>, me: SignedIn) -> Result<Response, PageError> {
    let (stats, months) = load(&state, &me).await?;
    let body = csv_text(&stats, &months).map_err(|e| PageError::internal(&e))?;
    let name = format!(
        "attachment; filename=\"twoyes-stats-{}.csv\"",
        months.last().map(String::as_str).unwrap_or("export")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, name),
        ],
        body,
    )
        .into_response())
}
