//! Issue 3, scale-out: several `twoyes serve --no-worker` and `twoyes worker`
//! processes on one database, delivering through a scriptable SMTP sink that
//! counts what it receives by Message-ID and by the process that sent it
//! (each child's `HOSTNAME`, which it uses as its EHLO name).
//!
//! - Two servers and two workers: two yeses for one intro arriving at the same
//!   moment through different servers make exactly one introduction.
//! - Two connection pools deciding 1,000 intros in random interleavings
//!   enqueue exactly one introduction each.
//! - The delivering process is SIGKILLed 50 times while it works through a
//!   backlog: no email is lost, and a duplicate is only ever the message that
//!   was in flight at a kill, with its original Message-ID.
//! - A worker frozen (SIGSTOP) past its lease, either while its SMTP server
//!   holds the reply or just after it said 250, cannot mark as sent an email
//!   another worker has taken over.
//!
//! The first two are meant for PostgreSQL and compiled only with the
//! PostgreSQL suite (`cfg(twoyes_pg)`); their copy in the SQLite module then
//! runs the same scenario against one shared SQLite file. Random choices
//! print their seed; `TWOYES_TEST_SEED` replays one.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::net::TcpListener as StdTcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use twoyes::config::{HttpArgs, SettingArgs, Settings};
use twoyes::domain::{Clock, SystemClock};
use twoyes::store::{IntroFilter, OutboxItem, SqlStore, Store};

use super::helpers::{Backend, Email, database_url_for};

const CONNIE: &str = "connie@connector.example";
/// The longest a single wait may take: a process starting, a batch arriving.
const PATIENCE: Duration = Duration::from_secs(60);
/// What the sink answers to a message it is told to refuse for now.
const TRY_LATER: &str = "451 4.3.0 sink: try again later";

// ---------------------------------------------------------------------------
// A scriptable SMTP sink, on a thread and runtime of its own so that blocking
// test code (CLI calls, precise sleeps) never delays its answers.

/// One message the sink received in full, in arrival order.
#[derive(Debug, Clone)]
struct Received {
    seq: usize,
    /// The EHLO name of the client: each child is started with `HOSTNAME`
    /// set to its own name, so this says which process sent the message.
    client: String,
    /// Without the angle brackets.
    message_id: String,
    email: Email,
}

struct Hung {
    message_id: String,
    client: String,
    release: Option<oneshot::Sender<()>>,
}

#[derive(Default)]
struct SinkState {
    /// How long the sink takes over each message before answering 250.
    delay: Duration,
    /// Hold the reply to the next complete message until released.
    hang_next: bool,
    hung: Option<Hung>,
    /// Messages answered with 451 for now, by Message-ID.
    refuse: BTreeSet<String>,
    /// Messages answered with 250 (or about to be: counted before the reply).
    accepted: Vec<Received>,
    /// Attempts answered with 451.
    refused: Vec<Received>,
    seq: usize,
}

impl SinkState {
    fn record(&mut self, client: &str, email: Email, accepted: bool) {
        self.seq += 1;
        let received = Received {
            seq: self.seq,
            client: client.to_string(),
            message_id: bare(&email.message_id),
            email,
        };
        if accepted {
            self.accepted.push(received);
        } else {
            self.refused.push(received);
        }
    }

    fn accepted_from(&self, client: &str) -> usize {
        self.accepted.iter().filter(|r| r.client == client).count()
    }
}

struct Sink {
    port: u16,
    state: Arc<Mutex<SinkState>>,
    stop: Option<oneshot::Sender<()>>,
}

impl Sink {
    fn start(delay: Duration) -> Sink {
        let listener = StdTcpListener::bind("127.0.0.1:0").expect("a port for the sink");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(SinkState {
            delay,
            ..SinkState::default()
        }));
        let (stop, stopped) = oneshot::channel::<()>();
        let shared = state.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("sink runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let serve = async {
                    while let Ok((socket, _)) = listener.accept().await {
                        tokio::spawn(session(socket, shared.clone()));
                    }
                };
                tokio::select! {
                    _ = serve => {}
                    _ = stopped => {}
                }
            });
        });
        Sink {
            port,
            state,
            stop: Some(stop),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SinkState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn accepted(&self) -> Vec<Received> {
        self.lock().accepted.clone()
    }

    fn refused(&self) -> Vec<Received> {
        self.lock().refused.clone()
    }

    fn hang_next(&self) {
        self.lock().hang_next = true;
    }

    /// The Message-ID and client of the message whose reply is held.
    fn hung(&self) -> Option<(String, String)> {
        self.lock()
            .hung
            .as_ref()
            .map(|h| (h.message_id.clone(), h.client.clone()))
    }

    /// Lets the held reply go out: 250, and the message counts as accepted.
    fn release_hung(&self) {
        if let Some(release) = self.lock().hung.as_mut().and_then(|h| h.release.take()) {
            let _ = release.send(());
        }
    }

    fn refuse(&self, message_id: &str) {
        self.lock().refuse.insert(message_id.to_string());
    }

    fn stop_refusing(&self, message_id: &str) {
        self.lock().refuse.remove(message_id);
    }

    /// Polls until `done` holds; panics after `PATIENCE`.
    async fn wait(&self, what: &str, done: impl Fn(&SinkState) -> bool) {
        if !self.wait_at_most(PATIENCE, &done).await {
            let s = self.lock();
            panic!(
                "the sink saw no {what} within {PATIENCE:?} ({} accepted, {} refused)",
                s.accepted.len(),
                s.refused.len()
            );
        }
    }

    /// Polls until `done` holds or `limit` has passed; says which.
    async fn wait_at_most(&self, limit: Duration, done: impl Fn(&SinkState) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if done(&self.lock()) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// One SMTP session; ends when the client goes away.
async fn session(socket: TcpStream, state: Arc<Mutex<SinkState>>) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink ESMTP\r\n").await?;
    let mut client = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.to_ascii_uppercase();
        if command.starts_with("EHLO") || command.starts_with("HELO") {
            client = line.get(4..).unwrap_or_default().trim().to_string();
            write.write_all(b"250-sink\r\n250 8BITMIME\r\n").await?;
        } else if command.starts_with("DATA") {
            write.write_all(b"354 go on\r\n").await?;
            let mut data = Vec::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    // Cut off mid-message: nothing was received.
                    return Ok(());
                }
                if line == ".\r\n" {
                    break;
                }
                data.extend_from_slice(line.strip_prefix('.').unwrap_or(&line).as_bytes());
            }
            let reply = receive(&state, &client, &data).await;
            write.write_all(reply.as_bytes()).await?;
        } else if command.starts_with("QUIT") {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            write.write_all(b"250 ok\r\n").await?;
        }
    }
}

