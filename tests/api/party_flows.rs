//! What the people being introduced live through: closings and their relays,
//! "not now", undo, withdraw, reminders, follow-ups, unsubscribing, and the
//! promise that opening a link never decides anything.

use std::time::Duration;

use serde_json::{Value, json};
use twoyes::domain::Role;
use twoyes::store::{OutboxItem, OutboxKind};

use super::helpers::*;

const RELAY_SUBJECT: &str = "About the introduction";
const NUDGE_SUBJECT: &str = "A gentle nudge";

/// Someone an intro is about, as the API takes them.
#[derive(Debug, Clone)]
struct Person {
    name: String,
    email: String,
}

impl Person {
    fn new(name: &str, email: &str) -> Self {
        Self {
            name: name.to_string(),
            email: email.to_string(),
        }
    }

    fn first_name(&self) -> &str {
        self.name.split_whitespace().next().unwrap_or_default()
    }
}

/// A requester and a target.
#[derive(Debug, Clone)]
struct Pair {
    requester: Person,
    target: Person,
}

impl Pair {
    fn new(requester: (&str, &str), target: (&str, &str)) -> Self {
        Self {
            requester: Person::new(requester.0, requester.1),
            target: Person::new(target.0, target.1),
        }
    }

    /// Rita and Tom from the harness.
    fn rita_and_tom() -> Self {
        Self::new(("Rita Requester", RITA), ("Tom Target", TOM))
    }

    /// The `n`th of many pairs with their own addresses.
    fn numbered(n: usize) -> Self {
        Self::new(
            ("Rita Requester", &format!("rita{n}@requester.example")),
            ("Tom Target", &format!("tom{n}@target.example")),
        )
    }

    fn body(&self, mode: &str) -> Value {
        json!({
            "requester": {"name": self.requester.name, "email": self.requester.email, "blurb": "I build soil sensors for small farms."},
            "target": {"name": self.target.name, "email": self.target.email},
            "reason": "You both work on soil health and keep asking me the same questions.",
            "mode": mode,
        })
    }
}

fn relays_to(app: &TestApp, address: &str) -> Vec<Email> {
    app.emails_to(address)
        .into_iter()
        .filter(|e| e.subject.starts_with(RELAY_SUBJECT))
        .collect()
}

/// Asks and reminders: every email that carries a decision link.
fn asks_to(app: &TestApp, address: &str) -> Vec<Email> {
    app.emails_to(address)
        .into_iter()
        .filter(|e| !e.links("/o/").is_empty())
        .collect()
}

fn reminders_to(app: &TestApp, address: &str) -> Vec<Email> {
    app.emails_to(address)
        .into_iter()
        .filter(|e| e.subject.starts_with(NUDGE_SUBJECT))
        .collect()
}

fn introductions_to(app: &TestApp, address: &str) -> Vec<Email> {
    app.emails_to(address)
        .into_iter()
        .filter(|e| e.subject.starts_with("Intro:"))
        .collect()
}

fn follow_ups_to(app: &TestApp, address: &str) -> Vec<Email> {
    app.emails_to(address)
        .into_iter()
        .filter(|e| e.subject.starts_with("Did you and"))
        .collect()
}

/// A relay with the people's names (and its own preferences token) taken
/// out, so that relays to different people can be compared byte for byte.
fn without_names(relay: &Email, me: &Person, other: &Person) -> (String, String, String) {
    let link = relay.link("/p/");
    let token = link.rsplit('/').next().unwrap_or_default();
    let scrub = |text: &str| {
        text.replace(token, "{TOKEN}")
            .replace(&other.name, "{OTHER}")
            .replace(&me.name, "{ME}")
            .replace(other.first_name(), "{OTHER_FIRST}")
            .replace(me.first_name(), "{ME_FIRST}")
    };
    (
        scrub(&relay.subject),
        scrub(&relay.text),
        scrub(&relay.html),
    )
}

/// Everything about an intro that a click could change.
#[derive(Debug, PartialEq)]
struct Snapshot {
    intro: Value,
    events: usize,
    outbox: Vec<OutboxItem>,
    emails: usize,
}

