//! `twoyes`: parses the command line and hands over to the library.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = twoyes::cli::Cli::parse();
    match twoyes::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("twoyes: {e:#}");
            ExitCode::FAILURE
        }
    }
}
