//! The connector's statistics, computed by the database in a few aggregate
//! queries over a time window cut into periods (calendar months), so they
//! stay cheap however many intros there are.

use async_trait::async_trait;
use sqlx::Row;

use super::StoreResult;
use super::sql::SqlStore;
use crate::domain::Timestamp;

/// Counts for one period (or for the whole window).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeriodStats {
    /// Intros created in the period.
    pub proposed: i64,
    /// Intros that closed in the period, by how they ended.
    pub introduced: i64,
    pub declined: i64,
    pub expired: i64,
    pub cancelled: i64,
    /// Parties whose (standing) yes was given in the period.
    pub yeses: i64,
    /// The median time from being asked to saying yes, of those yeses.
    pub median_ms_to_yes: Option<i64>,
    /// Follow-up answers given in the period: `yes`, `not_yet`, `not_useful`.
    pub followed_connected: i64,
    pub followed_not_yet: i64,
    pub followed_not_useful: i64,
}

impl PeriodStats {
    /// Introduced out of the intros that ended by the parties' answers (or
    /// their silence); cancelled ones are the connector's doing and left out.
    pub fn acceptance_rate(&self) -> Option<f64> {
        let decided = self.introduced + self.declined + self.expired;
        (decided > 0).then(|| self.introduced as f64 / decided as f64)
    }
}

/// The follow-up answers over the whole window, per role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowUpCounts {
    pub role: String,
    pub connected: i64,
    pub not_yet: i64,
    pub not_useful: i64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// One entry per period, oldest first.
    pub periods: Vec<PeriodStats>,
    pub total: PeriodStats,
    pub follow_ups_by_role: Vec<FollowUpCounts>,
}

#[async_trait]
pub trait StatsStore: Send + Sync {
    /// Statistics of one connector for the periods between consecutive
    /// `bounds` (at least two, ascending, each period `[b(k), b(k+1))`).
    async fn stats(&self, connector_id: &str, bounds: &[Timestamp]) -> StoreResult<Stats>;
}

/// `cast(case when X < $3 then 0 when X < $4 then 1 … end as bigint)`: the
/// period of `column`, with `$2` the first bound.
fn period_of(column: &str, periods: usize) -> String {
    let mut sql = String::from("cast(case");
    for k in 0..periods {
        sql.push_str(&format!(" when {column} < ${} then {k}", k + 3));
    }
    sql.push_str(" end as bigint)");
    sql
}

/// The median of the `(n + 1) / 2`-th and `(n + 2) / 2`-th values.
fn median_of(values: &[i64]) -> Option<i64> {
    match values {
        [] => None,
        [one] => Some(*one),
        [a, b, ..] => Some(a + (b - a) / 2),
    }
}

impl SqlStore {
    async fn period_counts(
        &self,
        sql: String,
        connector_id: &str,
        bounds: &[Timestamp],
    ) -> StoreResult<Vec<sqlx::any::AnyRow>> {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(connector_id.to_string());
        for b in bounds {
            query = query.bind(b.as_millis());
        }
        Ok(query.fetch_all(&self.pool).await?)
    }
}

