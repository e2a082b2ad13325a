//! Secrets stay secret: no emailed token (nor an API token, nor a one-time
//! password or setup link) is ever written to the database or to a log, even
//! at the most verbose level; and lookups of unknown tokens are limited per
//! client without ever refusing a valid one.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;
use twoyes::domain::{EmailAddress, Handle, PersonName, Token};
use twoyes::store::{NewConnector, OneTimePurpose};
use twoyes::usecases::one_time_link;

use super::helpers::*;

/// Everything logged, as text: a `tracing` writer that appends to a buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Every token in a link to `base` in `text` (the last path segment that
/// parses as a token).
fn tokens_in(text: &str, base: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (start, _) in text.match_indices(base) {
        let url: String = text[start + base.len()..]
            .chars()
            .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '\'' | '<' | '>' | ')'))
            .collect();
        let path = url.split(['?', '#']).next().unwrap_or("");
        for segment in path.split('/') {
            if Token::parse(segment).is_ok() {
                found.insert(segment.to_string());
            }
        }
    }
    found
}

/// The forms a token could take if something wrote it down: as sent, in
/// standard base64, in hex (both cases), and its raw bytes.
fn forms_of(token: &str) -> Vec<Vec<u8>> {
    let bytes = URL_SAFE_NO_PAD.decode(token).expect("a token");
    let hex = hex::encode(&bytes);
    vec![
        token.as_bytes().to_vec(),
        STANDARD
            .encode(&bytes)
            .trim_end_matches('=')
            .as_bytes()
            .to_vec(),
        hex.as_bytes().to_vec(),
        hex.to_uppercase().into_bytes(),
        bytes,
    ]
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A connector with a public request page at `/r/hana`.
async fn hana(app: &TestApp) {
    app.store
        .add_connector(
            NewConnector {
                email: EmailAddress::parse("hana@connector.example").unwrap(),
                name: PersonName::parse("Hana Handle").unwrap(),
                handle: Some(Handle::parse("hana").unwrap()),
                is_admin: false,
            },
            app.now(),
        )
        .await
        .expect("connector with a handle");
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

/// GETs a link's page, then posts its form (with the page's CSRF field, if it
/// has one) and returns the status of the POST.
async fn open_and_post(client: &reqwest::Client, link: &str, fields: &[(&str, &str)]) -> u16 {
    let page = client.get(link).send().await.unwrap();
    assert_eq!(page.status(), 200, "GET {link}");
    let html = page.text().await.unwrap();
    let csrf = if html.contains("name=\"csrf\"") {
        csrf_in(&html)
    } else {
        String::new()
    };
    let mut all: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    client
        .post(link)
        .form(&all)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Every secret of a whole life cycle (ask, no, undo, yes, introduction,
/// follow-up, unsubscribe, a confirmed request, a password link, a setup
/// link, the API token), with everything logged at TRACE: none appears in
/// any log line, nor in the database (the SQLite files byte by byte, or every
/// text column of every table on PostgreSQL).
///
/// The subscriber is this thread's default: the test runtime runs on one
/// thread, so the server and the worker (tasks on it) log into it. On SQLite,
/// sqlx runs statements on a thread of its own, whose lines (SQL text with
/// `$1` placeholders, no values) are not captured; on PostgreSQL they are.
#[tokio::test]
async fn no_token_reaches_the_database_or_the_logs() {
    // With a single dispatcher registered, tracing decides whether a
    // callsite is wanted by asking only the default of the thread that hits
    // it first; another test's thread (no subscriber) would then switch the
    // callsite off for good. A second live dispatcher makes it ask them all.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = spawn_app().await;
    hana(&app).await;

    // An intro: Tom says no, undoes it, says yes; Rita says yes; introduced.
    let id = app.propose(&intro_body("target_first")).await;
    app.settle().await;
    let tom_ask = app.wait_for_emails_to(TOM, 1).await[0].link("/o/");
    assert_eq!(
        app.submit(&tom_ask, &[("decision", "no"), ("reason", "busy")])
            .await
            .status(),
        303
    );
    assert_eq!(
        app.submit(&tom_ask, &[("action", "undo")]).await.status(),
        303
    );
    let yes = app
        .answer(TOM, &[("decision", "yes"), ("note", "cal.example/tom")])
        .await;
    assert_eq!(yes.status(), 303);
    app.advance(11 * MINUTE).await;
    app.wait_for_emails_to(RITA, 1).await;
    assert_eq!(app.answer(RITA, &[("decision", "yes")]).await.status(), 303);
    app.advance(11 * MINUTE).await;
    assert_eq!(app.status(&id).await, "introduced");

    // Tom unsubscribes; Rita answers the follow-up.
    let unsubscribe = app.emails_to(TOM)[0].link("/u/");
    assert_eq!(app.open(&unsubscribe).await.status(), 200);
    assert!(app.submit(&unsubscribe, &[]).await.status().is_success());
    app.advance(15 * DAY).await;
    let follow_up = app
        .emails_to(RITA)
        .iter()
        .rev()
        .find(|e| e.text.contains("/f/"))
        .expect("a follow-up")
        .link("/f/");
    assert_eq!(app.open(&follow_up).await.status(), 200);
    assert_eq!(
        app.submit(&follow_up, &[("answer", "yes")]).await.status(),
        200
    );

    // A request through Hana's public page, confirmed by its emailed link.
    let requester = "remy@requester.example";
    let visitor = browser();
    let sent = open_and_post(
        &visitor,
        &format!("{}/r/hana", app.address),
        &[
            ("name", "Remy Requester"),
            ("email", requester),
            ("wants_to_meet", "Tom Target"),
            ("reason", "Tom knows grain farmers near us."),
            ("blurb", "I run a small bakery co-op."),
        ],
    )
    .await;
    assert_eq!(sent, 303);
    let confirm = app.wait_for_emails_to(requester, 1).await[0].link("/r/confirm/");
    assert_eq!(open_and_post(&visitor, &confirm, &[]).await, 200);

    // A password link and a setup link, as the CLI prints them.
    let password = one_time_link(
        app.store.as_ref(),
        &app.address,
        OneTimePurpose::Password {
            connector_id: app.connector.id.clone(),
        },
        app.clock.as_ref(),
    )
    .await
    .unwrap();
    assert_eq!(
        open_and_post(&browser(), &password, &[("password", PASSWORD)]).await,
        303
    );
    let setup = one_time_link(
        app.store.as_ref(),
        &app.address,
        OneTimePurpose::Setup,
        app.clock.as_ref(),
    )
    .await
    .unwrap();
    let setup_status = open_and_post(
        &browser(),
        &setup,
        &[
            ("name", "Sam Setup"),
            ("email", "sam@connector.example"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert!(setup_status < 500, "setup answered {setup_status}");
    app.settle().await;

    // The secrets: every token in every link of every email, and the rest.
    let base = format!("{}/", app.address);
    let mut emailed = BTreeSet::new();
    for email in app.emails() {
        for text in [&email.text, &email.html, &email.raw] {
            emailed.extend(tokens_in(text, &base));
        }
    }
    for kind in ["/o/", "/u/", "/f/", "/r/confirm/"] {
        let linked = app
            .emails()
            .iter()
            .flat_map(|e| e.links(kind))
            .collect::<Vec<_>>();
        assert!(
            linked
                .iter()
                .any(|l| emailed.iter().any(|t| l.ends_with(t))),
            "no {kind} token collected"
        );
    }
    let mut secrets = emailed.clone();
    secrets.extend(tokens_in(&password, &base));
    secrets.extend(tokens_in(&setup, &base));
    secrets.insert(app.api_token.clone());
    assert!(
        secrets.len() >= emailed.len() + 3,
        "password, setup and API tokens collected"
    );

    // The logs were really captured, at TRACE, with the routes named.
    let logs = captured.text();
    assert!(logs.contains("TRACE"), "nothing logged at TRACE");
    assert!(logs.contains("/o/{token}"), "no request was logged");
    for secret in &secrets {
        for form in forms_of(secret) {
            assert!(
                !contains(logs.as_bytes(), &form),
                "a token is in the logs:\n{}",
                logs.lines()
                    .filter(|l| contains(l.as_bytes(), &form))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }

    match super::BACKEND {
        Backend::Sqlite => {
            let mut scanned = 0;
            for name in ["twoyes.db", "twoyes.db-wal", "twoyes.db-shm"] {
                let Ok(bytes) = std::fs::read(app.dir.path().join(name)) else {
                    continue;
                };
                scanned += bytes.len();
                for secret in &secrets {
                    for form in forms_of(secret) {
                        assert!(!contains(&bytes, &form), "a token is in {name}");
                    }
                }
            }
            assert!(scanned > 0, "no database file was found");
        }
        Backend::Postgres => {
            let texts = every_text_value(&app.settings.database_url).await;
            assert!(
                texts.iter().any(|t| t.contains("Tom Target")),
                "the scan read the intro's rows"
            );
            for text in &texts {
                for secret in &secrets {
                    for form in forms_of(secret) {
                        if let Ok(form) = std::str::from_utf8(&form) {
                            assert!(!text.contains(form), "a token is in the database");
                        }
                    }
                }
            }
        }
    }
}

/// Every value of every column of every table in the public schema, as text
/// (bytea comes out as `\x` and hex).
async fn every_text_value(url: &str) -> Vec<String> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let columns: Vec<(String, String)> = sqlx::query_as(
        "select table_name::text, column_name::text from information_schema.columns
         where table_schema = 'public'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(columns.len() > 10, "the schema has tables");
    let mut values = Vec::new();
    for (table, column) in columns {
        let rows: Vec<(Option<String>,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            r#"select "{column}"::text from "{table}""#
        )))
        .fetch_all(&mut conn)
        .await
        .unwrap();
        values.extend(rows.into_iter().filter_map(|(v,)| v));
    }
    values
}

/// Answers an unknown-token lookup of `route` with a fresh random token.
async fn bad_lookup(app: &TestApp, route: &str) -> reqwest::Response {
    let token = Token::generate().expose();
    if route == "api" {
        return app
            .client
            .get(app.api("/intros"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
    }
    app.open(&format!("{}{route}{token}", app.address)).await
}

const ROUTES: [&str; 8] = [
    "/o/",
    "/u/",
    "/f/",
    "/p/",
    "/r/confirm/",
    "/setup/",
    "/password/",
    "api",
];

#[tokio::test]
async fn the_twenty_first_bad_lookup_in_a_minute_is_refused_but_valid_links_still_work() {
    let app = spawn_app().await;
    app.propose(&intro_body("target_first")).await;
    app.settle().await;
    let valid = app.wait_for_emails_to(TOM, 1).await[0].link("/o/");

    // Twenty unknown links: "we don't recognise this link".
    for i in 0..20 {
        let response = bad_lookup(&app, "/o/").await;
        assert_eq!(response.status(), 404, "bad lookup {i}");
    }
    // The 21st: a kind 429 page, on every route that looks up a secret.
    let limited = bad_lookup(&app, "/o/").await;
    assert_eq!(limited.status(), 429);
    let page = limited.text().await.unwrap();
    assert!(page.contains("Please wait a minute"), "{page}");
    for route in ROUTES {
        let response = bad_lookup(&app, route).await;
        assert_eq!(response.status(), 429, "{route}");
        if route == "api" {
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "too_many_requests");
        }
    }
    // A short or garbled token is a miss as well.
    assert_eq!(
        app.open(&format!("{}/o/abc", app.address)).await.status(),
        429
    );

    // Valid secrets still work from the same client.
    let page = app.open(&valid).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("name=\"decision\""));
    let list = app
        .client
        .get(app.api("/intros"))
        .bearer_auth(&app.api_token)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    // A request without any token is not a lookup: still 401.
    let anonymous = app.client.get(app.api("/intros")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);

    // A minute later, unknown links are unknown again.
    app.advance(MINUTE + std::time::Duration::from_secs(1))
        .await;
    assert_eq!(bad_lookup(&app, "/o/").await.status(), 404);
    assert_eq!(bad_lookup(&app, "api").await.status(), 401);

    // Every route counts its misses against the same client: twenty spread
    // over all of them (two above, eighteen here), and /o/ is refused next.
    let expected = |route: &str| if route == "api" { 401 } else { 404 };
    for i in 0..18 {
        let route = ROUTES[i % ROUTES.len()];
        assert_eq!(
            bad_lookup(&app, route).await.status(),
            expected(route),
            "{route}"
        );
    }
    assert_eq!(bad_lookup(&app, "/o/").await.status(), 429);
}
