//! A party opens the link in their ask email and says yes with a note; the
//! connector's intro page shows it, and once the undo window has passed
//! (the clock is advanced) the answer becomes final and the next ask goes out.

use crate::harness::browser_test;
use crate::helpers::{MINUTE, RITA, TOM, intro_body};

const TARGET: &str = "section[aria-label=Target] [data-consent]";
const REQUESTER: &str = "section[aria-label=Requester] [data-consent]";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_says_yes_and_the_connector_sees_the_timeline_update() {
    browser_test(|t| async move {
        let id = t.app.propose(&intro_body("target_first")).await;
        let connie = t.signed_in_browser().await;
        connie.goto(&format!("/intros/{id}")).await;
        assert_eq!(connie.text_of(TARGET).await, "asked");
        assert_eq!(connie.text_of(REQUESTER).await, "not_asked");

        // Tom opens the link in his ask, in his own browser.
        let (_ask, link) = t.link_in_email_to(TOM, "/o/").await;
        let tom = t.browser("target").await;
        tom.goto(&link).await;
        tom.choose("Yes, introduce us").await;
        tom.fill(
            "A note for the intro email (optional)",
            "Happy to talk on Fridays.",
        )
        .await;
        tom.click_button("Send my answer").await;
        assert_eq!(tom.text_of("h1").await, "Thank you, you said yes");
        tom.wait_for_text("form button", "Undo my answer").await;

        // Within the undo window the yes shows, but nothing follows from it yet.
        connie.reload().await;
        connie
            .wait_for_text("#timeline li", "Tom Target: Said yes")
            .await;
        let before = connie.texts_of("#timeline li").await;
        assert_eq!(connie.text_of(REQUESTER).await, "not_asked");
        assert!(t.app.emails_to(RITA).is_empty(), "Rita is not asked yet");

        t.app.advance(11 * MINUTE).await;
        connie.reload().await;
        assert_eq!(connie.text_of(TARGET).await, "accepted");
        connie
            .wait_for_text("section[aria-label=Target]", "Happy to talk on Fridays.")
            .await;
        let after = connie.texts_of("#timeline li").await;
        assert_eq!(after.len(), before.len() + 1, "{before:?} → {after:?}");
        assert!(
            after[before.len()].contains("Answer became final"),
            "{after:?}"
        );
        // Target first: now Rita is asked, by email.
        assert_eq!(connie.text_of(REQUESTER).await, "asked");
        t.link_in_email_to(RITA, "/o/").await;
    })
    .await;
}
