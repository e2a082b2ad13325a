//! The browser harness: one chromedriver per test (killed with its Chromium
//! processes when the test ends, even by a panic), fresh headless,
//! phone-sized Chromium sessions on it, the app from tests/api/helpers.rs,
//! and small helpers so that a flow reads like what a person does.
//!
//! ```ignore
//! #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
//! async fn my_flow() {
//!     browser_test(|t| async move {
//!         let b = t.signed_in_browser().await;
//!         b.goto("/intros/new").await;
//!         b.fill("target_name", "Tom Target").await;
//!         b.click_button("Preview the asks").await;
//!         assert_eq!(b.text_of("h1").await, "Propose an intro");
//!     })
//!     .await;
//! }
//! ```
//!
//! Every helper that looks for something on the page waits for it (a bounded
//! poll, `WAIT`) and panics with what it saw; nothing sleeps for a fixed time.
//! When the test body panics (or overruns `TEST_LIMIT`), each browser's
//! screenshot and page source go to `<target dir>/browser-artifacts/`.

// Helpers kept for flows yet to come (requests, templates) may be unused now.
#![allow(dead_code)]

use std::future::Future;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::helpers::{self, CONNIE, Email, PASSWORD, TestApp};

/// How long a helper waits for the page to show what it looks for.
pub const WAIT: Duration = Duration::from_secs(10);
/// A whole test body; past this the test fails (with artifacts) instead of hanging.
const TEST_LIMIT: Duration = Duration::from_secs(120);
/// Between two looks at the page while waiting.
const POLL: Duration = Duration::from_millis(50);

/// Debian's Chromium; `TWOYES_CHROMIUM` points elsewhere.
fn chromium() -> String {
    std::env::var("TWOYES_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

/// `TWOYES_CHROMEDRIVER` overrides the one on `PATH`.
fn chromedriver() -> String {
    std::env::var("TWOYES_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into())
}

/// Where a failing test leaves its screenshots and page sources.
pub fn artifacts_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target dir")
        .join("browser-artifacts")
}

/// Runs a browser test: boots the app and a chromedriver, runs `body`, and
/// if it panics (or runs past `TEST_LIMIT`) saves every open browser's
/// screenshot and page source before failing. Browsers are closed either way.
/// The test's name (for the artifacts) is the test thread's name.
pub async fn browser_test<F, Fut>(body: F)
where
    F: FnOnce(Arc<BrowserTest>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let name = std::thread::current()
        .name()
        .unwrap_or("browser_test")
        .replace("::", ".");
    browser_test_named(&name, body).await;
}

/// `browser_test`, naming the artifacts `name.png` and `name.html`.
pub async fn browser_test_named<F, Fut>(name: &str, body: F)
where
    F: FnOnce(Arc<BrowserTest>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let t = Arc::new(BrowserTest::start(name.to_string()).await);
    let task = tokio::spawn(body(t.clone()));
    let abort = task.abort_handle();
    let outcome = tokio::time::timeout(TEST_LIMIT, task).await;
    let failure: Option<Box<dyn std::any::Any + Send>> = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) if e.is_panic() => Some(e.into_panic()),
        Ok(Err(e)) => Some(Box::new(format!("the test task failed: {e}"))),
        Err(_) => {
            abort.abort();
            Some(Box::new(format!(
                "the test did not finish within {TEST_LIMIT:?}"
            )))
        }
    };
    if failure.is_some() {
        t.save_artifacts().await;
    }
    t.close_browsers().await;
    if let Some(payload) = failure {
        std::panic::resume_unwind(payload);
    }
}

/// chromedriver, in a process group of its own so that dropping this kills
/// it and every Chromium process it started.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(chromedriver())
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}): install Debian's chromium and chromium-driver",
                    chromedriver()
                )
            });
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on port {port} within {WAIT:?}"
            );
            tokio::time::sleep(POLL).await;
        }
        driver
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group's id is chromedriver's pid (process_group(0)).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser window of the test, kept so a failure can photograph it.
struct Session {
    label: String,
    client: Client,
    /// Chromium's `--user-data-dir`; removed after the driver is gone.
    _profile: tempfile::TempDir,
}

/// The app, its chromedriver, and the browsers a test opened.
pub struct BrowserTest {
    pub app: TestApp,
    name: String,
    // Field order is drop order: the driver (and Chromium) go before the
    // browsers' profile directories are removed.
    driver: Driver,
    sessions: Mutex<Vec<Session>>,
}

