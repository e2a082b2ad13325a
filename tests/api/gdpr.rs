//! Issue 6, GDPR: `twoyes person export` and `twoyes person erase`, run as
//! the real binary against the data of a running app. After an erasure no
//! copy of the person's name, address or words is left in the database (its
//! files, searched byte by byte on SQLite; every text column on both
//! backends) or in the mail directory.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

use super::helpers::*;

const UMA: &str = "uma@other.example";
const RITA_BLURB: &str = "I build soil sensors for small farms.";
const RITA_NOTE: &str = "Ritas calendar is at cal.example/zephyrine";
const TOM_NOTE: &str = "Book me at cal.example/tom";

/// The binary pointed at `dir`, without any `TWOYES_*` setting from the
/// test's own environment.
fn command_in(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_twoyes"));
    for (key, _) in std::env::vars() {
        if key.starts_with("TWOYES_") {
            command.env_remove(key);
        }
    }
    command.arg("--data-dir").arg(dir);
    if let Some(url) = database_url_for(dir) {
        command.env("TWOYES_DATABASE_URL", url);
    }
    command
}

fn run_in(dir: &Path, args: &[&str]) -> Output {
    command_in(dir)
        .args(args)
        .output()
        .expect("the twoyes binary runs")
}

fn json_in(dir: &Path, args: &[&str]) -> Value {
    let out = run_in(dir, args);
    assert!(
        out.status.success(),
        "twoyes {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("twoyes {args:?}: {e}:\n{text}"))
}

/// Runs the binary off the test's runtime, whose server it talks to.
async fn twoyes_json(dir: &Path, args: &[&str]) -> Value {
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        json_in(&dir, &args)
    })
    .await
    .expect("the command ran")
}

/// Where `needle` occurs in `haystack`, ignoring ASCII case.
fn find_ci(haystack: &[u8], needle: &str) -> Option<usize> {
    let needle = needle.as_bytes();
    haystack
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

/// `raw` (an email as sent) with its quoted-printable soft line breaks
/// joined and every link token masked (a path segment of 32 or more
/// base64url characters): a random token may spell any word (one once held
/// "…LzrItawJ…"), and none can say who someone is.
fn without_link_tokens(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let mut out = String::with_capacity(joined.len());
    let mut run = String::new();
    for c in joined.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            run.push(c);
            continue;
        }
        if run.len() >= 32 && out.ends_with('/') {
            out.push_str("<token>");
        } else {
            out.push_str(&run);
        }
        run.clear();
        out.push(c);
    }
    out.pop();
    out
}

#[test]
fn link_tokens_are_masked_and_words_are_kept() {
    let raw = "Hello Uma,=\r\n see /p/LzrItawJ0123456789abcdefghijklmnopq=\r\nrstuvw-_x now";
    let readable = without_link_tokens(raw);
    assert_eq!(readable, "Hello Uma, see /p/<token> now");
    assert!(find_ci(readable.as_bytes(), "rita").is_none());
    let words = "RitaRequesterWroteThisLongWordWithoutSpaces said";
    assert!(find_ci(without_link_tokens(words).as_bytes(), "rita").is_some());
}

/// The forms a text may take in a file: as written (any case), and UTF-16.
fn forms(text: &str) -> Vec<Vec<u8>> {
    let utf16: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    vec![text.as_bytes().to_vec(), utf16]
}

/// Every file under `dir` that holds one of `needles`, and which.
fn files_holding(dir: &Path, needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("read dir") {
                stack.push(entry.expect("entry").path());
            }
            continue;
        }
        let bytes = std::fs::read(&path).unwrap_or_default();
        for needle in needles {
            for form in forms(needle) {
                let hit = match std::str::from_utf8(&form) {
                    Ok(text) => find_ci(&bytes, text),
                    Err(_) => bytes.windows(form.len()).position(|w| w == form),
                };
                if let Some(at) = hit {
                    found.push(format!("{} holds {needle:?} at byte {at}", path.display()));
                }
            }
        }
    }
    found
}

