#![allow(dead_code)]
//! `spawn_app()` and friends: boot twoyes on port 0 with a manual clock and a
//! memory mail transport, and read what it sends.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mail_parser::MessageParser;
use serde_json::{Value, json};
use twoyes::app::{Application, Overrides};
use twoyes::config::{DkimSettings, HttpArgs, SettingArgs, Settings, SmtpSettings, SmtpTls};
use twoyes::domain::{Clock, ManualClock, Timestamp, Token};
use twoyes::mail::MemoryTransport;
use twoyes::store::{Connector, NewConnector, Store};

/// Which database a copy of the suite runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The database for the test using `data_dir`: `None` on SQLite (the data
/// directory's own file), a database of its own on PostgreSQL, created on
/// first use. Test databases from runs over an hour old are dropped.
pub fn database_url_for(data_dir: &Path) -> Option<String> {
    static URLS: Mutex<BTreeMap<PathBuf, String>> = Mutex::new(BTreeMap::new());
    if super::BACKEND == Backend::Sqlite {
        return None;
    }
    let mut urls = URLS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(url) = urls.get(data_dir) {
        return Some(url.clone());
    }
    let admin = std::env::var("TWOYES_TEST_DATABASE_URL")
        .expect("the PostgreSQL suite needs TWOYES_TEST_DATABASE_URL");
    // A thread of its own, so this works from sync and async tests alike.
    let url = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(create_test_database(&admin))
    })
    .join()
    .expect("creating a test database");
    urls.insert(data_dir.to_path_buf(), url.clone());
    Some(url)
}

/// A database of its own (in `data_dir` on SQLite) at the schema before
/// the migration whose file name starts with `first`; with the migration
/// files from that one on, in order, for the test to run (`run_migration`).
pub async fn database_before_migration(
    data_dir: &Path,
    first: &str,
) -> (sqlx::AnyConnection, Vec<PathBuf>) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let (url, folder) = match database_url_for(data_dir) {
        Some(url) => (url, "postgres"),
        None => (
            format!("sqlite://{}?mode=rwc", data_dir.join("t.db").display()),
            "sqlite",
        ),
    };
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    let mut files: Vec<_> = std::fs::read_dir(format!(
        "{}/migrations/{folder}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .map(|e| e.unwrap().path())
    .collect();
    files.sort();
    let (before, rest): (Vec<_>, Vec<_>) = files
        .into_iter()
        .partition(|p| p.file_name().unwrap().to_str().unwrap() < first);
    for path in before {
        run_migration(&mut conn, &path).await;
    }
    (conn, rest)
}

/// Runs one migration file on `conn`.
pub async fn run_migration(conn: &mut sqlx::AnyConnection, path: &Path) {
    let sql = std::fs::read_to_string(path).unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(conn)
        .await
        .unwrap();
}

async fn create_test_database(admin: &str) -> String {
    use sqlx::Connection;
    static SWEPT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let mut conn = sqlx::PgConnection::connect(admin)
        .await
        .expect("connect to TWOYES_TEST_DATABASE_URL");
    if !SWEPT.swap(true, std::sync::atomic::Ordering::SeqCst) {
        let rows: Vec<(String,)> =
            sqlx::query_as("select datname from pg_database where datname like 'twoyes_t_%'")
                .fetch_all(&mut conn)
                .await
                .expect("list test databases");
        let hour_ago = chrono::Utc::now().timestamp_millis() - 3_600_000;
        for (name,) in rows {
            let created = u64::from_str_radix(
                &name["twoyes_t_".len()..]
                    .chars()
                    .take(12)
                    .collect::<String>(),
                16,
            )
            .unwrap_or(0);
            if (created as i64) < hour_ago {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "drop database if exists {name} with (force)"
                )))
                .execute(&mut conn)
                .await;
            }
        }
    }
    let name = format!("twoyes_t_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
        .execute(&mut conn)
        .await
        .expect("create a test database");
    let (base, query) = match admin.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin, String::new()),
    };
    let server = base
        .rsplit_once('/')
        .map(|(server, _)| server)
        .unwrap_or(base);
    format!("{server}/{name}{query}")
}

/// 2026-12-01 10:00 UTC: tests start here and move time by hand.
pub const START: Timestamp = Timestamp::from_millis(1_796_119_200_000);

pub const MINUTE: Duration = Duration::from_secs(60);
pub const HOUR: Duration = Duration::from_secs(3600);
pub const DAY: Duration = Duration::from_secs(86_400);

pub struct TestApp {
    pub address: String,
    pub clock: Arc<ManualClock>,
    pub mail: MemoryTransport,
    pub store: Arc<dyn Store>,
    pub connector: Connector,
    pub api_token: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    pub dir: tempfile::TempDir,
    /// Set when mail is written to files (`Config::file_mail`).
    pub mail_dir: Option<PathBuf>,
}

