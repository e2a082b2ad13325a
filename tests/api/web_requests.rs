//! Requests through a connector's public page: the requester confirms their
//! address by a button behind the emailed link before the connector sees
//! anything; the connector approves (the target is asked first, the
//! requester's consent is on record) or declines with a kind message.

use twoyes::domain::{EmailAddress, Handle, PersonName};
use twoyes::store::{Connector, NewConnector};

use super::helpers::*;

const REQUESTER: &str = "remy@requester.example";
const BLURB: &str = "I run a small bakery co-op and want to learn about grain sourcing.";

/// A connector with a public page at `/r/hana`.
async fn hana(app: &TestApp) -> Connector {
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
        .expect("connector with a handle")
}

/// A visitor's browser: keeps cookies, follows no redirects.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

fn request_fields(email: &str) -> Vec<(&'static str, String)> {
    vec![
        ("name", "Remy Requester".into()),
        ("email", email.into()),
        ("wants_to_meet", "Tom Target".into()),
        ("reason", "Tom knows grain farmers near us.".into()),
        ("blurb", BLURB.into()),
    ]
}

/// Fills in the public form as a visitor; returns the response to the POST.
async fn send_request(
    app: &TestApp,
    client: &reqwest::Client,
    fields: &[(&'static str, String)],
) -> reqwest::Response {
    let url = format!("{}/r/hana", app.address);
    let form = client.get(&url).send().await.unwrap();
    assert_eq!(form.status(), 200);
    let csrf = csrf_in(&form.text().await.unwrap());
    let mut all = vec![("csrf", csrf)];
    all.extend(fields.iter().cloned());
    client.post(&url).form(&all).send().await.unwrap()
}

/// Submits a request and confirms it through the emailed link, as a person
/// would; returns the request's id from the connector's inbox.
async fn confirmed_request(app: &TestApp, web: &WebSession) -> String {
    let client = browser();
    let sent = send_request(app, &client, &request_fields(REQUESTER)).await;
    assert_eq!(sent.status(), 303);
    let mail = app.wait_for_emails_to(REQUESTER, 1).await;
    let link = mail[0].link("/r/confirm/");
    let page = client.get(&link).send().await.unwrap();
    let csrf = csrf_in(&page.text().await.unwrap());
    let done = client
        .post(&link)
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    request_id(&web.page("/requests").await)
}

fn request_id(inbox: &str) -> String {
    let start = inbox
        .find("href=\"/requests/")
        .expect("a request in the inbox")
        + 16;
    inbox[start..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn a_confirmed_request_is_approved_and_only_the_target_is_asked() {
    let app = spawn_app().await;
    let connector = hana(&app).await;
    let web = app.sign_in_as(&connector).await;
    let client = browser();

    let sent = send_request(&app, &client, &request_fields(REQUESTER)).await;
    assert_eq!(sent.status(), 303);
    assert_eq!(sent.headers()["location"], "/r/hana/sent");
    let check = client
        .get(format!("{}/r/hana/sent", app.address))
        .send()
        .await
        .unwrap();
    assert!(check.text().await.unwrap().contains("Check your email"));
    assert!(
        !web.page("/requests").await.contains("Remy"),
        "not before confirmation"
    );

    let mail = app.wait_for_emails_to(REQUESTER, 1).await;
    assert!(mail[0].subject.contains("confirm"), "{}", mail[0].subject);
    let link = mail[0].link("/r/confirm/");
    for _ in 0..2 {
        let page = client.get(&link).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(
            page.text()
                .await
                .unwrap()
                .contains("Confirm and send my request")
        );
    }
    assert!(
        !web.page("/requests").await.contains("Remy"),
        "opening the link changes nothing"
    );

    let page = client
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let confirmed = client
        .post(&link)
        .form(&[("csrf", csrf_in(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), 200);
    assert!(
        confirmed
            .text()
            .await
            .unwrap()
            .contains("Your request is confirmed")
    );

    let inbox = web.page("/requests").await;
    assert!(inbox.contains("Remy Requester") && inbox.contains("Tom Target"));
    let id = request_id(&inbox);
    let detail = web.page(&format!("/requests/{id}")).await;
    assert!(detail.contains(BLURB));

    let approved = web
        .post(
            &format!("/requests/{id}/approve"),
            &[
                ("contact", ""),
                ("target_name", "Tom Target"),
                ("target_email", TOM),
                ("reason", "You both care about local grain."),
                ("note", ""),
            ],
        )
        .await;
    assert_eq!(approved.status(), 303);
    let location = approved.headers()["location"].to_str().unwrap().to_string();
    let intro_id = location
        .strip_prefix("/intros/")
        .expect("to the intro")
        .to_string();

    // A second press (a double submit, another tab) makes no second intro.
    let again = web
        .post(
            &format!("/requests/{id}/approve"),
            &[
                ("contact", ""),
                ("target_name", "Tom Target"),
                ("target_email", TOM),
                ("reason", "You both care about local grain."),
                ("note", ""),
            ],
        )
        .await;
    assert_eq!(again.status(), 303);
    assert_eq!(
        again.headers()["location"],
        format!("/requests/{id}").as_str()
    );
    let intros = app
        .store
        .list_intros(&twoyes::store::IntroFilter {
            connector_id: Some(connector.id.clone()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(intros.len(), 1, "one intro");

    let ask = app.wait_for_emails_to(TOM, 1).await;
    assert!(
        ask[0].text.contains(BLURB),
        "the target reads the requester's own words"
    );
    app.settle().await;
    let intro = app.store.intro(&intro_id, None).await.unwrap();
    assert!(intro.requester.consent_on_record_at.is_some());
    assert_eq!(intro.requester.ask_count, 0);

    let answered = app.answer(TOM, &[("decision", "yes")]).await;
    assert!(answered.status().is_success() || answered.status().is_redirection());
    app.advance(20 * MINUTE).await;
    let to_requester = app.emails_to(REQUESTER);
    assert!(
        to_requester.iter().all(|e| !e.text.contains("/o/")),
        "never asked"
    );
    assert!(to_requester.iter().any(|e| e.subject.starts_with("Intro:")));

    // The request now links to its intro, and the confirmation page says
    // only what it said before.
    assert!(
        web.page(&format!("/requests/{id}"))
            .await
            .contains(&intro_id)
    );
    let again = client
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(again.contains("Your request is confirmed"));
}

#[tokio::test]
async fn declining_emails_the_edited_message_and_asks_nobody() {
    let app = spawn_app().await;
    let web = app.sign_in_as(&hana(&app).await).await;
    let id = confirmed_request(&app, &web).await;
    let detail = web.page(&format!("/requests/{id}")).await;
    assert!(detail.contains("Thank you for asking me to introduce you to Tom Target"));

    let empty = web
        .post(&format!("/requests/{id}/decline"), &[("message", " ")])
        .await;
    assert_eq!(empty.status(), 422);

    let message = "Thanks, Remy. Tom is on leave this season.\nAsk me again in spring?";
    let declined = web
        .post(&format!("/requests/{id}/decline"), &[("message", message)])
        .await;
    assert_eq!(declined.status(), 303);
    let mails = app.wait_for_emails_to(REQUESTER, 2).await;
    let kind = &mails[1];
    assert!(
        kind.text.contains("Tom is on leave this season."),
        "{}",
        kind.text
    );
    assert!(kind.reply_to.iter().any(|a| a == "hana@connector.example"));
    app.settle().await;
    assert!(app.emails_to(TOM).is_empty());
    let page = web.page(&format!("/requests/{id}")).await;
    assert!(page.contains("declined") && !page.contains("/approve"));
    // Approving a declined request changes nothing.
    let late = web
        .post(
            &format!("/requests/{id}/approve"),
            &[
                ("target_name", "Tom Target"),
                ("target_email", TOM),
                ("reason", "x"),
            ],
        )
        .await;
    assert_eq!(late.status(), 303);
    app.settle().await;
    assert!(app.emails_to(TOM).is_empty());
}

#[tokio::test]
async fn another_connector_gets_404_on_every_request_route() {
    let app = spawn_app().await;
    let web = app.sign_in_as(&hana(&app).await).await;
    let id = confirmed_request(&app, &web).await;
    let other = app.sign_in_as(&app.second_connector().await).await;
    assert!(!other.page("/requests").await.contains("Remy"));
    assert_eq!(other.get(&format!("/requests/{id}")).await.status(), 404);
    for action in ["approve", "decline"] {
        let fields = [
            ("target_name", "Tom Target"),
            ("target_email", TOM),
            ("reason", "x"),
            ("message", "no"),
        ];
        let response = other
            .post(&format!("/requests/{id}/{action}"), &fields)
            .await;
        assert_eq!(response.status(), 404, "{action}");
    }
    let forged = web
        .post_without_csrf(&format!("/requests/{id}/decline"), &[("message", "no")])
        .await;
    assert_eq!(forged.status(), 403);
    app.settle().await;
    assert_eq!(app.emails_to(REQUESTER).len(), 1, "only the confirmation");
    assert!(
        web.page(&format!("/requests/{id}"))
            .await
            .contains("/approve")
    );
}

#[tokio::test]
async fn the_public_page_refuses_bad_input_and_forged_posts() {
    let app = spawn_app().await;
    hana(&app).await;
    let client = browser();
    let unknown = client
        .get(format!("{}/r/nobody-here", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    let forged = client
        .post(format!("{}/r/hana", app.address))
        .form(&request_fields(REQUESTER))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    let mut fields = request_fields("not an address");
    let bad = send_request(&app, &client, &fields).await;
    assert_eq!(bad.status(), 422);
    let page = bad.text().await.unwrap();
    assert!(page.contains("Your email"), "says what to fix");
    assert!(page.contains(BLURB), "keeps what was typed");
    fields = request_fields(REQUESTER);
    fields[4].1 = String::new();
    assert_eq!(send_request(&app, &client, &fields).await.status(), 422);
    app.settle().await;
    assert!(app.emails().is_empty(), "nothing stored, nothing sent");
}

#[tokio::test]
async fn unconfirmed_requests_are_limited_and_their_links_expire() {
    let app = spawn_app().await;
    let web = app.sign_in_as(&hana(&app).await).await;
    let client = browser();
    for _ in 0..4 {
        let sent = send_request(&app, &client, &request_fields(REQUESTER)).await;
        assert_eq!(sent.status(), 303, "the same answer every time");
    }
    app.settle().await;
    let mails = app.emails_to(REQUESTER);
    assert_eq!(mails.len(), 3, "three a day per address");

    app.advance(73 * HOUR).await;
    let link = mails[0].link("/r/confirm/");
    let page = client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 410);
    let gone = client
        .post(&link)
        .form(&[("csrf", csrf_in(&send_form_page(&app, &client).await))])
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 410);
    assert!(!web.page("/requests").await.contains("Remy"));
}

/// The public form's page (for a valid form token).
async fn send_form_page(app: &TestApp, client: &reqwest::Client) -> String {
    let url = format!("{}/r/hana", app.address);
    client.get(&url).send().await.unwrap().text().await.unwrap()
}
