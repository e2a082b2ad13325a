//! `twoyes person export|erase EMAIL`: one person's data (GDPR, issue 6).

use std::path::Path;
use std::sync::Arc;

use clap::Subcommand;
use serde_json::json;

use super::print_json;
use crate::app::open_store;
use crate::config::Settings;
use crate::domain::machine::{Channel, Command};
use crate::domain::{Clock, EmailAddress, SystemClock};
use crate::store::{Erasure, Store, StoreError};
use crate::usecases::context;

#[derive(Debug, Subcommand)]
pub enum PersonCommand {
    /// Print everything held about one person, as JSON (nothing held: zero records).
    Export {
        /// The person's email address (any case).
        email: String,
        /// Print the result as JSON (it always is; accepted like everywhere else).
        #[arg(long)]
        json: bool,
    },
    /// Forget one person: their intros keep a placeholder, future asks are refused.
    Erase {
        /// The person's email address (any case).
        email: String,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn parse_email(text: &str) -> anyhow::Result<EmailAddress> {
    EmailAddress::parse(text).map_err(|e| anyhow::anyhow!("EMAIL: {e}"))
}

pub async fn run(settings: &Settings, command: PersonCommand) -> anyhow::Result<()> {
    match command {
        PersonCommand::Export { email, json: _ } => {
            let email = parse_email(&email)?;
            let store: Arc<dyn Store> = open_store(settings).await?;
            print_json(&store.person_export(&email).await?)
        }
        PersonCommand::Erase { email, json } => {
            let email = parse_email(&email)?;
            let store: Arc<dyn Store> = open_store(settings).await?;
            if store.connector_by_email(&email).await?.is_some() {
                anyhow::bail!(
                    "{email} is a connector's account address; person erase forgets the people of intros, contacts and requests, not accounts"
                );
            }
            let (done, cancelled) = erase(store.as_ref(), settings, &email).await?;
            let files = match &settings.smtp {
                None => delete_mail_files(&settings.mail_dir(), &done.outbox_ids)?,
                Some(_) => 0,
            };
            store.compact_after_erase().await?;
            if json {
                let mut value = serde_json::to_value(&done)?;
                value["intros_cancelled"] = json!(cancelled);
                value["mail_files_deleted"] = json!(files);
                value["suppressed"] = json!(true);
                return print_json(&value);
            }
            println!(
                "Erased {email}: {} intro(s) now show only {} ({} cancelled first, with the usual neutral note to the other person), {} row(s) removed, {} row(s) of other text cleaned, {} unsent email(s) dropped, {} mail file(s) deleted.",
                done.intros_pseudonymised,
                done.placeholder,
                cancelled,
                done.rows_removed,
                done.rows_scrubbed,
                done.emails_dropped,
                files
            );
            println!(
                "Only a hash of the address is kept, so nobody can propose an intro to it again."
            );
            Ok(())
        }
    }
}

/// Cancels their intros in progress through the state machine, then erases.
/// An intro proposed in between makes the erasure refuse; it is tried again.
async fn erase(
    store: &dyn Store,
    settings: &Settings,
    email: &EmailAddress,
) -> anyhow::Result<(Erasure, usize)> {
    let mut cancelled = 0;
    for attempt in 0..3 {
        for id in store.person_open_intros(email).await? {
            let ctx = context(&SystemClock, settings.timings, Channel::Cli);
            match store.apply(&id, None, Command::Cancel, ctx).await {
                Ok(_) => cancelled += 1,
                // Closed meanwhile (a decision, a timer): nothing to cancel.
                Err(StoreError::Machine(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        match store.erase_person(email, SystemClock.now()).await {
            Ok(done) => return Ok((done, cancelled)),
            Err(StoreError::Conflict(_)) if attempt < 2 => continue,
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("new intros with {email} kept starting; nothing was erased, try again")
}

/// Deletes the written copies (`<outbox-id>.eml`) of those emails.
fn delete_mail_files(dir: &Path, outbox_ids: &[String]) -> anyhow::Result<usize> {
    let mut deleted = 0;
    for id in outbox_ids {
        for name in [format!("{id}.eml"), format!(".{id}.eml.tmp")] {
            match std::fs::remove_file(dir.join(&name)) {
                Ok(()) => deleted += usize::from(!name.starts_with('.')),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => anyhow::bail!("could not delete {}: {e}", dir.join(name).display()),
            }
        }
    }
    Ok(deleted)
}
