//! SPEC §6: "an accepted decision, intro or email lost because the process
//! was killed" must never happen. The real binary is killed with SIGKILL the
//! moment a decision is acknowledged, restarted on the same data directory,
//! and must go on as if nothing had happened.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::helpers::Email;

const CONNIE: &str = "connie@connector.example";
/// The longest any wait here may take: the server starting, an email arriving.
const PATIENCE: Duration = Duration::from_secs(20);

fn twoyes(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_twoyes"));
    for (key, _) in std::env::vars() {
        if key.starts_with("TWOYES_") {
            command.env_remove(key);
        }
    }
    command
        .env("TWOYES_UNDO_WINDOW", "0s")
        .env("TWOYES_RELAY_DELAY", "0s")
        // A killed worker's claims are taken over after this lease.
        .env("TWOYES_OUTBOX_LEASE", "2s")
        .arg("--data-dir")
        .arg(data_dir);
    if let Some(url) = super::helpers::database_url_for(data_dir) {
        command.env("TWOYES_DATABASE_URL", url);
    }
    command
}

fn cli(data_dir: &Path, args: &[&str]) -> Output {
    let out = twoyes(data_dir).args(args).output().expect("twoyes runs");
    assert!(
        out.status.success(),
        "twoyes {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A `twoyes serve` child process; killed when dropped, whatever happens.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
    client: reqwest::Client,
}

impl Server {
    /// Starts the server on a fresh port and waits until /healthz answers.
    async fn start(data_dir: &Path, log_dir: &Path, run: usize) -> Server {
        for attempt in 0..3 {
            let port = free_port();
            let base = format!("http://127.0.0.1:{port}");
            let log = log_dir.join(format!("serve-{run}-{attempt}.log"));
            let out = File::create(&log).expect("log file");
            let child = twoyes(data_dir)
                .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
                .args(["--base-url", &base])
                .stdin(Stdio::null())
                .stdout(out.try_clone().expect("log file"))
                .stderr(out)
                .spawn()
                .expect("twoyes serve starts");
            let mut server = Server {
                child,
                base,
                log,
                client: reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .expect("client"),
            };
            if server.wait_ready().await {
                return server;
            }
            // Another process took the port between probe and bind: try another.
            assert!(
                server.log_text().contains("Failed to listen"),
                "twoyes serve exited:\n{}",
                server.log_text()
            );
        }
        panic!("twoyes serve found no free port");
    }

    /// Polls /healthz; false if the process exited first.
    async fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if self.child.try_wait().expect("child status").is_some() {
                return false;
            }
            let health = self.client.get(format!("{}/healthz", self.base)).send();
            if let Ok(Ok(r)) = tokio::time::timeout(Duration::from_secs(2), health).await
                && r.status() == 200
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "twoyes serve was not ready within {PATIENCE:?}:\n{}",
            self.log_text()
        );
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no shutdown hook, no flush, no goodbye.
    fn kill(&mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("wait");
    }

    async fn intro(&self, token: &str, id: &str) -> Value {
        let response = self
            .client
            .get(format!("{}/api/v1/intros/{id}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET intro");
        assert_eq!(response.status(), 200);
        response.json().await.expect("JSON")
    }

    /// Answers yes on the decision page at `path` (e.g. `/o/…`).
    async fn say_yes(&self, path: &str) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .form(&[("decision", "yes")])
            .send()
            .await
            .expect("POST decision")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every message the file transport has written so far.
fn mails(data_dir: &Path) -> Vec<Email> {
    let Ok(entries) = std::fs::read_dir(data_dir.join("mail")) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.ends_with(".eml") && !name.starts_with('.')
        })
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| Email::parse(&std::fs::read(p).expect("an .eml file")))
        .collect()
}

/// Polls the mail directory until `pick` finds what it wants.
async fn wait_for_mail<T>(
    data_dir: &Path,
    server: &Server,
    what: &str,
    pick: impl Fn(&[Email]) -> Option<T>,
) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(found) = pick(&mails(data_dir)) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "no {what} within {PATIENCE:?}; mail: {:?}\nserver log:\n{}",
            mails(data_dir)
                .iter()
                .map(|m| (&m.to, &m.subject))
                .collect::<Vec<_>>(),
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The decision-page path of the ask to `address`.
fn ask_path(mails: &[Email], address: &str) -> Option<String> {
    let ask = mails
        .iter()
        .find(|m| m.is_to(address) && m.text.contains("/o/"))?;
    let link = ask.link("/o/");
    link.find("/o/").map(|at| link[at..].to_string())
}

fn introductions<'a>(mails: &'a [Email], a: &str, b: &str) -> Vec<&'a Email> {
    mails
        .iter()
        .filter(|m| m.subject.starts_with("Intro:") && m.is_to(a) && m.is_to(b))
        .collect()
}

/// A data directory with Connie and her API token, and a directory for logs.
fn setup() -> (tempfile::TempDir, tempfile::TempDir, String) {
    let data = tempfile::tempdir().expect("data dir");
    let logs = tempfile::tempdir().expect("log dir");
    cli(
        data.path(),
        &[
            "connector",
            "add",
            "--email",
            CONNIE,
            "--name",
            "Connie Connector",
        ],
    );
    let out = cli(data.path(), &["token", "create", "--connector", CONNIE]);
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    (data, logs, token)
}

