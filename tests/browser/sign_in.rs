//! Signing in through /login: a wrong password is refused with a message,
//! the right one opens the dashboard.

use crate::harness::browser_test;
use crate::helpers::{CONNIE, PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_shows_an_error_and_the_right_one_signs_in() {
    browser_test(|t| async move {
        t.set_password().await;
        let b = t.browser("connector").await;

        // Signed out, the app sends the browser to the login page.
        b.goto("/").await;
        assert_eq!(b.path().await, "/login");
        assert_eq!(b.text_of("h1").await, "Sign in to twoyes");

        b.fill("Email", CONNIE).await;
        b.fill("Password", "not the password at all").await;
        b.click_button("Sign in").await;
        b.wait_for_text(".error[role=alert]", "do not match an account")
            .await;
        // The address stays filled in; the password does not.
        assert_eq!(b.value_of("Email").await, CONNIE);
        assert_eq!(b.value_of("Password").await, "");
        assert_eq!(b.path().await, "/login");
        assert!(!b.has("form[action='/logout']").await, "not signed in");

        b.fill("Email", CONNIE).await;
        b.fill("Password", PASSWORD).await;
        b.click_button("Sign in").await;
        assert_eq!(b.path().await, "/");
        b.wait_for_text("form[action='/logout'] button", "Sign out Connie Connector")
            .await;
        assert!(b.has("nav.main a[href='/intros/new']").await);

        // Signing out ends the session: the dashboard asks to sign in again.
        b.click_button("Sign out Connie Connector").await;
        b.goto("/").await;
        assert_eq!(b.path().await, "/login");
    })
    .await;
}
