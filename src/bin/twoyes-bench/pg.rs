//! PostgreSQL runs: a fresh database for each run, and `pgbench` measured
//! beside twoyes as the server's own limit.

use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};
use sqlx::Connection as _;

/// Drops and re-creates `name` on the server of `url`; returns its URL.
pub async fn fresh_database(url: &str, name: &str) -> anyhow::Result<String> {
    let mut admin = sqlx::PgConnection::connect(url)
        .await
        .context("connecting to PostgreSQL")?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "drop database if exists {name} with (force)"
    )))
    .execute(&mut admin)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(with_database(url, name))
}

/// Refreshes the planner's statistics, as autovacuum would within a minute
/// or so: the run fills empty tables faster than that, and with statistics
/// that still say "empty" PostgreSQL plans the worker's queries as scans.
pub async fn analyze(url: &str) -> anyhow::Result<()> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::query("analyze").execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

/// The same URL naming another database.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let server = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    format!("{server}/{name}{query}")
}

/// `pgbench`'s one-row UPDATE (32 clients, 2 threads) on a scratch database,
/// in transactions per second.
pub async fn pgbench_update_tps(url: &str, time: Duration) -> anyhow::Result<f64> {
    let db = fresh_database(url, "twoyes_bench_pgbench").await?;
    let script = std::env::temp_dir().join(format!("twoyes-pgbench-{}.sql", std::process::id()));
    std::fs::write(
        &script,
        "\\set aid random(1, 100000)\nupdate pgbench_accounts set abalance = abalance + 1 where aid = :aid;\n",
    )?;
    let init = Command::new("pgbench")
        .args(["-i", "-q", "-s", "1", &db])
        .output()
        .context("running pgbench (is it installed?)")?;
    if !init.status.success() {
        bail!(
            "pgbench -i failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
    }
    let run = Command::new("pgbench")
        .args(["-n", "-c", "32", "-j", "2", "-T"])
        .arg(time.as_secs().max(1).to_string())
        .arg("-f")
        .arg(&script)
        .arg(&db)
        .output()?;
    let _ = std::fs::remove_file(&script);
    let out = String::from_utf8_lossy(&run.stdout);
    if !run.status.success() {
        bail!("pgbench failed: {}", String::from_utf8_lossy(&run.stderr));
    }
    out.lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.trim_start_matches("tps = ").split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no tps in pgbench's output: {out}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn another_database_on_the_same_server() {
        assert_eq!(
            super::with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            super::with_database("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(
            super::with_database("postgres://u@h", "x"),
            "postgres://u@h/x"
        );
    }
}
