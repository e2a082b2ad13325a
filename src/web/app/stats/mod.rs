//! `/stats`: how the connector's intros went over the last twelve months
//! (calendar months, UTC): acceptance rate, time to yes, expiries and
//! follow-up answers, as server-drawn SVG charts with the numbers in a
//! table, and `/stats.csv` with the same numbers.

mod chart;
mod export;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use chrono::{Datelike, TimeZone, Utc};

use super::{Layout, SignedIn, page};
use crate::domain::Timestamp;
use crate::store::{FollowUpCounts, PeriodStats, Stats};
use crate::web::{AppState, PageError};
use chart::{Series, bars, trim_number};

const MONTHS: i32 = 12;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/stats", get(show))
        .route("/stats.csv", get(export::csv))
}

/// The first instant of each of the last `MONTHS` months, and of the next.
fn month_bounds(now: Timestamp) -> Vec<(Timestamp, String)> {
    let today = now.to_datetime();
    let current = today.year() * 12 + today.month0() as i32;
    (current - MONTHS + 1..=current + 1)
        .filter_map(|m| {
            let (year, month0) = (m.div_euclid(12), m.rem_euclid(12) as u32);
            let start = Utc
                .with_ymd_and_hms(year, month0 + 1, 1, 0, 0, 0)
                .single()?;
            Some((
                Timestamp::from_millis(start.timestamp_millis()),
                start.format("%Y-%m").to_string(),
            ))
        })
        .collect()
}

async fn load(state: &AppState, me: &SignedIn) -> Result<(Stats, Vec<String>), PageError> {
    let bounds = month_bounds(state.clock.now());
    let times: Vec<Timestamp> = bounds.iter().map(|(t, _)| *t).collect();
    let stats = state.store.stats(&me.connector.id, &times).await?;
    let months = bounds
        .into_iter()
        .take(times.len() - 1)
        .map(|(_, m)| m)
        .collect();
    Ok((stats, months))
}

/// "40 min", "5.5 h", "2.3 days".
pub fn human_duration(ms: i64) -> String {
    let minutes = ms as f64 / 60_000.0;
    if minutes < 60.0 {
        format!("{} min", minutes.round())
    } else if minutes < 48.0 * 60.0 {
        format!("{} h", trim_number(minutes / 60.0))
    } else {
        format!("{} days", trim_number(minutes / 1440.0))
    }
}

fn percent(rate: Option<f64>) -> String {
    rate.map(|r| format!("{}%", (r * 100.0).round()))
        .unwrap_or_else(|| "–".into())
}

pub struct MonthRow {
    pub month: String,
    pub s: PeriodStats,
    pub rate: String,
    pub median: String,
}

fn month_row(month: String, s: &PeriodStats) -> MonthRow {
    MonthRow {
        month,
        rate: percent(s.acceptance_rate()),
        median: s
            .median_ms_to_yes
            .map(human_duration)
            .unwrap_or_else(|| "–".into()),
        s: s.clone(),
    }
}

#[derive(Template)]
#[template(path = "app/stats.html")]
struct StatsPage {
    layout: Layout,
    charts: Vec<String>,
    rows: Vec<MonthRow>,
    total: MonthRow,
    decided: i64,
    follow_ups: Vec<FollowUpCounts>,
}

fn short_month(month: &str) -> String {
    let names = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let index = month
        .get(5..7)
        .and_then(|m| m.parse::<usize>().ok())
        .and_then(|m| m.checked_sub(1));
    index
        .and_then(|i| names.get(i))
        .map(|n| n.to_string())
        .unwrap_or_else(|| month.to_string())
}

fn charts(stats: &Stats, months: &[String]) -> Vec<String> {
    let labels: Vec<String> = months.iter().map(|m| short_month(m)).collect();
    let per = |f: &dyn Fn(&PeriodStats) -> f64| stats.periods.iter().map(f).collect::<Vec<_>>();
    let table = "The table below has the same numbers.";
    vec![
        bars(
            "chart-outcomes",
            "How intros ended, per month",
            &format!(
                "Stacked bars: introduced, declined, expired and cancelled intros by the month they closed. {table}"
            ),
            &labels,
            &[
                Series {
                    name: "introduced",
                    color: "#1a7f37",
                    values: per(&|s| s.introduced as f64),
                },
                Series {
                    name: "declined",
                    color: "#cf222e",
                    values: per(&|s| s.declined as f64),
                },
                Series {
                    name: "expired",
                    color: "#8c959f",
                    values: per(&|s| s.expired as f64),
                },
                Series {
                    name: "cancelled",
                    color: "#6639ba",
                    values: per(&|s| s.cancelled as f64),
                },
            ],
            "",
            None,
        ),
        bars(
            "chart-acceptance",
            "Acceptance rate, per month",
            &format!(
                "Bars: the share of intros that ended in an introduction, of those that were introduced, declined or expired that month. {table}"
            ),
            &labels,
            &[Series {
                name: "acceptance rate",
                color: "#0969da",
                values: per(&|s| s.acceptance_rate().unwrap_or(0.0) * 100.0),
            }],
            "%",
            Some(100.0),
        ),
        bars(
            "chart-time-to-yes",
            "Median time to yes, in hours, per month",
            &format!(
                "Bars: the median time from being asked to saying yes, for the yeses given each month. {table}"
            ),
            &labels,
            &[Series {
                name: "hours to yes",
                color: "#bf8700",
                values: per(&|s| s.median_ms_to_yes.unwrap_or(0) as f64 / 3_600_000.0),
            }],
            " h",
            None,
        ),
        bars(
            "chart-follow-ups",
            "Follow-up answers, per month",
            &format!(
                "Stacked bars: answers to “did you connect?” by the month they were given. {table}"
            ),
            &labels,
            &[
                Series {
                    name: "connected",
                    color: "#1a7f37",
                    values: per(&|s| s.followed_connected as f64),
                },
                Series {
                    name: "not yet",
                    color: "#bf8700",
                    values: per(&|s| s.followed_not_yet as f64),
                },
                Series {
                    name: "not useful",
                    color: "#8c959f",
                    values: per(&|s| s.followed_not_useful as f64),
                },
            ],
            "",
            None,
        ),
    ]
}

async fn show(State(state): State<AppState>, me: SignedIn) -> Result<Response, PageError> {
    let (stats, months) = load(&state, &me).await?;
    let charts = charts(&stats, &months);
    let rows = months
        .iter()
        .zip(&stats.periods)
        .rev()
        .map(|(m, s)| month_row(m.clone(), s))
        .collect();
    let t = &stats.total;
    Ok(page(&StatsPage {
        layout: Layout::new(&state, &me, "/stats"),
        charts,
        rows,
        decided: t.introduced + t.declined + t.expired,
        total: month_row("Last 12 months".into(), t),
        follow_ups: stats.follow_ups_by_role.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twelve_calendar_months_end_with_the_current_one() {
        // 2026-12-01 10:00 UTC
        let bounds = month_bounds(Timestamp::from_millis(1_796_119_200_000));
        assert_eq!(bounds.len(), 13);
        assert_eq!(bounds[0].1, "2026-01");
        assert_eq!(bounds[11].1, "2026-12");
        assert_eq!(bounds[12].1, "2027-01");
        assert_eq!(short_month("2026-12"), "Dec");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(40 * 60_000), "40 min");
        assert_eq!(human_duration(330 * 60_000), "5.5 h");
        assert_eq!(human_duration(3 * 86_400_000), "3 days");
    }
}
