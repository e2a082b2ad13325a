//! Property-based fuzzing of every parser of outside input: `Name <email>`
//! addresses, form bodies (decision, new intro, public request), JSON bodies
//! (the API's create body), wording templates, and tokens.
//!
//! Each target feeds arbitrary input (raw bytes, arbitrary strings, and
//! strings built from the fragments that break parsers) through the same
//! path the server takes, and checks: no panic; an error is a clear value
//! (a field and a non-empty message without control characters); what is
//! accepted satisfies the type's invariants.
//!
//! Why proptest and not `cargo fuzz`: `cargo fuzz` needs a nightly toolchain
//! and libFuzzer, and this project's machines have one stable toolchain and
//! cannot fetch another. proptest runs on stable, under `cargo test`, shrinks
//! what it finds, and records it in `tests/fuzz_parsers.proptest-regressions`.
//!
//! `cargo test` runs a short pass (256 cases per target, under a second);
//! `.ci/run` runs a longer one: `PROPTEST_CASES=50000 cargo test
//! --test fuzz_parsers`.

use proptest::prelude::*;
use serde_json::{Value, json};
use twoyes::domain::machine::{Command, Decision};
use twoyes::domain::{
    EmailAddress, ManualClock, NamedAddress, ParseError, PersonName, Role, Timestamp, Token,
};
use twoyes::mail::wording::{self, EDITABLE, PARTS};
use twoyes::store::Connector;
use twoyes::usecases::{ProposeError, parse_proposal};
use twoyes::web::ApiError;
use twoyes::web::api::intros::CreateBody;
use twoyes::web::api::parse_json;
use twoyes::web::app::new_intro::{self, NewIntroForm};
use twoyes::web::app::requests::public::{self, RequestForm};
use twoyes::web::party::decision::{DecisionForm, command_from};

/// 2026-12-01 10:00 UTC.
const NOW: Timestamp = Timestamp::from_millis(1_796_119_200_000);

/// Cases per target: `PROPTEST_CASES` when set (CI's longer pass), else few
/// enough that this whole file runs in seconds in a debug build.
fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var("PROPTEST_CASES").is_err() {
        config.cases = 256;
    }
    config
}

// ---------------------------------------------------------------- inputs

/// Characters and words that have broken parsers, headers and templates.
const NASTY: &[&str] = &[
    "\r",
    "\n",
    "\r\n",
    "\0",
    "\t",
    "\u{b}",
    "\u{c}",
    "\u{7f}",
    "\u{85}",
    "\u{2028}",
    "\u{2029}",
    "\u{feff}",
    "\u{202e}",
    "\u{200b}",
    " ",
    "é",
    "😀",
    "中文",
    "<",
    ">",
    "\"",
    "'",
    "@",
    "@@",
    ".",
    "..",
    "-",
    ",",
    ";",
    ":",
    "\\",
    "(",
    ")",
    "[",
    "]",
    "%",
    "%0d%0a",
    "%00",
    "+",
    "&",
    "=",
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    "Bcc: x@y.z",
    "a@b.c",
    "<a@b.c>",
    "xn--d1a",
    "ß",
];

fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9 ]{1,8}",
        2 => any::<char>().prop_map(String::from),
        3 => prop::sample::select(NASTY).prop_map(String::from),
    ]
}

/// Text built from fragments, up to `n` of them.
fn text(n: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(fragment(), 0..n).prop_map(|v| v.concat())
}

/// Any string: arbitrary Unicode, fragment soup, or very long runs.
fn any_text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => any::<String>(),
        4 => text(24),
        1 => (prop::sample::select(vec!["a", "é", "<", "@", "\n", " ", "{{"]), 0..3000usize)
            .prop_map(|(s, n)| s.repeat(n)),
    ]
    .boxed()
}

/// Something shaped like an address, with nasty bits in every place.
fn address_like() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (
            prop::sample::select(vec!["", "\"", " "]),
            name_value(),
            email_value(),
            prop::sample::select(vec!["", " ", "\n", ">"]),
        )
            .prop_map(|(quote, name, email, end)| format!("{quote}{name}{quote} <{email}>{end}")),
        1 => (text(6), text(4), text(4))
            .prop_map(|(name, local, domain)| format!("{name} <{local}@{domain}.com>")),
    ]
}

fn email_like() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => email_value(),
        1 => (text(4), text(4)).prop_map(|(l, d)| format!("{l}@{d}.example")),
    ]
}

