//! A requester asks on the connector's public page, confirms their address
//! with the button behind the emailed link, and the connector approves the
//! request in their inbox: the target is asked, with the requester's words.

use twoyes::domain::{EmailAddress, Handle, Password, PersonName};
use twoyes::store::NewConnector;

use crate::harness::browser_test;
use crate::helpers::{PASSWORD, TOM};

const REMY: &str = "remy@requester.example";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_submitted_confirmed_and_approved() {
    browser_test(|t| async move {
        let hana = t
            .app
            .store
            .add_connector(
                NewConnector {
                    email: EmailAddress::parse("hana@connector.example").unwrap(),
                    name: PersonName::parse("Hana Handle").unwrap(),
                    handle: Some(Handle::parse("hana").unwrap()),
                    is_admin: false,
                },
                t.app.now(),
            )
            .await
            .unwrap();
        let hash = Password::parse_new(PASSWORD).unwrap().hash().unwrap();
        t.app
            .store
            .set_password_hash(&hana.id, &hash)
            .await
            .unwrap();

        // Remy fills in Hana's public page.
        let remy = t.browser("requester").await;
        remy.goto("/r/hana").await;
        remy.fill("Your name", "Remy Requester").await;
        remy.fill("Your email", REMY).await;
        remy.fill("Whom you would like to meet", "Tom Target").await;
        remy.fill("Why", "Tom knows the grain farmers near us.")
            .await;
        remy.fill("blurb", "I run a small bakery co-op in Leeds.")
            .await;
        remy.click_button("Send my request").await;
        remy.wait_for_text("h1", "Check your email").await;

        // Hana sees nothing until Remy confirms from the email.
        let hana_browser = t.browser("connector").await;
        hana_browser
            .sign_in("hana@connector.example", PASSWORD)
            .await;
        hana_browser.goto("/requests").await;
        assert!(!hana_browser.page_text().await.contains("Remy Requester"));
        let (_mail, link) = t.link_in_email_to(REMY, "/r/confirm/").await;
        remy.goto(&link).await;
        remy.wait_for_text("h1", "Confirm your request").await;
        remy.click_button("Confirm and send my request").await;
        remy.wait_for_text("h1", "Your request is confirmed").await;

        // Hana approves, asking someone new.
        hana_browser.goto("/requests").await;
        hana_browser.click_link("Remy Requester").await;
        hana_browser
            .wait_for_text("h1", "Remy Requester would like to meet Tom Target")
            .await;
        hana_browser.fill("Name of someone new", "Tom Target").await;
        hana_browser.fill("Email of someone new", TOM).await;
        hana_browser
            .fill("Why they should meet", "You both care about local grain.")
            .await;
        hana_browser.click_button("Approve and send the ask").await;
        hana_browser.wait_for_text("#intro-status", "asking").await;
        assert!(hana_browser.path().await.starts_with("/intros/"));

        let (ask, _) = t.link_in_email_to(TOM, "/o/").await;
        assert!(ask.text.contains("I run a small bakery co-op in Leeds."));
        assert!(
            t.app
                .emails_to(REMY)
                .iter()
                .all(|e| !e.text.contains("/o/")),
            "Remy is not asked"
        );
    })
    .await;
}