/// Proposes the n-th parallel intro; returns its id and the two addresses.
async fn propose(server: &Server, token: &str, n: usize) -> (String, String, String) {
    let requester = format!("rita{n}@requester.example");
    let target = format!("tom{n}@target.example");
    let response = server
        .client
        .post(format!("{}/api/v1/intros", server.base))
        .bearer_auth(token)
        .json(&json!({
            "requester": {"name": "Rita Requester", "email": requester, "blurb": "I build soil sensors."},
            "target": {"name": "Tom Target", "email": target},
            "reason": "You both work on soil health.",
            "mode": "parallel",
        }))
        .send()
        .await
        .expect("POST intro");
    assert_eq!(response.status(), 201);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .expect("id")
        .to_string();
    (id, requester, target)
}

/// The intro's emails of `kind`, as the outbox records them.
fn outbox(data_dir: &Path, id: &str, kind: &str) -> Vec<Value> {
    let shown: Value =
        serde_json::from_slice(&cli(data_dir, &["intro", "show", id, "--json"]).stdout)
            .expect("intro show --json");
    shown["emails"]
        .as_array()
        .expect("emails")
        .iter()
        .filter(|e| e["kind"] == kind)
        .cloned()
        .collect()
}

/// Waits for the introduction's .eml: written at once, or after the killed
/// worker's short lease if it died while sending.
async fn introduction_after_restart(
    data_dir: &Path,
    server: &Server,
    requester: &str,
    target: &str,
) {
    wait_for_mail(data_dir, server, "introduction", |m| {
        (!introductions(m, requester, target).is_empty()).then_some(())
    })
    .await;
}

#[tokio::test]
async fn decisions_acknowledged_just_before_a_kill_survive_the_restart() {
    let (data, logs, token) = setup();
    let data_dir = data.path();
    let mut run = 0;
    let mut server = Server::start(data_dir, logs.path(), run).await;
    for n in 0..5 {
        let (id, requester, target) = propose(&server, &token, n).await;
        let (first, second) = if n % 2 == 0 {
            (("requester", &requester), ("target", &target))
        } else {
            (("target", &target), ("requester", &requester))
        };
        let (first_path, second_path) = wait_for_mail(data_dir, &server, "two asks", |m| {
            Some((ask_path(m, first.1)?, ask_path(m, second.1)?))
        })
        .await;

        // The first yes is acknowledged; the process dies at once.
        let response = server.say_yes(&first_path).await;
        assert_eq!(response.status(), 303);
        server.kill();
        run += 1;
        server = Server::start(data_dir, logs.path(), run).await;
        let intro = server.intro(&token, &id).await;
        assert_eq!(intro["status"], "asking", "intro {n}: {intro}");
        assert_eq!(
            intro["parties"][first.0]["consent"], "accepted",
            "intro {n}: the {} said yes before the kill: {intro}",
            first.0
        );
        assert_eq!(intro["parties"][second.0]["consent"], "asked");

        // The second yes likewise; the introduction must still go out, once.
        let response = server.say_yes(&second_path).await;
        assert_eq!(response.status(), 303);
        server.kill();
        run += 1;
        server = Server::start(data_dir, logs.path(), run).await;
        introduction_after_restart(data_dir, &server, &requester, &target).await;
        let intro = server.intro(&token, &id).await;
        assert_eq!(intro["status"], "introduced", "intro {n}: {intro}");
        assert_eq!(intro["parties"]["requester"]["consent"], "accepted");
        assert_eq!(intro["parties"]["target"]["consent"], "accepted");
        assert_eq!(
            introductions(&mails(data_dir), &requester, &target).len(),
            1,
            "intro {n}: exactly one introduction email"
        );
    }

    // Nothing was lost: every intro is introduced, with exactly one
    // introduction in its outbox, and every other due email went out.
    server.kill();
    let intros = mails(data_dir)
        .iter()
        .filter(|m| m.subject.starts_with("Intro:"))
        .count();
    assert_eq!(intros, 5);
    let list: Value =
        serde_json::from_slice(&cli(data_dir, &["intro", "list", "--json"]).stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 5);
    for intro in list.as_array().unwrap() {
        assert_eq!(intro["status"], "introduced", "{intro}");
        let id = intro["id"].as_str().unwrap();
        assert_eq!(outbox(data_dir, id, "introduction").len(), 1, "{id}");
        for ask in outbox(data_dir, id, "ask") {
            assert_eq!(ask["status"], "sent", "{id}: {ask}");
        }
    }
}

#[tokio::test]
async fn an_introduction_being_sent_when_the_process_dies_goes_out_soon_after_restart() {
    // The kill lands a little after the acknowledgement, while the worker is
    // likely to be between claiming the introduction and recording it sent.
    let (data, logs, token) = setup();
    let data_dir = data.path();
    let mut server = Server::start(data_dir, logs.path(), 0).await;
    for (n, micros) in [500u64, 1000, 1500, 2000, 3000].into_iter().enumerate() {
        let (_, requester, target) = propose(&server, &token, n).await;
        let (first, second) = wait_for_mail(data_dir, &server, "two asks", |m| {
            Some((ask_path(m, &requester)?, ask_path(m, &target)?))
        })
        .await;
        assert_eq!(server.say_yes(&first).await.status(), 303);
        assert_eq!(server.say_yes(&second).await.status(), 303);
        std::thread::sleep(Duration::from_micros(micros));
        server.kill();
        server = Server::start(data_dir, logs.path(), n + 1).await;
        wait_for_mail(data_dir, &server, "introduction", |m| {
            (!introductions(m, &requester, &target).is_empty()).then_some(())
        })
        .await;
    }
}
