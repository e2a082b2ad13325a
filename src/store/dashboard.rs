//! What the connector's dashboard asks: counts by status, search with keyset
//! pages, and the intros two people already share. Every query is scoped to
//! one connector.

use std::sync::LazyLock;

use async_trait::async_trait;
use sqlx::Row;

use super::StoreResult;
use super::rows::{intro_from_row, intro_select};
use super::sql::SqlStore;
use crate::domain::{EmailAddress, Intro, IntroStatus};

/// One page of a connector's intros, newest first. `after` is the last id of
/// the page before; `query` matches the start of any word of a party's name,
/// or of their address.
#[derive(Debug, Clone, Default)]
pub struct IntroSearch {
    pub connector_id: String,
    pub status: Option<IntroStatus>,
    pub query: Option<String>,
    pub after: Option<String>,
    pub limit: u32,
}

/// Counts above this show as "1,000+". Counting walks an index entry per
/// intro: at this cap a dashboard costs under a millisecond of counting
/// whatever the connector's size (exact figures are on the statistics page).
pub const COUNT_CAP: i64 = 1_000;

/// Every status's count, each stopping at `COUNT_CAP + 1`, as one row with
/// a column per status: one statement (on SQLite, one hand-off) per page.
static STATUS_COUNTS_SQL: LazyLock<String> = LazyLock::new(|| {
    let counts: Vec<String> = IntroStatus::ALL
        .iter()
        .map(|status| {
            let s = status.as_str();
            format!(
                "(select count(*) from (select 1 as one from intros
                  where connector_id = $1 and status = '{s}' limit {}) capped) as {s}",
                COUNT_CAP + 1
            )
        })
        .collect();
    format!("select {}", counts.join(", "))
});

#[async_trait]
pub trait DashboardStore: Send + Sync {
    /// Intros per status, each counted up to `COUNT_CAP + 1`.
    async fn status_counts(&self, connector_id: &str) -> StoreResult<Vec<(IntroStatus, i64)>>;
    async fn search_intros(&self, search: &IntroSearch) -> StoreResult<Vec<Intro>>;
    /// Every intro of this connector between these two people, either way round.
    async fn intros_between(
        &self,
        connector_id: &str,
        a: &EmailAddress,
        b: &EmailAddress,
    ) -> StoreResult<Vec<Intro>>;
    /// People this connector knows, for the new-intro form's autocomplete:
    /// (name, email), most recent first.
    async fn contact_suggestions(&self, connector_id: &str) -> StoreResult<Vec<(String, String)>>;
}

/// Greater than any text that starts with the prefix (byte order on both
/// backends: SQLite's BINARY, PostgreSQL's `collate "C"`).
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

#[async_trait]
impl DashboardStore for SqlStore {
    async fn status_counts(&self, connector_id: &str) -> StoreResult<Vec<(IntroStatus, i64)>> {
        let row = sqlx::query(STATUS_COUNTS_SQL.as_str())
            .bind(connector_id)
            .fetch_one(&self.pool)
            .await?;
        IntroStatus::ALL
            .iter()
            .map(|status| Ok((*status, row.try_get::<i64, _>(status.as_str())?)))
            .collect()
    }

    async fn search_intros(&self, search: &IntroSearch) -> StoreResult<Vec<Intro>> {
        let after = search.after.clone().unwrap_or_else(|| "~".to_string());
        let status = search.status.map(|s| s.as_str()).unwrap_or("");
        let limit = i64::from(search.limit.clamp(1, 200));
        let query = search
            .query
            .as_deref()
            .map(|q| {
                q.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase()
            })
            .filter(|q| !q.is_empty());
        let rows = match query {
            // One statement per shape, so each walks its own index
            // ((connector, status, id) or (connector, id)) from the cursor.
            // The page's intros are chosen before their parties are joined:
            // otherwise PostgreSQL may walk every requester's party to merge
            // them in id order (8.6 ms at a million intros, against 0.5).
            None if status.is_empty() => {
                sqlx::query(concat!(
                    intro_select!(from concat!(
                        "(select * from intros where connector_id = $1 and intro_id < $2",
                        " order by intro_id desc limit $3)"
                    )),
                    " order by i.intro_id desc"
                ))
                .bind(&search.connector_id)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(concat!(
                    intro_select!(from concat!(
                        "(select * from intros where connector_id = $1 and status = $2",
                        " and intro_id < $3 order by intro_id desc limit $4)"
                    )),
                    " order by i.intro_id desc"
                ))
                .bind(&search.connector_id)
                .bind(status)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
            Some(q) => {
                sqlx::query(concat!(
                    intro_select!(),
                    " where i.intro_id in (select s.intro_id from intro_search s",
                    "   where s.connector_id = $1 and s.term >= $2 and s.term < $3 and s.intro_id < $5)",
                    " and i.connector_id = $1 and ($4 = '' or i.status = $4) and i.intro_id < $5",
                    " order by i.intro_id desc limit $6"
                ))
                .bind(&search.connector_id)
                .bind(&q)
                .bind(prefix_end(&q))
                .bind(status)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(intro_from_row).collect()
    }

    async fn intros_between(
        &self,
        connector_id: &str,
        a: &EmailAddress,
        b: &EmailAddress,
    ) -> StoreResult<Vec<Intro>> {
        let rows = sqlx::query(concat!(
            intro_select!(),
            // Found from the two people's parties, not by walking the connector's intros.
            " where i.intro_id in (select a.intro_id from parties a cross join parties b",
            "   where a.email_key = $2 and b.intro_id = a.intro_id and b.role <> a.role",
            "   and b.email_key = $3)",
            " and i.connector_id = $1",
            " order by i.intro_id desc limit 50"
        ))
        .bind(connector_id)
        .bind(a.normalized())
        .bind(b.normalized())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(intro_from_row).collect()
    }

    async fn contact_suggestions(&self, connector_id: &str) -> StoreResult<Vec<(String, String)>> {
        // The connector's contacts, the most recently used first.
        let rows = sqlx::query(
            "select name, email from contacts where connector_id = $1
             order by coalesce(last_used_at, 0) desc, updated_at desc, contact_id limit 500",
        )
        .bind(connector_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("name")?, row.try_get("email")?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefix_end_sorts_after_longer_words() {
        let end = super::prefix_end("ada");
        assert!("ada" < end.as_str());
        assert!("adaz" < end.as_str());
        assert!("ada lovelace" < end.as_str());
        assert!("adb" > end.as_str());
    }
}