/// One email as a person's mail client would show it.
#[derive(Debug, Clone)]
pub struct Email {
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub reply_to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub message_id: String,
    pub raw: String,
}

impl Email {
    pub fn parse(raw: &[u8]) -> Email {
        let msg = MessageParser::default()
            .parse(raw)
            .expect("a parsable message");
        let addrs = |a: Option<&mail_parser::Address>| -> Vec<String> {
            a.map(|a| {
                a.iter()
                    .filter_map(|x| x.address().map(|s| s.to_string()))
                    .collect()
            })
            .unwrap_or_default()
        };
        Email {
            to: addrs(msg.to()),
            cc: addrs(msg.cc()),
            reply_to: addrs(msg.reply_to()),
            subject: msg.subject().unwrap_or_default().to_string(),
            text: msg.body_text(0).map(|t| t.to_string()).unwrap_or_default(),
            html: msg.body_html(0).map(|t| t.to_string()).unwrap_or_default(),
            message_id: msg.message_id().unwrap_or_default().to_string(),
            raw: String::from_utf8_lossy(raw).to_string(),
        }
    }

    /// The first link in the text part whose path starts with `prefix` (e.g. "/o/").
    pub fn link(&self, prefix: &str) -> String {
        self.links(prefix)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no {prefix} link in:\n{}", self.text))
    }

    pub fn links(&self, prefix: &str) -> Vec<String> {
        self.text
            .split_whitespace()
            .filter(|w| w.starts_with("http://") && w.contains(prefix))
            .map(|w| w.trim_end_matches(['.', ',', ')']).to_string())
            .collect()
    }

    pub fn is_to(&self, address: &str) -> bool {
        self.to.iter().any(|a| a == address)
    }
}

pub struct Config {
    pub undo_window: &'static str,
    pub relay_delay: &'static str,
    /// Deliver through SMTP to this loopback port instead of memory.
    pub smtp_port: Option<u16>,
    /// `smtp-retry-base` and `smtp-retry-max` (default 30s and 2h).
    pub smtp_retry: Option<(&'static str, &'static str)>,
    /// `outbox-lease` (default 60s); an SMTP send gives up after a third of it.
    pub outbox_lease: Option<&'static str>,
    /// `smtp-max-per-second`, when delivering through SMTP (default unlimited).
    pub smtp_max_per_second: Option<f64>,
    /// Sign with a fresh Ed25519 DKIM key (selector `t1`, domain `connector.example`).
    pub dkim: bool,
    /// Write `.eml` files as the embedded default does (the web app's
    /// mailbox), instead of keeping mail in memory.
    pub file_mail: bool,
    /// Run the background worker (default); without it a test runs worker
    /// passes itself (`TestApp::worker`).
    pub worker: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            undo_window: "10m",
            relay_delay: "24h..72h",
            smtp_port: None,
            smtp_retry: None,
            outbox_lease: None,
            smtp_max_per_second: None,
            dkim: false,
            file_mail: false,
            worker: true,
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Config::default()).await
}

pub fn quiet_logs() {
    if std::env::var("TEST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info,sqlx=warn")
            .with_test_writer()
            .try_init();
    }
}

