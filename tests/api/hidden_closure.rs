//! SPEC §6: a requester must not learn, in words or by timing, that the
//! target said no. Until a relay could have reached them, a party's page for
//! a closed intro answers exactly as it would for an open one.

use super::helpers::*;

/// The headline of a party page (its first `<h1>`).
async fn headline(app: &TestApp, link: &str) -> (u16, String) {
    let response = app.open(link).await;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    let h1 = body
        .split("<h1>")
        .nth(1)
        .and_then(|rest| rest.split("</h1>").next())
        .unwrap_or_default()
        .to_string();
    (status, h1)
}

fn ask_link(app: &TestApp, address: &str) -> String {
    app.emails_to(address).last().expect("an ask").link("/o/")
}

#[tokio::test]
async fn a_page_answers_the_same_whether_or_not_the_other_already_said_no() {
    let app = spawn_app_with(Config {
        undo_window: "0s",
        ..Config::default()
    })
    .await;

    // Intro A: the target says no at once; intro B stays open.
    let mut body_a = intro_body("parallel");
    body_a["requester"]["email"] = "rita.a@requester.example".into();
    let a = app.propose(&body_a).await;
    app.settle().await;
    app.answer(TOM, &[("decision", "no")]).await;
    app.settle().await;
    assert_eq!(app.status(&a).await, "declined");
    let mut body_b = intro_body("parallel");
    body_b["requester"]["email"] = "rita.b@requester.example".into();
    body_b["target"]["email"] = "tess@target.example".into();
    app.propose(&body_b).await;
    app.settle().await;
    let link_a = ask_link(&app, "rita.a@requester.example");
    let link_b = ask_link(&app, "rita.b@requester.example");
    let emails_before = app.emails().len();
    let events_before = app.store.events(&a).await.unwrap().len();

    // The same form, the same answer to a yes, the same page after it.
    assert_eq!(headline(&app, &link_a).await.0, 200);
    for link in [&link_a, &link_b] {
        let response = app.submit(link, &[("decision", "yes")]).await;
        assert_eq!(response.status(), 303);
        let location = response.headers()["location"].to_str().unwrap().to_string();
        assert!(link.ends_with(&location), "{location}");
    }
    assert_eq!(headline(&app, &link_a).await, headline(&app, &link_b).await);
    assert_eq!(headline(&app, &link_a).await.1, "Thank you, you said yes");

    // Withdrawing looks the same, too.
    for link in [&link_a, &link_b] {
        let response = app.submit(link, &[("action", "withdraw")]).await;
        assert_eq!(response.status(), 303);
    }
    assert_eq!(headline(&app, &link_a).await, headline(&app, &link_b).await);
    assert_eq!(headline(&app, &link_a).await.1, "You have withdrawn");

    // None of it changed the closed intro or sent anything.
    app.settle().await;
    assert_eq!(app.store.events(&a).await.unwrap().len(), events_before);
    let new_emails: Vec<String> = app.emails()[emails_before..]
        .iter()
        .map(|e| e.subject.clone())
        .collect();
    assert!(
        new_emails
            .iter()
            .all(|s| !s.contains("Rita Requester") || s.contains("withdrew")),
        "only intro B's withdrawal notice may go out: {new_emails:?}"
    );
    assert_eq!(app.status(&a).await, "declined");

    // Once the relay has gone out, the page says the intro is closed.
    app.advance(72 * HOUR).await;
    assert!(
        app.emails_to("rita.a@requester.example")
            .iter()
            .any(|e| e.subject.starts_with("About the introduction"))
    );
    assert_eq!(headline(&app, &link_a).await.0, 410);
}

#[tokio::test]
async fn an_undo_on_a_page_that_looks_open_brings_the_form_back() {
    let app = spawn_app().await;
    let a = app.propose(&intro_body("parallel")).await;
    app.settle().await;
    app.answer(TOM, &[("decision", "no")]).await;
    app.advance(11 * MINUTE).await;
    assert_eq!(app.status(&a).await, "declined");

    let link = ask_link(&app, RITA);
    assert_eq!(
        app.submit(&link, &[("decision", "yes")]).await.status(),
        303
    );
    let page = app.open(&link).await.text().await.unwrap();
    assert!(page.contains("Undo my answer"), "{page}");
    assert_eq!(app.submit(&link, &[("action", "undo")]).await.status(), 303);
    let page = app.open(&link).await.text().await.unwrap();
    assert!(
        page.contains("name=\"decision\""),
        "the form is back: {page}"
    );
}
