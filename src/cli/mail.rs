//! `twoyes mail test --to EMAIL`: one real message through the configured
//! transport, with a hint for the usual mistakes.

use clap::Subcommand;

use crate::app::make_transport;
use crate::config::Settings;
use crate::domain::{Clock, EmailAddress, SystemClock};
use crate::mail::{MessageParts, OutgoingMessage, Rendered, build_message};

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Send a test message through the configured transport (smtp-url, or the mail folder).
    Test {
        /// Where to send the test message.
        #[arg(long)]
        to: String,
    },
}

/// Turns a delivery error into advice a person can act on.
pub fn hint(error: &str) -> Option<&'static str> {
    let e = error.to_ascii_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| e.contains(w));
    if any(&[
        "certificate",
        "unknownissuer",
        "notvalidforname",
        "invalid peer certificate",
    ]) {
        Some(
            "the server's TLS certificate is not trusted or is not for this host name: check the host in smtp-url, or trust your relay's CA with --smtp-ca-file",
        )
    } else if any(&[
        "corrupt message",
        "wrong version number",
        "invalidcontenttype",
        "handshake",
        "tls with",
    ]) {
        Some(
            "the server did not speak TLS on this port: use smtps:// for port 465, and smtp://…?tls=required for ports 587 and 25",
        )
    } else if any(&["did not greet in time"]) {
        Some(
            "no greeting: if this port expects TLS from the first byte (usually 465), use smtps://; otherwise check the host and port",
        )
    } else if any(&["does not offer starttls"]) {
        Some(
            "the server does not offer STARTTLS: use smtps:// if it expects TLS from the start, or drop ?tls=required for a relay on this machine",
        )
    } else if any(&["535", "authentication", "auth"]) {
        Some(
            "the server refused the user name or password in smtp-url (percent-encode @ and : inside them)",
        )
    } else if any(&["connection refused", "connecting to"]) {
        Some("nothing answered at that host and port: check smtp-url")
    } else {
        None
    }
}

pub async fn run(settings: &Settings, command: MailCommand) -> anyhow::Result<()> {
    let MailCommand::Test { to } = command;
    let to = EmailAddress::parse(&to).map_err(|e| anyhow::anyhow!("--to: {e}"))?;
    let transport = make_transport(settings)?;
    let body = Rendered {
        subject: "twoyes test message".into(),
        text: "This is a test message from twoyes. If you can read it, mail delivery works.\n"
            .into(),
        html:
            "<p>This is a test message from twoyes. If you can read it, mail delivery works.</p>\n"
                .into(),
    };
    let message_id = format!(
        "<{}@{}>",
        uuid::Uuid::new_v4().simple(),
        settings.mail_from.domain()
    );
    let parts = MessageParts {
        message_id: &message_id,
        from_name: "twoyes",
        from_address: settings.mail_from.as_str(),
        to: vec![("", &to)],
        cc: vec![],
        reply_to: vec![],
        auto_submitted: true,
        list_unsubscribe: None,
        list_unsubscribe_mailto: None,
        date: SystemClock.now(),
    };
    let mut message = build_message(&parts, &body)?;
    if let Some(signer) = crate::app::make_dkim_signer(settings)? {
        signer.sign(&mut message);
    }
    let outgoing = OutgoingMessage {
        outbox_id: format!("test-{}", uuid::Uuid::now_v7()),
        message_id: message_id.clone(),
        envelope: message.envelope().clone(),
        raw: message.formatted(),
    };
    match transport.send(&outgoing).await {
        Ok(()) => {
            println!(
                "Sent a test message to {to} through {} (Message-ID {message_id}).",
                transport.describe()
            );
            Ok(())
        }
        Err(e) => {
            let text = e.to_string();
            match hint(&text) {
                Some(hint) => anyhow::bail!("{text} (hint: {hint})"),
                None => anyhow::bail!("{text}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::hint;

    #[test]
    fn common_mistakes_get_a_hint() {
        assert!(
            hint("temporary failure: TLS with mail.example.com:587: received corrupt message")
                .unwrap()
                .contains("smtps://")
        );
        assert!(
            hint("permanent failure: 535 5.7.8 Authentication credentials invalid")
                .unwrap()
                .contains("password")
        );
        assert!(
            hint("TLS with x:465: invalid peer certificate: UnknownIssuer")
                .unwrap()
                .contains("certificate")
        );
        assert!(
            hint("the SMTP server at x:465 did not greet in time")
                .unwrap()
                .contains("smtps://")
        );
        assert!(
            hint("connecting to x:25: Connection refused (os error 111)")
                .unwrap()
                .contains("host and port")
        );
        assert_eq!(hint("550 no such user"), None);
    }
}
