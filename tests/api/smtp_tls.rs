//! Issue 4, the SMTP connection itself, against the scripted server of
//! `smtp_faults.rs` with TLS and AUTH switched on:
//!
//! - one connection carries more than 200 messages a second (TCP_NODELAY);
//! - STARTTLS (`smtp://…?tls=required`) and implicit TLS (`smtps://…`) with
//!   AUTH, trusting a certificate made at test time through `smtp-ca-file`;
//! - `tls=required` refuses a server that does not offer STARTTLS, before
//!   any password or message is sent;
//! - a connection is replaced after `smtp-recycle-after` messages;
//! - `twoyes mail test --to …` delivers, and its usual mistakes (wrong TLS
//!   mode for the port, untrusted certificate, refused password) each end
//!   in one stderr line with a hint.
//!
//! fails today for the reason it gives.
//!
//! These tests use no database: the PostgreSQL copy of the suite skips them.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;
use twoyes::config::{HttpArgs, SettingArgs, Settings};
use twoyes::mail::{OutgoingMessage, Transport};

use super::helpers::Backend;
use super::smtp_faults::{Fault, ServerOptions, ServerTls, Stage, TestServer};

const USER: &str = "mailer";
/// As the server expects it, and as it is written in a URL.
const PASSWORD: &str = "p@ss:word";
const PASSWORD_IN_URL: &str = "p%40ss%3Aword";

/// The copy of this file in the PostgreSQL suite has nothing to add.
fn database_free_copy_only() -> bool {
    super::BACKEND == Backend::Postgres
}

/// A self-signed certificate for 127.0.0.1 and localhost, made now: the
/// server's acceptor, and the PEM file a client trusts it through.
struct Pki {
    acceptor: TlsAcceptor,
    ca_file: PathBuf,
    _dir: tempfile::TempDir,
}

fn pki() -> Pki {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("a certificate");
    let dir = tempfile::tempdir().expect("temp dir");
    let ca_file = dir.path().join("relay-ca.pem");
    std::fs::write(&ca_file, certified.cert.pem()).expect("write the CA file");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .expect("server TLS config");
    Pki {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        ca_file,
        _dir: dir,
    }
}

/// The transport the app would build from these settings (as flags);
/// `outbox-lease` 3s, so each step gives up after 1 s.
fn transport(url: &str, tune: impl FnOnce(&mut SettingArgs)) -> Arc<dyn Transport> {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut args = SettingArgs {
        data_dir: Some(dir.path().to_path_buf()),
        smtp_url: Some(url.to_string()),
        outbox_lease: Some("3s".into()),
        ..SettingArgs::default()
    };
    tune(&mut args);
    let settings = Settings::resolve(&args, &HttpArgs::default()).expect("settings");
    twoyes::app::make_transport(&settings).expect("transport")
}

fn trusting(ca_file: &Path) -> impl FnOnce(&mut SettingArgs) + '_ {
    move |args| args.smtp_ca_file = Some(ca_file.display().to_string())
}

fn message(n: usize) -> OutgoingMessage {
    let message_id = format!("<tls-{n}.{}@test.example>", uuid::Uuid::new_v4().simple());
    let email = lettre::Message::builder()
        .from("twoyes@test.example".parse().unwrap())
        .to(format!("person{n}@example.com").parse().unwrap())
        .subject(format!("message {n}"))
        .message_id(Some(message_id.clone()))
        .body(format!("Message number {n}.\r\n"))
        .unwrap();
    OutgoingMessage {
        outbox_id: format!("tls-{n}"),
        message_id,
        envelope: email.envelope().clone(),
        raw: email.formatted(),
    }
}