/// Every text column of every table whose value contains one of `needles`
/// (case-insensitive), through SQL: the check that also runs on PostgreSQL.
async fn columns_holding(app: &TestApp, needles: &[&str]) -> Vec<String> {
    use sqlx::{Connection, Row};
    sqlx::any::install_default_drivers();
    let url = database_url_for(app.dir.path()).unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=ro",
            app.dir.path().join("twoyes.db").display()
        )
    });
    let mut conn = sqlx::AnyConnection::connect(&url)
        .await
        .expect("connect to the test database");
    let columns: Vec<(String, String)> = if super::BACKEND == Backend::Postgres {
        sqlx::query(
            "select cast(table_name as text), cast(column_name as text) from information_schema.columns
             where table_schema = 'public' and data_type in ('text', 'character varying')",
        )
        .fetch_all(&mut conn)
        .await
        .expect("list columns")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
    } else {
        let tables: Vec<String> = sqlx::query(
            "select name from sqlite_master where type = 'table' and name not like 'sqlite_%'",
        )
        .fetch_all(&mut conn)
        .await
        .expect("list tables")
        .iter()
        .map(|r| r.get(0))
        .collect();
        let mut columns = Vec::new();
        for table in tables {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "select name from pragma_table_info('{table}')"
            )))
            .fetch_all(&mut conn)
            .await
            .expect("list columns");
            columns.extend(rows.iter().map(|r| (table.clone(), r.get::<String, _>(0))));
        }
        columns
    };
    assert!(columns.len() > 40, "too few columns found: {columns:?}");
    let mut found = Vec::new();
    for (table, column) in columns {
        for needle in needles {
            let n: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
                "select count(*) from {table} where lower(cast({column} as text)) like $1"
            )))
            .bind(format!("%{}%", needle.to_lowercase()))
            .fetch_one(&mut conn)
            .await
            .expect("search a column")
            .get(0);
            if n > 0 {
                found.push(format!("{table}.{column} holds {needle:?} ({n} rows)"));
            }
        }
    }
    conn.close().await.ok();
    found
}

