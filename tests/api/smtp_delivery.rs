//! Delivery through a real SMTP conversation on loopback.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::helpers::*;

/// A minimal SMTP sink: accepts every message and keeps its bytes.
struct SmtpSink {
    port: u16,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
}

async fn start_sink() -> SmtpSink {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let store = received.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let store = store.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read);
                write.write_all(b"220 sink ESMTP\r\n").await.ok()?;
                let mut line = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await.ok()? == 0 {
                        return Some(());
                    }
                    let command = line.to_ascii_uppercase();
                    if command.starts_with("EHLO") {
                        write
                            .write_all(b"250-sink\r\n250 8BITMIME\r\n")
                            .await
                            .ok()?;
                    } else if command.starts_with("DATA") {
                        write.write_all(b"354 go on\r\n").await.ok()?;
                        let mut data = Vec::new();
                        loop {
                            line.clear();
                            lines.read_line(&mut line).await.ok()?;
                            if line == ".\r\n" {
                                break;
                            }
                            data.extend_from_slice(
                                line.strip_prefix('.').unwrap_or(&line).as_bytes(),
                            );
                        }
                        store.lock().unwrap().push(data);
                        write.write_all(b"250 queued\r\n").await.ok()?;
                    } else if command.starts_with("QUIT") {
                        write.write_all(b"221 bye\r\n").await.ok()?;
                        return Some(());
                    } else {
                        write.write_all(b"250 ok\r\n").await.ok()?;
                    }
                }
            });
        }
    });
    SmtpSink { port, received }
}

impl SmtpSink {
    fn emails(&self) -> Vec<Email> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|raw| Email::parse(raw))
            .collect()
    }

    async fn wait_for(&self, n: usize) -> Vec<Email> {
        for _ in 0..1000 {
            if self.received.lock().unwrap().len() >= n {
                return self.emails();
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!(
            "the SMTP server got {} messages, expected {n}",
            self.received.lock().unwrap().len()
        );
    }
}

#[tokio::test]
async fn every_email_of_an_intro_reaches_a_real_smtp_server() {
    let sink = start_sink().await;
    let app = spawn_app_with(Config {
        undo_window: "0s",
        smtp_port: Some(sink.port),
        ..Config::default()
    })
    .await;
    let id = app.propose(&intro_body("parallel")).await;

    let asks = sink.wait_for(2).await;
    for address in [RITA, TOM] {
        let ask = asks
            .iter()
            .find(|e| e.is_to(address))
            .expect("an ask to each party");
        let link = ask.link("/o/");
        assert_eq!(
            app.submit(&link, &[("decision", "yes")]).await.status(),
            303
        );
    }
    let all = sink.wait_for(3).await;
    let intro = all
        .iter()
        .find(|e| e.subject.starts_with("Intro:"))
        .expect("the introduction");
    assert!(intro.is_to(RITA) && intro.is_to(TOM));
    assert_eq!(app.status(&id).await, "introduced");
    assert!(app.mail.messages().is_empty(), "nothing went around SMTP");
}

#[tokio::test]
async fn with_dkim_settings_every_email_is_signed() {
    let app = spawn_app_with(Config {
        undo_window: "0s",
        dkim: true,
        ..Config::default()
    })
    .await;
    app.propose(&intro_body("parallel")).await;
    app.settle().await;
    app.answer(RITA, &[("decision", "yes")]).await;
    app.answer(TOM, &[("decision", "yes")]).await;
    app.settle().await;
    let emails = app.emails();
    assert_eq!(emails.len(), 3, "two asks and the introduction");
    for email in &emails {
        let signature = email
            .raw
            .split("\r\n")
            .find(|line| line.starts_with("DKIM-Signature:"))
            .unwrap_or_else(|| panic!("no DKIM-Signature on {}", email.subject));
        assert!(signature.contains("d=connector.example"), "{signature}");
        assert!(signature.contains("s=t1"), "{signature}");
        assert!(signature.contains("a=ed25519-sha256"), "{signature}");
    }
}