async fn snapshot(app: &TestApp, id: &str) -> Snapshot {
    app.settle().await;
    Snapshot {
        intro: app.intro(id).await,
        events: app.store.events(id).await.expect("events").len(),
        outbox: app.store.outbox_for_intro(id).await.expect("outbox"),
        emails: app.emails().len(),
    }
}

async fn event_kinds(app: &TestApp, id: &str) -> Vec<String> {
    app.store
        .events(id)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

async fn cancel(app: &TestApp, id: &str) -> reqwest::Response {
    app.client
        .post(app.api(&format!("/intros/{id}/cancel")))
        .bearer_auth(&app.api_token)
        .send()
        .await
        .expect("cancel")
}

async fn post_raw(app: &TestApp, url: &str, content_type: &str, body: String) -> reqwest::Response {
    app.client
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("POST")
}

async fn page_text(app: &TestApp, url: &str) -> (u16, String) {
    let response = app.open(url).await;
    let status = response.status().as_u16();
    (status, response.text().await.expect("page body"))
}

/// A header of a raw message, unfolded.
fn header(raw: &str, name: &str) -> Option<String> {
    let head = raw.split("\r\n\r\n").next().unwrap_or_default();
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    let prefix = format!("{}:", name.to_ascii_lowercase());
    unfolded
        .lines()
        .find(|line| line.to_ascii_lowercase().starts_with(&prefix))
        .map(|line| line[prefix.len()..].trim().to_string())
}

/// Decisions take effect, and relays go out, at once.
fn at_once() -> Config {
    Config {
        undo_window: "0s",
        relay_delay: "0s",
        ..Config::default()
    }
}

/// Decisions take effect at once: no undo window.
fn without_undo() -> Config {
    Config {
        undo_window: "0s",
        ..Config::default()
    }
}

#[tokio::test]
async fn a_decline_an_expiry_and_a_cancel_each_produce_a_relay_that_differs_only_in_names() {
    // Arrange: three intros in which both people are asked.
    let app = spawn_app_with(at_once()).await;
    let secret = "He still owes me money from 2019";
    let declined = Pair::rita_and_tom();
    let expired = Pair::new(
        ("Ada Archer", "ada@requester.example"),
        ("Ben Baker", "ben@target.example"),
    );
    let cancelled = Pair::new(
        ("Cleo Carter", "cleo@requester.example"),
        ("Dan Dyer", "dan@target.example"),
    );
    let declined_id = app.propose(&declined.body("parallel")).await;
    let expired_id = app.propose(&expired.body("parallel")).await;
    let cancelled_id = app.propose(&cancelled.body("parallel")).await;
    app.settle().await;

    // Act: a no with a private reason; a yes met by silence; a cancel.
    let no = app
        .answer(
            &declined.target.email,
            &[("decision", "no"), ("reason", secret)],
        )
        .await;
    assert_eq!(no.status(), 303);
    let yes = app
        .answer(&expired.requester.email, &[("decision", "yes")])
        .await;
    assert_eq!(yes.status(), 303);
    assert_eq!(cancel(&app, &cancelled_id).await.status(), 200);
    app.settle().await;
    app.advance(8 * DAY).await;

    // Assert: each closed the way it should.
    assert_eq!(app.status(&declined_id).await, "declined");
    assert_eq!(app.status(&expired_id).await, "expired");
    assert_eq!(app.status(&cancelled_id).await, "cancelled");

    // Whoever closed it hears nothing; everyone else gets exactly one relay.
    assert!(relays_to(&app, &declined.target.email).is_empty());
    assert!(relays_to(&app, &expired.target.email).is_empty());
    let relays = [
        (&declined.requester, &declined.target),
        (&expired.requester, &expired.target),
        (&cancelled.requester, &cancelled.target),
        (&cancelled.target, &cancelled.requester),
    ]
    .map(|(me, other)| {
        let relays = relays_to(&app, &me.email);
        assert_eq!(relays.len(), 1, "relays to {}", me.email);
        without_names(&relays[0], me, other)
    });
    for relay in &relays[1..] {
        assert_eq!(relay, &relays[0], "a relay depends on why the intro closed");
    }

    // The connector hears about the no (with its reason) and the expiry only.
    let notices = app.emails_to(CONNIE);
    assert_eq!(notices.len(), 2, "{notices:#?}");
    let about = |pair: &Pair| {
        notices
            .iter()
            .filter(|n| n.text.contains(&pair.requester.name) && n.text.contains(&pair.target.name))
            .count()
    };
    assert_eq!(about(&declined), 1);
    assert_eq!(about(&expired), 1);
    assert_eq!(about(&cancelled), 0);

    // The private reason reaches the connector's notice and nothing else.
    let carrying_secret: Vec<Email> = app
        .emails()
        .into_iter()
        .filter(|e| {
            e.subject.contains(secret) || e.text.contains(secret) || e.html.contains(secret)
        })
        .collect();
    assert_eq!(carrying_secret.len(), 1);
    assert_eq!(carrying_secret[0].to, vec![CONNIE.to_string()]);
    assert!(carrying_secret[0].cc.is_empty());
}

#[tokio::test]
async fn relays_are_sent_only_after_the_relay_delay() {
    // Arrange: a few intros, each closed at once by the target's no.
    let app = spawn_app_with(without_undo()).await;
    let pairs: Vec<Pair> = (0..5).map(Pair::numbered).collect();
    for pair in &pairs {
        app.propose(&pair.body("parallel")).await;
    }
    app.settle().await;
    for pair in &pairs {
        let no = app.answer(&pair.target.email, &[("decision", "no")]).await;
        assert_eq!(no.status(), 303);
    }
    let relays = |app: &TestApp| {
        pairs
            .iter()
            .map(|p| relays_to(app, &p.requester.email).len())
            .collect::<Vec<_>>()
    };

    // Act and assert: nothing before 24h.
    for step in [
        MINUTE,
        HOUR,
        12 * HOUR,
        11 * HOUR - MINUTE - Duration::from_secs(1),
    ] {
        app.advance(step).await;
        assert_eq!(relays(&app), vec![0; pairs.len()], "at {}", app.now());
    }
    // By 72h, exactly one each; and never another.
    app.advance(48 * HOUR + Duration::from_secs(1)).await;
    assert_eq!(relays(&app), vec![1; pairs.len()]);
    app.advance(30 * DAY).await;
    assert_eq!(relays(&app), vec![1; pairs.len()]);
}

#[tokio::test]
async fn not_now_asks_again_once_on_the_chosen_date() {
    // Arrange
    let app = spawn_app().await;
    let id = app.propose(&intro_body("target_first")).await;
    app.settle().await;
    assert_eq!(asks_to(&app, TOM).len(), 1);

    // Act: not now, until 2026-12-11 (START is 2026-12-01 10:00 UTC).
    let later = app
        .answer(TOM, &[("decision", "later"), ("later_until", "2026-12-11")])
        .await;
    assert_eq!(later.status(), 303);
    app.advance(11 * MINUTE).await;

    // Assert: on hold, and the connector knows.
    assert_eq!(app.status(&id).await, "snoozed");
    let notices = app.emails_to(CONNIE);
    assert_eq!(notices.len(), 1);
    assert!(
        notices[0].subject.contains("Tom Target said not now"),
        "{}",
        notices[0].subject
    );
    assert!(app.emails_to(RITA).is_empty());

    // Nothing until 2026-12-11 09:00 UTC ...
    let ask_again_at = 10 * DAY - HOUR;
    app.advance(ask_again_at - 11 * MINUTE - MINUTE).await;
    assert_eq!(asks_to(&app, TOM).len(), 1);
    assert_eq!(app.status(&id).await, "snoozed");

    // ... then exactly one new ask.
    app.advance(MINUTE).await;
    let asks = asks_to(&app, TOM);
    assert_eq!(asks.len(), 2);
    assert!(!asks[1].subject.starts_with(NUDGE_SUBJECT));
    assert_eq!(app.status(&id).await, "asking");
    app.advance(HOUR).await;
    assert_eq!(asks_to(&app, TOM).len(), 2);

    // Its link works, and "not now" is not offered twice.
    let (status, page) = page_text(&app, &asks[1].link("/o/")).await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"value="yes""#));
    assert!(!page.contains(r#"value="later""#), "{page}");

    // A yes carries on as usual.
    assert_eq!(app.answer(TOM, &[("decision", "yes")]).await.status(), 303);
    app.advance(11 * MINUTE).await;
    assert_eq!(asks_to(&app, RITA).len(), 1);
    assert_eq!(app.answer(RITA, &[("decision", "yes")]).await.status(), 303);
    app.advance(11 * MINUTE).await;
    assert_eq!(app.status(&id).await, "introduced");
    assert_eq!(introductions_to(&app, TOM).len(), 1);
}

#[tokio::test]
async fn an_undone_no_sends_nothing_and_the_ask_is_open_again() {
    // Arrange
    let app = spawn_app_with(Config {
        undo_window: "10m",
        relay_delay: "0s",
        ..Config::default()
    })
    .await;
    let id = app.propose(&intro_body("parallel")).await;
    app.settle().await;
    let link = app.ask_link(TOM);
    let emails_before = app.emails().len();

    // Act: no, then undo from the page that follows.
    let no = app
        .answer(TOM, &[("decision", "no"), ("reason", "Too busy")])
        .await;
    assert_eq!(no.status(), 303);
    let (status, decided) = page_text(&app, &link).await;
    assert_eq!(status, 200);
    assert!(decided.contains(r#"value="undo""#), "{decided}");
    let undo = app.submit(&link, &[("action", "undo")]).await;
    assert_eq!(undo.status(), 303);

    // Assert: the ask is back, and nothing the no would cause is ever sent.
    let (status, ask) = page_text(&app, &link).await;
    assert_eq!(status, 200);
    assert!(ask.contains(r#"name="decision""#), "{ask}");
    app.advance(HOUR).await;
    let sent = &app.emails()[emails_before..];
    assert!(sent.is_empty(), "{sent:#?}");
    assert!(relays_to(&app, RITA).is_empty());
    assert!(app.emails_to(CONNIE).is_empty());
    let intro = app.intro(&id).await;
    assert_eq!(intro["status"], "asking");
    assert_eq!(intro["parties"]["target"]["consent"], "asked");
    assert!(intro["parties"]["target"].get("private_reason").is_none());
    assert_eq!(
        event_kinds(&app, &id).await,
        ["started", "decided_no", "undone"]
    );

    // And a yes now goes through.
    assert_eq!(app.answer(TOM, &[("decision", "yes")]).await.status(), 303);
    assert_eq!(app.answer(RITA, &[("decision", "yes")]).await.status(), 303);
    app.advance(11 * MINUTE).await;
    assert_eq!(app.status(&id).await, "introduced");
    assert_eq!(introductions_to(&app, RITA).len(), 1);
}

#[tokio::test]
async fn a_withdrawn_yes_closes_the_intro_with_one_relay_and_no_introduction() {
    // Arrange: Rita said yes, Tom has not answered yet.
    let app = spawn_app_with(without_undo()).await;
    let id = app.propose(&intro_body("parallel")).await;
    app.settle().await;
    assert_eq!(app.answer(RITA, &[("decision", "yes")]).await.status(), 303);
    let link = app.ask_link(RITA);
    let (_, page) = page_text(&app, &link).await;
    assert!(page.contains(r#"value="withdraw""#), "{page}");

    // Act
    let withdraw = app.submit(&link, &[("action", "withdraw")]).await;
    assert_eq!(withdraw.status(), 303);
    app.settle().await;

    // Assert: closed; the connector is told at once.
    let intro = app.intro(&id).await;
    assert_eq!(intro["status"], "declined");
    assert_eq!(intro["parties"]["requester"]["consent"], "withdrawn");
    let notices = app.emails_to(CONNIE);
    assert_eq!(notices.len(), 1);
    assert!(notices[0].subject.contains("Rita Requester withdrew"));

    // Tom gets one relay, after the delay; Rita none; nobody an introduction.
    app.advance(24 * HOUR - MINUTE).await;
    assert!(relays_to(&app, TOM).is_empty());
    app.advance(48 * HOUR + MINUTE).await;
    assert_eq!(relays_to(&app, TOM).len(), 1);
    app.advance(30 * DAY).await;
    assert_eq!(relays_to(&app, TOM).len(), 1);
    assert!(relays_to(&app, RITA).is_empty());
    assert!(
        app.emails()
            .iter()
            .all(|e| !e.subject.starts_with("Intro:"))
    );
    assert_eq!(app.emails_to(CONNIE).len(), 1);
}

#[tokio::test]
async fn an_unanswered_ask_gets_exactly_one_reminder_then_expires() {
    // Arrange: Rita says yes at once; Tom never answers.
    let app = spawn_app().await;
    let id = app.propose(&intro_body("parallel")).await;
    app.settle().await;
    assert_eq!(app.answer(RITA, &[("decision", "yes")]).await.status(), 303);

    // Act: one day at a time.
    let mut reminders_by_day = Vec::new();
    for _ in 1..=8 {
        app.advance(DAY).await;
        reminders_by_day.push(reminders_to(&app, TOM).len());
    }

    // Assert: one reminder, on day 3; expired by day 7.
    assert_eq!(reminders_by_day, [0, 0, 1, 1, 1, 1, 1, 1]);
    assert!(reminders_to(&app, RITA).is_empty(), "Rita already answered");
    assert_eq!(app.status(&id).await, "expired");
    let notices = app.emails_to(CONNIE);
    assert_eq!(notices.len(), 1);
    assert!(notices[0].subject.contains("Tom Target did not answer"));

    // Rita gets her relay; Tom, who let it expire, gets nothing more.
    app.advance(4 * DAY).await;
    assert_eq!(relays_to(&app, RITA).len(), 1);
    let to_tom: Vec<String> = app.emails_to(TOM).into_iter().map(|e| e.subject).collect();
    assert_eq!(to_tom.len(), 2, "{to_tom:#?}");
    assert!(to_tom[1].starts_with(NUDGE_SUBJECT));
    app.advance(30 * DAY).await;
    assert_eq!(app.emails_to(TOM).len(), 2);
    assert_eq!(relays_to(&app, RITA).len(), 1);
}

#[tokio::test]
async fn when_both_stay_silent_both_asks_expire_and_neither_gets_a_relay() {
    // Arrange: both asked at the same instant; nobody answers.
    let app = spawn_app_with(at_once()).await;
    let id = app.propose(&intro_body("parallel")).await;
    app.settle().await;

    // Act
    for _ in 1..=9 {
        app.advance(DAY).await;
    }

    // Assert
    let intro = app.intro(&id).await;
    assert_eq!(intro["status"], "expired");
    assert_eq!(intro["parties"]["requester"]["consent"], "expired");
    assert_eq!(intro["parties"]["target"]["consent"], "expired");
    assert!(relays_to(&app, RITA).is_empty());
    assert!(relays_to(&app, TOM).is_empty());
}

/// Opens every link like a mail scanner: GET and HEAD, ten times each.
async fn open_like_a_scanner(app: &TestApp, links: &[String]) {
    for link in links {
        for _ in 0..10 {
            let get = app.open(link).await;
            assert_eq!(get.status(), 200, "GET {link}");
            let head = app.client.head(link).send().await.expect("HEAD");
            assert_eq!(head.status(), 200, "HEAD {link}");
        }
    }
}

fn every_link(app: &TestApp) -> Vec<String> {
    let mut links: Vec<String> = app
        .emails()
        .iter()
        .flat_map(|e| e.links(&app.address))
        .collect();
    links.sort();
    links.dedup();
    links
}

#[tokio::test]
async fn opening_every_emailed_link_with_get_and_head_changes_nothing() {
    // Arrange: an intro that is asked, then introduced and followed up.
    let app = spawn_app_with(without_undo()).await;
    let id = app.propose(&intro_body("parallel")).await;
    app.settle().await;

    // Act and assert, while both asks are open.
    let ask_links = every_link(&app);
    assert_eq!(ask_links.len(), 6, "{ask_links:#?}");
    let before = snapshot(&app, &id).await;
    open_like_a_scanner(&app, &ask_links).await;
    assert_eq!(snapshot(&app, &id).await, before);

    // And once every kind of link has been sent.
    assert_eq!(app.answer(RITA, &[("decision", "yes")]).await.status(), 303);
    assert_eq!(app.answer(TOM, &[("decision", "yes")]).await.status(), 303);
    app.advance(14 * DAY).await;
    assert_eq!(follow_ups_to(&app, RITA).len(), 1);
    let links = every_link(&app);
    for kind in ["/o/", "/u/", "/f/", "/p/"] {
        assert!(links.iter().any(|l| l.contains(kind)), "no {kind} link");
    }
    let before = snapshot(&app, &id).await;
    open_like_a_scanner(&app, &links).await;
    assert_eq!(snapshot(&app, &id).await, before);
    for role in [Role::Requester, Role::Target] {
        let answer = app.store.follow_up_answer(&id, role).await.expect("answer");
        assert_eq!(answer, None);
    }

    // The unsubscribe links were opened, not used.
    let again = app.post_intro(&intro_body("parallel")).await;
    assert_eq!(again.status(), 201);
}

#[tokio::test]
async fn two_yeses_at_the_same_instant_send_exactly_one_introduction() {
    // Arrange
    let app = spawn_app_with(without_undo()).await;
    let pairs: Vec<Pair> = (0..20).map(Pair::numbered).collect();
    let mut ids = Vec::new();
    for pair in &pairs {
        ids.push(app.propose(&pair.body("parallel")).await);
    }
    app.settle().await;

    // Act: both answer at once, intro after intro.
    for pair in &pairs {
        let requester = app.ask_link(&pair.requester.email);
        let target = app.ask_link(&pair.target.email);
        let (a, b) = tokio::join!(
            app.submit(&requester, &[("decision", "yes")]),
            app.submit(&target, &[("decision", "yes")]),
        );
        assert_eq!((a.status().as_u16(), b.status().as_u16()), (303, 303));
    }
    app.settle().await;

    // Assert
    for (pair, id) in pairs.iter().zip(&ids) {
        assert_eq!(app.status(id).await, "introduced");
        assert_eq!(introductions_to(&app, &pair.requester.email).len(), 1);
        let outbox = app.store.outbox_for_intro(id).await.expect("outbox");
        let queued = outbox
            .iter()
            .filter(|o| o.kind == OutboxKind::Introduction)
            .count();
        assert_eq!(queued, 1);
    }
    let all = app
        .emails()
        .iter()
        .filter(|e| e.subject.starts_with("Intro:"))
        .count();
    assert_eq!(all, pairs.len());
}

#[tokio::test]
async fn the_follow_up_asks_each_party_once_and_records_one_click() {
    // Arrange: an introduction.
    let app = spawn_app_with(without_undo()).await;
    let id = app.propose(&intro_body("parallel")).await;
    app.settle().await;
    app.answer(RITA, &[("decision", "yes")]).await;
    app.answer(TOM, &[("decision", "yes")]).await;
    app.settle().await;
    assert_eq!(app.status(&id).await, "introduced");

    // Act: fourteen days later.
    app.advance(14 * DAY - MINUTE).await;
    assert!(follow_ups_to(&app, RITA).is_empty());
    app.advance(MINUTE).await;

    // Assert: one question each, about the other person.
    let to_rita = follow_ups_to(&app, RITA);
    let to_tom = follow_ups_to(&app, TOM);
    assert_eq!(to_rita.len(), 1);
    assert_eq!(to_tom.len(), 1);
    assert_eq!(to_rita[0].subject, "Did you and Tom connect?");
    assert_eq!(to_tom[0].subject, "Did you and Rita connect?");

    // Three buttons; a click says thanks, and the page remembers.
    let rita_link = to_rita[0].link("/f/");
    let (status, page) = page_text(&app, &rita_link).await;
    assert_eq!(status, 200);
    assert_eq!(page.matches("<button").count(), 3, "{page}");
    for answer in ["yes", "not_yet", "not_useful"] {
        assert!(page.contains(&format!(r#"value="{answer}""#)), "{answer}");
    }
    let click = app.submit(&rita_link, &[("answer", "yes")]).await;
    assert_eq!(click.status(), 200);
    assert!(click.text().await.unwrap().contains("Thank you!"));
    let (status, page) = page_text(&app, &rita_link).await;
    assert_eq!(status, 200);
    assert!(page.contains("Thank you!"));
    assert!(!page.contains("<button"), "{page}");
    let recorded = app.store.follow_up_answer(&id, Role::Requester).await;
    assert_eq!(recorded.expect("answer").as_deref(), Some("yes"));

    // A bad answer is refused and records nothing.
    let tom_link = to_tom[0].link("/f/");
    let bad = app.submit(&tom_link, &[("answer", "maybe")]).await;
    assert_eq!(bad.status(), 422);
    let empty = app.submit(&tom_link, &[]).await;
    assert_eq!(empty.status(), 422);
    let recorded = app.store.follow_up_answer(&id, Role::Target).await;
    assert_eq!(recorded.expect("answer"), None);

    // And nobody is asked twice.
    app.advance(30 * DAY).await;
    assert_eq!(follow_ups_to(&app, RITA).len(), 1);
    assert_eq!(follow_ups_to(&app, TOM).len(), 1);
}

#[tokio::test]
async fn the_one_click_unsubscribe_answers_directly_and_stops_new_asks() {
    // Arrange: Tom's ask, with its RFC 8058 headers.
    let app = spawn_app().await;
    app.propose(&intro_body("target_first")).await;
    let ask = app.wait_for_emails_to(TOM, 1).await.remove(0);
    let unsubscribe = ask.link("/u/");
    // The one-click URL, and a mailto that reaches the connector.
    assert_eq!(
        header(&ask.raw, "List-Unsubscribe").as_deref(),
        Some(
            format!(
                "<{unsubscribe}>, <mailto:{CONNIE}?subject=Please%20stop%20sending%20me%20intro%20requests>"
            )
            .as_str()
        )
    );
    assert_eq!(
        header(&ask.raw, "List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );

    // Act: what a mail client sends.
    let response = post_raw(
        &app,
        &unsubscribe,
        "application/x-www-form-urlencoded",
        "List-Unsubscribe=One-Click".into(),
    )
    .await;

    // Assert
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("location").is_none());
    let again = app
        .post_intro(&json!({
            "requester": {"name": "Ada Archer", "email": "ada@requester.example"},
            "target": {"name": "Tom Target", "email": TOM},
            "reason": "You both restore old tractors.",
        }))
        .await;
    assert_eq!(again.status(), 409);
    let error: Value = again.json().await.unwrap();
    assert_eq!(error["error"]["code"], "recipient_opted_out");
}

#[tokio::test]
async fn the_one_click_unsubscribe_accepts_multipart_form_data() {
    // Arrange
    let app = spawn_app().await;
    app.propose(&intro_body("target_first")).await;
    let ask = app.wait_for_emails_to(TOM, 1).await.remove(0);
    let unsubscribe = ask.link("/u/");

    // Act: RFC 8058 §3.1: "The POST content SHOULD be sent as multipart/form-data".
    let boundary = "twoyes-test-boundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--{boundary}--\r\n"
    );
    let response = post_raw(
        &app,
        &unsubscribe,
        &format!("multipart/form-data; boundary={boundary}"),
        body,
    )
    .await;

    // Assert
    assert_eq!(response.status(), 200);
    let again = app.post_intro(&intro_body("target_first")).await;
    assert_eq!(again.status(), 409);
}

#[tokio::test]
async fn a_link_that_names_nothing_is_not_found() {
    let app = spawn_app().await;
    let unknown = twoyes::domain::Token::generate().expose();
    for token in ["garbage", unknown.as_str()] {
        let url = format!("{}/o/{token}", app.address);
        assert_eq!(app.open(&url).await.status(), 404, "GET {token}");
        let post = app.submit(&url, &[("decision", "yes")]).await;
        assert_eq!(post.status(), 404, "POST {token}");
    }
}

#[tokio::test]
async fn the_link_of_an_expired_ask_is_gone() {
    // Arrange
    let app = spawn_app().await;
    let id = app.propose(&intro_body("target_first")).await;
    app.settle().await;
    let links: Vec<String> = asks_to(&app, TOM).iter().map(|e| e.link("/o/")).collect();

    // Act: past the reminder, then past the expiry.
    app.advance(4 * DAY).await;
    app.advance(4 * DAY).await;

    // Assert: the ask and its reminder both say so.
    assert_eq!(app.status(&id).await, "expired");
    for link in &links {
        assert_eq!(app.open(link).await.status(), 410);
    }
    let reminder = app.ask_link(TOM);
    assert_eq!(app.open(&reminder).await.status(), 410);
}

#[tokio::test]
async fn answering_an_expired_ask_is_gone_too() {
    // Arrange
    let app = spawn_app().await;
    let id = app.propose(&intro_body("target_first")).await;
    app.settle().await;
    let link = app.ask_link(TOM);
    app.advance(8 * DAY).await;
    let before = snapshot(&app, &id).await;

    // Act
    let late = app.submit(&link, &[("decision", "yes")]).await;

    // Assert
    assert_eq!(late.status(), 410);
    assert_eq!(snapshot(&app, &id).await, before);
}

#[tokio::test]
async fn a_form_without_a_decision_is_refused_and_changes_nothing() {
    // Arrange
    let app = spawn_app().await;
    let id = app.propose(&intro_body("target_first")).await;
    let link = app.wait_for_emails_to(TOM, 1).await[0].link("/o/");
    let before = snapshot(&app, &id).await;

    // Act and assert
    for fields in [
        vec![],
        vec![("note", "Book me at cal.example/tom")],
        vec![("decision", "maybe")],
    ] {
        let response = app.submit(&link, &fields).await;
        assert_eq!(response.status(), 422, "{fields:?}");
        let page = response.text().await.unwrap();
        assert!(
            page.contains(r#"name="decision""#),
            "the form is shown again"
        );
    }
    app.advance(11 * MINUTE).await;
    let after = snapshot(&app, &id).await;
    assert_eq!(after.intro, before.intro);
    assert_eq!(after.events, before.events);
    assert_eq!(after.outbox, before.outbox);
}

#[tokio::test]
async fn a_not_now_date_that_is_not_in_the_future_is_refused_and_changes_nothing() {
    // Arrange: START is 2026-12-01.
    let app = spawn_app().await;
    let id = app.propose(&intro_body("target_first")).await;
    let link = app.wait_for_emails_to(TOM, 1).await[0].link("/o/");
    let before = snapshot(&app, &id).await;

    // Act and assert
    for date in ["2026-11-30", "2026-12-01", "not a date"] {
        let response = app
            .submit(&link, &[("decision", "later"), ("later_until", date)])
            .await;
        assert_eq!(response.status(), 422, "{date}");
    }
    app.advance(11 * MINUTE).await;
    let after = snapshot(&app, &id).await;
    assert_eq!(after.intro, before.intro);
    assert_eq!(after.events, before.events);
    assert_eq!(after.outbox, before.outbox);
}

#[tokio::test]
async fn party_pages_are_never_cached_and_never_leak_their_address() {
    // Arrange: one link of each kind.
    let app = spawn_app_with(without_undo()).await;
    app.propose(&intro_body("parallel")).await;
    app.settle().await;
    let decide = app.ask_link(TOM);
    let unsubscribe = asks_to(&app, TOM)[0].link("/u/");
    app.answer(RITA, &[("decision", "yes")]).await;
    let decided = app.submit(&decide, &[("decision", "yes")]).await;
    app.advance(14 * DAY).await;
    let follow_up = follow_ups_to(&app, TOM)[0].link("/f/");

    // Act
    let mut responses = vec![("POST /o/", decided)];
    for (what, url) in [
        ("GET /o/", decide.clone()),
        ("GET /u/", unsubscribe),
        ("GET /f/", follow_up),
        ("GET /o/ unknown", format!("{}/o/garbage", app.address)),
    ] {
        responses.push((what, app.open(&url).await));
    }

    // Assert
    for (what, response) in &responses {
        let headers = response.headers();
        assert_eq!(headers["cache-control"], "no-store", "{what}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{what}");
    }
}
