//! `twoyes`: parses the command line and hands over to the library.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

/// Every failure is one line on stderr: multi-line messages (a TOML parse
/// error's caret diagram, clap's usage block) are folded onto it.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn main() -> ExitCode {
    // Results of SQLite statements wake their tasks from sqlx's threads,
    // through the runtime's injection queue; inside the write lane every
    // such wait holds up the writes queued behind it, so busy workers look
    // at that queue every other tick rather than every ~200 µs (README,
    // "What made the difference").
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .global_queue_interval(2)
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("twoyes: could not start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    let cli = match twoyes::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let first = e.to_string();
            let first = first.lines().next().unwrap_or("invalid arguments");
            let first = first.trim_start_matches("error: ");
            eprintln!("twoyes: {} (see --help)", one_line(first));
            return ExitCode::from(2);
        }
    };
    match twoyes::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("twoyes: {}", one_line(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}
