//! Processes that start together on a new database apply each migration
//! once, and all of them start (issue 3; on SQLite through a lock file, on
//! PostgreSQL through sqlx's advisory lock).

use std::process::{Command, Stdio};

use super::helpers::database_url_for;

#[test]
fn processes_migrating_a_new_database_together_all_succeed() {
    for _round in 0..3 {
        let dir = tempfile::tempdir().expect("data dir");
        let mut children = Vec::new();
        for _ in 0..6 {
            let mut command = Command::new(env!("CARGO_BIN_EXE_twoyes"));
            for (key, _) in std::env::vars() {
                if key.starts_with("TWOYES_") {
                    command.env_remove(key);
                }
            }
            command.arg("--data-dir").arg(dir.path()).arg("migrate");
            if let Some(url) = database_url_for(dir.path()) {
                command.env("TWOYES_DATABASE_URL", url);
            }
            let child = command
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("twoyes runs");
            children.push(child);
        }
        for child in children {
            let out = child.wait_with_output().expect("twoyes exits");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                "The database schema is up to date."
            );
        }
    }
}
