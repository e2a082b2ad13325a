//! Compiles the PostgreSQL copy of the integration suite (`cfg(twoyes_pg)`)
//! only when `TWOYES_TEST_DATABASE_URL` names a server to run it against,
//! and the real-browser tests (`cfg(twoyes_browser)`, tests/browser) only when
//! `TWOYES_BROWSER_TESTS=1`, so a plain `cargo test` needs no Chromium.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(twoyes_pg)");
    println!("cargo::rustc-check-cfg=cfg(twoyes_browser)");
    println!("cargo::rerun-if-env-changed=TWOYES_TEST_DATABASE_URL");
    println!("cargo::rerun-if-env-changed=TWOYES_BROWSER_TESTS");
    // sqlx::migrate! embeds the migrations; a new file must rebuild.
    println!("cargo::rerun-if-changed=migrations");
    if std::env::var("TWOYES_TEST_DATABASE_URL").is_ok_and(|url| !url.trim().is_empty()) {
        println!("cargo::rustc-cfg=twoyes_pg");
    }
    if std::env::var("TWOYES_BROWSER_TESTS").is_ok_and(|v| v.trim() == "1") {
        println!("cargo::rustc-cfg=twoyes_browser");
    }
}
