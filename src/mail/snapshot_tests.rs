//! Captured-email snapshots: every email, rendered and built, compared with
//! `snapshots/<name>.snap`, so that a wording change is a reviewed diff.
//! `TWOYES_UPDATE_SNAPSHOTS=1 cargo test --lib mail::snapshot_tests` rewrites
//! the files instead of comparing them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use super::{Composer, Links, MessageParts, Rendered, build_message};
use crate::domain::{
    Blurb, Consent, EmailAddress, Handle, Intro, IntroStatus, Mode, Note, Party, PersonName,
    PrivateReason, Reason, Role, Timestamp, Topic,
};
use crate::store::{Connector, OutboxItem, OutboxKind, Recipient};

pub(super) const EXPIRE_AFTER: Duration = Duration::from_secs(7 * 86_400);
pub(super) const MAIL_FROM: &str = "twoyes@intros.example";
/// Tuesday 1 December 2026, 10:00 UTC: when the asks went out.
const ASKED_AT: Timestamp = Timestamp::from_millis(1_796_119_200_000);
const SENT_AT: Timestamp = Timestamp::from_millis(1_796_122_800_000);

/// The links the worker puts in each kind of email, with fixed tokens.
pub(super) fn links_for(kind: OutboxKind) -> Links {
    let mut links = Links::default();
    if matches!(
        kind,
        OutboxKind::Ask | OutboxKind::Reminder | OutboxKind::Relay | OutboxKind::FollowUp
    ) {
        links.preferences_url = Some("https://intros.example/p/PREFERENCES".into());
    }
    match kind {
        OutboxKind::Ask | OutboxKind::Reminder => {
            links.decision_url = Some("https://intros.example/o/TOKEN".into());
            links.unsubscribe_url = Some("https://intros.example/u/UNSUBSCRIBE".into());
        }
        OutboxKind::FollowUp => {
            links.follow_up_url = Some("https://intros.example/f/FOLLOW_UP".into());
        }
        _ => {}
    }
    links
}

pub(super) fn outbox_item(
    kind: OutboxKind,
    recipient: Recipient,
    payload: serde_json::Value,
) -> OutboxItem {
    OutboxItem {
        id: "o1".into(),
        intro_id: "i1".into(),
        connector_id: "c1".into(),
        kind,
        recipient,
        payload,
        message_id: format!("<{}-{}@intros.example>", kind.as_str(), recipient.as_str()),
        status: "pending".into(),
        attempts: 0,
        not_before: ASKED_AT,
        last_error: None,
        sent_at: None,
    }
}

/// Addresses an email the way the worker does: a party's email comes from
/// the connector's name and goes to that party, replies to the connector;
/// the introduction goes to both, Cc the connector; a notice goes to the
/// connector alone.
pub(super) fn addressed<'a>(
    item: &'a OutboxItem,
    intro: &'a Intro,
    connector: &'a Connector,
    links: &Links,
    date: Timestamp,
) -> MessageParts<'a> {
    let connector_box = (connector.name.as_str(), &connector.email);
    let party_box = |role: Role| {
        let p = intro.party(role);
        (p.name.as_str(), &p.email)
    };
    let (to, cc, reply_to) = match item.recipient {
        Recipient::Requester => (
            vec![party_box(Role::Requester)],
            vec![],
            vec![connector_box],
        ),
        Recipient::Target => (vec![party_box(Role::Target)], vec![], vec![connector_box]),
        Recipient::Connector => (vec![connector_box], vec![], vec![]),
        Recipient::BothParties => {
            let both = vec![party_box(Role::Requester), party_box(Role::Target)];
            (both.clone(), vec![connector_box], both)
        }
    };
    MessageParts {
        message_id: &item.message_id,
        from_name: connector.name.as_str(),
        from_address: MAIL_FROM,
        to,
        cc,
        reply_to,
        auto_submitted: item.kind != OutboxKind::Introduction,
        list_unsubscribe: links.unsubscribe_url.clone(),
        list_unsubscribe_mailto: links.unsubscribe_url.as_ref().map(|_| {
            format!(
                "mailto:{}?subject=Please%20stop%20sending%20me%20intro%20requests",
                connector.email
            )
        }),
        date,
    }
}

fn connector() -> Connector {
    Connector {
        id: "c1".into(),
        email: EmailAddress::parse("connie@example.com").unwrap(),
        name: PersonName::parse("Connie Connector").unwrap(),
        handle: Handle::parse("connie").ok(),
        is_admin: false,
        created_at: Timestamp::from_millis(0),
    }
}

