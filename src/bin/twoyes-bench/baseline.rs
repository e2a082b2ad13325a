//! The machine's own limits, measured in the same run: a minimal axum
//! handler, and the same handler doing one durable SQLite INSERT. Each runs
//! as a child process on the same tokio runtime twoyes uses
//! (`#[tokio::main]`, one worker thread per core), so the load generator
//! shares the cores with it exactly as it does with twoyes.

use std::path::Path;
use std::str::FromStr;

use anyhow::Context as _;
use axum::extract::{Form, State};
use axum::response::Redirect;
use axum::routing::{get, post};
use axum::{Router, http::StatusCode};
use serde::Deserialize;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

/// `hello`: `GET /hello` answers a short text. `insert`: `POST /insert`
/// stores the form in SQLite (WAL, `synchronous=FULL`, the pool size twoyes
/// uses) and redirects, as a decision does.
pub async fn serve(kind: &str, db: Option<&Path>) -> anyhow::Result<()> {
    let app = match kind {
        "hello" => Router::new().route("/hello", get(|| async { "Hello, world!" })),
        "insert" => {
            let db = db.context("the insert baseline needs --db")?;
            Router::new()
                .route("/insert", post(insert))
                .with_state(open(db).await?)
        }
        other => anyhow::bail!("unknown baseline `{other}`"),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    // The parent reads the port from this line.
    println!("listening {}", listener.local_addr()?.port());
    axum::serve(listener, app).await?;
    Ok(())
}

async fn open(db: &Path) -> anyhow::Result<SqlitePool> {
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", db.display()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(std::time::Duration::from_secs(15));
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await?;
    sqlx::query(
        "create table if not exists decisions (
             decision_id text primary key, decision text not null, note text not null, at integer not null)",
    )
    .execute(&pool)
    .await?;
    Ok(pool)
}

#[derive(Deserialize)]
struct DecisionForm {
    decision: String,
    #[serde(default)]
    note: String,
}

async fn insert(
    State(pool): State<SqlitePool>,
    Form(form): Form<DecisionForm>,
) -> Result<Redirect, StatusCode> {
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
        .as_millis() as i64;
    sqlx::query("insert into decisions (decision_id, decision, note, at) values ($1, $2, $3, $4)")
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(form.decision)
        .bind(form.note)
        .bind(at)
        .execute(&pool)
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(Redirect::to("/done"))
}