impl BrowserTest {
    async fn start(name: String) -> BrowserTest {
        let app = helpers::spawn_app().await;
        let driver = Driver::start().await;
        BrowserTest {
            app,
            name,
            driver,
            sessions: Mutex::new(Vec::new()),
        }
    }

    /// A fresh browser (its own profile, so its own cookies), JavaScript on.
    pub async fn browser(&self, label: &str) -> Browser {
        self.open(label, true).await
    }

    /// A fresh browser with JavaScript turned off.
    pub async fn browser_without_js(&self, label: &str) -> Browser {
        self.open(label, false).await
    }

    async fn open(&self, label: &str, javascript: bool) -> Browser {
        let profile = tempfile::tempdir().expect("a profile dir");
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let mut builder = ClientBuilder::new(connector);
        builder.capabilities(capabilities(profile.path(), javascript));
        let client =
            tokio::time::timeout(Duration::from_secs(30), builder.connect(&self.driver.url))
                .await
                .unwrap_or_else(|_| panic!("Chromium did not start within 30 s"))
                .unwrap_or_else(|e| panic!("Chromium did not start through chromedriver: {e}"));
        self.sessions.lock().unwrap().push(Session {
            label: label.to_string(),
            client: client.clone(),
            _profile: profile,
        });
        Browser {
            client,
            base: self.app.address.clone(),
        }
    }

    /// Gives the app's connector the test password (as `twoyes connector
    /// add --password-stdin` would).
    pub async fn set_password(&self) {
        let hash = twoyes::domain::Password::parse_new(PASSWORD)
            .expect("a valid password")
            .hash()
            .expect("hashed");
        self.app
            .store
            .set_password_hash(&self.app.connector.id, &hash)
            .await
            .expect("password set");
    }

    /// A browser signed in as the connector through the login form.
    pub async fn signed_in_browser(&self) -> Browser {
        self.set_password().await;
        let b = self.browser("connector").await;
        b.sign_in(CONNIE, PASSWORD).await;
        b
    }

    /// Lets the worker send what is due, then returns the latest email to
    /// `address` that has a link containing `prefix`, and that link.
    pub async fn link_in_email_to(&self, address: &str, prefix: &str) -> (Email, String) {
        self.app.settle().await;
        let deadline = Instant::now() + WAIT;
        loop {
            let found = self
                .app
                .emails_to(address)
                .into_iter()
                .rev()
                .find(|e| !e.links(prefix).is_empty());
            if let Some(email) = found {
                let link = email.link(prefix);
                return (email, link);
            }
            assert!(
                Instant::now() < deadline,
                "no email to {address} with a {prefix} link; sent: {:#?}",
                self.app
                    .emails()
                    .iter()
                    .map(|e| (&e.to, &e.subject))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    async fn save_artifacts(&self) {
        let sessions: Vec<(String, Client)> = self
            .sessions
            .lock()
            .unwrap()
            .iter()
            .map(|s| (s.label.clone(), s.client.clone()))
            .collect();
        let dir = artifacts_dir();
        if let Err(e) = std::fs::create_dir_all(&dir) {
            eprintln!("cannot create {}: {e}", dir.display());
            return;
        }
        for (i, (label, client)) in sessions.iter().enumerate() {
            let stem = if i == 0 {
                self.name.clone()
            } else {
                format!("{}.{label}", self.name)
            };
            let png = dir.join(format!("{stem}.png"));
            let html = dir.join(format!("{stem}.html"));
            // A hung browser must not hang the report: each call is bounded.
            let url = match tokio::time::timeout(WAIT, client.current_url()).await {
                Ok(Ok(url)) => url.to_string(),
                _ => "(unknown)".to_string(),
            };
            match tokio::time::timeout(WAIT, client.screenshot()).await {
                Ok(Ok(bytes)) => {
                    let _ = std::fs::write(&png, bytes);
                }
                Ok(Err(e)) => eprintln!("no screenshot of the {label} browser: {e}"),
                Err(_) => eprintln!("no screenshot of the {label} browser: it did not answer"),
            }
            if let Ok(Ok(source)) = tokio::time::timeout(WAIT, client.source()).await {
                let _ = std::fs::write(&html, format!("<!-- {url} -->\n{source}"));
            }
            eprintln!(
                "browser test {} failed; the {label} browser was at {url}\n  screenshot: {}\n  page source: {}",
                self.name,
                png.display(),
                html.display()
            );
        }
    }

    async fn close_browsers(&self) {
        let clients: Vec<Client> = self
            .sessions
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.client.clone())
            .collect();
        for client in clients {
            let _ = tokio::time::timeout(WAIT, client.close()).await;
        }
    }
}

fn capabilities(profile: &Path, javascript: bool) -> Capabilities {
    let mut args: Vec<String> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--disable-crash-reporter",
        "--window-size=412,915",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    let mut options = json!({ "binary": chromium(), "args": args });
    if javascript {
        // Headless Chromium keeps windows at least 500 px wide: emulate the
        // phone's viewport too, so pages are laid out at 412 CSS px. (With
        // JavaScript off, chromedriver's mobile emulation hangs the session,
        // so those browsers are 500 px wide.)
        options["mobileEmulation"] =
            json!({ "deviceMetrics": { "width": 412, "height": 915, "pixelRatio": 1.0 } });
    } else {
        options["prefs"] = json!({ "profile.managed_default_content_settings.javascript": 2 });
    }
    // A page that never loads fails the step instead of waiting 300 s.
    let timeouts = json!({ "pageLoad": 30_000, "script": 10_000 });
    match json!({ "browserName": "chrome", "goog:chromeOptions": options, "timeouts": timeouts }) {
        serde_json::Value::Object(caps) => caps,
        _ => unreachable!(),
    }
}

/// One browser window, seen as a person sees it.
#[derive(Clone)]
pub struct Browser {
    pub client: Client,
    base: String,
}

impl Browser {
    /// Opens a path of the app ("/login") or a full URL (a link from an email).
    pub async fn goto(&self, path_or_url: &str) {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.base)
        };
        self.client
            .goto(&url)
            .await
            .unwrap_or_else(|e| panic!("opening {url}: {e}"));
    }