/// Rita asked Connie, through the request page, to meet Tom; Connie has
/// asked Tom.
fn intro() -> Intro {
    let reason = Reason::parse(
        "You both build tools for small farms.\n\nRita is working on soil sensors and Tom ran the co-op pilot last spring.",
    )
    .unwrap();
    let mut requester = Party::new(
        Role::Requester,
        PersonName::parse("Rita Requester").unwrap(),
        EmailAddress::parse("rita@example.org").unwrap(),
        Blurb::parse("I design low-cost soil sensors and would love to hear how the pilot went.")
            .unwrap(),
    );
    requester.consent = Consent::Accepted;
    requester.consent_on_record_at = Some(ASKED_AT);
    let mut target = Party::new(
        Role::Target,
        PersonName::parse("Tom Target").unwrap(),
        EmailAddress::parse("tom@example.net").unwrap(),
        None,
    );
    target.consent = Consent::Asked;
    target.asked_at = Some(ASKED_AT);
    target.ask_count = 1;
    Intro {
        id: "i1".into(),
        connector_id: "c1".into(),
        mode: Mode::TargetFirst,
        status: IntroStatus::Asking,
        topic: Topic::from_reason(&reason),
        reason,
        note: None,
        requester,
        target,
        created_at: ASKED_AT,
        closed_at: None,
    }
}

fn closed(status: IntroStatus, consent: Consent) -> Intro {
    let mut intro = intro();
    intro.status = status;
    intro.target.consent = consent;
    intro.closed_at = Some(SENT_AT);
    intro
}

struct Case {
    name: &'static str,
    item: OutboxItem,
    intro: Intro,
}

fn case(name: &'static str, kind: OutboxKind, recipient: Recipient, intro: Intro) -> Case {
    Case {
        name,
        item: outbox_item(kind, recipient, json!({})),
        intro,
    }
}

fn notice(name: &'static str, payload: serde_json::Value, intro: Intro) -> Case {
    Case {
        name,
        item: outbox_item(OutboxKind::Notice, Recipient::Connector, payload),
        intro,
    }
}

fn every_email() -> Vec<Case> {
    use OutboxKind::*;

    let mut asked_back = intro();
    asked_back.mode = Mode::Parallel;
    asked_back.requester.consent = Consent::Asked;
    asked_back.requester.consent_on_record_at = None;
    asked_back.requester.asked_at = Some(ASKED_AT);
    asked_back.requester.ask_count = 1;

    let mut introduced = intro();
    introduced.status = IntroStatus::Introduced;
    introduced.target.consent = Consent::Accepted;
    introduced.note = Note::parse("Rita, Tom: I think you will get on. Coffee is on me.").unwrap();
    introduced.requester.intro_note = Note::parse("Any Tuesday works for me.").unwrap();
    introduced.target.intro_note =
        Note::parse("Book a slot: https://cal.example/tom\nMornings are best.").unwrap();

    let mut declined_with_reason = closed(IntroStatus::Declined, Consent::Declined);
    declined_with_reason.target.private_reason =
        PrivateReason::parse("Too busy until spring.\nHappy to talk after March.").unwrap();

    let mut both_expired = closed(IntroStatus::Expired, Consent::Expired);
    both_expired.mode = Mode::Parallel;
    both_expired.requester.consent = Consent::Expired;
    both_expired.requester.asked_at = Some(ASKED_AT);
    both_expired.requester.ask_count = 1;

    let mut snoozed = intro();
    snoozed.status = IntroStatus::Snoozed;
    snoozed.target.consent = Consent::Snoozed;
    let until = Timestamp::from_millis(1_798_797_600_000);
    snoozed.target.snooze_until = Some(until);

    let mut withdrawn = closed(IntroStatus::Declined, Consent::Asked);
    withdrawn.requester.consent = Consent::Withdrawn;

    let mut markup = intro();
    markup.reason =
        Reason::parse("You both like <script>alert(1)</script> & \"quotes\" & 'apostrophes'")
            .unwrap();
    markup.topic = Topic::from_reason(&markup.reason);
    markup.requester.blurb =
        Blurb::parse("<img src=x onerror=alert(1)> I build </p>sensors").unwrap();

    vec![
        case("ask_to_target", Ask, Recipient::Target, intro()),
        case("ask_to_requester", Ask, Recipient::Requester, asked_back),
        case("reminder_to_target", Reminder, Recipient::Target, intro()),
        case("ask_escapes_user_markup", Ask, Recipient::Target, markup),
        case(
            "introduction",
            Introduction,
            Recipient::BothParties,
            introduced.clone(),
        ),
        case(
            "relay_to_requester",
            Relay,
            Recipient::Requester,
            closed(IntroStatus::Declined, Consent::Declined),
        ),
        notice(
            "notice_declined_with_private_reason",
            json!({"notice": "declined", "role": "target"}),
            declined_with_reason,
        ),
        notice(
            "notice_declined_without_reason",
            json!({"notice": "declined", "role": "target"}),
            closed(IntroStatus::Declined, Consent::Declined),
        ),
        notice(
            "notice_expired",
            json!({"notice": "expired", "role": "target"}),
            closed(IntroStatus::Expired, Consent::Expired),
        ),
        notice(
            "notice_both_expired",
            json!({"notice": "expired", "role": "target"}),
            both_expired,
        ),
        notice(
            "notice_snoozed",
            json!({"notice": "snoozed", "role": "target", "until": until.as_millis()}),
            snoozed,
        ),
        notice(
            "notice_withdrawn",
            json!({"notice": "withdrawn", "role": "requester"}),
            withdrawn,
        ),
        notice(
            "notice_opted_out",
            json!({"notice": "opted_out", "role": "target"}),
            closed(IntroStatus::Declined, Consent::Declined),
        ),
        notice(
            "notice_delivery_failed",
            json!({"notice": "delivery_failed", "failed_kind": "ask", "failed_recipient": "target",
                   "reply": "550 5.1.1 <tom@example.net>: no such user"}),
            intro(),
        ),
        case(
            "follow_up_to_requester",
            FollowUp,
            Recipient::Requester,
            introduced,
        ),
    ]
}

