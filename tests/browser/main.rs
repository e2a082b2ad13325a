//! Real-browser tests: the server in-process (manual clock, memory mail
//! transport, as in tests/api), driven through headless Chromium by
//! chromedriver, as a person would use it: typing into labelled fields,
//! pressing buttons, following the links in the emails twoyes sends.
//!
//! Compiled only with `cfg(twoyes_browser)`, which build.rs sets when
//! `TWOYES_BROWSER_TESTS=1`, so a plain `cargo test` needs no Chromium:
//!
//! ```sh
//! TWOYES_BROWSER_TESTS=1 cargo test --test browser
//! ```
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them).
//! A failing test leaves a screenshot and the page source of every browser
//! it opened in `<target dir>/browser-artifacts/`.
//!
//! A new flow is a file of its own here: see `harness.rs` for the helpers
//! (`browser_test`, `fill`, `click_button`, `goto`, `text_of`, ...).
#![cfg(twoyes_browser)]

/// The shared integration-test helpers expect their backend here.
pub const BACKEND: helpers::Backend = helpers::Backend::Sqlite;

#[path = "../api/helpers.rs"]
pub mod helpers;

mod harness;
mod harness_self_test;

mod new_intro;
mod no_javascript;
mod party_decides;
mod request_flow;
mod sign_in;
mod template_change;
