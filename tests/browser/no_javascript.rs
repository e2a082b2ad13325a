//! With JavaScript off the app still works: sign in, and propose an intro
//! through the form (preview, then send).

use crate::harness::browser_test;
use crate::helpers::{CONNIE, PASSWORD, TOM};
use crate::new_intro::fill_new_intro;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_and_new_intro_work_without_javascript() {
    browser_test(|t| async move {
        t.set_password().await;
        let b = t.browser_without_js("no-js").await;
        b.sign_in(CONNIE, PASSWORD).await;

        fill_new_intro(&b).await;
        // app.js did not run: no live word counter under the blurb.
        assert!(
            !b.has("#requester_blurb + p[aria-live]").await,
            "JavaScript is off"
        );
        b.click_button("Preview the asks").await;
        b.wait_for_text("section.preview", "What Tom Target will read")
            .await;
        b.click_button("Send the asks").await;
        assert!(b.path().await.starts_with("/intros/"), "{}", b.path().await);
        b.wait_for_text("#timeline li", "Proposed the intro").await;
        t.link_in_email_to(TOM, "/o/").await;
    })
    .await;
}