/// Decides the reply to one complete message, and records it.
async fn receive(state: &Mutex<SinkState>, client: &str, data: &[u8]) -> String {
    let email = Email::parse(data);
    let message_id = bare(&email.message_id);
    let lock = || state.lock().unwrap_or_else(|e| e.into_inner());
    let (delay, held) = {
        let mut s = lock();
        if s.refuse.contains(&message_id) {
            s.record(client, email, false);
            return format!("{TRY_LATER}\r\n");
        }
        let held = if s.hang_next {
            s.hang_next = false;
            let (release, held) = oneshot::channel();
            s.hung = Some(Hung {
                message_id,
                client: client.to_string(),
                release: Some(release),
            });
            Some(held)
        } else {
            None
        };
        (s.delay, held)
    };
    match held {
        Some(held) => {
            if held.await.is_err() {
                return "421 sink shutting down\r\n".into();
            }
            lock().record(client, email, true);
        }
        None => {
            // Counted as soon as it is complete: if the sender dies before it
            // reads the 250, the message still went out (as with a real MTA).
            lock().record(client, email, true);
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
        }
    }
    "250 queued\r\n".into()
}

fn bare(message_id: &str) -> String {
    message_id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}

// ---------------------------------------------------------------------------
// The processes: one data directory (one secret.key) and one database for
// all of them.