/// The boundary is random per message; everything else is fixed by the inputs.
fn redact_boundary(raw: &str) -> String {
    let Some(start) = raw.find("boundary=\"").map(|i| i + "boundary=\"".len()) else {
        return raw.to_string();
    };
    let Some(len) = raw[start..].find('"') else {
        return raw.to_string();
    };
    raw.replace(&raw[start..start + len], "[BOUNDARY]")
}

/// The message's own headers and each part's headers, without the bodies
/// (those are shown decoded, below them).
fn header_blocks(raw: &str) -> String {
    let raw = raw.replace("\r\n", "\n");
    let mut out = String::new();
    let (top, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    out.push_str(top);
    out.push('\n');
    let delimiter = "--[BOUNDARY]\n";
    for part in body.split(delimiter).skip(1) {
        let (headers, _) = part.split_once("\n\n").unwrap_or((part, ""));
        out.push_str("\n-- part --\n");
        out.push_str(headers);
        out.push('\n');
    }
    out
}

fn snapshot(rendered: &Rendered, raw_message: &str) -> String {
    let raw = redact_boundary(raw_message);
    format!(
        "subject: {}\n\n==== headers ====\n{}\n==== text ====\n{}\n==== html ====\n{}\n",
        rendered.subject,
        header_blocks(&raw),
        rendered.text.trim_end(),
        rendered.html.trim_end(),
    )
}

fn render(case: &Case) -> String {
    let composer = Composer::new();
    let connector = connector();
    let links = links_for(case.item.kind);
    let rendered = composer
        .render(&case.item, &case.intro, &connector, &links, EXPIRE_AFTER)
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let parts = addressed(&case.item, &case.intro, &connector, &links, SENT_AT);
    let message = build_message(&parts, &rendered).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    snapshot(&rendered, &String::from_utf8_lossy(&message.formatted()))
}

fn snapshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/mail/snapshots")
}

/// A line diff from the longest common subsequence: `-` expected, `+` actual,
/// with two lines of context around each change.
fn line_diff(expected: &str, actual: &str) -> String {
    const CONTEXT: usize = 2;
    let old: Vec<&str> = expected.lines().collect();
    let new: Vec<&str> = actual.lines().collect();
    let mut lcs = vec![vec![0usize; new.len() + 1]; old.len() + 1];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            lcs[i][j] = if old[i] == new[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut lines) = (0, 0, Vec::new());
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            lines.push((' ', old[i]));
            (i, j) = (i + 1, j + 1);
        } else if i < old.len() && (j == new.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            lines.push(('-', old[i]));
            i += 1;
        } else {
            lines.push(('+', new[j]));
            j += 1;
        }
    }
    let changed: Vec<usize> = (0..lines.len()).filter(|&k| lines[k].0 != ' ').collect();
    let near = |k: usize| changed.iter().any(|&c| k.abs_diff(c) <= CONTEXT);
    let mut out = String::new();
    for (k, (sign, line)) in lines.iter().enumerate() {
        if near(k) {
            out.push_str(&format!("{sign} {line}\n"));
        } else if near(k + 1) {
            out.push_str("  ...\n");
        }
    }
    out
}

#[test]
fn every_email_matches_its_snapshot() {
    let update = std::env::var("TWOYES_UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1");
    let dir = snapshot_dir();
    let mut failures = Vec::new();
    for case in every_email() {
        let actual = render(&case);
        let path = dir.join(format!("{}.snap", case.name));
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &actual).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => failures.push(format!(
                "{} differs (- snapshot, + now):\n{}",
                path.display(),
                line_diff(&expected, &actual)
            )),
            Err(e) => failures.push(format!("{}: {e}", path.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "{}\nIf the change is intended, run with TWOYES_UPDATE_SNAPSHOTS=1 and review the diff.",
        failures.join("\n")
    );
}

#[test]
fn every_snapshot_file_belongs_to_an_email() {
    let names: Vec<String> = every_email()
        .iter()
        .map(|c| format!("{}.snap", c.name))
        .collect();
    let Ok(entries) = std::fs::read_dir(snapshot_dir()) else {
        return;
    };
    for entry in entries {
        let file = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(names.contains(&file), "stale snapshot {file}: delete it");
    }
}

#[test]
fn a_line_diff_marks_what_changed() {
    assert_eq!(line_diff("a\nb\nc", "a\nx\nc"), "  a\n- b\n+ x\n  c\n");
    let long = "1\n2\n3\n4\n5\n6\n7";
    assert_eq!(
        line_diff(long, &long.replace('6', "six")),
        "  ...\n  4\n  5\n- 6\n+ six\n  7\n"
    );
}
