//! The connector changes the wording of the ask in Settings (an unknown
//! placeholder is refused, the preview shows the new words), and the next
//! ask email uses it.

use crate::harness::browser_test;
use crate::helpers::{TOM, intro_body};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_template_is_used_by_the_next_email() {
    browser_test(|t| async move {
        let connie = t.signed_in_browser().await;
        connie.goto("/settings").await;
        connie.click_link("Ask (and its reminder)").await;
        connie.wait_for_text("h1", "Wording: Ask").await;

        connie.fill("Subject", "Hi {{ recipient.nickname }}").await;
        connie.click_button("Save").await;
        connie
            .wait_for_text(
                "#wording-error",
                "unknown placeholder {{ recipient.nickname }}",
            )
            .await;

        connie
            .fill(
                "Subject",
                "{{ recipient.first_name }}, a quick question from {{ connector.first_name }}",
            )
            .await;
        connie.click_button("Preview").await;
        connie
            .wait_for_text("#preview-subject", "Tom, a quick question from Connie")
            .await;
        connie.click_button("Save").await;
        connie.wait_for_text("[role=status]", "Wording saved").await;

        t.app.propose(&intro_body("target_first")).await;
        let (ask, link) = t.link_in_email_to(TOM, "/o/").await;
        assert_eq!(ask.subject, "Tom, a quick question from Connie");
        // The link in the reworded email still opens the decision page.
        let tom = t.browser("target").await;
        tom.goto(&link).await;
        tom.wait_for_text("button", "Send my answer").await;
    })
    .await;
}
