//! The preferences page (`/p/{token}`), reached from the footer of every
//! email to one party: opening it changes nothing; saving it pauses, limits
//! or stops intro requests; and every way of proposing an intro respects
//! what was saved, with a specific error and nothing stored or sent.

use serde_json::{Value, json};
use twoyes::domain::EmailAddress;
use twoyes::store::{Connector, Preferences};

use super::helpers::*;

/// A proposal from `requester` (a fresh address per proposal, so that no
/// pair guard is involved) to `target`.
fn proposal(requester: &str, target: (&str, &str)) -> Value {
    json!({
        "requester": {"name": "Ada Archer", "email": requester},
        "target": {"name": target.0, "email": target.1},
        "reason": "You both restore old tractors.",
    })
}

fn to_tom(requester: &str) -> Value {
    proposal(requester, ("Tom Target", TOM))
}

/// The preferences link of the latest email to `address` that has one.
fn preferences_link(app: &TestApp, address: &str) -> String {
    app.emails_to(address)
        .iter()
        .rev()
        .find(|e| !e.links("/p/").is_empty())
        .unwrap_or_else(|| panic!("no email to {address} links to /p/"))
        .link("/p/")
}

async fn stored(app: &TestApp, address: &str, connector: &Connector) -> Preferences {
    let email = EmailAddress::parse(address).expect("address");
    app.store
        .preferences(&email, &connector.id)
        .await
        .expect("preferences")
}

/// Proposes through the API as `token`; expects 409 with `code`; returns
/// the message.
async fn refused(app: &TestApp, token: &str, body: &Value, code: &str) -> String {
    let response = app.post_intro_as(token, body).await;
    assert_eq!(response.status(), 409, "{body}");
    let error: Value = response.json().await.expect("json");
    assert_eq!(error["error"]["code"], code, "{error}");
    error["error"]["message"]
        .as_str()
        .expect("a message")
        .to_string()
}

/// How many intros the connector of `token` has.
async fn intro_count(app: &TestApp, token: &str) -> usize {
    let list: Value = app
        .client
        .get(app.api("/intros?limit=100"))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    list["items"].as_array().expect("items").len()
}

/// Everything a refused proposal must leave as it was.
async fn nothing_changes(app: &TestApp, token: &str) -> (usize, usize) {
    app.settle().await;
    (intro_count(app, token).await, app.emails().len())
}

async fn page(app: &TestApp, link: &str) -> String {
    let response = app.open(link).await;
    assert_eq!(response.status(), 200, "GET {link}");
    response.text().await.expect("page")
}

fn at_once() -> Config {
    Config {
        undo_window: "0s",
        relay_delay: "0s",
        ..Config::default()
    }
}