    /// Reloads the page.
    pub async fn reload(&self) {
        self.client.refresh().await.expect("reload");
    }

    /// The path of the page shown (without the query).
    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("the current URL")
            .path()
            .to_string()
    }

    /// Types `text` into the field with that id, or else the one whose
    /// `<label>` reads exactly `label_or_id` (after clearing it).
    pub async fn fill(&self, label_or_id: &str, text: &str) {
        let field = self.field(label_or_id).await;
        field
            .clear()
            .await
            .unwrap_or_else(|e| panic!("clearing {label_or_id:?}: {e}"));
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("typing into {label_or_id:?}: {e}"));
    }

    /// The current value of a field (by id or label).
    pub async fn value_of(&self, label_or_id: &str) -> String {
        self.field(label_or_id)
            .await
            .prop("value")
            .await
            .expect("a value")
            .unwrap_or_default()
    }

    /// Picks a radio button or ticks a checkbox by its label's text.
    pub async fn choose(&self, label_or_id: &str) {
        let input = self.field(label_or_id).await;
        if !input.is_selected().await.unwrap_or(false) {
            input
                .click()
                .await
                .unwrap_or_else(|e| panic!("choosing {label_or_id:?}: {e}"));
        }
    }

    async fn field(&self, label_or_id: &str) -> Element {
        poll(
            || format!("a field with id or label {label_or_id:?}"),
            || self.try_field(label_or_id),
        )
        .await
    }

    async fn try_field(&self, label_or_id: &str) -> Option<Element> {
        let by_id = format!("[id={}]", css_string(label_or_id));
        if let Ok(mut found) = self.client.find_all(Locator::Css(&by_id)).await
            && found.len() == 1
        {
            return found.pop();
        }
        let by_label = format!("//label[normalize-space()={}]", xpath_literal(label_or_id));
        let labels = self.client.find_all(Locator::XPath(&by_label)).await.ok()?;
        let label = match labels.as_slice() {
            [] => return None,
            [label] => label,
            _ => panic!("more than one field is labelled {label_or_id:?}: use its id"),
        };
        match label.attr("for").await.ok()? {
            Some(id) => self
                .client
                .find(Locator::Css(&format!("[id={}]", css_string(&id))))
                .await
                .ok(),
            None => label
                .find(Locator::Css("input, textarea, select"))
                .await
                .ok(),
        }
    }

    /// Presses the button that reads `text` and waits for the page it loads
    /// (every button in this app submits a form).
    pub async fn click_button(&self, text: &str) {
        let t = xpath_literal(text);
        let xpath = format!(
            "//button[normalize-space()={t}] | //input[(@type='submit' or @type='button') and @value={t}]"
        );
        let button = poll(
            || format!("a button {text:?}"),
            || async {
                let mut found = self.client.find_all(Locator::XPath(&xpath)).await.ok()?;
                assert!(found.len() < 2, "more than one button reads {text:?}");
                found.pop()
            },
        )
        .await;
        let page = self
            .client
            .find(Locator::Css("html"))
            .await
            .expect("the page");
        button
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {text:?}: {e}"));
        poll(
            || format!("a new page after clicking {text:?}"),
            || async {
                match page.tag_name().await {
                    Ok(_) => None,
                    Err(e) if gone(&e) => Some(()),
                    Err(e) => panic!("after clicking {text:?}: {e}"),
                }
            },
        )
        .await;
    }

    /// Follows the link that reads `text`.
    pub async fn click_link(&self, text: &str) {
        let link = poll(
            || format!("a link {text:?}"),
            || async {
                self.client
                    .find(Locator::XPath(&format!(
                        "//a[normalize-space()={}]",
                        xpath_literal(text)
                    )))
                    .await
                    .ok()
            },
        )
        .await;
        link.follow()
            .await
            .unwrap_or_else(|e| panic!("following {text:?}: {e}"));
    }

    /// The text of the first element matching `css`, once there is one.
    pub async fn text_of(&self, css: &str) -> String {
        let element = poll(
            || format!("an element {css:?}"),
            || async { self.client.find(Locator::Css(css)).await.ok() },
        )
        .await;
        element.text().await.expect("its text")
    }

    /// The texts of all elements matching `css` now (maybe none).
    pub async fn texts_of(&self, css: &str) -> Vec<String> {
        let elements = self
            .client
            .find_all(Locator::Css(css))
            .await
            .expect("find elements");
        let mut texts = Vec::with_capacity(elements.len());
        for e in elements {
            texts.push(e.text().await.expect("text"));
        }
        texts
    }

    /// An attribute of the first element matching `css`, once there is one.
    pub async fn attr_of(&self, css: &str, attribute: &str) -> Option<String> {
        let element = poll(
            || format!("an element {css:?}"),
            || async { self.client.find(Locator::Css(css)).await.ok() },
        )
        .await;
        element.attr(attribute).await.expect("the attribute")
    }

    /// Whether an element matches `css` now (no waiting).
    pub async fn has(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .expect("find elements")
            .is_empty()
    }

    /// Waits until an element matching `css` contains `needle`; returns its text.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let seen = Mutex::new(Vec::new());
        poll(
            || format!("{needle:?} in {css:?}; saw {:?}", seen.lock().unwrap()),
            || async {
                let texts = self.texts_of(css).await;
                let hit = texts.iter().find(|t| t.contains(needle)).cloned();
                *seen.lock().unwrap() = texts;
                hit
            },
        )
        .await
    }

    /// The page's layout width and the viewport's, in CSS px (needs JavaScript).
    pub async fn widths(&self) -> (u64, u64) {
        let v = self
            .client
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                vec![],
            )
            .await
            .expect("measuring the page");
        let n = |i: usize| v[i].as_u64().expect("a width");
        (n(0), n(1))
    }

    /// The whole visible text of the page.
    pub async fn page_text(&self) -> String {
        self.text_of("body").await
    }

    /// Signs in through the login form and waits for the signed-in page.
    pub async fn sign_in(&self, email: &str, password: &str) {
        self.goto("/login").await;
        self.fill("Email", email).await;
        self.fill("Password", password).await;
        self.click_button("Sign in").await;
        self.wait_for_text("form[action='/logout'] button", "Sign out")
            .await;
    }
}

/// A stale element: the page it was on has been replaced.
fn gone(e: &CmdError) -> bool {
    // Chromium sometimes reports a replaced page's node as an "unknown
    // error" rather than a stale reference.
    e.is_stale_element_reference()
        || e.is_no_such_element()
        || e.to_string().contains("does not belong to the document")
}

/// Polls `attempt` until it yields, for at most `WAIT`; then fails saying
/// what it waited for.
async fn poll<T, F, Fut>(what: impl Fn() -> String, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(found) = attempt().await {
            return found;
        }
        assert!(Instant::now() < deadline, "waited {WAIT:?} for {}", what());
        tokio::time::sleep(POLL).await;
    }
}

/// `s` as a CSS string literal.
fn css_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `s` as an XPath 1.0 string literal (which has no escapes).
fn xpath_literal(s: &str) -> String {
    if !s.contains('\'') {
        format!("'{s}'")
    } else if !s.contains('"') {
        format!("\"{s}\"")
    } else {
        let parts: Vec<String> = s.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}