async fn send_all(transport: &dyn Transport, range: std::ops::Range<usize>) {
    for n in range {
        transport
            .send(&message(n))
            .await
            .unwrap_or_else(|e| panic!("message {n}: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_sends_more_than_200_messages_a_second() {
    if database_free_copy_only() {
        return;
    }
    let server = TestServer::start(ServerOptions::default());
    let transport = transport(&format!("smtp://127.0.0.1:{}", server.port), |args| {
        args.smtp_pool_size = Some("1".into());
        args.smtp_recycle_after = Some("100000".into());
    });
    send_all(&*transport, 0..1).await; // connect outside the measurement
    let count = 1000;
    let started = Instant::now();
    send_all(&*transport, 1..count + 1).await;
    let elapsed = started.elapsed();
    let rate = count as f64 / elapsed.as_secs_f64();
    println!("{count} messages on one connection in {elapsed:?}: {rate:.0}/s");
    let log = server.log();
    assert_eq!(log.accepted().len(), count + 1);
    assert_eq!(log.connections, 1, "one connection carried them all");
    // About 4,000/s here with TCP_NODELAY; Nagle's stall would give ~25/s.
    assert!(rate > 200.0, "only {rate:.0} messages/s on one connection");
}

#[tokio::test]
async fn starttls_with_auth_delivers_every_message_encrypted() {
    if database_free_copy_only() {
        return;
    }
    let pki = pki();
    let server = TestServer::start(ServerOptions {
        tls: ServerTls::StartTls(pki.acceptor.clone()),
        auth: Some((USER, PASSWORD)),
        ..ServerOptions::default()
    });
    let url = format!(
        "smtp://{USER}:{PASSWORD_IN_URL}@127.0.0.1:{}?tls=required",
        server.port
    );
    let transport = transport(&url, trusting(&pki.ca_file));
    assert!(
        transport.describe().contains("STARTTLS"),
        "{}",
        transport.describe()
    );
    send_all(&*transport, 0..3).await;
    let log = server.log();
    assert_eq!(log.connections, 1);
    assert_eq!(log.tls_handshakes, 1);
    assert_eq!(log.auth_attempts, [true]);
    assert_eq!(log.accepted().len(), 3);
    assert!(
        log.arrivals.iter().all(|a| a.encrypted && a.authenticated),
        "{:?}",
        log.arrivals
    );
}

#[tokio::test]
async fn implicit_tls_with_auth_delivers_every_message_encrypted() {
    if database_free_copy_only() {
        return;
    }
    let pki = pki();
    let server = TestServer::start(ServerOptions {
        tls: ServerTls::Implicit(pki.acceptor.clone()),
        auth: Some((USER, PASSWORD)),
        ..ServerOptions::default()
    });
    let url = format!("smtps://{USER}:{PASSWORD_IN_URL}@127.0.0.1:{}", server.port);
    let transport = transport(&url, trusting(&pki.ca_file));
    send_all(&*transport, 0..3).await;
    let log = server.log();
    assert_eq!((log.connections, log.tls_handshakes), (1, 1));
    assert_eq!(log.auth_attempts, [true]);
    assert_eq!(log.accepted().len(), 3);
    assert!(log.arrivals.iter().all(|a| a.encrypted && a.authenticated));
}

#[tokio::test]
async fn tls_required_refuses_a_server_without_starttls_before_any_password_or_message() {
    if database_free_copy_only() {
        return;
    }
    let pki = pki();
    // The server would take the password in plain text; it must not get it.
    let server = TestServer::start(ServerOptions {
        tls: ServerTls::None,
        auth: Some((USER, PASSWORD)),
        ..ServerOptions::default()
    });
    let url = format!(
        "smtp://{USER}:{PASSWORD_IN_URL}@127.0.0.1:{}?tls=required",
        server.port
    );
    let transport = transport(&url, trusting(&pki.ca_file));
    let error = transport.send(&message(0)).await.expect_err("refused");
    let text = error.to_string();
    assert!(text.contains("STARTTLS"), "{text}");
    let log = server.log();
    assert!(
        log.auth_attempts.is_empty(),
        "a password went out in plain text"
    );
    assert!(log.rcpts.is_empty() && log.arrivals.is_empty());
}

#[tokio::test]
async fn a_connection_is_replaced_after_smtp_recycle_after_messages() {
    if database_free_copy_only() {
        return;
    }
    let server = TestServer::start(ServerOptions::default());
    let transport = transport(&format!("smtp://127.0.0.1:{}", server.port), |args| {
        args.smtp_pool_size = Some("1".into());
        args.smtp_recycle_after = Some("3".into());
    });
    send_all(&*transport, 0..7).await;
    let log = server.log();
    assert_eq!(log.connections, 3);
    let per_connection: Vec<usize> = (1..=3)
        .map(|c| log.arrivals.iter().filter(|a| a.conn == c).count())
        .collect();
    assert_eq!(per_connection, [3, 3, 1]);
    assert_eq!(log.quits, 2, "each full connection was closed with QUIT");
}

#[tokio::test]
async fn recycling_a_connection_whose_server_never_answers_quit_does_not_stall_the_send() {
    if database_free_copy_only() {
        return;
    }
    let server = TestServer::start(ServerOptions::default());
    server.script(Stage::Quit, Fault::Hang);
    let transport = transport(&format!("smtp://127.0.0.1:{}", server.port), |args| {
        args.smtp_pool_size = Some("1".into());
        args.smtp_recycle_after = Some("1".into());
    });
    // Each step gives up after 1 s (outbox-lease 3s); allow twice that.
    let started = Instant::now();
    let sent = tokio::time::timeout(Duration::from_secs(2), transport.send(&message(0))).await;
    assert!(
        matches!(sent, Ok(Ok(()))),
        "the send was still waiting for the QUIT reply after {:?}: {sent:?}",
        started.elapsed()
    );
    send_all(&*transport, 1..2).await;
    assert_eq!(server.log().accepted().len(), 2);
}

// ---------------------------------------------------------------------------
// `twoyes mail test`

async fn mail_test(url: &str, extra_env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_twoyes"));
    for (key, _) in std::env::vars() {
        if key.starts_with("TWOYES_") {
            command.env_remove(key);
        }
    }
    command
        .env("NO_COLOR", "1")
        .env("TWOYES_SMTP_URL", url)
        .env("TWOYES_OUTBOX_LEASE", "3s")
        .envs(extra_env.iter().copied())
        .arg("--data-dir")
        .arg(dir.path())
        .args(["mail", "test", "--to", "x@example.com"])
        .kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(20), command.output())
        .await
        .expect("twoyes mail test finished in time")
        .expect("twoyes runs")
}

/// The command failed with exactly one stderr line, carrying a hint; returns it.
fn one_line_with_a_hint(out: &Output) -> String {
    assert!(!out.status.success(), "it should have failed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line on stderr:\n{stderr}");
    assert!(lines[0].contains("hint:"), "a hint: {}", lines[0]);
    lines[0].to_string()
}

#[tokio::test]
async fn mail_test_delivers_through_implicit_tls_with_auth() {
    if database_free_copy_only() {
        return;
    }
    let pki = pki();
    let server = TestServer::start(ServerOptions {
        tls: ServerTls::Implicit(pki.acceptor.clone()),
        auth: Some((USER, PASSWORD)),
        ..ServerOptions::default()
    });
    let url = format!("smtps://{USER}:{PASSWORD_IN_URL}@127.0.0.1:{}", server.port);
    let ca = pki.ca_file.display().to_string();
    let out = mail_test(&url, &[("TWOYES_SMTP_CA_FILE", &ca)]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("x@example.com"), "{stdout}");
    let log = server.log();
    let arrived = log.accepted_to("x@example.com");
    assert_eq!(arrived.len(), 1, "{:?}", log.arrivals);
    assert!(arrived[0].encrypted && arrived[0].authenticated);
    assert!(stdout.contains(&arrived[0].message_id), "{stdout}");
}

#[tokio::test]
async fn mail_test_with_a_refused_password_prints_one_line_with_a_hint() {
    if database_free_copy_only() {
        return;
    }
    let server = TestServer::start(ServerOptions {
        tls: ServerTls::None,
        auth: Some((USER, PASSWORD)),
        ..ServerOptions::default()
    });
    let url = format!("smtp://{USER}:not-the-password@127.0.0.1:{}", server.port);
    let out = mail_test(&url, &[]).await;
    let line = one_line_with_a_hint(&out);
    assert!(line.contains("535"), "{line}");
    assert!(line.contains("password"), "{line}");
    assert!(
        !line.contains("not-the-password"),
        "the password is shown: {line}"
    );
    let log = server.log();
    assert_eq!(log.auth_attempts, [false]);
    assert!(log.arrivals.is_empty());
}

#[tokio::test]
async fn mail_test_with_smtps_against_a_starttls_port_hints_at_the_tls_mode() {
    if database_free_copy_only() {
        return;
    }
    let pki = pki();
    let server = TestServer::start(ServerOptions {
        tls: ServerTls::StartTls(pki.acceptor.clone()),
        auth: None,
        ..ServerOptions::default()
    });
    let ca = pki.ca_file.display().to_string();
    let url = format!("smtps://127.0.0.1:{}", server.port);
    let line = one_line_with_a_hint(&mail_test(&url, &[("TWOYES_SMTP_CA_FILE", &ca)]).await);
    assert!(line.contains("tls=required"), "{line}");
    assert!(server.log().arrivals.is_empty());
}

/// `smtp://…?tls=required` against a port that expects TLS from the first
/// byte: the server waits for a TLS hello, the client for a greeting.
async fn starttls_against_an_smtps_port() -> String {
    let pki = pki();
    let server = TestServer::start(ServerOptions {
        tls: ServerTls::Implicit(pki.acceptor.clone()),
        ..ServerOptions::default()
    });
    let ca = pki.ca_file.display().to_string();
    let url = format!("smtp://127.0.0.1:{}?tls=required", server.port);
    let line = one_line_with_a_hint(&mail_test(&url, &[("TWOYES_SMTP_CA_FILE", &ca)]).await);
    assert!(server.log().arrivals.is_empty());
    line
}

#[tokio::test]
async fn mail_test_with_starttls_against_an_smtps_port_hints_at_the_tls_mode() {
    if database_free_copy_only() {
        return;
    }
    let line = starttls_against_an_smtps_port().await;
    assert!(line.contains("smtps://"), "{line}");
}

#[tokio::test]
async fn mail_test_with_starttls_against_an_smtps_port_advises_smtps() {
    if database_free_copy_only() {
        return;
    }
    let line = starttls_against_an_smtps_port().await;
    let hint = line.split_once("hint:").map(|(_, h)| h).unwrap_or_default();
    assert!(hint.contains("use smtps://"), "{line}");
}

#[tokio::test]
async fn mail_test_with_an_untrusted_certificate_hints_at_smtp_ca_file() {
    if database_free_copy_only() {
        return;
    }
    let pki = pki();
    let server = TestServer::start(ServerOptions {
        tls: ServerTls::Implicit(pki.acceptor.clone()),
        auth: None,
        ..ServerOptions::default()
    });
    let url = format!("smtps://127.0.0.1:{}", server.port);
    let line = one_line_with_a_hint(&mail_test(&url, &[]).await);
    assert!(line.contains("ca-file"), "{line}");
    let log = server.log();
    assert!(log.arrivals.is_empty() && log.tls_handshakes == 0);
}
