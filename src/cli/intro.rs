use std::sync::Arc;

use clap::Subcommand;
use serde_json::json;

use super::connector::find_connector;
use super::print_json;
use crate::app::open_store;
use crate::config::Settings;
use crate::domain::machine::{Channel, Command};
use crate::domain::{IntroStatus, NamedAddress, SystemClock};
use crate::store::{IntroFilter, Store, StoreError};
use crate::usecases::{ProposeInput, consent_record, context, propose_intro};
use crate::web::api::IntroJson;

#[derive(Debug, Subcommand)]
pub enum IntroCommand {
    /// Propose an intro; the first ask goes out as soon as a worker runs.
    New {
        /// The connector's email address.
        #[arg(long)]
        connector: String,
        /// The person who wants to meet someone, as "Name <email>".
        #[arg(long)]
        requester: String,
        /// The person they want to meet, as "Name <email>".
        #[arg(long)]
        target: String,
        /// Why you think they should meet; shown to both.
        #[arg(long)]
        reason: String,
        /// The requester's forwardable blurb, in their words.
        #[arg(long)]
        blurb: Option<String>,
        /// Your note for the introduction email (default: the reason).
        #[arg(long)]
        note: Option<String>,
        /// A few words for the subject line (default: from the reason).
        #[arg(long)]
        topic: Option<String>,
        /// target_first (ask the target, then the requester) or parallel (ask both at once).
        #[arg(long)]
        mode: Option<String>,
        /// The requester already asked for this intro (needs --blurb); they are not asked again.
        #[arg(long)]
        requester_opted_in: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List intros, newest first.
    List {
        /// Only this connector's intros.
        #[arg(long)]
        connector: Option<String>,
        /// Only intros with this status (asking, snoozed, introduced, declined, expired, cancelled).
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one intro with its timeline and emails.
    Show {
        /// The intro's id (from `intro new` or `intro list`).
        id: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print an intro's consent record: each decision, who, when, through which channel, and the hash of the text they were shown.
    Consent {
        /// The intro's id (from `intro new` or `intro list`).
        id: String,
        /// Print the record as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Cancel an intro; everyone who was asked gets one neutral note.
    Cancel {
        /// The intro's id (from `intro new` or `intro list`).
        id: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The flag a use-case field came from, for error messages.
fn flag_for(field: &str) -> &'static str {
    match field {
        "requester.name" | "requester.email" => "--requester",
        "target.name" | "target.email" => "--target",
        "requester.blurb" => "--blurb",
        "reason" => "--reason",
        "note" => "--note",
        "topic" => "--topic",
        "mode" => "--mode",
        _ => "input",
    }
}

fn parse_party(flag: &str, text: &str) -> anyhow::Result<NamedAddress> {
    NamedAddress::parse(text).map_err(|e| anyhow::anyhow!("{flag}: {e}"))
}

fn one_line(intro: &crate::domain::Intro) -> String {
    format!(
        "{}  {:<10}  {} <> {}  ({} / {})",
        intro.id,
        intro.status,
        intro.requester.name,
        intro.target.name,
        intro.requester.consent,
        intro.target.consent
    )
}

fn not_found(id: &str) -> impl Fn(StoreError) -> anyhow::Error + '_ {
    move |e| match e {
        StoreError::NotFound => anyhow::anyhow!("no intro with the id {id}"),
        other => other.into(),
    }
}

pub async fn run(settings: &Settings, command: IntroCommand) -> anyhow::Result<()> {
    let store: Arc<dyn Store> = open_store(settings).await?;
    match command {
        IntroCommand::New {
            connector,
            requester,
            target,
            reason,
            blurb,
            note,
            topic,
            mode,
            requester_opted_in,
            json,
        } => {
            let requester = parse_party("--requester", &requester)?;
            let target = parse_party("--target", &target)?;
            let connector = find_connector(store.as_ref(), &connector).await?;
            let input = ProposeInput {
                requester_name: requester.name.to_string(),
                requester_email: requester.email.to_string(),
                requester_blurb: blurb,
                target_name: target.name.to_string(),
                target_email: target.email.to_string(),
                reason,
                note,
                topic,
                mode,
                requester_opted_in,
            };
            let intro = propose_intro(
                &store,
                &SystemClock,
                settings.timings,
                &connector,
                &input,
                Channel::Cli,
            )
            .await
            .map_err(|e| match e {
                crate::usecases::ProposeError::Invalid(p) => {
                    anyhow::anyhow!("{}: {}", flag_for(p.field), p.message)
                }
                other => other.into(),
            })?;
            if json {
                return print_json(&IntroJson::from(&intro));
            }
            println!(
                "Intro {} proposed: {} <> {} ({}).",
                intro.id, intro.requester.name, intro.target.name, intro.mode
            );
            println!(
                "The first ask is in the outbox; a running `twoyes serve` or `twoyes worker` sends it."
            );
            Ok(())
        }
        IntroCommand::List {
            connector,
            status,
            limit,
            json,
        } => {
            let connector_id = match connector {
                Some(email) => Some(find_connector(store.as_ref(), &email).await?.id),
                None => None,
            };
            let status = status
                .map(|s| IntroStatus::parse(&s).ok_or_else(|| anyhow::anyhow!("--status: `{s}` is not one of asking, snoozed, introduced, declined, expired, cancelled")))
                .transpose()?;
            anyhow::ensure!((1..=500).contains(&limit), "--limit: must be from 1 to 500");
            let intros = store
                .list_intros(&IntroFilter {
                    connector_id,
                    status,
                    after: None,
                    limit,
                })
                .await?;
            if json {
                return print_json(&intros.iter().map(IntroJson::from).collect::<Vec<_>>());
            }
            if intros.is_empty() {
                println!("No intros.");
            }
            for intro in &intros {
                println!("{}", one_line(intro));
            }
            Ok(())
        }
        IntroCommand::Consent { id, json } => {
            let intro = store.intro(&id, None).await.map_err(not_found(&id))?;
            let events = store.events(&id).await?;
            let record = consent_record(&intro, &events);
            if json {
                return print_json(&record);
            }
            println!("{}", one_line(&intro));
            if let Some(r) = record["recorded_consent"].as_object() {
                println!(
                    "  {}  requester consent on record ({} via {}), blurb sha256 {}",
                    r["at"].as_str().unwrap_or(""),
                    r["name"].as_str().unwrap_or(""),
                    r["channel"].as_str().unwrap_or("?"),
                    r["blurb_hash"].as_str().unwrap_or("-"),
                );
            }
            for d in record["decisions"].as_array().into_iter().flatten() {
                println!(
                    "  {}  {:<9} {:<9} by {} via {}, shown text sha256 {}",
                    d["at"].as_str().unwrap_or(""),
                    d["role"].as_str().unwrap_or(""),
                    d["decision"].as_str().unwrap_or(""),
                    d["name"].as_str().unwrap_or(""),
                    d["channel"].as_str().unwrap_or(""),
                    d["text_hash"].as_str().unwrap_or("-"),
                );
            }
            Ok(())
        }
        IntroCommand::Show { id, json } => {
            let intro = store.intro(&id, None).await.map_err(not_found(&id))?;
            let events = store.events(&id).await?;
            let emails = store.outbox_for_intro(&id).await?;
            if json {
                let mut value = serde_json::to_value(IntroJson::from(&intro))?;
                value["events"] = events
                    .iter()
                    .map(|e| json!({"kind": e.kind, "actor": e.actor, "role": e.role, "channel": e.channel,
                                    "text_hash": e.text_hash, "status_after": e.status_after, "at": e.at.to_rfc3339()}))
                    .collect();
                value["emails"] = emails
                    .iter()
                    .map(|m| json!({"kind": m.kind.as_str(), "to": m.recipient.as_str(), "status": m.status,
                                    "attempts": m.attempts, "not_before": m.not_before.to_rfc3339(),
                                    "sent_at": m.sent_at.map(|t| t.to_rfc3339()), "last_error": m.last_error,
                                    "message_id": m.message_id}))
                    .collect();
                return print_json(&value);
            }
            println!("{}", one_line(&intro));
            println!("  reason: {}", intro.reason.as_str().replace('\n', " "));
            println!("timeline:");
            for e in &events {
                println!(
                    "  {}  {:<16} by {:<9} via {:<9} -> {}",
                    e.at, e.kind, e.actor, e.channel, e.status_after
                );
            }
            println!("emails:");
            for m in &emails {
                println!(
                    "  {}  {:<12} to {:<9} {}",
                    m.not_before,
                    m.kind.as_str(),
                    m.recipient.as_str(),
                    m.status
                );
            }
            Ok(())
        }
        IntroCommand::Cancel { id, json } => {
            let ctx = context(&SystemClock, settings.timings, Channel::Cli);
            let intro = store
                .apply(&id, None, Command::Cancel, ctx)
                .await
                .map_err(not_found(&id))?;
            if json {
                return print_json(&IntroJson::from(&intro));
            }
            println!(
                "Intro {} cancelled. Everyone who was asked will get one neutral note.",
                intro.id
            );
            Ok(())
        }
    }
}
