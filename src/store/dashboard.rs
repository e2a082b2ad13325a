//! What the connector's dashboard asks: counts by status, search with keyset
//! pages, and the intros two people already share. Every query is scoped to
//! one connector.

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

#[async_trait]
pub trait DashboardStore: Send + Sync {
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
        let rows = sqlx::query(
            "select status, count(*) as n from intros where connector_id = $1 group by status",
        )
        .bind(connector_id)
        .fetch_all(&self.pool)
        .await?;
        let mut counts = Vec::new();
        for row in rows {
            let status: String = row.try_get("status")?;
            if let Some(status) = IntroStatus::parse(&status) {
                counts.push((status, row.try_get::<i64, _>("n")?));
            }
        }
        Ok(counts)
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
            None => {
                sqlx::query(concat!(
                    intro_select!(),
                    " where i.connector_id = $1 and ($2 = '' or i.status = $2) and i.intro_id < $3",
                    " order by i.intro_id desc limit $4"
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
            " where i.connector_id = $1 and ((r.email_key = $2 and t.email_key = $3)",
            " or (r.email_key = $3 and t.email_key = $2))",
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
        let rows = sqlx::query(
            "select p.name, p.email, max(p.created_at) as latest from parties p
             join intros i on i.intro_id = p.intro_id
             where i.connector_id = $1
             group by p.email_key, p.name, p.email
             order by latest desc limit 500",
        )
        .bind(connector_id)
        .fetch_all(&self.pool)
        .await?;
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for row in rows {
            let email: String = row.try_get("email")?;
            if seen.insert(email.to_ascii_lowercase()) {
                out.push((row.try_get("name")?, email));
            }
        }
        Ok(out)
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