pub async fn spawn_app_with(config: Config) -> TestApp {
    quiet_logs();
    let dir = tempfile::tempdir().expect("temp dir");
    let args = SettingArgs {
        data_dir: Some(dir.path().to_path_buf()),
        undo_window: Some(config.undo_window.into()),
        relay_delay: Some(config.relay_delay.into()),
        smtp_retry_base: config.smtp_retry.map(|(base, _)| base.into()),
        smtp_retry_max: config.smtp_retry.map(|(_, max)| max.into()),
        outbox_lease: config.outbox_lease.map(Into::into),
        ..Default::default()
    };
    let http = HttpArgs {
        bind: Some("127.0.0.1:0".into()),
    };
    let mut settings = Settings::resolve(&args, &http).expect("settings");
    if let Some(url) = database_url_for(dir.path()) {
        settings.database_url = url;
    }
    if config.dkim {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("an Ed25519 key");
        settings.dkim = Some(DkimSettings {
            key_pem: key.serialize_pem(),
            selector: "t1".into(),
            domain: "connector.example".into(),
        });
    }
    let clock = Arc::new(ManualClock::new(START));
    let mail = MemoryTransport::default();
    if let Some(port) = config.smtp_port {
        settings.smtp = Some(SmtpSettings {
            host: "127.0.0.1".into(),
            port,
            tls: SmtpTls::Plain,
            credentials: None,
            ca_file: None,
            pool_size: 4,
            recycle_after: 100,
            max_per_second: config.smtp_max_per_second,
        });
    }
    let overrides = Overrides {
        clock: Some(clock.clone()),
        transport: (config.smtp_port.is_none() && !config.file_mail)
            .then(|| Arc::new(mail.clone()) as Arc<dyn twoyes::mail::Transport>),
        idle_poll: Some(Duration::from_millis(50)),
    };
    // The base URL must carry the real port, which is known only after binding.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = probe.local_addr().expect("addr").port();
    drop(probe);
    settings.bind = format!("127.0.0.1:{port}").parse().expect("addr");
    settings.base_url = format!("http://127.0.0.1:{port}");
    let app = Application::build(&settings, config.worker, overrides)
        .await
        .expect("app builds");
    let store = app.store();
    tokio::spawn(app.run_until(std::future::pending()));

    let connector = store
        .add_connector(
            NewConnector {
                email: twoyes::domain::EmailAddress::parse("connie@connector.example").unwrap(),
                name: twoyes::domain::PersonName::parse("Connie Connector").unwrap(),
                handle: None,
                is_admin: false,
            },
            START,
        )
        .await
        .expect("connector");
    let api_token = add_token(&store, &connector).await;
    TestApp {
        mail_dir: config.file_mail.then(|| settings.mail_dir()),
        address: settings.base_url.clone(),
        clock,
        mail,
        store,
        connector,
        api_token,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        settings,
        dir,
    }
}

pub async fn add_token(store: &Arc<dyn Store>, connector: &Connector) -> String {
    let token = Token::generate();
    store
        .add_api_token(&connector.id, &token.hash(), START)
        .await
        .expect("token");
    token.expose()
}

pub fn intro_body(mode: &str) -> Value {
    json!({
        "requester": {"name": "Rita Requester", "email": "rita@requester.example", "blurb": "I build soil sensors for small farms."},
        "target": {"name": "Tom Target", "email": "tom@target.example"},
        "reason": "You both work on soil health and keep asking me the same questions.",
        "mode": mode,
    })
}

pub const RITA: &str = "rita@requester.example";
pub const TOM: &str = "tom@target.example";
pub const CONNIE: &str = "connie@connector.example";

