//! The integration suite on Sqlite.

pub const BACKEND: helpers::Backend = helpers::Backend::Sqlite;

#[path = "helpers.rs"]
pub mod helpers;

#[path = "api_contract.rs"]
mod api_contract;
#[path = "cli.rs"]
mod cli;
#[path = "crash.rs"]
mod crash;
#[path = "decisions_at_once.rs"]
mod decisions_at_once;
#[path = "gdpr.rs"]
mod gdpr;
#[path = "guards.rs"]
mod guards;
#[path = "happy_path.rs"]
mod happy_path;
#[path = "hidden_closure.rs"]
mod hidden_closure;
#[path = "migrations.rs"]
mod migrations;
#[path = "party_flows.rs"]
mod party_flows;
#[path = "preferences.rs"]
mod preferences;
#[path = "scale_out.rs"]
mod scale_out;
#[path = "secrets.rs"]
mod secrets;
#[path = "smtp_delivery.rs"]
mod smtp_delivery;
#[path = "smtp_faults.rs"]
mod smtp_faults;
#[path = "smtp_tls.rs"]
mod smtp_tls;
#[path = "stale_reads.rs"]
mod stale_reads;
#[path = "tenancy.rs"]
mod tenancy;
#[path = "web_app.rs"]
mod web_app;
#[path = "web_contacts.rs"]
mod web_contacts;
#[path = "web_dashboard.rs"]
mod web_dashboard;
#[path = "web_requests.rs"]
mod web_requests;
#[path = "web_settings.rs"]
mod web_settings;
