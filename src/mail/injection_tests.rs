//! Injection properties: whatever people type as names, reasons, blurbs and
//! notes, the built message, parsed back, has exactly the intended headers
//! and recipients, every line fits in 998 octets, and user markup reaches
//! the HTML part only escaped.

use std::collections::BTreeSet;

use mail_parser::{Address, MessageParser};
use minijinja::HtmlEscape;
use proptest::prelude::*;
use serde_json::json;

use super::snapshot_tests::{EXPIRE_AFTER, MAIL_FROM, addressed, links_for, outbox_item};
use super::{Composer, Rendered, build_message};
use crate::domain::{
    Blurb, Consent, EmailAddress, Intro, IntroStatus, Mode, Note, Party, PersonName, PrivateReason,
    Reason, Role, Timestamp, Topic,
};
use crate::store::{Connector, OutboxItem, OutboxKind, Recipient};

const NOW: Timestamp = Timestamp::from_millis(1_796_119_200_000);

/// Characters that break lines, hide, or end a string early.
const BREAKING: &[&str] = &[
    "\r", "\n", "\r\n", "\0", "\u{2028}", "\u{2029}", "\u{85}", "\t", "\u{b}", "\u{7f}",
    "\u{feff}", "\u{202e}", " ", "  ", "é", "😀", "中文",
];

/// Markup, quoting and header syntax that a mailer must not take literally.
const MEANINGFUL: &[&str] = &[
    "<script>", "</p>", "<b>", "\"", "'", "<", ">", "&", "&amp;", "&#60;", "--", ";", ",", ":",
    "@", "\\", "(", ")", "{{ x }}",
];

const INJECTIONS: &[&str] = &["Bcc: x@y.z", "\r\nBcc: x@y.z", "\nTo: x@y.z\n\n"];

/// What people might type, including everything that has broken mailers.
fn fragment() -> impl Strategy<Value = String> {
    let pick = |list: &'static [&'static str]| prop::sample::select(list).prop_map(String::from);
    prop_oneof![
        4 => "[a-zA-Z ]{1,8}",
        2 => any::<char>().prop_map(String::from),
        1 => pick(BREAKING),
        1 => pick(MEANINGFUL),
        1 => pick(INJECTIONS),
    ]
}

fn text(max_fragments: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(fragment(), 0..max_fragments).prop_map(|v| v.concat())
}

/// Very long text: one character repeated, or many fragments.
fn long_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            prop::sample::select(vec!['a', 'é', '😀', '<', '&', ' ', '\n', '\u{2028}']),
            prop_oneof![900..2100usize, 0..6000usize],
        )
            .prop_map(|(c, n)| c.to_string().repeat(n)),
        prop::collection::vec(fragment(), 100..800).prop_map(|v| v.concat()),
    ]
}

fn free_text() -> impl Strategy<Value = String> {
    prop_oneof![6 => text(40), 2 => long_text(), 1 => Just(String::new())]
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[A-Za-zÀ-ÿ][A-Za-zÀ-ÿ '.,:;@()=?\\\\-]{0,30}",
        3 => text(12),
        1 => "\\PC{90,100}",
        1 => long_text(),
    ]
}

fn email() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z]{1,10}@example\\.(com|org|net)",
        1 => "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~.-]{1,20}@[a-z0-9-]{1,10}\\.[a-z]{2,5}",
        1 => "[a-z0-9]{60,64}@[a-z0-9]{55,63}\\.[a-z0-9]{55,63}\\.[a-z0-9]{55,63}\\.[a-z]{2,6}",
        1 => text(6),
    ]
}

/// Raw inputs for every field a person can fill in.
#[derive(Debug, Clone)]
struct Typed {
    connector: (String, String),
    requester: (String, String, String, String),
    target: (String, String, String, String),
    reason: String,
    topic: String,
    connector_note: String,
    private_reason: String,
    /// A receiving server's words, quoted in a delivery failure notice:
    /// no parser guards them.
    smtp_reply: String,
}

fn typed() -> impl Strategy<Value = Typed> {
    let party = || (name(), email(), free_text(), free_text());
    (
        (name(), email()),
        party(),
        party(),
        free_text(),
        prop_oneof![text(10), long_text()],
        free_text(),
        free_text(),
        free_text(),
    )
        .prop_map(
            |(
                connector,
                requester,
                target,
                reason,
                topic,
                connector_note,
                private_reason,
                smtp_reply,
            )| Typed {
                connector,
                requester,
                target,
                reason,
                topic,
                connector_note,
                private_reason,
                smtp_reply,
            },
        )
}

