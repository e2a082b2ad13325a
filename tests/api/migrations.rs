//! Processes that start together on a new database apply each migration
//! once, and all of them start (issue 3; on SQLite through a lock file, on
//! PostgreSQL through sqlx's advisory lock).

use std::process::{Command, Stdio};

use super::helpers::{database_before_migration, database_url_for, run_migration};

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

/// Migrations 11 (SQLite: link tables rebuilt `WITHOUT ROWID`) and 12 (the
/// due time moved to `intro_due`) keep what a database already holds.
#[tokio::test]
async fn the_link_tables_and_due_times_survive_their_migrations() {
    use sqlx::Row;
    // Arrange: a database at the schema before them, with one intro that
    // has something due, one that has not, and a link token.
    let dir = tempfile::tempdir().unwrap();
    let (mut conn, rest) = database_before_migration(dir.path(), "20261126000011").await;
    let setup = "
        insert into connectors (connector_id, email, email_key, name, is_admin, created_at)
            values ('c1', 'c1@x.example', 'c1@x.example', 'One', 0, 1);
        insert into intros (intro_id, connector_id, mode, status, reason, topic, due_at, created_at, updated_at) values
            ('i1', 'c1', 'parallel', 'asking', 'r', 't', 5000, 1000, 1000),
            ('i2', 'c1', 'parallel', 'introduced', 'r', 't', null, 2000, 2000);
        insert into parties (intro_id, role, name, email, email_key, consent, ask_count, reminded, has_snoozed, undo_until, created_at) values
            ('i1', 'requester', 'Ann', 'ann@x.example', 'ann@x.example', 'accepted', 1, 0, 0, 4000, 1000),
            ('i1', 'target', 'Tom', 'tom@y.example', 'tom@y.example', 'asked', 1, 0, 0, null, 1000);
        insert into outbox (outbox_id, intro_id, connector_id, kind, recipient, payload, message_id, status, attempts, not_before, created_at)
            values ('o1', 'i1', 'c1', 'ask', 'tom@y.example', '{}', '<m1@x.example>', 'sent', 1, 1000, 1000);
        insert into party_tokens (token_hash, intro_id, role, purpose, outbox_id, expires_at, created_at)
            values ('h1', 'i1', 'target', 'decide', 'o1', 9000, 1000);";
    sqlx::raw_sql(setup).execute(&mut conn).await.unwrap();

    // Act
    for path in rest {
        run_migration(&mut conn, &path).await;
    }

    // Assert: the due time moved (and only where something was due)…
    let due: Vec<(String, i64)> =
        sqlx::query("select intro_id, due_at from intro_due order by intro_id")
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
    assert_eq!(due, vec![("i1".to_string(), 5000)]);
    assert!(
        sqlx::query("select due_at from intros")
            .fetch_all(&mut conn)
            .await
            .is_err(),
        "intros keeps no due time of its own"
    );
    // …and the parties and the token are as they were.
    let parties: Vec<(String, String, String, Option<i64>)> = sqlx::query(
        "select role, name, consent, undo_until from parties where intro_id = 'i1' order by role",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
    .collect();
    assert_eq!(
        parties,
        vec![
            (
                "requester".into(),
                "Ann".into(),
                "accepted".into(),
                Some(4000)
            ),
            ("target".into(), "Tom".into(), "asked".into(), None),
        ]
    );
    let token = sqlx::query(
        "select intro_id, role, purpose, outbox_id, expires_at from party_tokens where token_hash = 'h1'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let token: (String, String, String, String, i64) = (
        token.get(0),
        token.get(1),
        token.get(2),
        token.get(3),
        token.get(4),
    );
    assert_eq!(
        token,
        (
            "i1".into(),
            "target".into(),
            "decide".into(),
            "o1".into(),
            9000
        )
    );
}