impl TestApp {
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// A worker on this app's store, clock and memory mail, for a test that
    /// runs its passes itself (`Config { worker: false, .. }`).
    pub fn worker(&self) -> twoyes::worker::Worker {
        let overrides = Overrides {
            clock: Some(self.clock.clone()),
            transport: Some(Arc::new(self.mail.clone())),
            idle_poll: Some(Duration::from_millis(50)),
        };
        twoyes::app::make_worker(&self.settings, self.store.clone(), &overrides).expect("a worker")
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.address)
    }

    pub async fn post_intro(&self, body: &Value) -> reqwest::Response {
        self.post_intro_as(&self.api_token, body).await
    }

    pub async fn post_intro_as(&self, token: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.api("/intros"))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// Proposes an intro through the API and returns its id.
    pub async fn propose(&self, body: &Value) -> String {
        let response = self.post_intro(body).await;
        assert_eq!(
            response.status(),
            201,
            "{}",
            response.text().await.unwrap_or_default()
        );
        let intro: Value = response.json().await.expect("json");
        intro["id"].as_str().expect("id").to_string()
    }

    pub async fn intro(&self, id: &str) -> Value {
        self.api_get(&format!("/intros/{id}")).await
    }

    /// The intro's consent record, as the connector's API shows it.
    pub async fn consent_record(&self, id: &str) -> Value {
        self.api_get(&format!("/intros/{id}/consent")).await
    }

    /// A GET of the connector's API that must succeed, as JSON.
    async fn api_get(&self, path: &str) -> Value {
        let response = self
            .client
            .get(self.api(path))
            .bearer_auth(&self.api_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    pub async fn status(&self, id: &str) -> String {
        self.intro(id).await["status"].as_str().unwrap().to_string()
    }

    pub fn emails(&self) -> Vec<Email> {
        if let Some(dir) = &self.mail_dir {
            // File names are outbox ids (UUIDv7): sorted, they are in order.
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            files.retain(|f| f.extension().is_some_and(|x| x == "eml"));
            files.sort();
            return files
                .iter()
                .filter_map(|f| std::fs::read(f).ok())
                .map(|raw| Email::parse(&raw))
                .collect();
        }
        self.mail
            .messages()
            .iter()
            .map(|m| Email::parse(&m.raw))
            .collect()
    }

    pub fn emails_to(&self, address: &str) -> Vec<Email> {
        self.emails()
            .into_iter()
            .filter(|e| e.is_to(address))
            .collect()
    }

    /// Moves the clock and lets the worker catch up with everything now due.
    pub async fn advance(&self, by: Duration) {
        self.clock.advance(by);
        self.settle().await;
    }

    /// Waits (bounded) until nothing is due: no timer, no unsent email.
    pub async fn settle(&self) {
        self.store.wakeups().notify_one();
        for _ in 0..1000 {
            let now = self.clock.now();
            let timers_due = self
                .store
                .next_due_at()
                .await
                .unwrap()
                .is_some_and(|t| t <= now);
            let pending = self.store.metrics(now).await.unwrap().outbox_pending;
            if !timers_due && pending == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the worker did not catch up within 10 seconds");
    }

    /// Waits until `n` emails have been sent to `address`, then returns them all.
    pub async fn wait_for_emails_to(&self, address: &str, n: usize) -> Vec<Email> {
        for _ in 0..1000 {
            let emails = self.emails_to(address);
            if emails.len() >= n {
                return emails;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "expected {n} emails to {address}, got {:#?}",
            self.emails_to(address)
                .iter()
                .map(|e| &e.subject)
                .collect::<Vec<_>>()
        );
    }

    /// Opens a page as a browser would (GET).
    pub async fn open(&self, url: &str) -> reqwest::Response {
        self.client.get(url).send().await.expect("GET")
    }

    /// Submits a form on a party page (POST, form-encoded).
    pub async fn submit(&self, url: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(url)
            .form(fields)
            .send()
            .await
            .expect("POST")
    }

    /// The decision link of the latest ask (or reminder) to `address`.
    pub fn ask_link(&self, address: &str) -> String {
        self.emails_to(address)
            .iter()
            .rev()
            .find(|e| e.text.contains("/o/"))
            .unwrap_or_else(|| panic!("no ask to {address}"))
            .link("/o/")
    }

    /// Opens the latest ask to `address` and answers it.
    pub async fn answer(&self, address: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let link = self.ask_link(address);
        let page = self.open(&link).await;
        assert_eq!(page.status(), 200);
        self.submit(&link, fields).await
    }
}

/// A browser-like client signed in to the web app: it keeps cookies, and
/// adds the session's CSRF token to every form it posts.
pub struct WebSession {
    pub client: reqwest::Client,
    pub base: String,
    pub csrf: String,
}

pub const PASSWORD: &str = "correct horse battery staple";

/// The value of the first `name="csrf"` field of a page.
pub fn csrf_in(html: &str) -> String {
    let start = html
        .find("name=\"csrf\" value=\"")
        .expect("the page has a CSRF field")
        + "name=\"csrf\" value=\"".len();
    html[start..]
        .split('"')
        .next()
        .expect("a CSRF value")
        .to_string()
}

impl TestApp {
    /// Gives `connector` the test password and signs in through `/login`.
    pub async fn sign_in_as(&self, connector: &Connector) -> WebSession {
        let hash = twoyes::domain::Password::parse_new(PASSWORD)
            .unwrap()
            .hash()
            .unwrap();
        self.store
            .set_password_hash(&connector.id, &hash)
            .await
            .expect("password set");
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .unwrap();
        let login = client
            .get(format!("{}/login", self.address))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let response = client
            .post(format!("{}/login", self.address))
            .form(&[
                ("csrf", csrf_in(&login).as_str()),
                ("email", connector.email.as_str()),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "sign-in redirects");
        let home = client
            .get(format!("{}/", self.address))
            .send()
            .await
            .unwrap();
        assert_eq!(home.status(), 200, "signed in");
        let csrf = csrf_in(&home.text().await.unwrap());
        WebSession {
            client,
            base: self.address.clone(),
            csrf,
        }
    }

    /// Signs in as the test app's own connector.
    pub async fn sign_in(&self) -> WebSession {
        self.sign_in_as(&self.connector).await
    }

    /// Another connector of the same installation.
    pub async fn second_connector(&self) -> Connector {
        self.store
            .add_connector(
                NewConnector {
                    email: twoyes::domain::EmailAddress::parse("other@connector.example").unwrap(),
                    name: twoyes::domain::PersonName::parse("Olive Other").unwrap(),
                    handle: None,
                    is_admin: false,
                },
                START,
            )
            .await
            .expect("second connector")
    }
}

impl WebSession {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    /// GET, expecting 200, returning the page.
    pub async fn page(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.text().await.unwrap()
    }

    /// POSTs a form with this session's CSRF token added.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut all: Vec<(&str, &str)> = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        self.client
            .post(self.url(path))
            .form(&all)
            .send()
            .await
            .expect("POST")
    }

    /// POSTs a form without any CSRF token.
    pub async fn post_without_csrf(
        &self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .form(fields)
            .send()
            .await
            .expect("POST")
    }
}
