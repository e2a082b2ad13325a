//! Settings in the web app (issue 5, item 6): the wording of each email
//! (checked on save, previewed, used by the next email), the connector's own
//! timings, and the sender's name and reply-to.

use std::time::Duration;

use super::helpers::*;

const ASK_SUBJECT: &str = "A quick question from {{ connector.first_name }}";
const ASK_BODY: &str = "Hi {{ recipient.first_name }},\n\nWould you like to meet {{ other.name }}? <Honestly> either answer is fine.\n\nChoose here: {{ decision_url }}\n\nStop all asks: {{ unsubscribe_url }}";

#[tokio::test]
async fn a_changed_ask_wording_is_checked_previewed_and_used_by_the_next_ask() {
    let app = spawn_app().await;
    let session = app.sign_in().await;
    let page = session.page("/settings/wording/ask").await;
    assert!(page.contains("built-in wording"));
    assert!(page.contains("decision_url"), "the placeholders are listed");

    let unknown = session
        .post(
            "/settings/wording/ask",
            &[
                ("subject", "Hi {{ recipient.nickname }}"),
                ("body", ASK_BODY),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(unknown.status(), 422);
    assert!(
        unknown
            .text()
            .await
            .unwrap()
            .contains("unknown placeholder {{ recipient.nickname }}")
    );
    let no_link = session
        .post(
            "/settings/wording/ask",
            &[
                ("subject", ASK_SUBJECT),
                ("body", "Hi {{ recipient.first_name }}"),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(no_link.status(), 422);
    assert!(no_link.text().await.unwrap().contains("decision_url"));
    assert!(
        session.page("/settings").await.contains("built-in"),
        "nothing was saved"
    );

    let preview = session
        .post(
            "/settings/wording/ask",
            &[
                ("subject", ASK_SUBJECT),
                ("body", ASK_BODY),
                ("action", "preview"),
            ],
        )
        .await;
    assert_eq!(preview.status(), 200);
    let html = preview.text().await.unwrap();
    assert!(html.contains("A quick question from Connie"));
    assert!(
        html.contains("Would you like to meet Rita Requester? &#60;Honestly&#62;")
            || html.contains("Would you like to meet Rita Requester? &lt;Honestly&gt;"),
        "escaped: {html}"
    );

    let saved = session
        .post(
            "/settings/wording/ask",
            &[
                ("subject", ASK_SUBJECT),
                ("body", ASK_BODY),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(saved.status(), 303);
    assert!(session.page("/settings").await.contains("your wording"));

    app.propose(&intro_body("target_first")).await;
    let ask = app.wait_for_emails_to(TOM, 1).await.remove(0);
    assert_eq!(ask.subject, "A quick question from Connie");
    assert!(
        ask.text
            .contains("Would you like to meet Rita Requester? <Honestly>")
    );
    assert!(
        ask.html.contains("&lt;Honestly&gt;"),
        "the HTML part escapes the text"
    );
    let decide = ask.link("/o/");
    assert!(
        ask.html.contains(&format!("<a href=\"{decide}\">")),
        "links stay links"
    );
    assert_eq!(app.open(&decide).await.status(), 200, "the link works");

    // Another connector's asks keep the built-in wording.
    let other = app.second_connector().await;
    let token = add_token(&app.store, &other).await;
    let mut body = intro_body("target_first");
    body["target"]["email"] = "tess@target.example".into();
    assert_eq!(app.post_intro_as(&token, &body).await.status(), 201);
    let theirs = app
        .wait_for_emails_to("tess@target.example", 1)
        .await
        .remove(0);
    assert_ne!(theirs.subject, "A quick question from Olive");
    assert!(theirs.text.contains("would like to introduce you"));

    let reset = session
        .post("/settings/wording/ask", &[("action", "reset")])
        .await;
    assert_eq!(reset.status(), 303);
    let mut body = intro_body("target_first");
    body["target"]["email"] = "tina@target.example".into();
    app.propose(&body).await;
    let ask = app
        .wait_for_emails_to("tina@target.example", 1)
        .await
        .remove(0);
    assert!(
        ask.text.contains("would like to introduce you"),
        "back to the built-in"
    );
}

#[tokio::test]
async fn a_relay_wording_cannot_learn_why_the_intro_closed() {
    let app = spawn_app().await;
    let session = app.sign_in().await;
    let response = session
        .post(
            "/settings/wording/relay",
            &[
                ("subject", "News"),
                ("body", "It ended: {{ notice }} {{ private_reason }}"),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(response.status(), 422);
    assert_eq!(session.get("/settings/wording/nope").await.status(), 404);
}

#[tokio::test]
async fn the_connectors_own_timings_drive_their_intros() {
    let app = spawn_app().await;
    let session = app.sign_in().await;
    let bad = session
        .post("/settings/timings", &[("remind-after", "soon")])
        .await;
    assert_eq!(bad.status(), 422);
    assert!(bad.text().await.unwrap().contains("not a duration"));
    let backwards = session
        .post("/settings/timings", &[("remind-after", "9d")])
        .await;
    assert_eq!(
        backwards.status(),
        422,
        "a reminder after expiry is refused"
    );

    let saved = session
        .post(
            "/settings/timings",
            &[("remind-after", "1d"), ("expire-after", "2d")],
        )
        .await;
    assert_eq!(saved.status(), 303);
    let page = session.page("/settings").await;
    assert!(page.contains("value=\"1d\""));

    let id = app.propose(&intro_body("target_first")).await;
    app.wait_for_emails_to(TOM, 1).await;
    app.advance(Duration::from_secs(86_400 + 60)).await;
    assert_eq!(
        app.emails_to(TOM).len(),
        2,
        "reminded after one day, not three"
    );
    app.advance(Duration::from_secs(86_400)).await;
    assert_eq!(
        app.status(&id).await,
        "expired",
        "expired after two days, not seven"
    );
}

#[tokio::test]
async fn the_sender_name_and_reply_to_go_on_the_asks() {
    let app = spawn_app().await;
    let session = app.sign_in().await;
    let bad = session
        .post(
            "/settings/sender",
            &[("sender_name", ""), ("reply_to", "nope")],
        )
        .await;
    assert_eq!(bad.status(), 422);
    let saved = session
        .post(
            "/settings/sender",
            &[
                ("sender_name", "Connie at Acme"),
                ("reply_to", "hello@acme.example"),
            ],
        )
        .await;
    assert_eq!(saved.status(), 303);
    app.propose(&intro_body("target_first")).await;
    let ask = app.wait_for_emails_to(TOM, 1).await.remove(0);
    assert_eq!(ask.reply_to, vec!["hello@acme.example".to_string()]);
    let from = ask.raw.lines().find(|l| l.starts_with("From:")).unwrap();
    assert!(from.contains("Connie at Acme"), "{from}");
}

#[tokio::test]
async fn a_longer_own_relay_delay_keeps_a_fast_no_hidden_for_longer() {
    let app = spawn_app().await;
    let session = app.sign_in().await;
    let saved = session
        .post("/settings/timings", &[("relay-delay", "100h")])
        .await;
    assert_eq!(saved.status(), 303);
    app.propose(&intro_body("parallel")).await;
    app.wait_for_emails_to(RITA, 1).await;
    app.wait_for_emails_to(TOM, 1).await;
    app.answer(TOM, &[("decision", "no")]).await;
    app.advance(Duration::from_secs(11 * 60)).await;
    // Past the installation's longest relay delay (72h), not past Connie's.
    app.advance(Duration::from_secs(80 * 3600)).await;
    assert_eq!(app.emails_to(RITA).len(), 1, "no relay yet");
    let rita = app.emails_to(RITA)[0].link("/o/");
    let page = app.open(&rita).await;
    assert_eq!(page.status(), 200, "Rita's page still looks open");
    assert!(page.text().await.unwrap().contains("name=\"decision\""));
    app.advance(Duration::from_secs(21 * 3600)).await;
    assert_eq!(app.emails_to(RITA).len(), 2, "the relay came at 100h");
}