/// What the parsers let through; a refused value falls back to a plain one,
/// so every case still sends every email.
fn person(input: &str, fallback: &str) -> PersonName {
    PersonName::parse(input).unwrap_or_else(|_| PersonName::parse(fallback).unwrap())
}

fn address(input: &str, fallback: &str) -> EmailAddress {
    EmailAddress::parse(input).unwrap_or_else(|_| EmailAddress::parse(fallback).unwrap())
}

fn party(role: Role, typed: &(String, String, String, String), fallback: &str) -> Party {
    let (name, email, blurb, note) = typed;
    let mut party = Party::new(
        role,
        person(name, fallback),
        address(email, &format!("{}@example.com", fallback.to_lowercase())),
        Blurb::parse(blurb).unwrap_or(None),
    );
    party.consent = Consent::Accepted;
    party.asked_at = Some(NOW);
    party.ask_count = 1;
    party.intro_note = Note::parse(note).unwrap_or(None);
    party
}

/// One intro, its connector, and a delivery failure's reply text.
struct Scene {
    intro: Intro,
    connector: Connector,
    smtp_reply: String,
}

fn scene(typed: &Typed) -> Scene {
    let reason =
        Reason::parse(&typed.reason).unwrap_or_else(|_| Reason::parse("A reason").unwrap());
    let topic = match Topic::parse(&typed.topic) {
        Ok(Some(topic)) => topic,
        _ => Topic::from_reason(&reason),
    };
    let mut intro = Intro {
        id: "i1".into(),
        connector_id: "c1".into(),
        mode: Mode::Parallel,
        status: IntroStatus::Asking,
        reason,
        topic,
        note: Note::parse(&typed.connector_note).unwrap_or(None),
        requester: party(Role::Requester, &typed.requester, "Rita"),
        target: party(Role::Target, &typed.target, "Tom"),
        created_at: NOW,
        closed_at: None,
    };
    let private_reason = PrivateReason::parse(&typed.private_reason).unwrap_or(None);
    intro.requester.private_reason = private_reason.clone();
    intro.target.private_reason = private_reason;
    let connector = Connector {
        id: "c1".into(),
        email: address(&typed.connector.1, "connie@example.com"),
        name: person(&typed.connector.0, "Connie"),
        handle: None,
        is_admin: false,
        created_at: NOW,
    };
    Scene {
        intro,
        connector,
        smtp_reply: typed.smtp_reply.clone(),
    }
}

/// The same intro with every person's text swapped for plain words, and the
/// same fields present: its HTML has exactly the template's own markup.
fn plain(scene: &Scene) -> Scene {
    let mut intro = scene.intro.clone();
    let mut connector = scene.connector.clone();
    connector.name = PersonName::parse("Connie").unwrap();
    intro.reason = Reason::parse("reason").unwrap();
    intro.topic = Topic::parse("topic").unwrap().unwrap();
    intro.note = intro.note.as_ref().and(Note::parse("note").unwrap());
    for p in [&mut intro.requester, &mut intro.target] {
        p.name = PersonName::parse("Pat").unwrap();
        p.blurb = p.blurb.as_ref().and(Blurb::parse("blurb").unwrap());
        p.intro_note = p.intro_note.as_ref().and(Note::parse("note").unwrap());
        p.private_reason = p
            .private_reason
            .as_ref()
            .and(PrivateReason::parse("private").unwrap());
    }
    Scene {
        intro,
        connector,
        smtp_reply: "reply".into(),
    }
}

fn every_email(smtp_reply: &str) -> Vec<OutboxItem> {
    use OutboxKind::*;
    let mut items = Vec::new();
    for recipient in [Recipient::Requester, Recipient::Target] {
        for kind in [Ask, Reminder, Relay, FollowUp] {
            items.push(outbox_item(kind, recipient, json!({})));
        }
    }
    items.push(outbox_item(Introduction, Recipient::BothParties, json!({})));
    for role in ["requester", "target"] {
        for notice in ["declined", "expired", "withdrawn", "opted_out"] {
            items.push(outbox_item(
                Notice,
                Recipient::Connector,
                json!({"notice": notice, "role": role}),
            ));
        }
        items.push(outbox_item(
            Notice,
            Recipient::Connector,
            json!({"notice": "snoozed", "role": role, "until": NOW.as_millis()}),
        ));
    }
    for failed in [
        Recipient::Requester,
        Recipient::Target,
        Recipient::Connector,
        Recipient::BothParties,
    ] {
        items.push(outbox_item(
            Notice,
            Recipient::Connector,
            json!({"notice": "delivery_failed", "failed_kind": "ask",
                   "failed_recipient": failed.as_str(), "reply": smtp_reply}),
        ));
    }
    items
}

