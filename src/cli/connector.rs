use clap::Subcommand;
use serde_json::json;

use super::print_json;
use crate::app::open_store;
use crate::config::Settings;
use crate::domain::{Clock, EmailAddress, Handle, PersonName, SystemClock, Token};
use crate::store::{Connector, NewConnector, OneTimePurpose, Store, StoreError};
use crate::usecases::{one_time_link, set_password};

#[derive(Debug, Subcommand)]
pub enum ConnectorCommand {
    /// Create a connector account.
    Add {
        /// The connector's email address (their login, and Cc on intros).
        #[arg(long)]
        email: String,
        /// The name parties see, e.g. "Ann Lee".
        #[arg(long)]
        name: String,
        /// Public handle for the request page /r/{handle} (default: from the email).
        #[arg(long)]
        handle: Option<String>,
        /// Make this connector an administrator of the installation.
        #[arg(long)]
        admin: bool,
        /// Read the web app password from standard input (one line).
        /// Without it, a one-time link to choose one is printed.
        #[arg(long)]
        password_stdin: bool,
        /// Print the connector as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Set a connector's web app password, or print a one-time link to set it.
    Password {
        /// The connector's email address.
        #[arg(long)]
        email: String,
        /// Read the password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token for a connector; it is printed once and stored only as a hash.
    Create {
        /// The connector's email address.
        #[arg(long)]
        connector: String,
        /// Print the token as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn connector_json(c: &Connector) -> serde_json::Value {
    json!({
        "id": c.id,
        "email": c.email.as_str(),
        "name": c.name.as_str(),
        "handle": c.handle.as_ref().map(|h| h.as_str()),
        "admin": c.is_admin,
        "created_at": c.created_at.to_rfc3339(),
    })
}

/// Finds a connector by the email given on the command line.
pub(super) async fn find_connector(store: &dyn Store, email: &str) -> anyhow::Result<Connector> {
    let email = EmailAddress::parse(email).map_err(|e| anyhow::anyhow!("--connector: {e}"))?;
    store.connector_by_email(&email).await?.ok_or_else(|| {
        anyhow::anyhow!(
            "no connector with the email {email}; create one with `twoyes connector add`"
        )
    })
}

fn read_password_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| anyhow::anyhow!("could not read the password from standard input: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Sets the password from stdin, or returns a one-time link to set it.
async fn password_or_link(
    settings: &Settings,
    store: &dyn Store,
    connector: &Connector,
    from_stdin: bool,
) -> anyhow::Result<Option<String>> {
    if from_stdin {
        let typed = read_password_line()?;
        set_password(store, connector, &typed)
            .await
            .map_err(|e| anyhow::anyhow!("password: {e}"))?;
        return Ok(None);
    }
    let purpose = OneTimePurpose::Password {
        connector_id: connector.id.clone(),
    };
    Ok(Some(
        one_time_link(store, &settings.base_url, purpose, &SystemClock).await?,
    ))
}

pub async fn run_connector(settings: &Settings, command: ConnectorCommand) -> anyhow::Result<()> {
    let (email, name, handle, admin, password_stdin, json) = match command {
        ConnectorCommand::Add {
            email,
            name,
            handle,
            admin,
            password_stdin,
            json,
        } => (email, name, handle, admin, password_stdin, json),
        ConnectorCommand::Password {
            email,
            password_stdin,
            json,
        } => {
            let store = open_store(settings).await?;
            let connector = find_connector(store.as_ref(), &email).await?;
            let link =
                password_or_link(settings, store.as_ref(), &connector, password_stdin).await?;
            return print_password_result(&connector, link, json);
        }
    };
    let email = EmailAddress::parse(&email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
    let name = PersonName::parse(&name).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
    let chosen = handle.is_some();
    let handle = match handle {
        Some(h) => Some(Handle::parse(&h).map_err(|e| anyhow::anyhow!("--handle: {e}"))?),
        None => Handle::suggest(email.as_str()),
    };
    let store = open_store(settings).await?;
    let new = NewConnector {
        email,
        name,
        handle,
        is_admin: admin,
    };
    let connector = match store.add_connector(new.clone(), SystemClock.now()).await {
        // A handle we suggested is taken: the connector can pick one later.
        Err(StoreError::Conflict(message)) if !chosen && message.contains("handle") => {
            let new = NewConnector {
                handle: None,
                ..new
            };
            store.add_connector(new, SystemClock.now()).await?
        }
        other => other?,
    };
    let link = password_or_link(settings, store.as_ref(), &connector, password_stdin).await?;
    if json {
        let mut value = connector_json(&connector);
        value["password_link"] = json!(link);
        print_json(&value)
    } else {
        println!(
            "Connector {} <{}> created (id {}).",
            connector.name, connector.email, connector.id
        );
        match link {
            Some(link) => println!(
                "To choose a password and sign in, open this link (it works once, for 72 hours):\n{link}"
            ),
            None => println!("Password set: sign in at {}/login", settings.base_url),
        }
        println!(
            "For the API: `twoyes token create --connector {}`.",
            connector.email
        );
        Ok(())
    }
}

fn print_password_result(
    connector: &Connector,
    link: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        return print_json(&json!({"connector": connector.email.as_str(), "password_link": link}));
    }
    match link {
        Some(link) => println!(
            "To choose a new password for {}, open this link (it works once, for 72 hours):\n{link}",
            connector.email
        ),
        None => println!(
            "Password set for {}; their other sessions were signed out.",
            connector.email
        ),
    }
    Ok(())
}

pub async fn run_token(settings: &Settings, command: TokenCommand) -> anyhow::Result<()> {
    let TokenCommand::Create { connector, json } = command;
    let store = open_store(settings).await?;
    let connector = find_connector(store.as_ref(), &connector).await?;
    let token = Token::generate();
    store
        .add_api_token(&connector.id, &token.hash(), SystemClock.now())
        .await?;
    if json {
        print_json(&json!({"connector": connector.email.as_str(), "token": token.expose()}))
    } else {
        println!("{}", token.expose());
        eprintln!(
            "This API token for {} is shown only once; keep it somewhere safe.",
            connector.email
        );
        Ok(())
    }
}
