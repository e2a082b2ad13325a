//! Rendering tests: escaping, one-line subjects, and relays that never
//! depend on why an intro closed.

use std::time::Duration;

use serde_json::json;

use super::{Composer, Links};
use crate::domain::{
    Blurb, Consent, EmailAddress, Handle, Intro, IntroStatus, Mode, Party, PersonName, Reason,
    Role, Timestamp, Topic,
};
use crate::store::{Connector, OutboxItem, OutboxKind, Recipient};

const WEEK: Duration = Duration::from_secs(7 * 86_400);

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

fn intro(reason: &str, blurb: &str) -> Intro {
    let reason = Reason::parse(reason).unwrap();
    let mut requester = Party::new(
        Role::Requester,
        PersonName::parse("Rita Requester").unwrap(),
        EmailAddress::parse("rita@example.org").unwrap(),
        Blurb::parse(blurb).unwrap(),
    );
    requester.ask_count = 1;
    let mut target = Party::new(
        Role::Target,
        PersonName::parse("Tom Target").unwrap(),
        EmailAddress::parse("tom@example.net").unwrap(),
        None,
    );
    target.consent = Consent::Asked;
    target.asked_at = Some(Timestamp::from_millis(1_796_119_200_000));
    target.ask_count = 1;
    Intro {
        id: "i1".into(),
        connector_id: "c1".into(),
        mode: Mode::Parallel,
        status: IntroStatus::Asking,
        topic: Topic::from_reason(&reason),
        reason,
        note: None,
        requester,
        target,
        created_at: Timestamp::from_millis(1_796_119_200_000),
        closed_at: None,
    }
}

fn item(kind: OutboxKind, recipient: Recipient, payload: serde_json::Value) -> OutboxItem {
    OutboxItem {
        id: "o1".into(),
        intro_id: "i1".into(),
        connector_id: "c1".into(),
        kind,
        recipient,
        payload,
        message_id: "<o1@example.com>".into(),
        status: "pending".into(),
        attempts: 0,
        not_before: Timestamp::from_millis(1_796_119_200_000),
        last_error: None,
        sent_at: None,
    }
}

fn links() -> Links {
    Links {
        decision_url: Some("https://intros.example/o/TOKEN".into()),
        unsubscribe_url: Some("https://intros.example/u/UNSUB".into()),
        follow_up_url: Some("https://intros.example/f/FOLLOW".into()),
        preferences_url: Some("https://intros.example/p/PREFS".into()),
    }
}

#[test]
fn user_text_is_escaped_in_html_and_kept_in_text() {
    let composer = Composer::new();
    let intro = intro(
        "You both like <script>alert(1)</script> & \"quotes\"",
        "<img src=x onerror=alert(1)> I build sensors",
    );
    let ask = composer
        .render(
            &item(OutboxKind::Ask, Recipient::Target, json!({})),
            &intro,
            &connector(),
            &links(),
            WEEK,
        )
        .unwrap();
    assert!(!ask.html.contains("<script>"), "{}", ask.html);
    assert!(!ask.html.contains("<img"), "{}", ask.html);
    assert!(ask.html.contains("&lt;script&gt;"));
    assert!(
        ask.text.contains("<script>alert(1)</script>"),
        "the text part is plain text"
    );
    assert!(ask.text.contains("https://intros.example/o/TOKEN"));
    assert!(
        ask.text.contains("gave your address to twoyes"),
        "GDPR Art. 14: where the address came from"
    );
    assert!(ask.text.contains("https://intros.example/u/UNSUB"));
}

#[test]
fn every_subject_is_one_line_whatever_the_input() {
    let composer = Composer::new();
    let intro = intro("Line one\nLine two\n\nBcc: evil@example.com", "");
    for (kind, recipient, payload) in [
        (OutboxKind::Ask, Recipient::Target, json!({})),
        (OutboxKind::Reminder, Recipient::Target, json!({})),
        (OutboxKind::Introduction, Recipient::BothParties, json!({})),
        (OutboxKind::Relay, Recipient::Requester, json!({})),
        (
            OutboxKind::Notice,
            Recipient::Connector,
            json!({"notice": "declined", "role": "target"}),
        ),
        (OutboxKind::FollowUp, Recipient::Target, json!({})),
    ] {
        let email = composer
            .render(
                &item(kind, recipient, payload),
                &intro,
                &connector(),
                &links(),
                WEEK,
            )
            .unwrap();
        assert!(
            !email.subject.contains(['\r', '\n']),
            "{kind:?}: {:?}",
            email.subject
        );
        assert!(!email.subject.is_empty());
        assert!(!email.text.trim().is_empty() && !email.html.trim().is_empty());
    }
}

#[test]
fn a_relay_reads_the_same_however_the_intro_closed() {
    let composer = Composer::new();
    let relay = item(OutboxKind::Relay, Recipient::Requester, json!({}));
    let mut rendered = Vec::new();
    for status in [
        IntroStatus::Declined,
        IntroStatus::Expired,
        IntroStatus::Cancelled,
    ] {
        let mut closed = intro("A reason", "A blurb");
        closed.status = status;
        closed.closed_at = Some(Timestamp::from_millis(1_796_200_000_000));
        closed.target.consent = match status {
            IntroStatus::Declined => Consent::Declined,
            IntroStatus::Expired => Consent::Expired,
            _ => Consent::Asked,
        };
        closed.target.private_reason =
            crate::domain::PrivateReason::parse("secret reason").unwrap();
        rendered.push(
            composer
                .render(&relay, &closed, &connector(), &links(), WEEK)
                .unwrap(),
        );
    }
    assert!(rendered.windows(2).all(|w| w[0] == w[1]));
    assert!(!rendered[0].text.contains("secret reason"));
}

#[test]
fn the_connector_notice_carries_the_private_reason() {
    let composer = Composer::new();
    let mut closed = intro("A reason", "A blurb");
    closed.target.private_reason =
        crate::domain::PrivateReason::parse("Too busy until spring").unwrap();
    let notice = item(
        OutboxKind::Notice,
        Recipient::Connector,
        json!({"notice": "declined", "role": "target"}),
    );
    let email = composer
        .render(&notice, &closed, &connector(), &links(), WEEK)
        .unwrap();
    assert!(email.subject.contains("Tom Target said no"));
    assert!(email.text.contains("Too busy until spring"));
}

#[test]
fn a_failed_delivery_notice_names_the_address_and_the_reply() {
    let composer = Composer::new();
    let notice = item(
        OutboxKind::Notice,
        Recipient::Connector,
        json!({"notice": "delivery_failed", "failed_kind": "ask", "failed_recipient": "target",
               "reply": "550 5.1.1 <tom@example.net>: no such user"}),
    );
    let email = composer
        .render(
            &notice,
            &intro("A reason", "A blurb"),
            &connector(),
            &links(),
            WEEK,
        )
        .unwrap();
    assert_eq!(
        email.subject,
        "An email to Tom Target <tom@example.net> could not be delivered"
    );
    assert!(
        email
            .text
            .contains("550 5.1.1 <tom@example.net>: no such user")
    );
    assert!(
        email
            .html
            .contains("550 5.1.1 &lt;tom@example.net&gt;: no such user")
    );
}