/// Mostly plausible values, sometimes with a nasty fragment spliced in,
/// sometimes anything at all: so that cases reach both the accepting and
/// the refusing paths.
fn spliced(good: &'static str) -> BoxedStrategy<String> {
    prop_oneof![
        6 => good.prop_map(String::from),
        2 => (good, fragment(), any::<prop::sample::Index>()).prop_map(|(g, f, at)| {
            let cut = g.char_indices().map(|(i, _)| i).nth(at.index(g.chars().count().max(1))).unwrap_or(g.len());
            format!("{}{f}{}", &g[..cut], &g[cut..])
        }),
        1 => any_text(),
    ]
    .boxed()
}

fn name_value() -> BoxedStrategy<String> {
    spliced("[A-Z][a-z]{0,8}( [A-Z][a-z]{1,8}){0,2}")
}

fn email_value() -> BoxedStrategy<String> {
    spliced("[a-z0-9]{1,8}([.+_-][a-z0-9]{1,4})?@[a-z0-9]{1,8}(-[a-z]{1,3})?\\.[a-zA-Z]{2,4}")
}

fn prose_value() -> BoxedStrategy<String> {
    spliced("[a-zA-Z][a-zA-Z ,.!?\n]{0,80}")
}

fn mode_value() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(vec!["target_first", "parallel", ""]).prop_map(String::from),
        1 => any_text(),
    ]
    .boxed()
}

/// Urlencoded `fields`, each present with probability 7/8.
fn fields_body(fields: Vec<(&'static str, BoxedStrategy<String>)>) -> BoxedStrategy<Vec<u8>> {
    let parts: Vec<_> = fields
        .into_iter()
        .map(|(k, v)| prop::option::weighted(0.875, v).prop_map(move |v| v.map(|v| (k, v))))
        .collect();
    parts
        .prop_map(|pairs| {
            let pairs: Vec<(&str, String)> = pairs.into_iter().flatten().collect();
            serde_urlencoded::to_string(&pairs)
                .unwrap_or_default()
                .into_bytes()
        })
        .boxed()
}

/// Arbitrary bytes, or a urlencoded body of the form's own fields (and some
/// others) with arbitrary values.
fn form_body(fields: &'static [&'static str]) -> BoxedStrategy<Vec<u8>> {
    let pairs = prop::collection::vec(
        (
            prop_oneof![
                4 => prop::sample::select(fields).prop_map(String::from),
                1 => any_text(),
            ],
            prop_oneof![3 => any_text(), 2 => email_like(), 1 => Just(String::new())],
        ),
        0..10,
    )
    .prop_map(|pairs| {
        serde_urlencoded::to_string(&pairs)
            .unwrap_or_default()
            .into_bytes()
    });
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..400),
        1 => prop::collection::vec(
            prop::sample::select(b"abz=&%+0dA;\xff\x00\n".to_vec()), 0..200),
        4 => pairs,
    ]
    .boxed()
}

// ---------------------------------------------------------------- checks

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// An error a person reads: names a field, says something, and cannot
/// inject a line into a page or log.
fn check_error(e: &ParseError) {
    assert!(!e.field.is_empty(), "{e:?}");
    assert!(!e.message.trim().is_empty(), "{e:?}");
    assert!(
        !e.message.contains(['\r', '\n', '\0']),
        "a control character in {e:?}"
    );
}

fn check_email(email: &EmailAddress) {
    let s = email.as_str();
    assert!(s.is_ascii() && !has_control(s), "{s:?}");
    assert!(!s.contains(|c: char| c.is_whitespace()), "{s:?}");
    assert!(!s.contains(['<', '>', '"', ',', ';', '\\']), "{s:?}");
    assert!(s.len() <= 254, "{s:?}");
    assert_eq!(s.matches('@').count(), 1, "{s:?}");
    assert_eq!(email.domain(), email.domain().to_ascii_lowercase());
    // What was accepted is accepted again, unchanged.
    assert_eq!(&EmailAddress::parse(s).expect("re-parse"), email);
}

fn check_name(name: &PersonName) {
    let s = name.as_str();
    assert!(!s.is_empty() && s.chars().count() <= 100, "{s:?}");
    assert!(!has_control(s), "{s:?}");
    assert!(
        !s.contains(['\u{2028}', '\u{2029}', '<', '>', '"']),
        "{s:?}"
    );
    assert_eq!(s, s.trim());
}