#[tokio::test]
async fn opening_the_footer_link_shows_the_choices_and_changes_nothing() {
    // Arrange: Tom's ask.
    let app = spawn_app().await;
    app.propose(&intro_body("target_first")).await;
    app.settle().await;
    let link = preferences_link(&app, TOM);

    // Act: opened like a mail scanner would, many times.
    let mut html = String::new();
    for _ in 0..5 {
        html = page(&app, &link).await;
        let head = app.client.head(&link).send().await.expect("HEAD");
        assert_eq!(head.status(), 200);
    }

    // Assert: the page says what each choice means, with labelled inputs.
    assert!(html.contains("Your choices about intro requests"), "{html}");
    assert!(html.contains("Nothing is set"), "{html}");
    for input in [
        r#"<label class="field" for="paused_until">"#,
        r#"id="paused_until" name="paused_until""#,
        r#"<label class="field" for="monthly_max">"#,
        r#"id="monthly_max" name="monthly_max""#,
        r#"name="stop_connector""#,
        r#"name="stop_all""#,
        "No intro requests from Connie Connector",
    ] {
        assert!(html.contains(input), "no {input} in {html}");
    }
    assert!(!html.contains("<script"), "works without JavaScript");
    let response = app.open(&link).await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(!csp.contains("script-src"), "{csp}");
    assert_eq!(
        stored(&app, TOM, &app.connector).await,
        Preferences::default()
    );
    assert_eq!(
        app.post_intro(&to_tom("ada@requester.example"))
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn every_email_to_one_party_links_to_preferences_but_the_introduction_does_not() {
    // Arrange: one intro that is introduced and followed up, one that closes.
    let app = spawn_app_with(at_once()).await;
    app.propose(&intro_body("parallel")).await;
    app.settle().await;
    assert_eq!(app.answer(RITA, &[("decision", "yes")]).await.status(), 303);
    assert_eq!(app.answer(TOM, &[("decision", "yes")]).await.status(), 303);
    app.advance(14 * DAY).await;
    let mut both_asked = to_tom("ada@requester.example");
    both_asked["mode"] = json!("parallel");
    app.propose(&both_asked).await;
    app.settle().await;
    assert_eq!(app.answer(TOM, &[("decision", "no")]).await.status(), 303);
    app.settle().await;

    // Assert
    let with_link = |address: &str, subject: &str| {
        let emails: Vec<Email> = app
            .emails_to(address)
            .into_iter()
            .filter(|e| e.subject.contains(subject))
            .collect();
        assert!(!emails.is_empty(), "no {subject:?} email to {address}");
        emails.iter().all(|e| e.links("/p/").len() == 1)
    };
    assert!(with_link(TOM, "would like to introduce you to"), "the ask");
    assert!(with_link(RITA, "Did you and"), "the follow-up");
    assert!(
        with_link("ada@requester.example", "About the introduction"),
        "the relay"
    );
    let introduction = app
        .emails_to(RITA)
        .into_iter()
        .find(|e| e.subject.starts_with("Intro:"))
        .expect("the introduction");
    assert!(
        introduction.links("/p/").is_empty(),
        "it goes to both, Cc the connector: no personal link in it"
    );
    let notices = app.emails_to(CONNIE);
    assert!(!notices.is_empty());
    assert!(notices.iter().all(|e| e.links("/p/").is_empty()));
    // Each link opens the page of the person it was sent to.
    for address in [TOM, RITA, "ada@requester.example"] {
        page(&app, &preferences_link(&app, address)).await;
    }
}

#[tokio::test]
async fn a_pause_refuses_proposals_with_its_end_date_until_that_day() {
    // Arrange: Tom pauses until Friday 11 December (ten days on).
    let app = spawn_app().await;
    app.propose(&intro_body("target_first")).await;
    app.settle().await;
    let link = preferences_link(&app, TOM);
    let saved = app.submit(&link, &[("paused_until", "2026-12-11")]).await;
    assert_eq!(saved.status(), 200);
    let html = saved.text().await.unwrap();
    assert!(html.contains("Saved."), "{html}");
    assert!(
        html.contains("Intro requests are paused until Friday 11 December 2026."),
        "{html}"
    );
    assert!(html.contains(r#"value="2026-12-11""#), "{html}");
    assert!(page(&app, &link).await.contains(r#"value="2026-12-11""#));
    let before = nothing_changes(&app, &app.api_token).await;

    // Act and assert: the API says so, with the date.
    let message = refused(
        &app,
        &app.api_token,
        &to_tom("ada@requester.example"),
        "recipient_paused",
    )
    .await;
    assert_eq!(
        message,
        "Tom Target has paused intro requests until Friday 11 December 2026"
    );
    assert_eq!(nothing_changes(&app, &app.api_token).await, before);

    // The web form says so too, and keeps what was typed.
    let session = app.sign_in().await;
    let form = session
        .post(
            "/intros/new",
            &[
                ("target_name", "Tom Target"),
                ("target_email", TOM),
                ("requester_name", "Ada Archer"),
                ("requester_email", "ada@requester.example"),
                ("reason", "You both restore old tractors."),
                ("action", "send"),
            ],
        )
        .await;
    assert_eq!(form.status(), 422);
    let html = form.text().await.unwrap();
    assert!(
        html.contains("Tom Target has paused intro requests until Friday 11 December 2026"),
        "{html}"
    );
    assert_eq!(nothing_changes(&app, &app.api_token).await, before);

    // Still paused the day before; from the chosen day on, asks may come.
    app.advance(9 * DAY).await;
    refused(
        &app,
        &app.api_token,
        &to_tom("bea@requester.example"),
        "recipient_paused",
    )
    .await;
    app.advance(DAY).await;
    assert_eq!(
        app.post_intro(&to_tom("cy@requester.example"))
            .await
            .status(),
        201
    );
    assert!(page(&app, &link).await.contains("Nothing is set"));
}

#[tokio::test]
async fn stopping_from_the_page_refuses_one_connector_or_everyone_and_can_be_undone() {
    // Arrange: Tom's ask from Connie, and a second connector.
    let app = spawn_app().await;
    let first = app.propose(&intro_body("target_first")).await;
    app.settle().await;
    let link = preferences_link(&app, TOM);
    let olive = app.second_connector().await;
    let olive_token = add_token(&app.store, &olive).await;

    // Act: stop asks from Connie.
    let saved = app.submit(&link, &[("stop_connector", "yes")]).await;
    assert_eq!(saved.status(), 200);
    assert!(
        saved
            .text()
            .await
            .unwrap()
            .contains("You get no intro requests from Connie Connector.")
    );

    // Assert: Connie is refused, the open ask is answered, Olive is not refused.
    let before = nothing_changes(&app, &app.api_token).await;
    let message = refused(
        &app,
        &app.api_token,
        &to_tom("ada@requester.example"),
        "recipient_opted_out",
    )
    .await;
    assert_eq!(
        message,
        "Tom Target has asked not to receive intro requests"
    );
    assert_eq!(nothing_changes(&app, &app.api_token).await, before);
    assert_ne!(app.status(&first).await, "asking");
    assert_eq!(
        app.post_intro_as(&olive_token, &to_tom("bea@requester.example"))
            .await
            .status(),
        201
    );

    // Act: stop asks from everyone.
    let saved = app
        .submit(&link, &[("stop_connector", "yes"), ("stop_all", "yes")])
        .await;
    assert_eq!(saved.status(), 200);
    refused(
        &app,
        &olive_token,
        &to_tom("cy@requester.example"),
        "recipient_opted_out",
    )
    .await;
    let html = page(&app, &link).await;
    assert!(
        html.contains(r#"name="stop_all" value="yes" checked"#),
        "{html}"
    );

    // Act: both boxes unticked: asks may come again.
    assert_eq!(app.submit(&link, &[]).await.status(), 200);
    assert_eq!(
        stored(&app, TOM, &app.connector).await,
        Preferences::default()
    );
    assert_eq!(
        app.post_intro(&to_tom("dee@requester.example"))
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn the_unsubscribe_page_and_the_preferences_page_agree() {
    let app = spawn_app().await;
    app.propose(&intro_body("target_first")).await;
    app.settle().await;
    let ask = app.emails_to(TOM).remove(0);
    let unsubscribe = ask.link("/u/");
    let link = ask.link("/p/");

    assert_eq!(
        app.submit(&unsubscribe, &[("scope", "all")]).await.status(),
        200
    );

    let html = page(&app, &link).await;
    assert!(
        html.contains("You get no intro requests from anyone on this twoyes."),
        "{html}"
    );
    assert!(
        html.contains(r#"name="stop_all" value="yes" checked"#),
        "{html}"
    );
}

#[tokio::test]
async fn the_monthly_maximum_counts_asks_from_every_connector() {
    // Arrange: Tom allows two asks a month; Connie has sent one.
    let app = spawn_app().await;
    app.propose(&intro_body("target_first")).await;
    app.settle().await;
    let link = preferences_link(&app, TOM);
    let saved = app.submit(&link, &[("monthly_max", "2")]).await;
    assert_eq!(saved.status(), 200);
    assert!(
        saved
            .text()
            .await
            .unwrap()
            .contains("You get at most 2 intro requests in any 30 days.")
    );
    let olive = app.second_connector().await;
    let olive_token = add_token(&app.store, &olive).await;

    // Act: Olive's ask is the second; Connie's next would be the third.
    assert_eq!(
        app.post_intro_as(&olive_token, &to_tom("ada@requester.example"))
            .await
            .status(),
        201
    );
    let before = nothing_changes(&app, &app.api_token).await;
    let message = refused(
        &app,
        &app.api_token,
        &to_tom("bea@requester.example"),
        "recipient_monthly_limit",
    )
    .await;

    // Assert: refused without the number or who asked; nothing sent.
    assert!(message.starts_with("Tom Target has had as many intro requests this month"));
    assert!(
        !message.contains('2') && !message.contains("Olive"),
        "{message}"
    );
    assert_eq!(nothing_changes(&app, &app.api_token).await, before);
    refused(
        &app,
        &olive_token,
        &to_tom("cy@requester.example"),
        "recipient_monthly_limit",
    )
    .await;
    // Someone else is not limited by Tom's choice.
    assert_eq!(
        app.post_intro(&proposal(
            "bea@requester.example",
            ("Una Unlimited", "una@target.example")
        ))
        .await
        .status(),
        201
    );

    // Thirty days after those asks, there is room again.
    app.advance(31 * DAY).await;
    assert_eq!(
        app.post_intro(&to_tom("dee@requester.example"))
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn a_form_that_does_not_read_is_refused_and_saves_nothing() {
    let app = spawn_app().await;
    app.propose(&intro_body("target_first")).await;
    app.settle().await;
    let link = preferences_link(&app, TOM);

    for fields in [
        [("paused_until", "2026-12-01"), ("monthly_max", "")],
        [("paused_until", "2028-01-01"), ("monthly_max", "")],
        [("paused_until", "next week"), ("monthly_max", "")],
        [("paused_until", ""), ("monthly_max", "0")],
        [("paused_until", ""), ("monthly_max", "lots")],
    ] {
        let response = app.submit(&link, &fields).await;
        assert_eq!(response.status(), 422, "{fields:?}");
        let html = response.text().await.unwrap();
        assert!(html.contains(r#"role="alert""#), "{html}");
    }
    assert_eq!(
        stored(&app, TOM, &app.connector).await,
        Preferences::default()
    );
}

#[tokio::test]
async fn a_token_of_another_purpose_is_refused_on_either_page() {
    let app = spawn_app().await;
    app.propose(&intro_body("target_first")).await;
    app.settle().await;
    let ask = app.emails_to(TOM).remove(0);
    let decide = ask.link("/o/");
    let preferences = ask.link("/p/");
    let decide_token = decide.rsplit('/').next().unwrap();
    let preferences_token = preferences.rsplit('/').next().unwrap();

    let decide_on_p = format!("{}/p/{decide_token}", app.address);
    assert_eq!(app.open(&decide_on_p).await.status(), 404);
    assert_eq!(
        app.submit(&decide_on_p, &[("stop_all", "yes")])
            .await
            .status(),
        404
    );
    let preferences_on_o = format!("{}/o/{preferences_token}", app.address);
    assert_eq!(app.open(&preferences_on_o).await.status(), 404);
    assert_eq!(
        stored(&app, TOM, &app.connector).await,
        Preferences::default()
    );
    assert_eq!(app.open(&preferences).await.status(), 200);
}

#[tokio::test]
async fn an_expired_preferences_link_is_gone_and_saves_nothing() {
    let app = spawn_app().await;
    app.propose(&intro_body("target_first")).await;
    app.settle().await;
    let link = preferences_link(&app, TOM);
    app.advance(364 * DAY).await;
    assert_eq!(app.open(&link).await.status(), 200, "a year is generous");

    app.advance(2 * DAY).await;

    assert_eq!(app.open(&link).await.status(), 410);
    assert_eq!(
        app.submit(&link, &[("stop_all", "yes")]).await.status(),
        410
    );
    assert_eq!(
        stored(&app, TOM, &app.connector).await,
        Preferences::default()
    );
}

#[tokio::test]
async fn one_persons_link_changes_only_their_own_choices() {
    // Arrange: both are asked at once; Rita uses her link.
    let app = spawn_app().await;
    app.propose(&intro_body("parallel")).await;
    app.settle().await;
    let ritas = preferences_link(&app, RITA);
    let toms = preferences_link(&app, TOM);
    assert_ne!(ritas, toms);

    // Act
    let saved = app
        .submit(
            &ritas,
            &[("paused_until", "2026-12-24"), ("monthly_max", "1")],
        )
        .await;
    assert_eq!(saved.status(), 200);

    // Assert: Tom's choices and his page are untouched; Rita's changed.
    assert_eq!(
        stored(&app, TOM, &app.connector).await,
        Preferences::default()
    );
    assert!(page(&app, &toms).await.contains("Nothing is set"));
    assert_eq!(
        stored(&app, RITA, &app.connector).await.monthly_max,
        Some(1)
    );
    assert_eq!(
        app.post_intro(&to_tom("ada@requester.example"))
            .await
            .status(),
        201
    );
    refused(
        &app,
        &app.api_token,
        &proposal("bea@requester.example", ("Rita Requester", RITA)),
        "recipient_paused",
    )
    .await;
}
