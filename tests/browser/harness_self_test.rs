//! The harness itself: a failing browser test leaves a screenshot and the
//! page source behind, and its browsers are gone afterwards.

use crate::harness::{artifacts_dir, browser_test_named};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_test_saves_a_screenshot_and_the_page_source() {
    let name = "harness_self_test.deliberate_failure";
    let png = artifacts_dir().join(format!("{name}.png"));
    let html = artifacts_dir().join(format!("{name}.html"));
    let _ = std::fs::remove_file(&png);
    let _ = std::fs::remove_file(&html);

    let failed = tokio::spawn(browser_test_named(name, |t| async move {
        let b = t.browser("connector").await;
        b.goto("/login").await;
        b.text_of("h1").await;
        panic!("a deliberate failure, to check that the harness saves artifacts");
    }))
    .await;
    assert!(
        failed.is_err_and(|e| e.is_panic()),
        "the body's panic reaches the test"
    );

    let screenshot = std::fs::read(&png).expect("a screenshot was saved");
    assert!(screenshot.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    let source = std::fs::read_to_string(&html).expect("the page source was saved");
    assert!(source.contains("Sign in to twoyes"), "{source}");
    std::fs::remove_file(&png).ok();
    std::fs::remove_file(&html).ok();
}