/// Multi-line text keeps only line breaks and tabs among control characters.
fn check_multiline(s: &str, max: usize) {
    assert!(
        !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t'),
        "{s:?}"
    );
    assert!(!s.contains('\r'), "{s:?}");
    assert!(s.chars().count() <= max, "{s:?}");
}

fn connector() -> Connector {
    Connector {
        id: "c1".into(),
        email: EmailAddress::parse("connie@connector.example").unwrap(),
        name: PersonName::parse("Connie Connector").unwrap(),
        handle: None,
        is_admin: false,
        created_at: NOW,
    }
}

/// The proposal checks every intro goes through (web form and API alike).
fn check_proposal(result: Result<twoyes::domain::Intro, ProposeError>) {
    match result {
        Ok(intro) => {
            for party in [&intro.requester, &intro.target] {
                check_name(&party.name);
                check_email(&party.email);
                if let Some(blurb) = &party.blurb {
                    check_multiline(blurb.as_str(), 1200);
                }
            }
            assert_ne!(
                intro.requester.email.normalized(),
                intro.target.email.normalized()
            );
            check_multiline(intro.reason.as_str(), 2000);
            assert!(!intro.reason.as_str().is_empty());
            assert!(!has_control(intro.topic.as_str()), "{:?}", intro.topic);
            if let Some(note) = &intro.note {
                check_multiline(note.as_str(), 1000);
            }
        }
        Err(ProposeError::Invalid(e)) => check_error(&e),
        Err(other) => panic!("parsing alone answered {other:?}"),
    }
}

fn check_api_error(e: &ApiError) {
    assert!(
        matches!(e.status.as_u16(), 400 | 422),
        "{} for {e:?}",
        e.status
    );
    assert!(matches!(e.code, "malformed" | "invalid_field"), "{e:?}");
    assert!(!e.message.trim().is_empty(), "{e:?}");
}

// ---------------------------------------------------------------- addresses

proptest! {
    #![proptest_config(config())]

    #[test]
    fn named_addresses_parse_or_say_why(input in prop_oneof![address_like(), any_text()]) {
        match NamedAddress::parse(&input) {
            Ok(a) => {
                check_name(&a.name);
                check_email(&a.email);
            }
            Err(e) => check_error(&e),
        }
    }

    #[test]
    fn email_addresses_parse_or_say_why(input in email_like()) {
        for parsed in [EmailAddress::parse(&input), EmailAddress::parse_sender(&input)] {
            match parsed {
                Ok(email) => {
                    let s = email.as_str();
                    assert!(s.is_ascii() && !has_control(s) && s.len() <= 254, "{s:?}");
                    assert!(!s.contains(['\r', '\n', ' ', '<', '>']), "{s:?}");
                }
                Err(e) => check_error(&e),
            }
        }
        if let Ok(email) = EmailAddress::parse(&input) {
            check_email(&email);
        }
    }

    #[test]
    fn names_are_one_clean_line(input in any_text()) {
        match PersonName::parse(&input) {
            Ok(name) => check_name(&name),
            Err(e) => check_error(&e),
        }
    }
}

// ---------------------------------------------------------------- tokens

fn token_like() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[A-Za-z0-9_-]{43}",
        1 => "[A-Za-z0-9_+/=-]{40,46}",
        1 => any_text(),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn tokens_parse_only_in_their_one_text_form(input in token_like()) {
        match Token::parse(&input) {
            // Exactly one text per token: what parses is what it exposes.
            Ok(token) => {
                prop_assert_eq!(token.expose(), input);
                prop_assert_eq!(Token::parse(&token.expose()).unwrap(), token);
            }
            Err(e) => check_error(&e),
        }
    }

    #[test]
    fn any_token_round_trips(secret in prop::collection::vec(any::<u8>(), 0..64), context in any_text()) {
        let token = Token::derive(&secret, &context);
        let text = token.expose();
        prop_assert_eq!(text.len(), 43);
        prop_assert_eq!(Token::parse(&text).unwrap().hash(), token.hash());
        let debug = format!("{:?}", token);
        prop_assert!(!debug.contains(&text));
    }
}

// ---------------------------------------------------------------- forms

const DECISION_FIELDS: &[&str] = &["decision", "later_until", "reason", "note", "action"];
const NEW_INTRO_FIELDS: &[&str] = &[
    "requester_name",
    "requester_email",
    "requester_blurb",
    "target_name",
    "target_email",
    "reason",
    "note",
    "mode",
    "action",
];
const REQUEST_FIELDS: &[&str] = &["name", "email", "wants_to_meet", "reason", "blurb"];

