//! `twoyes-bench`: measures twoyes against this machine's own limits in the
//! same run, prints one table, writes `target/bench.json`, and exits non-zero
//! when a target is missed. See the README's performance section.
#![forbid(unsafe_code)]

mod baseline;
mod child;
mod load;
mod pg;
mod report;
mod scenario;
mod seed;
mod session;
mod smtp_sink;
mod twoyes_proc;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Measures twoyes against this machine's own limits")]
struct Args {
    /// Short loads (3 s each instead of 10 s): finishes in a few minutes.
    #[arg(long)]
    quick: bool,
    /// Measure on PostgreSQL (postgres://…): a fresh database `twoyes_bench` is made on that server.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Concurrent connections of every closed-loop load.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Intros in the database when the dashboard is measured.
    #[arg(long, default_value_t = 1_000_000)]
    dashboard_intros: u64,
    /// Keep the scratch folder (databases, logs) for a look afterwards.
    #[arg(long)]
    keep: bool,
    /// Where the figures are written as JSON.
    #[arg(long, default_value = "target/bench.json")]
    json: PathBuf,
    #[command(subcommand)]
    role: Option<Role>,
}

#[derive(Subcommand)]
enum Role {
    /// (internal) Serve one of the baseline handlers.
    #[command(hide = true)]
    Baseline {
        kind: String,
        #[arg(long)]
        db: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Role::Baseline { kind, db }) = &args.role {
        return match baseline::serve(kind, db.as_deref()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("baseline: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    match measure(&args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("twoyes-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs every measurement; true when every target is met.
async fn measure(args: &Args) -> anyhow::Result<bool> {
    let plan = scenario::Plan {
        quick: args.quick,
        database_url: args.database_url.clone(),
        connections: args.connections.max(1),
        dashboard_intros: args.dashboard_intros,
        work_dir: scenario::work_dir()?,
    };
    let mut report = report::Report {
        backend: if plan.database_url.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
        .into(),
        quick: plan.quick,
        figures: Vec::new(),
    };
    let outcome = scenario::run(&plan, &mut report).await;
    if args.keep {
        eprintln!("kept {}", plan.work_dir.display());
    } else {
        scenario::remove(&plan.work_dir);
    }
    report.print();
    report.write_json(&args.json)?;
    outcome?;
    Ok(report.all_met())
}
