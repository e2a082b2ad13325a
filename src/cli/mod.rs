//! The command line (SPEC §5). Every command that prints records takes
//! `--json`; every failure is one line on stderr and a non-zero exit.

mod connector;
mod intro;
mod mail;
mod person;
mod serve;

use clap::{Parser, Subcommand};

use crate::config::{HttpArgs, SettingArgs, Settings};

#[derive(Debug, Parser)]
#[command(
    name = "twoyes",
    version,
    about = "Double opt-in introductions: nobody is introduced until both say yes."
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: SettingArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web server, and the worker unless --no-worker.
    Serve {
        #[command(flatten)]
        http: HttpArgs,
        /// Serve HTTP only; run `twoyes worker` elsewhere to deliver mail and run timers.
        #[arg(long)]
        no_worker: bool,
    },
    /// Deliver mail and run timers only (for scale-out).
    Worker,
    /// Bring the database schema up to date.
    Migrate,
    /// Manage connector accounts.
    #[command(subcommand)]
    Connector(connector::ConnectorCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(connector::TokenCommand),
    /// Propose, list, show and cancel intros.
    #[command(subcommand)]
    Intro(intro::IntroCommand),
    /// Check mail delivery.
    #[command(subcommand)]
    Mail(mail::MailCommand),
    /// Export or erase everything held about one person (GDPR).
    #[command(subcommand)]
    Person(person::PersonCommand),
}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TWOYES_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let http = match &cli.command {
        Command::Serve { http, .. } => http.clone(),
        _ => HttpArgs::default(),
    };
    let settings = Settings::resolve(&cli.settings, &http)?;
    match cli.command {
        Command::Serve { no_worker, .. } => {
            init_logging("info,sqlx=warn");
            serve::serve(&settings, !no_worker).await
        }
        Command::Worker => {
            init_logging("info,sqlx=warn");
            serve::worker(&settings).await
        }
        Command::Migrate => {
            init_logging("warn");
            crate::app::open_store(&settings).await?;
            println!("The database schema is up to date.");
            Ok(())
        }
        Command::Connector(cmd) => {
            init_logging("warn");
            connector::run_connector(&settings, cmd).await
        }
        Command::Token(cmd) => {
            init_logging("warn");
            connector::run_token(&settings, cmd).await
        }
        Command::Intro(cmd) => {
            init_logging("warn");
            intro::run(&settings, cmd).await
        }
        Command::Mail(cmd) => {
            init_logging("warn");
            mail::run(&settings, cmd).await
        }
        Command::Person(cmd) => {
            init_logging("warn");
            person::run(&settings, cmd).await
        }
    }
}

/// Prints a record as JSON.
fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
