//! Proposing an intro through the form: fill it in, preview both asks,
//! send, and land on the new intro's page; the target's ask goes out.

use crate::harness::{Browser, browser_test};
use crate::helpers::TOM;

/// Fills the new-intro form with Rita (who wants to meet) and Tom (the busy one).
pub async fn fill_new_intro(b: &Browser) {
    b.goto("/intros/new").await;
    b.fill("target_name", "Tom Target").await;
    b.fill("target_email", TOM).await;
    b.fill("requester_name", "Rita Requester").await;
    b.fill("requester_email", "rita@requester.example").await;
    b.fill("requester_blurb", "I build soil sensors for small farms.")
        .await;
    b.fill(
        "Why they should meet",
        "You both work on soil health and keep asking me the same questions.",
    )
    .await;
    b.choose("The busy one first, then the other if they say yes")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_then_send_lands_on_the_intro_page() {
    browser_test(|t| async move {
        let b = t.signed_in_browser().await;
        fill_new_intro(&b).await;
        // app.js counts the blurb's words as it is typed.
        b.wait_for_text("#requester_blurb + .hint", "7 of 120 words")
            .await;

        b.click_button("Preview the asks").await;
        let tom_reads = b
            .wait_for_text("section.preview", "What Tom Target will read")
            .await;
        assert!(tom_reads.contains("tom@target.example"), "{tom_reads}");
        assert!(tom_reads.contains("I build soil sensors"), "{tom_reads}");
        b.wait_for_text("section.preview", "What Rita Requester will read")
            .await;
        // The preview keeps what was typed.
        assert_eq!(b.value_of("target_name").await, "Tom Target");

        let (page, viewport) = b.widths().await;
        assert_eq!(viewport, 412, "a phone-sized viewport");
        assert!(page <= viewport, "the preview fits a phone: {page} px wide");

        b.click_button("Send the asks").await;
        assert!(b.path().await.starts_with("/intros/"), "{}", b.path().await);
        assert!(!b.text_of("#intro-status").await.is_empty());
        b.wait_for_text("#timeline li", "Proposed the intro").await;

        let (ask, _link) = t.link_in_email_to(TOM, "/o/").await;
        assert!(ask.text.contains("Rita"), "{}", ask.text);
    })
    .await;
}
