//! The real `twoyes` binary (SPEC §5, command line): the commands work and
//! print JSON on request, and every bad flag is one line on stderr, a
//! non-zero exit, and no change to the data.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const CONNIE: &str = "connie@connector.example";
const RITA: &str = "Rita Requester <rita@requester.example>";
const TOM: &str = "Tom Target <tom@target.example>";
const REASON: &str = "You both work on soil health.";

/// One data directory and the binary pointed at it.
struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A data directory with Connie and one intro in it.
    fn with_intro() -> (Self, String) {
        let cli = Self::new();
        cli.ok(&[
            "connector",
            "add",
            "--email",
            CONNIE,
            "--name",
            "Connie Connector",
        ]);
        let id = cli.new_intro(&[]);
        (cli, id)
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn run(&self, args: &[&str]) -> Output {
        run_in(self.path(), args)
    }

    /// Runs a command that must succeed; returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "twoyes {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8 stdout")
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("twoyes {args:?}: {e}:\n{out}"))
    }

    /// Proposes an intro from Rita to Tom, with `extra` flags; returns its id.
    fn new_intro(&self, extra: &[&str]) -> String {
        let mut args = vec![
            "intro",
            "new",
            "--connector",
            CONNIE,
            "--requester",
            RITA,
            "--target",
            TOM,
            "--reason",
            REASON,
            "--json",
        ];
        args.extend_from_slice(extra);
        let intro = self.json(&args);
        intro["id"].as_str().expect("an id").to_string()
    }

    /// Runs a command that must fail; returns its one line of stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            !out.status.success(),
            "twoyes {args:?} succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "twoyes {args:?} must print exactly one line on stderr, got:\n{stderr}"
        );
        let line = lines[0].to_string();
        assert!(line.starts_with("twoyes: "), "{args:?}: {line}");
        assert!(line.len() > "twoyes: ".len() + 10, "{args:?}: {line}");
        for internal in ["constraint", "sqlx", "panicked", "Error {", "Backtrace"] {
            assert!(!line.contains(internal), "{args:?} leaks internals: {line}");
        }
        line
    }

    /// Everything the CLI can see: the list, and each intro's timeline and emails.
    fn snapshot(&self) -> Value {
        let list = self.json(&["intro", "list", "--json"]);
        let shown: Vec<Value> = list
            .as_array()
            .expect("a list")
            .iter()
            .map(|i| self.json(&["intro", "show", i["id"].as_str().unwrap(), "--json"]))
            .collect();
        serde_json::json!({"list": list, "shown": shown})
    }

    /// The command fails with one line mentioning `expected`, and changes nothing.
    fn refuses(&self, args: &[&str], expected: &str) {
        let before = self.snapshot();
        let line = self.fails(args);
        assert!(
            line.contains(expected),
            "twoyes {args:?}: `{line}` does not mention {expected}"
        );
        assert_eq!(self.snapshot(), before, "twoyes {args:?} changed the data");
    }
}

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
    if let Some(url) = super::helpers::database_url_for(dir) {
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

#[test]
fn the_intro_commands_work_and_print_json_on_request() {
    let cli = Cli::new();
    let added = cli.json(&[
        "connector",
        "add",
        "--email",
        CONNIE,
        "--name",
        "Connie Connector",
        "--handle",
        "connie",
        "--json",
    ]);
    assert_eq!(added["email"], CONNIE);
    assert_eq!(added["handle"], "connie");

    let out = cli.run(&["token", "create", "--connector", CONNIE]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "only the token on stdout: {stdout}");
    let token = lines[0];
    assert_eq!(token.len(), 43, "{token}");
    assert!(
        token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    );
    let again = cli.ok(&["token", "create", "--connector", CONNIE]);
    assert_ne!(again.trim(), token, "each token is new");
    for entry in std::fs::read_dir(cli.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap_or_default();
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "the raw token is stored"
        );
    }

    let intro = cli.json(&[
        "intro",
        "new",
        "--connector",
        CONNIE,
        "--requester",
        RITA,
        "--target",
        TOM,
        "--reason",
        REASON,
        "--blurb",
        "I build soil sensors.",
        "--mode",
        "parallel",
        "--json",
    ]);
    let id = intro["id"].as_str().expect("id").to_string();
    assert_eq!(intro["status"], "asking");
    assert_eq!(intro["mode"], "parallel");
    assert_eq!(
        intro["parties"]["requester"]["email"],
        "rita@requester.example"
    );
    assert_eq!(intro["parties"]["target"]["name"], "Tom Target");

    let second = cli.ok(&[
        "intro",
        "new",
        "--connector",
        CONNIE,
        "--requester",
        "Ann Lee <ann@example.com>",
        "--target",
        "Bo Chen <bo@example.com>",
        "--reason",
        REASON,
    ]);
    assert!(second.contains("proposed"), "{second}");

    let text = cli.ok(&["intro", "list"]);
    assert!(text.contains(&id), "{text}");
    let list = cli.json(&["intro", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    let listed = cli.json(&[
        "intro",
        "list",
        "--connector",
        CONNIE,
        "--status",
        "asking",
        "--json",
    ]);
    assert_eq!(listed.as_array().unwrap().len(), 2);

    let shown = cli.json(&["intro", "show", &id, "--json"]);
    assert_eq!(shown["id"], id.as_str());
    let events = shown["events"].as_array().expect("events");
    assert!(!events.is_empty(), "{shown}");
    assert!(
        events
            .iter()
            .all(|e| e["kind"].is_string() && e["at"].is_string())
    );
    let emails = shown["emails"].as_array().expect("emails");
    assert_eq!(emails.len(), 2, "parallel: two asks waiting: {shown}");
    assert!(emails.iter().all(|e| e["kind"] == "ask"));
    assert!(cli.ok(&["intro", "show", &id]).contains(&id));

    let cancelled = cli.ok(&["intro", "cancel", &id]);
    assert!(cancelled.contains("cancelled"), "{cancelled}");
    let shown = cli.json(&["intro", "show", &id, "--json"]);
    assert_eq!(shown["status"], "cancelled");
    assert!(shown["events"].as_array().unwrap().len() > events.len());
    let cancelled = cli.json(&["intro", "list", "--status", "cancelled", "--json"]);
    assert_eq!(cancelled.as_array().unwrap().len(), 1);
    assert_eq!(cancelled[0]["id"], id.as_str());
}

/// `intro new` with valid flags, some replaced or added by `overrides`.
fn new_args(overrides: &[(&str, &str)]) -> Vec<String> {
    let mut flags: Vec<(String, String)> = [
        ("--connector", CONNIE),
        ("--requester", "Ann Lee <ann@example.com>"),
        ("--target", "Bo Chen <bo@example.com>"),
        ("--reason", REASON),
    ]
    .iter()
    .map(|(f, v)| (f.to_string(), v.to_string()))
    .collect();
    for &(flag, value) in overrides {
        match flags.iter_mut().find(|(f, _)| f == flag) {
            Some(slot) => slot.1 = value.to_string(),
            None => flags.push((flag.to_string(), value.to_string())),
        }
    }
    let mut args = vec!["intro".to_string(), "new".to_string()];
    for (flag, value) in flags {
        args.push(flag);
        args.push(value);
    }
    args
}

/// `connector add` for `email`, with `extra` flags.
fn add_args(email: &str, extra: &[&str]) -> Vec<String> {
    [
        "connector",
        "add",
        "--email",
        email,
        "--name",
        "Someone Else",
    ]
    .iter()
    .chain(extra)
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn bad_intro_flags_are_one_line_on_stderr_and_write_nothing() {
    let (cli, _) = Cli::with_intro();
    #[rustfmt::skip]
    let cases: Vec<(Vec<String>, &str)> = vec![
        (new_args(&[("--requester", "ann@example.com")]), "--requester"),
        (new_args(&[("--requester", "Ann Lee ann@example.com>")]), "--requester"),
        (new_args(&[("--target", "Bo Chen")]), "--target"),
        (new_args(&[("--target", "<bo@example.com>")]), "--target"),
        (new_args(&[("--requester", "Ann Lee <ann@example>")]), "--requester"),
        (new_args(&[("--target", "Bo Chen <bo at example.com>")]), "--target"),
        (new_args(&[("--target", "Bo Chen <ann@example.com>")]), "--target"),
        (new_args(&[("--mode", "sideways")]), "--mode"),
        (new_args(&[("--reason", "")]), "--reason"),
        (new_args(&[("--reason", "   ")]), "--reason"),
        (new_args(&[("--topic", &"x".repeat(81))]), "--topic"),
        (new_args(&[("--blurb", &"x".repeat(1201))]), "blurb"),
        (new_args(&[("--connector", "nobody@nowhere.example")]), "nobody@nowhere.example"),
        (new_args(&[("--connector", "not an email")]), "--connector"),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cli.refuses(&args, expected);
    }
    // Opted in without the blurb they wrote.
    let mut args = new_args(&[]);
    args.push("--requester-opted-in".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    cli.refuses(&args, "blurb");
}

#[test]
fn bad_intro_ids_and_statuses_are_refused() {
    let (cli, id) = Cli::with_intro();
    let absent = uuid::Uuid::now_v7().to_string();
    cli.refuses(&["intro", "show", &absent], &absent);
    cli.refuses(&["intro", "show", "not-an-id", "--json"], "not-an-id");
    cli.refuses(&["intro", "cancel", &absent], &absent);
    cli.refuses(&["intro", "list", "--status", "nope"], "--status");
    cli.refuses(&["intro", "list", "--limit", "0"], "--limit");
    cli.refuses(
        &["intro", "list", "--connector", "nobody@nowhere.example"],
        "nobody@nowhere.example",
    );

    cli.ok(&["intro", "cancel", &id]);
    cli.refuses(&["intro", "cancel", &id], "cancelled");
    let shown = cli.json(&["intro", "show", &id, "--json"]);
    assert_eq!(shown["status"], "cancelled");
}

#[test]
fn bad_connector_and_token_flags_are_refused() {
    let (cli, _) = Cli::with_intro();
    let bad_name = [
        "connector",
        "add",
        "--email",
        "new@connector.example",
        "--name",
        "Bad\nName",
    ];
    #[rustfmt::skip]
    let cases: Vec<(Vec<String>, &str)> = vec![
        (add_args(CONNIE, &[]), "already exists"),
        (add_args("CONNIE@Connector.example", &[]), "already exists"),
        (add_args("new@connector.example", &["--handle", "Bad Handle!"]), "--handle"),
        (add_args("new@connector.example", &["--handle", "x"]), "--handle"),
        (add_args("new@connector.example", &["--handle=-dash"]), "--handle"),
        (add_args("not-an-email", &[]), "--email"),
        (bad_name.map(String::from).to_vec(), "--name"),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cli.refuses(&args, expected);
        // The refused connector was not created.
        cli.fails(&["token", "create", "--connector", "new@connector.example"]);
    }
    cli.refuses(
        &["token", "create", "--connector", "nobody@nowhere.example"],
        "nobody@nowhere.example",
    );
    cli.refuses(&["token", "create", "--connector", "nope"], "--connector");

    // A taken handle is refused too.
    cli.ok(&[
        "connector",
        "add",
        "--email",
        "ann@example.org",
        "--name",
        "Ann",
        "--handle",
        "ann",
    ]);
    let args = add_args("other@example.org", &["--handle", "ann"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    cli.refuses(&args, "handle");
    cli.fails(&["token", "create", "--connector", "other@example.org"]);
}

#[test]
fn bad_settings_are_refused_before_anything_is_written() {
    let (cli, _) = Cli::with_intro();
    let valid_new = [
        "intro",
        "new",
        "--connector",
        CONNIE,
        "--requester",
        "Ann Lee <ann@example.com>",
        "--target",
        "Bo Chen <bo@example.com>",
        "--reason",
        REASON,
    ];
    let with = |setting: &[&str]| -> Vec<String> {
        setting
            .iter()
            .chain(valid_new.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (with(&["--undo-window", "soon"]), "undo-window"),
        (with(&["--undo-window=-5m"]), "undo-window"),
        (with(&["--relay-delay", "72h..24h"]), "relay-delay"),
        (with(&["--relay-delay", "24h..later"]), "relay-delay"),
        (with(&["--expire-after", "0s"]), "expire-after"),
        (with(&["--remind-after", "3x"]), "remind-after"),
        (with(&["--follow-up-after", "never"]), "follow-up-after"),
        (with(&["--mail-from", "not an address"]), "mail-from"),
        (with(&["--smtp-url", "http://mail.example.com"]), "smtp-url"),
        (
            with(&["--smtp-retry-base", "3h", "--smtp-retry-max", "1h"]),
            "smtp-retry-base",
        ),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cli.refuses(&args, expected);
    }

    // The same settings from the environment are refused the same way.
    let before = cli.snapshot();
    let out = command_in(cli.path())
        .env("TWOYES_UNDO_WINDOW", "soon")
        .args(valid_new)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("undo-window"), "{stderr}");
    assert_eq!(cli.snapshot(), before);

    // A twoyes.toml with a key nobody knows stops every command.
    let before = cli.snapshot();
    let toml = cli.path().join("twoyes.toml");
    std::fs::write(&toml, "undo-windw = \"5m\"\n").unwrap();
    let line = cli.fails(&valid_new);
    assert!(line.contains("undo-windw"), "{line}");
    cli.fails(&["intro", "list", "--json"]);
    std::fs::write(&toml, "undo-window = \"soon\"\n").unwrap();
    let line = cli.fails(&valid_new);
    assert!(line.contains("undo-window"), "{line}");
    std::fs::remove_file(&toml).unwrap();
    assert_eq!(cli.snapshot(), before);
}

#[test]
fn a_refused_flag_is_named_as_it_was_typed() {
    let (cli, _) = Cli::with_intro();
    let long_blurb = "x".repeat(1201);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (new_args(&[("--blurb", &long_blurb)]), "--blurb:"),
        (
            new_args(&[("--target", "Bo Chen <ann@example.com>")]),
            "--target:",
        ),
        (
            new_args(&[("--requester-opted-in", "")])
                .into_iter()
                .filter(|a| !a.is_empty())
                .collect(),
            "--requester-opted-in",
        ),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let line = cli.fails(&args);
        assert!(line.contains(expected), "{args:?}: {line}");
    }
}

#[test]
fn a_twoyes_toml_that_is_not_toml_is_one_line_on_stderr() {
    let (cli, _) = Cli::with_intro();
    let toml = cli.path().join("twoyes.toml");
    std::fs::write(&toml, "undo-window = \n").unwrap();
    let line = cli.fails(&["intro", "list"]);
    std::fs::remove_file(&toml).unwrap();
    assert!(line.contains("twoyes.toml"), "{line}");
}

#[test]
fn a_usage_error_is_one_line_on_stderr() {
    let (cli, _) = Cli::with_intro();
    cli.fails(&["intro", "new", "--connector", CONNIE]);
    cli.fails(&["intro", "list", "--colour"]);
    cli.fails(&["intro", "list", "--limit", "many"]);
}

/// The flags and arguments in a `--help` text, each with its explanation.
fn help_entries(help: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = help.lines().collect();
    let mut entries = Vec::new();
    let mut in_section = false;
    for (i, line) in lines.iter().enumerate() {
        if !line.starts_with(' ') {
            in_section = matches!(line.trim_end(), "Options:" | "Arguments:");
            continue;
        }
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if !in_section || indent > 8 || !(trimmed.starts_with('-') || trimmed.starts_with('<')) {
            continue;
        }
        let mut words = trimmed.split_whitespace().peekable();
        let mut name = String::new();
        while let Some(w) = words.peek() {
            if w.starts_with('-') || w.starts_with('<') || w.starts_with("[<") {
                if name.is_empty() || w.starts_with("--") {
                    name = w.trim_end_matches(',').to_string();
                }
                words.next();
            } else {
                break;
            }
        }
        let mut text: Vec<String> = words.map(str::to_string).collect();
        // Wrapped or next-line help continues on deeper-indented lines.
        for next in &lines[i + 1..] {
            let rest = next.trim_start();
            if rest.is_empty() || next.len() - rest.len() <= indent + 2 {
                break;
            }
            text.push(rest.to_string());
        }
        let text = text.join(" ");
        let text = text.split("[env:").next().unwrap_or("").trim().to_string();
        entries.push((name, text));
    }
    entries
}

/// Every subcommand, with the flags SPEC §5 gives it.
const SUBCOMMANDS: &[(&[&str], &[&str])] = &[
    (&["serve"], &["--bind", "--base-url", "--no-worker"]),
    (&["worker"], &[]),
    (&["migrate"], &[]),
    (
        &["connector", "add"],
        &["--email", "--name", "--handle", "--admin"],
    ),
    (&["token", "create"], &["--connector"]),
    (
        &["intro", "new"],
        &[
            "--connector",
            "--requester",
            "--target",
            "--reason",
            "--blurb",
            "--note",
            "--mode",
        ],
    ),
    (&["intro", "list"], &["--connector", "--status", "--json"]),
    (&["intro", "show"], &["<ID>", "--json"]),
    (&["intro", "cancel"], &["<ID>"]),
];

const SETTINGS: &[&str] = &[
    "--data-dir",
    "--database-url",
    "--smtp-url",
    "--mail-from",
    "--remind-after",
    "--expire-after",
    "--undo-window",
    "--relay-delay",
    "--reconfirm-after",
    "--follow-up-after",
    "--smtp-retry-base",
    "--smtp-retry-max",
];

fn help_of(command: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut args = command.to_vec();
    args.push("--help");
    let out = run_in(dir.path(), &args);
    assert!(out.status.success(), "{command:?} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_help_of_every_subcommand_lists_its_flags_and_the_settings() {
    for (command, flags) in SUBCOMMANDS {
        let help = help_of(command);
        let names: Vec<String> = help_entries(&help).into_iter().map(|(n, _)| n).collect();
        for flag in flags.iter().chain(SETTINGS) {
            assert!(
                names.iter().any(|n| n == flag),
                "{command:?} --help lacks {flag}:\n{help}"
            );
        }
        assert!(
            help.lines().next().is_some_and(|l| !l.trim().is_empty()),
            "{command:?} has no summary"
        );
    }
    let top = help_of(&[]);
    for command in ["serve", "worker", "migrate", "connector", "token", "intro"] {
        assert!(
            top.lines()
                .any(|l| l.trim_start().starts_with(command) && l.split_whitespace().count() > 1),
            "`twoyes --help` does not explain {command}:\n{top}"
        );
    }
}

#[test]
fn the_help_of_every_subcommand_explains_every_flag() {
    let mut unexplained = Vec::new();
    for (command, _) in SUBCOMMANDS {
        for (name, text) in help_entries(&help_of(command)) {
            if text.is_empty() {
                unexplained.push(format!("{} {name}", command.join(" ")));
            }
        }
    }
    assert!(
        unexplained.is_empty(),
        "flags without help: {unexplained:?}"
    );
}

#[test]
fn the_person_commands_of_the_spec_exist() {
    for command in [["person", "export"], ["person", "erase"]] {
        let help = help_of(&command);
        assert!(help.contains("EMAIL"), "{command:?}:\n{help}");
    }
}