struct Built {
    item: OutboxItem,
    rendered: Rendered,
    plain: Rendered,
    raw: Vec<u8>,
}

fn build_all(scene: &Scene) -> Vec<Built> {
    let composer = Composer::new();
    let plain = plain(scene);
    let render = |item: &OutboxItem, scene: &Scene| {
        composer
            .render(
                item,
                &scene.intro,
                &scene.connector,
                &links_for(item.kind),
                EXPIRE_AFTER,
            )
            .unwrap_or_else(|e| panic!("{:?} does not render: {e}", item.kind))
    };
    every_email(&scene.smtp_reply)
        .into_iter()
        .zip(every_email(&plain.smtp_reply))
        .map(|(item, plain_item)| {
            let rendered = render(&item, scene);
            let plain = render(&plain_item, &plain);
            let links = links_for(item.kind);
            let parts = addressed(&item, &scene.intro, &scene.connector, &links, NOW);
            let message = build_message(&parts, &rendered)
                .unwrap_or_else(|e| panic!("{:?} does not build: {e}", item.kind));
            Built {
                raw: message.formatted(),
                item,
                rendered,
                plain,
            }
        })
        .collect()
}

fn mailboxes(address: Option<&Address<'_>>) -> Vec<(String, String)> {
    address
        .map(|a| {
            a.iter()
                .map(|m| {
                    (
                        words(m.name().unwrap_or_default()),
                        m.address().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn boxes(list: &[(&PersonName, &EmailAddress)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, e)| (words(n.as_str()), e.as_str().to_string()))
        .collect()
}

/// Display names compared word by word: lettre may fold a run of spaces
/// inside an encoded word into one, which changes nothing a reader relies on.
fn words(name: &str) -> String {
    name.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn expected_headers(item: &OutboxItem) -> BTreeSet<&'static str> {
    let mut names = BTreeSet::from([
        "from",
        "subject",
        "message-id",
        "date",
        "to",
        "mime-version",
        "content-type",
    ]);
    if item.recipient != Recipient::Connector {
        names.insert("reply-to");
    }
    if item.recipient == Recipient::BothParties {
        names.insert("cc");
    }
    if item.kind != OutboxKind::Introduction {
        names.insert("auto-submitted");
    }
    if matches!(item.kind, OutboxKind::Ask | OutboxKind::Reminder) {
        names.insert("list-unsubscribe");
        names.insert("list-unsubscribe-post");
    }
    names
}

fn parse(built: &Built) -> Result<mail_parser::Message<'_>, TestCaseError> {
    MessageParser::default()
        .parse(&built.raw)
        .ok_or_else(|| TestCaseError::fail(format!("{:?} does not parse", built.item.kind)))
}

fn check_headers_and_recipients(built: &Built, scene: &Scene) -> Result<(), TestCaseError> {
    let (intro, connector) = (&scene.intro, &scene.connector);
    let kind = built.item.kind;
    let message = parse(built)?;
    let names: BTreeSet<String> = message
        .headers()
        .iter()
        .map(|h| h.name().to_ascii_lowercase())
        .collect();
    let expected: BTreeSet<String> = expected_headers(&built.item)
        .into_iter()
        .map(String::from)
        .collect();
    prop_assert_eq!(&names, &expected, "{:?}", kind);
    prop_assert_eq!(message.headers().len(), expected.len(), "a header repeats");
    prop_assert!(message.bcc().is_none());

    let person = |role: Role| (&intro.party(role).name, &intro.party(role).email);
    let connector_box = (&connector.name, &connector.email);
    let both = vec![person(Role::Requester), person(Role::Target)];
    let (to, cc, reply_to) = match built.item.recipient {
        Recipient::Requester => (vec![person(Role::Requester)], vec![], vec![connector_box]),
        Recipient::Target => (vec![person(Role::Target)], vec![], vec![connector_box]),
        Recipient::Connector => (vec![connector_box], vec![], vec![]),
        Recipient::BothParties => (both.clone(), vec![connector_box], both),
    };
    prop_assert_eq!(mailboxes(message.to()), boxes(&to), "To of {:?}", kind);
    prop_assert_eq!(mailboxes(message.cc()), boxes(&cc), "Cc of {:?}", kind);
    prop_assert_eq!(
        mailboxes(message.reply_to()),
        boxes(&reply_to),
        "Reply-To of {:?}",
        kind
    );
    prop_assert_eq!(
        mailboxes(message.from()),
        vec![(words(connector.name.as_str()), MAIL_FROM.to_string())]
    );
    let text = message
        .body_text(0)
        .unwrap_or_default()
        .replace("\r\n", "\n");
    prop_assert_eq!(text, built.rendered.text.replace("\r\n", "\n"));
    Ok(())
}

/// The subject a reader sees is one line, and the one that was rendered.
fn check_subject(built: &Built) -> Result<(), TestCaseError> {
    let message = parse(built)?;
    let subject = message.subject().unwrap_or_default();
    prop_assert!(
        !subject.contains(['\r', '\n', '\u{85}', '\u{2028}', '\u{2029}']),
        "{:?}",
        subject
    );
    prop_assert_eq!(subject, built.rendered.subject.as_str());
    Ok(())
}

fn check_lines(built: &Built) -> Result<(), TestCaseError> {
    let kind = built.item.kind;
    prop_assert!(!built.raw.contains(&0), "{:?}: a NUL byte", kind);
    for line in built.raw.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        prop_assert!(!line.contains(&b'\r'), "{:?}: a bare CR", kind);
        prop_assert!(
            line.len() <= 998,
            "{:?}: a line of {} octets",
            kind,
            line.len()
        );
    }
    let line_feeds = built.raw.iter().filter(|&&b| b == b'\n').count();
    let crlfs = built.raw.windows(2).filter(|w| w == b"\r\n").count();
    prop_assert_eq!(line_feeds, crlfs, "{:?}: a bare LF", kind);
    Ok(())
}

/// Every `&` in the HTML starts an entity: user text cannot leave one open.
fn ampersands_are_entities(html: &str) -> bool {
    html.match_indices('&').all(|(i, _)| {
        let rest = &html[i + 1..];
        let Some(end) = rest.find(';').filter(|&end| end <= 8) else {
            return false;
        };
        let entity = &rest[..end];
        !entity.is_empty()
            && (entity.chars().all(|c| c.is_ascii_lowercase())
                || entity
                    .strip_prefix("#x")
                    .is_some_and(|hex| hex.chars().all(|c| c.is_ascii_hexdigit()))
                || entity
                    .strip_prefix('#')
                    .is_some_and(|dec| dec.chars().all(|c| c.is_ascii_digit())))
    })
}

/// User text the HTML of this email must show, in its escaped form.
fn shown_in_html<'a>(item: &OutboxItem, scene: &'a Scene) -> Vec<&'a str> {
    let (intro, connector) = (&scene.intro, &scene.connector);
    let mut shown = Vec::new();
    if item.kind != OutboxKind::Notice {
        shown.push(connector.name.as_str());
    }
    match (item.kind, item.recipient.role()) {
        (OutboxKind::Ask | OutboxKind::Reminder, Some(role)) => {
            let other = intro.party(role.other());
            shown.push(intro.reason.as_str());
            shown.push(other.name.as_str());
            shown.extend(other.blurb.as_ref().map(|b| b.as_str()));
        }
        (OutboxKind::Introduction, _) => {
            shown.push(
                intro
                    .note
                    .as_ref()
                    .map_or(intro.reason.as_str(), |n| n.as_str()),
            );
            for p in intro.parties() {
                shown.push(p.name.as_str());
                shown.extend(p.blurb.as_ref().map(|b| b.as_str()));
                shown.extend(p.intro_note.as_ref().map(|n| n.as_str()));
            }
        }
        (OutboxKind::Notice, _) => {
            shown.push(intro.topic.as_str());
            if item.payload["notice"] == "delivery_failed" {
                shown.push(&scene.smtp_reply);
            }
            let role = item.payload["role"].as_str().and_then(Role::parse);
            if let Some(role) = role.filter(|_| item.payload["notice"] == "declined") {
                shown.extend(
                    intro
                        .party(role)
                        .private_reason
                        .as_ref()
                        .map(|r| r.as_str()),
                );
            }
        }
        _ => {}
    }
    shown
}

fn check_html(built: &Built, scene: &Scene) -> Result<(), TestCaseError> {
    let kind = built.item.kind;
    let message = parse(built)?;
    let html = message
        .body_html(0)
        .unwrap_or_default()
        .replace("\r\n", "\n");
    prop_assert_eq!(
        &html,
        &built.rendered.html.replace("\r\n", "\n"),
        "{:?}",
        kind
    );
    for markup in ['<', '>', '"', '\''] {
        prop_assert_eq!(
            html.matches(markup).count(),
            built.plain.html.matches(markup).count(),
            "{:?}: a raw {:?} from user text",
            kind,
            markup
        );
    }
    prop_assert!(!html.to_ascii_lowercase().contains("<script"));
    prop_assert!(ampersands_are_entities(&html), "{:?}: a bare &", kind);
    for text in shown_in_html(&built.item, scene) {
        let escaped = HtmlEscape(text).to_string().replace("\r\n", "\n");
        prop_assert!(
            html.contains(&escaped),
            "{:?} does not show {:?} escaped",
            kind,
            text
        );
        if text.contains("<script>") {
            prop_assert!(html.contains("&lt;script&gt;"));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn user_text_never_adds_a_header_or_a_recipient(typed in typed()) {
        let scene = scene(&typed);
        for built in build_all(&scene) {
            check_headers_and_recipients(&built, &scene)?;
            check_subject(&built)?;
        }
    }

    #[test]
    fn every_line_of_every_message_fits_in_998_octets(typed in typed()) {
        let scene = scene(&typed);
        for built in build_all(&scene) {
            check_lines(&built)?;
        }
    }

    #[test]
    fn user_markup_reaches_the_html_only_escaped(typed in typed()) {
        let scene = scene(&typed);
        for built in build_all(&scene) {
            check_html(&built, &scene)?;
        }
    }
}

#[test]
fn the_issue_examples_cannot_inject_anything() {
    let nasty = "Ann <script>alert(1)</script>\r\nBcc: x@y.z\u{2028}\u{2029}\0 \"q\" > end";
    let typed = Typed {
        connector: ("Bcc: x@y.z".into(), "connie@example.com".into()),
        requester: (
            "Rita: Bcc: x@y.z".into(),
            "rita@example.org".into(),
            nasty.replace('\0', ""),
            "<b>note</b>\nBcc: x@y.z".into(),
        ),
        target: (
            "Tom, Target; (x@y.z)".into(),
            "tom@example.net".into(),
            "é".repeat(1200),
            "😀".repeat(1000),
        ),
        reason: format!(
            "<script>alert(1)</script>\r\nBcc: x@y.z\n{}",
            "a".repeat(1900)
        ),
        topic: "Bcc: x@y.z <script>".into(),
        connector_note: "&amp; & &#60; </p>".into(),
        private_reason: "<script>secret</script>\u{2028}Bcc: x@y.z".into(),
        smtp_reply: "550 <tom@example.net>\r\nBcc: x@y.z\0 <script>".into(),
    };
    let scene = scene(&typed);
    assert_eq!(
        scene.connector.name.as_str(),
        "Bcc: x@y.z",
        "the name was accepted"
    );
    assert!(scene.intro.reason.as_str().starts_with("<script>"));
    for built in build_all(&scene) {
        check_headers_and_recipients(&built, &scene).unwrap();
        check_subject(&built).unwrap();
        check_lines(&built).unwrap();
        check_html(&built, &scene).unwrap();
    }
}

/// RFC 2047 encoded words typed as plain text. A reader decodes them, so
/// unless the mailer encodes such text the reader sees something else: here
/// a line break and a `Bcc:` line, which no parser lets into a name.
const ENCODED_WORD: &str = "=?utf-8?q?x=0D=0ABcc:_x@y.z?=";

fn encoded_words_everywhere() -> Scene {
    let party = |name: &str, email: &str| (name.into(), email.into(), String::new(), String::new());
    let scene = scene(&Typed {
        connector: (ENCODED_WORD.into(), "connie@example.com".into()),
        requester: party(ENCODED_WORD, "rita@example.org"),
        target: party("Tom =?utf-8?b?PEV2ZT4=?=", "tom@example.net"),
        reason: ENCODED_WORD.into(),
        topic: ENCODED_WORD.into(),
        connector_note: String::new(),
        private_reason: String::new(),
        smtp_reply: ENCODED_WORD.into(),
    });
    assert_eq!(
        scene.intro.requester.name.as_str(),
        ENCODED_WORD,
        "accepted"
    );
    assert_eq!(scene.intro.topic.as_str(), ENCODED_WORD, "accepted");
    scene
}

#[test]
fn a_typed_encoded_word_in_a_display_name_reads_as_typed() {
    let scene = encoded_words_everywhere();
    for built in build_all(&scene) {
        check_headers_and_recipients(&built, &scene).unwrap();
        check_lines(&built).unwrap();
    }
}

#[test]
fn a_typed_encoded_word_in_the_subject_reads_as_typed() {
    let scene = encoded_words_everywhere();
    for built in build_all(&scene) {
        check_subject(&built).unwrap();
    }
}
