//! Compiles the PostgreSQL copy of the integration suite (`cfg(twoyes_pg)`)
//! only when `TWOYES_TEST_DATABASE_URL` names a server to run it against.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(twoyes_pg)");
    println!("cargo::rerun-if-env-changed=TWOYES_TEST_DATABASE_URL");
    // sqlx::migrate! embeds the migrations; a new file must rebuild.
    println!("cargo::rerun-if-changed=migrations");
    if std::env::var("TWOYES_TEST_DATABASE_URL").is_ok_and(|url| !url.trim().is_empty()) {
        println!("cargo::rustc-cfg=twoyes_pg");
    }
}
