//! `GET /`: the connector's intros, grouped by status with counts, searchable
//! by name or email, in keyset pages (fast however many intros there are).

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::{Layout, SignedIn, page};
use crate::domain::{Intro, IntroStatus};
use crate::store::{COUNT_CAP, IntroSearch};
use crate::web::{AppState, PageError};

const PAGE: u32 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct DashboardQuery {
    status: Option<String>,
    q: Option<String>,
    after: Option<String>,
}

pub struct Tab {
    pub label: String,
    pub href: String,
    pub current: bool,
}

pub struct Row {
    pub id: String,
    pub requester: String,
    pub target: String,
    pub topic: String,
    pub status: &'static str,
    pub created: String,
}

#[derive(Template)]
#[template(path = "app/dashboard.html")]
struct DashboardPage {
    layout: Layout,
    tabs: Vec<Tab>,
    status: String,
    q: String,
    rows: Vec<Row>,
    older: Option<String>,
    total: i64,
    first_page: bool,
}

fn href(status: &str, q: &str, after: Option<&str>) -> String {
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    if !status.is_empty() {
        pairs.push(("status", status));
    }
    if !q.is_empty() {
        pairs.push(("q", q));
    }
    if let Some(after) = after {
        pairs.push(("after", after));
    }
    match serde_urlencoded::to_string(&pairs) {
        Ok(query) if !query.is_empty() => format!("/?{query}"),
        _ => "/".to_string(),
    }
}

pub fn row(intro: &Intro) -> Row {
    Row {
        id: intro.id.clone(),
        requester: intro.requester.name.to_string(),
        target: intro.target.name.to_string(),
        topic: intro.topic.to_string(),
        status: intro.status.as_str(),
        created: intro.created_at.human_date(),
    }
}

pub async fn show(
    State(state): State<AppState>,
    me: SignedIn,
    Query(query): Query<DashboardQuery>,
) -> Result<Response, PageError> {
    let status = query.status.as_deref().and_then(IntroStatus::parse);
    let q = query.q.unwrap_or_default().trim().to_string();
    let counts = state.store.status_counts(&me.connector.id).await?;
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    let capped = counts.iter().any(|(_, n)| *n > COUNT_CAP);
    let status_str = status.map(|s| s.as_str()).unwrap_or("");
    let mut tabs = vec![Tab {
        label: format!("All ({})", shown_count(total, capped)),
        href: href("", &q, None),
        current: status.is_none(),
    }];
    for s in IntroStatus::ALL {
        let n = counts
            .iter()
            .find(|(c, _)| c == s)
            .map(|(_, n)| *n)
            .unwrap_or(0);
        tabs.push(Tab {
            label: format!("{} ({})", label(*s), shown_count(n, n > COUNT_CAP)),
            href: href(s.as_str(), &q, None),
            current: status == Some(*s),
        });
    }
    let mut intros = state
        .store
        .search_intros(&IntroSearch {
            connector_id: me.connector.id.clone(),
            status,
            query: Some(q.clone()),
            after: query.after.clone(),
            limit: PAGE + 1,
        })
        .await?;
    let older = if intros.len() > PAGE as usize {
        intros.truncate(PAGE as usize);
        intros
            .last()
            .map(|last| href(status_str, &q, Some(&last.id)))
    } else {
        None
    };
    Ok(page(&DashboardPage {
        layout: Layout::new(&state, &me, "/"),
        tabs,
        status: status_str.to_string(),
        q,
        rows: intros.iter().map(row).collect(),
        older,
        total,
        first_page: query.after.is_none(),
    }))
}

/// "1,234", or "1,000+" once a count reached the cap.
fn shown_count(n: i64, capped: bool) -> String {
    let digits = n.min(if capped { COUNT_CAP } else { n }).to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if capped {
        out.push('+');
    }
    out
}

pub fn label(status: IntroStatus) -> &'static str {
    match status {
        IntroStatus::Asking => "Asking",
        IntroStatus::Snoozed => "On hold",
        IntroStatus::Introduced => "Introduced",
        IntroStatus::Declined => "Declined",
        IntroStatus::Expired => "Expired",
        IntroStatus::Cancelled => "Cancelled",
    }
}

#[cfg(test)]
mod tests {
    use super::shown_count;

    #[test]
    fn counts_read_like_numbers() {
        assert_eq!(shown_count(7, false), "7");
        assert_eq!(shown_count(1234, false), "1,234");
        assert_eq!(shown_count(60_006, true), "1,000+");
        assert_eq!(shown_count(1_000, false), "1,000");
    }
}