#[tokio::test]
async fn erasing_a_person_leaves_placeholders_a_hash_and_no_copy() {
    let app = spawn_app_with(Config {
        file_mail: true,
        ..Config::default()
    })
    .await;
    let dir = app.dir.path().to_path_buf();

    // Rita and Tom are introduced, each with a note.
    let introduced = app.propose(&intro_body("target_first")).await;
    app.settle().await;
    app.answer(TOM, &[("decision", "yes"), ("note", TOM_NOTE)])
        .await;
    app.advance(11 * MINUTE).await;
    app.answer(RITA, &[("decision", "yes"), ("note", RITA_NOTE)])
        .await;
    app.advance(11 * MINUTE).await;
    assert_eq!(app.status(&introduced).await, "introduced");
    // And Uma is being asked about Rita.
    let mut body = intro_body("target_first");
    body["target"] = json!({"name": "Uma Umbrella", "email": UMA});
    let open = app.propose(&body).await;
    app.settle().await;
    assert_eq!(app.emails_to(UMA).len(), 1, "Uma is asked");

    // The export holds everything about her, in any case of the address.
    let before = twoyes_json(&dir, &["person", "export", "RITA@Requester.Example"]).await;
    assert_eq!(before["intros"].as_array().unwrap().len(), 2, "{before:#}");
    let text = before.to_string();
    for expected in ["Rita Requester", RITA_BLURB, RITA_NOTE, "Connie Connector"] {
        assert!(text.contains(expected), "the export lacks {expected}");
    }
    assert!(
        before["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["by_them"] == true && e["kind"].as_str().unwrap_or("").contains("yes"))
    );
    assert!(!before["emails"].as_array().unwrap().is_empty());
    assert_eq!(before["contacts"].as_array().unwrap().len(), 1);
    assert_eq!(before["suppressed_everywhere"], false);
    assert!(before["records"].as_u64().unwrap() >= 6);
    let tom_before = twoyes_json(&dir, &["person", "export", TOM]).await;

    let done = twoyes_json(
        &dir,
        &["person", "erase", RITA, "--json", "--relay-delay", "400d"],
    )
    .await;
    assert_eq!(done["intros_pseudonymised"], 2, "{done:#}");
    assert_eq!(done["intros_cancelled"], 1, "{done:#}");
    assert!(
        done["mail_files_deleted"].as_u64().unwrap() >= 4,
        "{done:#}"
    );
    assert!(done["rows_removed"].as_u64().unwrap() >= 1, "{done:#}");
    let placeholder = done["placeholder"].as_str().unwrap().to_string();
    assert!(
        placeholder.starts_with("erased-") && placeholder.ends_with("@erased.invalid"),
        "{placeholder}"
    );

    // The cancelled intro's relay reaches Uma, neutral, naming nobody: it
    // is rendered when it is sent, from the placeholder. (The command runs
    // on the wall clock, the app on a manual one.)
    assert_eq!(app.status(&open).await, "cancelled");
    // A relay delay longer than any gap between the two clocks keeps the
    // relay from going out before the erasure commits.
    let relay_at = chrono::Utc::now().timestamp_millis() + 400 * 86_400_000;
    let ahead = (relay_at - app.now().as_millis()).max(0) as u64;
    app.advance(std::time::Duration::from_millis(ahead) + HOUR)
        .await;
    let to_uma = app.wait_for_emails_to(UMA, 1).await;
    assert_eq!(to_uma.len(), 1, "her ask (which named Rita) was deleted");
    let relay = &to_uma[0];
    assert!(relay.text.contains("will not go ahead"), "{}", relay.text);
    let readable = without_link_tokens(&relay.raw);
    for word in ["rita", "erase", "forgot", "deleted"] {
        assert!(
            find_ci(readable.as_bytes(), word).is_none(),
            "the relay says {word}:\n{}",
            relay.raw
        );
    }

    // No copy of her in the database files, the mail files, or any column.
    let needles = [
        "Rita Requester",
        RITA,
        "rita@",
        RITA_BLURB,
        RITA_NOTE,
        "zephyrine",
    ];
    if super::BACKEND == Backend::Sqlite {
        for file in ["twoyes.db", "twoyes.db-wal", "twoyes.db-shm"] {
            let path = dir.join(file);
            let bytes = std::fs::read(&path).unwrap_or_default();
            for needle in needles {
                for form in forms(needle) {
                    assert!(
                        !bytes
                            .windows(form.len())
                            .any(|w| w.eq_ignore_ascii_case(&form)),
                        "{file} still holds {needle:?}"
                    );
                }
            }
        }
    }
    let left = files_holding(&dir, &needles);
    assert!(left.is_empty(), "{left:#?}");
    let left = columns_holding(&app, &needles).await;
    assert!(left.is_empty(), "{left:#?}");

    // Tom's side stays: his intro, his name, his note, its timeline.
    let intro = app.intro(&introduced).await;
    assert_eq!(intro["status"], "introduced");
    assert_eq!(intro["parties"]["target"]["name"], "Tom Target");
    assert_eq!(intro["parties"]["requester"]["email"], placeholder.as_str());
    assert_eq!(
        app.intro(&open).await["parties"]["requester"]["email"],
        placeholder.as_str(),
        "one person, one placeholder"
    );
    let tom_after = twoyes_json(&dir, &["person", "export", TOM]).await;
    assert!(tom_after.to_string().contains(TOM_NOTE));
    assert_eq!(tom_after["intros"], tom_before["intros"]);
    assert!(tom_after["events"].as_array().unwrap().len() >= 2);

    // Nobody can ask her again.
    let response = app.post_intro(&intro_body("parallel")).await;
    assert_eq!(response.status(), 409);
    let after = twoyes_json(&dir, &["person", "export", RITA]).await;
    assert_eq!(after["intros"], json!([]));
    assert_eq!(after["contacts"], json!([]));
    assert_eq!(after["suppressed_everywhere"], true);
    assert_eq!(after["records"], 1, "only the suppression hash: {after:#}");

    // Erasing her again changes nothing and says so.
    let again = twoyes_json(&dir, &["person", "erase", RITA, "--json"]).await;
    assert_eq!(again["intros_pseudonymised"], 0);
    assert_eq!(again["rows_removed"], 0);
}

#[test]
fn an_unknown_address_is_an_empty_export_and_a_harmless_erase() {
    let dir = tempfile::tempdir().expect("temp dir");
    let export = json_in(dir.path(), &["person", "export", "nobody@example.org"]);
    assert_eq!(export["records"], 0);
    assert_eq!(export["intros"], json!([]));
    assert_eq!(export["suppressed_everywhere"], false);
    let same = json_in(
        dir.path(),
        &["person", "export", "nobody@example.org", "--json"],
    );
    assert_eq!(same, export);

    let erased = json_in(
        dir.path(),
        &["person", "erase", "nobody@example.org", "--json"],
    );
    assert_eq!(erased["intros_pseudonymised"], 0);
    assert_eq!(erased["rows_removed"], 0);
    let out = run_in(dir.path(), &["person", "erase", "nobody@example.org"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Erased nobody@example.org"));
}

#[test]
fn a_bad_address_or_a_connector_account_is_refused_in_one_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let added = run_in(
        dir.path(),
        &[
            "connector",
            "add",
            "--email",
            CONNIE,
            "--name",
            "Connie Connector",
        ],
    );
    assert!(added.status.success());
    for args in [
        &["person", "erase", "not-an-address"][..],
        &["person", "export", "two@@example.org"][..],
        &["person", "erase", CONNIE][..],
    ] {
        let out = run_in(dir.path(), args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("twoyes: "), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let export = json_in(dir.path(), &["person", "export", CONNIE]);
    assert_eq!(export["connector_account"]["name"], "Connie Connector");
}