/// A decision form of plausible values, so most cases reach a decision.
fn decision_body() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(vec!["yes", "no", "later", "maybe", ""]),
        prop::option::of(prop::sample::select(vec!["undo", "withdraw", "x"])),
        prop_oneof!["20[0-9]{2}-[0-9]{2}-[0-9]{2}", any_text()],
        any_text(),
        any_text(),
    )
        .prop_map(|(decision, action, date, reason, note)| {
            let mut pairs = vec![
                ("decision", decision.to_string()),
                ("later_until", date),
                ("reason", reason),
                ("note", note),
            ];
            if let Some(action) = action {
                pairs.push(("action", action.to_string()));
            }
            serde_urlencoded::to_string(&pairs)
                .unwrap_or_default()
                .into_bytes()
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn decision_forms_become_a_command_or_a_message(
        body in prop_oneof![form_body(DECISION_FIELDS), decision_body().boxed()],
        role in prop::sample::select(vec![Role::Requester, Role::Target]),
    ) {
        let Ok(form) = serde_urlencoded::from_bytes::<DecisionForm>(&body) else {
            return Ok(()); // axum answers 4xx before the handler
        };
        match command_from(&form, role, "hash".into(), NOW) {
            Ok(Command::Decide { role: r, decision, .. }) => {
                prop_assert_eq!(r, role);
                match decision {
                    Decision::Yes { note } => {
                        if let Some(note) = note {
                            check_multiline(note.as_str(), 1000);
                        }
                    }
                    Decision::No { reason } => {
                        if let Some(reason) = reason {
                            check_multiline(reason.as_str(), 1000);
                        }
                    }
                    Decision::NotNow { until } => {
                        prop_assert!(until > NOW);
                        prop_assert!(until <= NOW.plus(std::time::Duration::from_secs(366 * 86_400)));
                    }
                }
            }
            Ok(Command::Undo { role: r } | Command::Withdraw { role: r }) => prop_assert_eq!(r, role),
            Ok(other) => prop_assert!(false, "a form cannot ask for {:?}", other),
            Err(message) => {
                prop_assert!(!message.trim().is_empty());
                prop_assert!(!message.contains(['\r', '\n']), "{:?}", message);
            }
        }
    }

    #[test]
    fn new_intro_forms_become_an_intro_or_a_message(body in prop_oneof![
        1 => form_body(NEW_INTRO_FIELDS),
        3 => fields_body(vec![
            ("requester_name", name_value()),
            ("requester_email", email_value()),
            ("requester_blurb", prose_value()),
            ("target_name", name_value()),
            ("target_email", email_value()),
            ("reason", prose_value()),
            ("note", prose_value()),
            ("mode", mode_value()),
        ]),
    ]) {
        let Ok(form) = serde_urlencoded::from_bytes::<NewIntroForm>(&body) else {
            return Ok(());
        };
        let clock = ManualClock::new(NOW);
        check_proposal(parse_proposal(&new_intro::input(&form), &connector(), &clock));
    }

    #[test]
    fn request_forms_become_a_request_or_a_message(body in prop_oneof![
        1 => form_body(REQUEST_FIELDS),
        3 => fields_body(vec![
            ("name", name_value()),
            ("email", email_value()),
            ("wants_to_meet", name_value()),
            ("reason", prose_value()),
            ("blurb", prose_value()),
        ]),
    ]) {
        let Ok(form) = serde_urlencoded::from_bytes::<RequestForm>(&body) else {
            return Ok(());
        };
        match public::parse(&form, &connector()) {
            Ok(request) => {
                check_name(&request.requester_name);
                check_name(&request.wants_to_meet);
                check_email(&request.requester_email);
                check_multiline(request.reason.as_str(), 2000);
                check_multiline(request.blurb.as_str(), 1200);
                prop_assert!(!request.blurb.as_str().is_empty());
            }
            Err(message) => {
                prop_assert!(!message.trim().is_empty());
                prop_assert!(!message.contains(['\r', '\n']), "{:?}", message);
            }
        }
    }
}

// ---------------------------------------------------------------- JSON

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        any_text().prop_map(Value::from),
        email_like().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(any_text(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A create body of the right shape with arbitrary values, sometimes a field
/// missing, mistyped or unknown.
fn create_body() -> impl Strategy<Value = Value> {
    let text = |good: BoxedStrategy<String>| prop_oneof![8 => good.prop_map(Value::from), 1 => json_value()];
    (
        (
            text(name_value()),
            text(email_value()),
            prop::option::of(text(prose_value())),
        ),
        (text(name_value()), text(email_value())),
        text(prose_value()),
        prop::option::of(text(prose_value())),
        prop::option::of(prop_oneof![
            Just(json!("target_first")),
            Just(json!("parallel")),
            json_value()
        ]),
        prop::option::of(prop_oneof![
            any::<bool>().prop_map(Value::from),
            json_value()
        ]),
        prop::option::weighted(
            0.2,
            (
                prop::sample::select(vec!["requester", "target", "reason", "extra", "note"]),
                json_value(),
            ),
        ),
    )
        .prop_map(
            |((rn, re, rb), (tn, te), reason, note, mode, opted, tweak)| {
                let mut requester = json!({"name": rn, "email": re});
                if let Some(rb) = rb {
                    requester["blurb"] = rb;
                }
                let mut body = json!({
                    "requester": requester,
                    "target": {"name": tn, "email": te},
                    "reason": reason,
                });
                for (key, value) in [
                    ("note", note),
                    ("mode", mode),
                    ("requester_opted_in", opted),
                ] {
                    if let Some(value) = value {
                        body[key] = value;
                    }
                }
                if let Some((key, value)) = tweak {
                    body[key] = value;
                }
                body
            },
        )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn api_create_bodies_become_an_intro_or_an_api_error(
        bytes in prop_oneof![
            1 => prop::collection::vec(any::<u8>(), 0..300).boxed(),
            1 => json_value().prop_map(|v| v.to_string().into_bytes()).boxed(),
            4 => create_body().prop_map(|v| v.to_string().into_bytes()).boxed(),
            1 => (create_body(), 0..200usize).prop_map(|(v, cut)| {
                let mut b = v.to_string().into_bytes();
                b.truncate(cut);
                b
            }).boxed(),
        ]
    ) {
        match parse_json::<CreateBody>(&bytes) {
            Ok(body) => {
                let clock = ManualClock::new(NOW);
                check_proposal(parse_proposal(&body.into_input(), &connector(), &clock));
            }
            Err(e) => check_api_error(&e),
        }
    }
}

// ---------------------------------------------------------------- wording

/// A context with every placeholder of `kind` set, as the preview has it.
fn sample_context(kind: &str) -> Value {
    let mut ctx = json!({});
    for (name, _) in wording::placeholders(kind) {
        let mut at = &mut ctx;
        let parts: Vec<&str> = name.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            if i + 1 == parts.len() {
                at[*part] = json!(format!("<{name}> & \"x\""));
            } else {
                if !at[*part].is_object() {
                    at[*part] = json!({});
                }
                at = &mut at[*part];
            }
        }
    }
    ctx
}

/// Well-formed wording: text, known placeholders, conditions; sometimes an
/// unknown placeholder.
fn wording_source(kind: &'static str) -> impl Strategy<Value = (String, bool)> {
    let known: Vec<String> = wording::placeholders(kind)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let piece = prop_oneof![
        3 => "[a-zA-Z ,.!?\n]{0,20}".prop_map(|s| (s, false)),
        3 => prop::sample::select(known.clone()).prop_map(|n| (format!("{{{{ {n} }}}}"), false)),
        1 => prop::sample::select(known.clone()).prop_map(|n| (format!("{{% if {n} %}}yes{{% else %}}no{{% endif %}}"), false)),
        1 => prop::sample::select(known).prop_map(|n| (format!("{{{{ {n}|upper }}}}"), false)),
        1 => "[a-z]{1,8}".prop_map(|n| (format!("{{{{ nope_{n} }}}}"), true)),
    ];
    prop::collection::vec(piece, 1..12).prop_map(|pieces| {
        let unknown = pieces.iter().any(|(_, u)| *u);
        (
            pieces.into_iter().map(|(s, _)| s).collect::<String>(),
            unknown,
        )
    })
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary sources: `validate` answers, never panics; what it accepts
    /// renders (or fails cleanly) in the strict environment.
    #[test]
    fn any_wording_is_checked_without_panicking(
        kind in prop::sample::select(EDITABLE.iter().map(|(k, _)| *k).collect::<Vec<_>>()),
        part in prop::sample::select(PARTS.to_vec()),
        source in prop_oneof![any_text(), text(30)],
    ) {
        match wording::validate(kind, part, &source) {
            Ok(()) => {
                let ctx = sample_context(kind);
                // Runtime errors (a filter on the wrong type, say) are
                // values: the save path previews, and sending falls back.
                let _ = wording::strict_env().render_str(&source, minijinja::Value::from(minijinja::value::Serde(ctx)));
            }
            Err(e) => prop_assert!(!e.0.trim().is_empty()),
        }
    }

    /// Well-formed sources: accepted exactly when every placeholder is known
    /// (and the body has its required links), and then they render.
    #[test]
    fn well_formed_wording_is_accepted_and_renders(
        (kind, part, (source, unknown)) in prop::sample::select(
            EDITABLE.iter().map(|(k, _)| *k).collect::<Vec<_>>()
        )
        .prop_flat_map(|kind| (Just(kind), prop::sample::select(PARTS.to_vec()), wording_source(kind)))
    ) {
        let mut source = source;
        if part == "subject" {
            source = source.replace('\n', " ");
        } else {
            for link in ["decision_url", "unsubscribe_url", "follow_up_url"] {
                if wording::placeholders(kind).iter().any(|(n, _)| n == link) {
                    source.push_str(&format!("\n{{{{ {link} }}}}"));
                }
            }
        }
        let verdict = wording::validate(kind, part, &source);
        if source.trim().is_empty() {
            prop_assert!(verdict.is_err());
            return Ok(());
        }
        prop_assert_eq!(verdict.is_err(), unknown, "{:?}: {:?}", source, verdict);
        if verdict.is_ok() {
            let rendered = wording::strict_env().render_str(&source, minijinja::Value::from(minijinja::value::Serde(sample_context(kind))));
            prop_assert!(rendered.is_ok(), "{:?}: {:?}", source, rendered);
        }
    }
}

// ---------------------------------------------------------------- found

/// Inputs found or feared along the way, kept as plain cases.
#[test]
fn regression_cases() {
    // A name that is only a quote, and addresses with CR/LF, stay refused.
    for bad in [
        "\"\" <a@b.co>",
        "Ann <a@b.co\r\nBcc: x@y.z>",
        "Ann\r\nBcc: x@y.z <a@b.co>",
        "Ann <a\u{0}@b.co>",
        "Ann <@b.co>",
        "Ann <a@b..co>",
        "Ann <a@-b.co>",
        "Ann <a@b.co>>",
    ] {
        let e = NamedAddress::parse(bad).expect_err(bad);
        check_error(&e);
    }
    // A token whose last character carries stray bits (43 characters hold
    // 258 bits for 256) would be a second spelling of the same token.
    let token = Token::derive(b"k", "c").expose();
    let canonical_end = "AEIMQUYcgkosw048";
    assert!(canonical_end.contains(&token[42..]));
    let stray = format!(
        "{}{}",
        &token[..42],
        "BFJNRVZdhlptx159"
            .chars()
            .nth(canonical_end.find(&token[42..]).unwrap())
            .unwrap()
    );
    check_error(&Token::parse(&stray).expect_err("a second spelling"));
    // Found by `new_intro_forms_become_an_intro_or_a_message`: the mode's
    // error echoed the whole value sent, line breaks and all.
    let clock = ManualClock::new(NOW);
    let form: NewIntroForm = serde_urlencoded::from_str(
        "requester_name=Ann&requester_email=a%40b.co&target_name=Tom&target_email=t%40b.co\
         &reason=r&mode=x%0A%0AInjected%3A+line",
    )
    .unwrap();
    match parse_proposal(&new_intro::input(&form), &connector(), &clock) {
        Err(ProposeError::Invalid(e)) => {
            check_error(&e);
            assert_eq!(e.field, "mode");
        }
        other => panic!("{other:?}"),
    }
    // A truncated JSON body is malformed (400), a wrong type invalid (422).
    assert_eq!(
        parse_json::<CreateBody>(b"{\"requester\":")
            .unwrap_err()
            .status,
        400
    );
    let wrong = parse_json::<CreateBody>(br#"{"requester":{"name":1,"email":"a@b.co"},"target":{"name":"T","email":"t@b.co"},"reason":"r"}"#)
        .unwrap_err();
    assert_eq!(wrong.status, 422);
    assert_eq!(wrong.field.as_deref(), Some("requester.name"));
}