#[async_trait]
impl StatsStore for SqlStore {
    async fn stats(&self, connector_id: &str, bounds: &[Timestamp]) -> StoreResult<Stats> {
        let n = bounds.len().saturating_sub(1);
        let mut stats = Stats {
            periods: vec![PeriodStats::default(); n],
            ..Default::default()
        };
        if n == 0 {
            return Ok(stats);
        }
        let last = format!("${}", n + 2);
        let in_window = |column: &str| format!("{column} >= $2 and {column} < {last}");

        let sql = format!(
            "select {} as bucket, count(*) as n from intros
             where connector_id = $1 and {} group by 1",
            period_of("created_at", n),
            in_window("created_at")
        );
        for row in self.period_counts(sql, connector_id, bounds).await? {
            if let Some(p) = period(&row, n)? {
                stats.periods[p].proposed = row.try_get("n")?;
            }
        }

        let sql = format!(
            "select {} as bucket, status, count(*) as n from intros
             where connector_id = $1 and closed_at is not null and {} group by 1, 2",
            period_of("closed_at", n),
            in_window("closed_at")
        );
        for row in self.period_counts(sql, connector_id, bounds).await? {
            if let Some(p) = period(&row, n)? {
                let count: i64 = row.try_get("n")?;
                let s = &mut stats.periods[p];
                match row.try_get::<String, _>("status")?.as_str() {
                    "introduced" => s.introduced += count,
                    "declined" => s.declined += count,
                    "expired" => s.expired += count,
                    "cancelled" => s.cancelled += count,
                    _ => {}
                }
            }
        }

        // Yeses and the median time to yes, per period and over the window:
        // the database ranks the durations and returns the middle ones only.
        // A yes is given before its intro closes, so older closed intros
        // cannot hold one.
        let yeses = format!(
            "select {} as bucket, p.decided_at - p.asked_at as d
             from parties p join intros i on i.intro_id = p.intro_id
             where i.connector_id = $1 and (i.closed_at is null or i.closed_at >= $2)
               and p.consent = 'accepted' and p.asked_at is not null
               and p.decided_at >= p.asked_at and {}",
            period_of("p.decided_at", n),
            in_window("p.decided_at")
        );
        let sql = format!(
            "select bucket, d, n from (
                 select bucket, d,
                     row_number() over (partition by bucket order by d) as rn,
                     count(*) over (partition by bucket) as n
                 from ({yeses}) y) z
             where rn = (n + 1) / 2 or rn = (n + 2) / 2
             order by bucket, d"
        );
        let mut middles: Vec<Vec<i64>> = vec![vec![]; n];
        for row in self.period_counts(sql, connector_id, bounds).await? {
            if let Some(p) = period(&row, n)? {
                stats.periods[p].yeses = row.try_get("n")?;
                middles[p].push(row.try_get("d")?);
            }
        }
        for (s, m) in stats.periods.iter_mut().zip(&middles) {
            s.median_ms_to_yes = median_of(m);
        }
        let sql = format!(
            "select d, n from (
                 select d, row_number() over (order by d) as rn, count(*) over () as n
                 from ({yeses}) y) z
             where rn = (n + 1) / 2 or rn = (n + 2) / 2
             order by d"
        );
        let mut middle = Vec::new();
        for row in self.period_counts(sql, connector_id, bounds).await? {
            stats.total.yeses = row.try_get("n")?;
            middle.push(row.try_get("d")?);
        }
        stats.total.median_ms_to_yes = median_of(&middle);

        let sql = format!(
            "select {} as bucket, f.role, f.answer, count(*) as n
             from follow_ups f join intros i on i.intro_id = f.intro_id
             where i.connector_id = $1 and {} group by 1, 2, 3",
            period_of("f.answered_at", n),
            in_window("f.answered_at")
        );
        for row in self.period_counts(sql, connector_id, bounds).await? {
            let Some(p) = period(&row, n)? else { continue };
            let count: i64 = row.try_get("n")?;
            let role: String = row.try_get("role")?;
            let answer: String = row.try_get("answer")?;
            let by_role = match stats.follow_ups_by_role.iter_mut().find(|f| f.role == role) {
                Some(f) => f,
                None => {
                    stats.follow_ups_by_role.push(FollowUpCounts {
                        role: role.clone(),
                        ..Default::default()
                    });
                    let last = stats.follow_ups_by_role.len() - 1;
                    &mut stats.follow_ups_by_role[last]
                }
            };
            let s = &mut stats.periods[p];
            match answer.as_str() {
                "yes" => {
                    s.followed_connected += count;
                    by_role.connected += count;
                }
                "not_yet" => {
                    s.followed_not_yet += count;
                    by_role.not_yet += count;
                }
                "not_useful" => {
                    s.followed_not_useful += count;
                    by_role.not_useful += count;
                }
                _ => {}
            }
        }
        stats.follow_ups_by_role.sort_by(|a, b| b.role.cmp(&a.role));

        for s in &stats.periods {
            let t = &mut stats.total;
            t.proposed += s.proposed;
            t.introduced += s.introduced;
            t.declined += s.declined;
            t.expired += s.expired;
            t.cancelled += s.cancelled;
            t.followed_connected += s.followed_connected;
            t.followed_not_yet += s.followed_not_yet;
            t.followed_not_useful += s.followed_not_useful;
        }
        Ok(stats)
    }
}

fn period(row: &sqlx::any::AnyRow, n: usize) -> StoreResult<Option<usize>> {
    let p: Option<i64> = row.try_get("bucket")?;
    Ok(p.and_then(|p| usize::try_from(p).ok()).filter(|p| *p < n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_a_case_over_the_bounds() {
        assert_eq!(
            period_of("x", 2),
            "cast(case when x < $3 then 0 when x < $4 then 1 end as bigint)"
        );
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median_of(&[]), None);
        assert_eq!(median_of(&[5]), Some(5));
        assert_eq!(median_of(&[4, 8]), Some(6));
    }
}