fn free_port() -> u16 {
    StdTcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A data directory with Connie and her API token, settings every child
/// shares, and a directory for the children's logs.
struct Deployment {
    data: tempfile::TempDir,
    logs: tempfile::TempDir,
    smtp_port: u16,
    lease: &'static str,
    token: String,
}

impl Deployment {
    fn new(smtp_port: u16, lease: &'static str) -> Deployment {
        let mut deployment = Deployment {
            data: tempfile::tempdir().expect("data dir"),
            logs: tempfile::tempdir().expect("log dir"),
            smtp_port,
            lease,
            token: String::new(),
        };
        deployment.cli(&[
            "connector",
            "add",
            "--email",
            CONNIE,
            "--name",
            "Connie Connector",
        ]);
        let out = deployment.cli(&["token", "create", "--connector", CONNIE]);
        deployment.token = String::from_utf8(out.stdout)
            .expect("utf-8")
            .trim()
            .to_string();
        deployment
    }

    fn dir(&self) -> &Path {
        self.data.path()
    }

    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_twoyes"));
        for (key, _) in std::env::vars() {
            if key.starts_with("TWOYES_") {
                command.env_remove(key);
            }
        }
        command
            .env("NO_COLOR", "1")
            .env("TWOYES_UNDO_WINDOW", "0s")
            .env("TWOYES_RELAY_DELAY", "0s")
            .env("TWOYES_OUTBOX_LEASE", self.lease)
            .env("TWOYES_SMTP_RETRY_BASE", "1s")
            .env("TWOYES_SMTP_RETRY_MAX", "2s")
            .env(
                "TWOYES_SMTP_URL",
                format!("smtp://127.0.0.1:{}", self.smtp_port),
            )
            .arg("--data-dir")
            .arg(self.dir());
        if let Some(url) = database_url_for(self.dir()) {
            command.env("TWOYES_DATABASE_URL", url);
        }
        command
    }

    fn cli(&self, args: &[&str]) -> Output {
        let out = self.command().args(args).output().expect("twoyes runs");
        assert!(
            out.status.success(),
            "twoyes {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Starts a child named `name` (its log file and SMTP EHLO name).
    fn spawn(&self, name: &str, args: &[&str], base: Option<String>) -> Proc {
        self.spawn_with(name, args, base, self.command())
    }

    /// Starts `command` (from `command()`, adjusted) as a child named `name`.
    fn spawn_with(
        &self,
        name: &str,
        args: &[&str],
        base: Option<String>,
        mut command: Command,
    ) -> Proc {
        let log = self.logs.path().join(format!("{name}.log"));
        let out = File::create(&log).expect("log file");
        let child = command
            .env("HOSTNAME", name)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("twoyes starts");
        Proc {
            name: name.to_string(),
            child,
            log,
            api: base.map(|base| Api {
                base,
                token: self.token.clone(),
                client: reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .expect("client"),
            }),
        }
    }

    /// `twoyes worker`.
    fn worker(&self, name: &str) -> Proc {
        self.spawn(name, &["worker"], None)
    }

    /// `twoyes serve` on a fresh port, not waiting for it to be ready.
    fn spawn_serve(&self, name: &str, with_worker: bool) -> Proc {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let bind = format!("127.0.0.1:{port}");
        let mut args = vec!["serve", "--bind", &bind, "--base-url", &base];
        if !with_worker {
            args.push("--no-worker");
        }
        self.spawn(name, &args, Some(base.clone()))
    }

    /// `twoyes serve`, ready: /healthz answers.
    async fn serve(&self, name: &str, with_worker: bool) -> Proc {
        for attempt in 0..3 {
            let mut server = self.spawn_serve(&format!("{name}-{attempt}"), with_worker);
            if server.wait_ready().await {
                return server;
            }
            // Another process took the port between probe and bind.
            assert!(
                server.log_text().contains("Failed to listen"),
                "{name} exited:\n{}",
                server.log_text()
            );
        }
        panic!("{name} found no free port");
    }

    /// What the child named `name` has logged so far.
    fn log_of(&self, name: &str) -> String {
        std::fs::read_to_string(self.logs.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    /// The database the children use, opened in this process.
    async fn store(&self) -> Arc<SqlStore> {
        open_store(self.dir()).await
    }
}

/// The settings the children run with, resolved in this process.
fn settings_for(data_dir: &Path) -> Settings {
    let args = SettingArgs {
        data_dir: Some(data_dir.to_path_buf()),
        database_url: database_url_for(data_dir),
        undo_window: Some("0s".into()),
        relay_delay: Some("0s".into()),
        ..SettingArgs::default()
    };
    Settings::resolve(&args, &HttpArgs::default()).expect("settings")
}

/// A connection pool of its own to the database of `data_dir`.
async fn open_store(data_dir: &Path) -> Arc<SqlStore> {
    twoyes::app::open_store(&settings_for(data_dir))
        .await
        .expect("the test database opens")
}

/// A child process; SIGKILLed when dropped, whatever happens.
struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
    api: Option<Api>,
}

impl Proc {
    fn api(&self) -> Api {
        self.api.clone().expect("a server")
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL; true if the process was still running.
    fn kill(&mut self) -> bool {
        let running = self.running();
        let _ = self.child.kill();
        let _ = self.child.wait();
        running
    }

    /// Sends a signal such as `-STOP` or `-CONT`.
    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(signal)
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} {}", self.name);
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls /healthz; false if the process exited first.
    async fn wait_ready(&mut self) -> bool {
        let api = self.api();
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if !self.running() {
                return false;
            }
            let health = api.client.get(format!("{}/healthz", api.base)).send();
            if let Ok(Ok(r)) = tokio::time::timeout(Duration::from_secs(2), health).await
                && r.status() == 200
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "{} was not ready within {PATIENCE:?}:\n{}",
            self.name,
            self.log_text()
        );
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SIGKILL ends a stopped process too.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One server's HTTP API and decision pages.
#[derive(Clone)]
struct Api {
    base: String,
    token: String,
    client: reqwest::Client,
}

/// An intro proposed through the API.
#[derive(Debug, Clone)]
struct Proposed {
    id: String,
    requester: String,
    target: String,
}

impl Api {
    /// Proposes the n-th parallel intro, between two people of its own.
    async fn propose(&self, tag: &str, n: usize) -> Proposed {
        let requester = format!("{tag}-r{n}@requester.example");
        let target = format!("{tag}-t{n}@target.example");
        let response = self
            .client
            .post(format!("{}/api/v1/intros", self.base))
            .bearer_auth(&self.token)
            .json(&json!({
                "requester": {"name": "Rita Requester", "email": requester, "blurb": "I build soil sensors."},
                "target": {"name": "Tom Target", "email": target},
                "reason": "You both work on soil health.",
                "mode": "parallel",
            }))
            .send()
            .await
            .expect("POST intro");
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert_eq!(status, 201, "{body}");
        let intro: Value = serde_json::from_str(&body).expect("JSON");
        Proposed {
            id: intro["id"].as_str().expect("id").to_string(),
            requester,
            target,
        }
    }

    /// Answers yes on the decision page at `path` (`/o/…`); the status.
    #[cfg_attr(not(twoyes_pg), allow(dead_code))]
    async fn say_yes(&self, path: &str) -> u16 {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .form(&[("decision", "yes")])
            .send()
            .await
            .expect("POST decision");
        response.status().as_u16()
    }

    #[cfg_attr(not(twoyes_pg), allow(dead_code))]
    async fn intro(&self, id: &str) -> Value {
        let response = self
            .client
            .get(format!("{}/api/v1/intros/{id}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("GET intro");
        assert_eq!(response.status(), 200);
        response.json().await.expect("JSON")
    }
}

/// Proposes intros `numbers` through `apis` in turn, 16 at a time.
async fn propose_many(apis: &[Api], tag: &str, numbers: std::ops::Range<usize>) -> Vec<Proposed> {
    let numbers: Vec<usize> = numbers.collect();
    let mut proposed = Vec::new();
    for chunk in numbers.chunks(16) {
        let mut tasks = JoinSet::new();
        for &n in chunk {
            let api = apis[n % apis.len()].clone();
            let tag = tag.to_string();
            tasks.spawn(async move { api.propose(&tag, n).await });
        }
        while let Some(done) = tasks.join_next().await {
            proposed.push(done.expect("proposing an intro"));
        }
    }
    proposed
}

/// Every outbox row of every intro.
async fn all_outbox(store: &SqlStore) -> Vec<OutboxItem> {
    let mut rows = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_intros(&IntroFilter {
                after: after.clone(),
                limit: 500,
                ..IntroFilter::default()
            })
            .await
            .expect("list intros");
        for intro in &page {
            rows.extend(store.outbox_for_intro(&intro.id).await.expect("outbox"));
        }
        match page.last() {
            Some(last) => after = Some(last.id.clone()),
            None => return rows,
        }
    }
}

/// Outbox rows still pending, due or not, except follow-ups (they wait
/// for days).
async fn pending(store: &SqlStore) -> i64 {
    store
        .metrics(SystemClock.now())
        .await
        .expect("metrics")
        .outbox_by_status
        .iter()
        .filter(|(k, _)| k.ends_with(":pending") && !k.starts_with("follow_up:"))
        .map(|(_, n)| n)
        .sum()
}

/// Waits until no outbox row is pending.
async fn wait_all_sent(store: &SqlStore, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let left = pending(store).await;
        if left == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{left} emails still pending after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The decision-page path of an ask.
#[cfg_attr(not(twoyes_pg), allow(dead_code))]
fn decision_path(ask: &Email) -> String {
    let link = ask.link("/o/");
    let at = link.find("/o/").expect("a /o/ link");
    link[at..].to_string()
}

/// A seed from `TWOYES_TEST_SEED`, or a fresh one; printed either way.
fn seed(test: &str) -> u64 {
    let seed = std::env::var("TWOYES_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("{test}: TWOYES_TEST_SEED={seed}");
    seed
}

// ---------------------------------------------------------------------------
// 4. Concurrent decisions through different processes.

/// 200 parallel intros; for each, the requester says yes through one server
/// and the target through the other at the same moment, while two workers
/// deliver. Exactly 200 introductions go out, one per intro.
#[cfg(twoyes_pg)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_yeses_at_once_through_two_servers_make_one_introduction() {
    const INTROS: usize = 200;
    let started = Instant::now();
    let sink = Sink::start(Duration::ZERO);
    let deployment = Deployment::new(sink.port, "6s");
    let one = deployment.serve("serve-1", false).await;
    let two = deployment.serve("serve-2", false).await;
    let _workers = [deployment.worker("worker-1"), deployment.worker("worker-2")];
    let (one, two) = (one.api(), two.api());

    let intros = propose_many(&[one.clone(), two.clone()], "both", 0..INTROS).await;
    sink.wait("400 asks", |s| s.accepted.len() >= 2 * INTROS)
        .await;
    let asks: BTreeMap<String, String> = sink
        .accepted()
        .iter()
        .map(|r| (r.email.to[0].clone(), decision_path(&r.email)))
        .collect();
    assert_eq!(asks.len(), 2 * INTROS, "one ask to each party");

    // 20 intros at a time; within each, both yeses are released together.
    let mut refused = Vec::new();
    for chunk in intros.chunks(20) {
        let mut tasks = JoinSet::new();
        for intro in chunk {
            let barrier = Arc::new(tokio::sync::Barrier::new(2));
            for (api, party) in [(&one, &intro.requester), (&two, &intro.target)] {
                let (api, barrier) = (api.clone(), barrier.clone());
                let path = asks[party].clone();
                let what = format!("{} ({party})", intro.id);
                tasks.spawn(async move {
                    barrier.wait().await;
                    (what, api.say_yes(&path).await)
                });
            }
        }
        while let Some(done) = tasks.join_next().await {
            let (what, status) = done.expect("a decision");
            if status != 303 {
                refused.push((what, status));
            }
        }
    }
    assert!(refused.is_empty(), "yeses not accepted: {refused:?}");
    let decided = started.elapsed();

    let is_intro = |r: &Received| r.email.subject.starts_with("Intro:");
    sink.wait("200 introductions", |s| {
        s.accepted.iter().filter(|r| is_intro(r)).count() >= INTROS
    })
    .await;
    let introduced = started.elapsed();
    let store = deployment.store().await;
    wait_all_sent(&store, PATIENCE).await;

    let accepted = sink.accepted();
    let introductions: Vec<&Received> = accepted.iter().filter(|r| is_intro(r)).collect();
    let ids: BTreeSet<&str> = introductions
        .iter()
        .map(|r| r.message_id.as_str())
        .collect();
    assert_eq!(introductions.len(), INTROS, "exactly one introduction each");
    assert_eq!(ids.len(), INTROS, "200 distinct introduction emails");
    let every_id: BTreeSet<&str> = accepted.iter().map(|r| r.message_id.as_str()).collect();
    assert_eq!(
        every_id.len(),
        accepted.len(),
        "no email was delivered twice"
    );
    assert_eq!(accepted.len(), 3 * INTROS, "two asks and one intro each");
    for intro in &intros {
        let to_both = introductions
            .iter()
            .filter(|r| r.email.is_to(&intro.requester) && r.email.is_to(&intro.target))
            .count();
        assert_eq!(to_both, 1, "intro {}", intro.id);
        let outbox = store.outbox_for_intro(&intro.id).await.expect("outbox");
        let kinds: Vec<&str> = outbox.iter().map(|o| o.kind.as_str()).collect();
        assert_eq!(
            kinds.iter().filter(|k| **k == "introduction").count(),
            1,
            "intro {}: {kinds:?}",
            intro.id
        );
        let shown = one.intro(&intro.id).await;
        assert_eq!(shown["status"], "introduced", "{shown}");
    }
    let by_worker = |name: &str| accepted.iter().filter(|r| r.client == name).count();
    eprintln!(
        "{INTROS} intros on {:?}: decided at {decided:?}, introduced at {introduced:?}; \
         worker-1 sent {}, worker-2 sent {}, in {:?}",
        super::BACKEND,
        by_worker("worker-1"),
        by_worker("worker-2"),
        started.elapsed()
    );
}

/// 1,000 parallel intros (250 on SQLite) decided from two connection pools
/// (as two processes would), both yeses at nearly the same time in random order:
/// each intro is introduced and has exactly one introduction in its outbox.
#[cfg(twoyes_pg)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_interleaved_decision_pairs_enqueue_one_introduction_each() {
    use twoyes::domain::{Channel, Command, Decision, IntroStatus, Role};
    use twoyes::store::NewConnector;
    use twoyes::usecases::{ProposeInput, context, parse_proposal};

    // SQLite takes one writer at a time, each commit an fsync: fewer there.
    let intros = match super::BACKEND {
        Backend::Postgres => 1000,
        Backend::Sqlite => 250,
    };
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed("interleavings"));
    let dir = tempfile::tempdir().expect("data dir");
    let settings = settings_for(dir.path());
    let timings = settings.timings;
    let stores: [Arc<SqlStore>; 2] = [open_store(dir.path()).await, open_store(dir.path()).await];
    let connector = stores[0]
        .add_connector(
            NewConnector {
                email: twoyes::domain::EmailAddress::parse(CONNIE).expect("email"),
                name: twoyes::domain::PersonName::parse("Connie Connector").expect("name"),
                handle: None,
                is_admin: false,
            },
            SystemClock.now(),
        )
        .await
        .expect("connector");

    let mut ids = Vec::with_capacity(intros);
    for chunk in (0..intros).collect::<Vec<_>>().chunks(50) {
        let mut tasks = JoinSet::new();
        for &n in chunk {
            let store = stores[n % 2].clone();
            let input = ProposeInput {
                requester_name: "Rita Requester".into(),
                requester_email: format!("r{n}@requester.example"),
                requester_blurb: Some("I build soil sensors.".into()),
                target_name: "Tom Target".into(),
                target_email: format!("t{n}@target.example"),
                reason: "You both work on soil health.".into(),
                mode: Some("parallel".into()),
                ..ProposeInput::default()
            };
            let intro = parse_proposal(&input, &connector, &SystemClock).expect("a proposal");
            tasks.spawn(async move {
                let ctx = context(&SystemClock, timings, Channel::Api);
                store.create_intro(intro, ctx).await.expect("created").id
            });
        }
        while let Some(id) = tasks.join_next().await {
            ids.push(id.expect("creating an intro"));
        }
    }

    // Each decision: which pool, how long to wait first (0–2 ms, spun so
    // that it is not rounded to the timer's millisecond), and when it ran.
    let mut overlapping = 0;
    let mut failures = Vec::new();
    // Eight intros at a time: each pool has a connection ready for each
    // decision, so the random delays, not the pools, set the order.
    for chunk in ids.chunks(8) {
        let mut tasks = JoinSet::new();
        for id in chunk {
            let first = rng.random_range(0..2usize);
            for (k, role) in [Role::Requester, Role::Target].into_iter().enumerate() {
                let store = stores[(first + k) % 2].clone();
                let delay = Duration::from_micros(rng.random_range(0..=2000));
                let id = id.clone();
                tasks.spawn(async move {
                    let until = Instant::now() + delay;
                    while Instant::now() < until {
                        tokio::task::yield_now().await;
                    }
                    let begun = Instant::now();
                    let command = Command::Decide {
                        role,
                        decision: Decision::Yes { note: None },
                        shown_text_hash: "shown".into(),
                    };
                    let ctx = context(&SystemClock, timings, Channel::Web);
                    let result = store.apply(&id, None, command, ctx).await;
                    (
                        id,
                        role,
                        result.err().map(|e| e.to_string()),
                        begun,
                        Instant::now(),
                    )
                });
            }
        }
        let mut spans: BTreeMap<String, Vec<(Instant, Instant)>> = BTreeMap::new();
        while let Some(done) = tasks.join_next().await {
            let (id, role, error, begun, ended) = done.expect("a decision");
            if let Some(error) = error {
                failures.push(format!("{id} {role:?}: {error}"));
            }
            spans.entry(id).or_default().push((begun, ended));
        }
        overlapping += spans
            .values()
            .filter(|s| s.len() == 2 && s[0].0 < s[1].1 && s[1].0 < s[0].1)
            .count();
    }
    assert!(failures.is_empty(), "decisions refused: {failures:#?}");

    for id in &ids {
        let intro = stores[0].intro(id, None).await.expect("intro");
        assert_eq!(intro.status, IntroStatus::Introduced, "{id}");
        let outbox = stores[1].outbox_for_intro(id).await.expect("outbox");
        let introductions = outbox
            .iter()
            .filter(|o| o.kind.as_str() == "introduction")
            .count();
        assert_eq!(introductions, 1, "{id}: {outbox:#?}");
        let yeses = stores[0]
            .events(id)
            .await
            .expect("events")
            .iter()
            .filter(|e| e.kind == "decided_yes")
            .count();
        assert_eq!(yeses, 2, "{id}: one event per decision");
    }
    eprintln!(
        "{intros} interleavings on {:?}: {overlapping} pairs overlapped, in {:?}",
        super::BACKEND,
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------
// 5. Killing the delivering process.

/// While a backlog of asks is delivered (the sink takes 5 ms a message), the
/// process that delivers is SIGKILLed at random moments 50 times and started
/// again: a `worker` beside a `serve --no-worker` on PostgreSQL, `serve` with
/// its worker on SQLite. No email is lost; a message is delivered more than
/// once only if it was the one in flight when its sender was killed, and
/// then always with the Message-ID of its outbox row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_delivering_process_fifty_times_loses_no_email() {
    const KILLS: usize = 50;
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed("kills"));
    let sink = Sink::start(Duration::from_millis(5));
    // The SMTP timeout is a third of the lease: 1 s, far above the sink's 5 ms.
    let deployment = Deployment::new(sink.port, "3s");
    let api_server = deployment.serve("api", false).await;
    let api = api_server.api();
    let spawn_victim = |name: &str| match super::BACKEND {
        Backend::Postgres => deployment.worker(name),
        Backend::Sqlite => deployment.spawn_serve(name, true),
    };

    let mut proposed = propose_many(std::slice::from_ref(&api), "kill", 0..150).await;
    let mut killed = BTreeSet::new();
    for life in 0..KILLS {
        let name = format!("life-{life}");
        let mut victim = spawn_victim(&name);
        if rng.random_bool(0.25) {
            // Anywhere: starting up, claiming, sending, idle.
            tokio::time::sleep(Duration::from_millis(rng.random_range(0..250))).await;
        } else {
            // Mid-delivery: a few messages in, then within about one message.
            let k = rng.random_range(1..=5);
            sink.wait_at_most(Duration::from_secs(10), |s| s.accepted_from(&name) >= k)
                .await;
            std::thread::sleep(Duration::from_micros(rng.random_range(0..6000)));
        }
        if victim.kill() {
            killed.insert(name);
        } else {
            eprintln!("{name} had exited on its own:\n{}", victim.log_text());
        }
        // Keep a steady backlog.
        let delivered: BTreeSet<String> =
            sink.accepted().into_iter().map(|r| r.message_id).collect();
        if 2 * proposed.len() < delivered.len() + 200 {
            let more = proposed.len()..proposed.len() + 40;
            proposed.extend(propose_many(std::slice::from_ref(&api), "kill", more).await);
        }
    }
    let kills = killed.len();
    let _last = spawn_victim("life-last");
    let store = deployment.store().await;
    wait_all_sent(&store, Duration::from_secs(90)).await;

    let rows = all_outbox(&store).await;
    assert_eq!(rows.len(), 2 * proposed.len(), "two asks per intro");
    let accepted = sink.accepted();
    let mut by_id: BTreeMap<&str, Vec<&Received>> = BTreeMap::new();
    for r in &accepted {
        by_id.entry(r.message_id.as_str()).or_default().push(r);
    }
    let row_ids: BTreeSet<String> = rows.iter().map(|r| bare(&r.message_id)).collect();
    for row in &rows {
        assert_eq!(row.status, "sent", "{row:?}");
        assert!(
            by_id.contains_key(bare(&row.message_id).as_str()),
            "lost: {row:?}"
        );
    }
    for id in by_id.keys() {
        assert!(row_ids.contains(*id), "{id} is no outbox row's Message-ID");
    }
    // Each person has one ask: every copy they got carries its Message-ID.
    let mut per_person: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in &accepted {
        per_person
            .entry(r.email.to[0].as_str())
            .or_default()
            .insert(r.message_id.as_str());
    }
    for (person, ids) in &per_person {
        assert_eq!(ids.len(), 1, "{person} got one ask under several ids");
    }
    for intro in &proposed {
        for person in [&intro.requester, &intro.target] {
            assert!(
                per_person.contains_key(person.as_str()),
                "intro {}: {person} was never asked",
                intro.id
            );
        }
    }
    // A copy that was followed by another was in flight when its sender was
    // killed: handed to the server, its `sent` record not yet committed (the
    // sender never logged it sent). A worker has at most two emails in hand
    // per SMTP connection, so each kill leaves at most twice the pool's size
    // of them. They need not be its last messages: while one waits for its
    // record, the other sends go on.
    const IN_FLIGHT: usize = 2 * 4; // twice the default smtp-pool-size
    let outbox_id: BTreeMap<String, &str> = rows
        .iter()
        .map(|r| (bare(&r.message_id), r.id.as_str()))
        .collect();
    let mut unrecorded: BTreeMap<&str, usize> = BTreeMap::new();
    let mut duplicates = 0;
    for (id, copies) in &by_id {
        for early in &copies[..copies.len() - 1] {
            duplicates += 1;
            let log = deployment.log_of(&early.client);
            let recorded = log.lines().any(|line| {
                line.contains(&format!("outbox={} ", outbox_id[*id]))
                    && line.ends_with("email sent")
            });
            assert!(
                killed.contains(&early.client) && !recorded,
                "{id} was delivered again although it was not in flight at a kill: {copies:#?}\n\
                 what {} logged:\n{log}",
                early.client,
            );
            *unrecorded.entry(early.client.as_str()).or_default() += 1;
        }
    }
    for (client, count) in &unrecorded {
        assert!(
            *count <= IN_FLIGHT,
            "{client} had {count} emails sent and not recorded when it was killed"
        );
    }
    assert!(
        duplicates <= kills * IN_FLIGHT,
        "{duplicates} duplicates for {kills} kills"
    );
    eprintln!(
        "{:?}: {} emails, {kills} kills, {duplicates} duplicates, in {:?}",
        super::BACKEND,
        rows.len(),
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------
// 6. A worker frozen past its lease.

/// A TCP relay to PostgreSQL that can be paused: whatever a process sends
/// through it waits, as if that process had frozen just before sending it.
struct DbRelay {
    port: u16,
    open: Arc<tokio::sync::watch::Sender<bool>>,
    stop: Option<oneshot::Sender<()>>,
}

impl DbRelay {
    fn start(upstream: String) -> DbRelay {
        let listener = StdTcpListener::bind("127.0.0.1:0").expect("a port for the relay");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("addr").port();
        let open = Arc::new(tokio::sync::watch::Sender::new(true));
        let (stop, stopped) = oneshot::channel::<()>();
        let gate = open.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("relay runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let serve = async {
                    while let Ok((inbound, _)) = listener.accept().await {
                        let Ok(outbound) = TcpStream::connect(&upstream).await else {
                            continue;
                        };
                        let (in_read, in_write) = inbound.into_split();
                        let (out_read, out_write) = outbound.into_split();
                        tokio::spawn(pump(in_read, out_write, gate.subscribe()));
                        tokio::spawn(pump(out_read, in_write, gate.subscribe()));
                    }
                };
                tokio::select! {
                    _ = serve => {}
                    _ = stopped => {}
                }
            });
        });
        DbRelay {
            port,
            open,
            stop: Some(stop),
        }
    }

    fn pause(&self) {
        self.open.send_replace(false);
    }

    fn resume(&self) {
        self.open.send_replace(true);
    }
}

impl Drop for DbRelay {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut open: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if open.wait_for(|open| *open).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// `postgres://user@host:port/db?x` → (`host:port`, the same URL through
/// 127.0.0.1:`port`).
fn relayed(url: &str, port: u16) -> (String, String) {
    let (scheme, rest) = url.split_once("://").expect("a database URL");
    let (authority, path) = match rest.find(['/', '?']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let (user, host) = match authority.rsplit_once('@') {
        Some((user, host)) => (format!("{user}@"), host),
        None => (String::new(), authority),
    };
    let upstream = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:5432")
    };
    (upstream, format!("{scheme}://{user}127.0.0.1:{port}{path}"))
}

/// Where worker A is when it freezes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Freeze {
    /// Waiting for its SMTP server's reply to the message.
    WhileSending,
    /// Its SMTP server has said 250; A is about to record the email sent.
    AfterSending,
}

/// Worker A freezes (SIGSTOP) with an ask in hand until its lease is over.
/// Worker B takes the ask over and is told 451, so it schedules a retry.
/// Then A thaws, its SMTP server having said 250: A must not mark the ask
/// sent (B's retry owns it now); a later retry delivers it, with the same
/// Message-ID.
async fn frozen_worker(freeze: Freeze) {
    use sqlx::Connection as _;

    let started = Instant::now();
    let sink = Sink::start(Duration::ZERO);
    sink.hang_next();
    // A's SMTP timeout is a third of this, 2 s: ample time to act while the
    // sink holds A's reply.
    let lease = Duration::from_secs(6);
    let deployment = Deployment::new(sink.port, "6s");
    let out = deployment.cli(&[
        "intro",
        "new",
        "--connector",
        CONNIE,
        "--requester",
        "Rita Requester <rita@requester.example>",
        "--target",
        "Tom Target <tom@target.example>",
        "--reason",
        "You both work on soil health.",
        "--json",
    ]);
    let intro: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let intro_id = intro["id"].as_str().expect("id").to_string();
    let store = deployment.store().await;
    let ask = || async {
        let rows = store.outbox_for_intro(&intro_id).await.expect("outbox");
        assert_eq!(rows.len(), 1, "one ask: {rows:#?}");
        rows.into_iter().next().expect("the ask")
    };
    let message_id = bare(&ask().await.message_id);
    let refused_by_b =
        |e: &Option<String>| e.as_deref().is_some_and(|e| e.contains("try again later"));

    // To freeze A after its SMTP server said 250 but before it records the
    // email sent, A's database access is held first: on PostgreSQL A talks
    // to the database through a relay that can be paused; on SQLite the test
    // holds the write lock.
    let db_url = database_url_for(deployment.dir());
    let relay = match (&db_url, freeze) {
        (Some(url), Freeze::AfterSending) => Some(DbRelay::start(relayed(url, 0).0)),
        _ => None,
    };
    let a = match (&relay, &db_url) {
        (Some(relay), Some(url)) => {
            let mut command = deployment.command();
            command.env("TWOYES_DATABASE_URL", relayed(url, relay.port).1);
            deployment.spawn_with("worker-a", &["worker"], None, command)
        }
        _ => deployment.worker("worker-a"),
    };
    sink.wait("A's message", |s| s.hung.is_some()).await;
    // A claimed the ask a moment ago: its lease ends before this.
    let lease_over = Instant::now() + lease + Duration::from_millis(1500);
    assert_eq!(
        sink.hung(),
        Some((message_id.clone(), "worker-a".to_string()))
    );

    match freeze {
        Freeze::WhileSending => a.signal("-STOP"),
        Freeze::AfterSending => {
            let mut lock = match &relay {
                Some(relay) => {
                    relay.pause();
                    None
                }
                None => {
                    let file = deployment.dir().join("twoyes.db");
                    let mut conn =
                        sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display()))
                            .await
                            .expect("the SQLite file opens");
                    sqlx::query("begin immediate")
                        .execute(&mut conn)
                        .await
                        .expect("the write lock");
                    Some(conn)
                }
            };
            // The 250 reaches A well inside its SMTP timeout; A then waits
            // for the database, and freezes there.
            sink.release_hung();
            sink.wait("A's delivery", |s| {
                s.accepted.iter().any(|r| r.client == "worker-a")
            })
            .await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            a.signal("-STOP");
            if let Some(mut conn) = lock.take() {
                sqlx::query("rollback")
                    .execute(&mut conn)
                    .await
                    .expect("rollback");
                conn.close().await.expect("close");
            }
        }
    }

    // B takes the ask over once A's lease has passed, and is told to retry.
    sink.refuse(&message_id);
    tokio::time::sleep(lease_over.saturating_duration_since(Instant::now())).await;
    let _b = deployment.worker("worker-b");
    sink.wait("B's attempt", |s| {
        s.refused.iter().any(|r| r.client == "worker-b")
    })
    .await;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let row = ask().await;
        if refused_by_b(&row.last_error) {
            assert_eq!(row.status, "pending", "{row:?}");
            break;
        }
        assert!(Instant::now() < deadline, "B recorded no retry: {row:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A thaws, its SMTP server having said 250.
    if freeze == Freeze::WhileSending {
        sink.release_hung();
        sink.wait("A's late delivery", |s| {
            s.accepted.iter().any(|r| r.client == "worker-a")
        })
        .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log_before = a.log_text().len();
    if let Some(relay) = &relay {
        relay.resume();
    }
    a.signal("-CONT");
    // Until A has logged what it made of it (bounded: if the wording changes
    // the wait just ends), while the sink keeps refusing the ask to B.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && a.log_text().len() == log_before {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_thaw = ask().await;
    let a_log = a.log_text()[log_before..].to_string();
    assert_eq!(
        after_thaw.status, "pending",
        "worker A marked sent an email worker B had taken over: {after_thaw:?}\nA's log:\n{a_log}"
    );
    assert!(
        refused_by_b(&after_thaw.last_error),
        "B's error is kept: {after_thaw:?}\nA's log:\n{a_log}"
    );

    // Once the sink takes it, a retry delivers it.
    let released_at = sink.lock().seq;
    sink.stop_refusing(&message_id);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let row = ask().await;
        if row.status == "sent" {
            break;
        }
        assert!(Instant::now() < deadline, "never sent: {row:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let copies: Vec<Received> = sink
        .accepted()
        .into_iter()
        .filter(|r| r.email.is_to("tom@target.example"))
        .collect();
    assert!(
        copies.iter().all(|r| r.message_id == message_id),
        "every copy carries the outbox row's Message-ID: {copies:#?}"
    );
    assert!(
        copies.iter().any(|r| r.seq > released_at),
        "the retry that marked it sent really delivered it: {copies:#?}"
    );
    let refusals = sink.refused().len();
    eprintln!(
        "{:?}, frozen {freeze:?}: {} copies of the ask (A's included), {refusals} refusals, in {:?}; A after thawing: {:?}",
        super::BACKEND,
        copies.len(),
        started.elapsed(),
        a_log
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .map(|l| l.rsplit("twoyes::").next().unwrap_or(l))
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_frozen_while_sending_past_its_lease_does_not_mark_a_taken_over_email_sent() {
    frozen_worker(Freeze::WhileSending).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_frozen_after_sending_past_its_lease_does_not_mark_a_taken_over_email_sent() {
    frozen_worker(Freeze::AfterSending).await;
}
