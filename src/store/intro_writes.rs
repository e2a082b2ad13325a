//! The writes of intro use cases, gathered into one `Statements` so each use
//! case sends them together (see `statements`): a new intro as it stands
//! after its start, a changed intro, and a transition's event, emails and
//! link tokens.

use super::outbox_plan::{plan, token_hash};
use super::rows::search_terms;
use super::sql::new_id;
use super::statements::{Statements, Value};
use crate::domain::machine::{Context, Transition};
use crate::domain::{Intro, Party, Timestamp};

const PARTY_COLUMNS: usize = 18;

fn millis(t: Option<Timestamp>) -> Value {
    t.map(Timestamp::as_millis).into()
}

/// A party's row, in the column order of `insert_intro`.
fn party_values(intro: &Intro, p: &Party) -> Vec<Value> {
    vec![
        intro.id.as_str().into(),
        p.role.as_str().into(),
        p.name.as_str().into(),
        p.email.as_str().into(),
        p.email.normalized().into(),
        p.blurb.as_ref().map(|b| b.as_str().to_string()).into(),
        p.consent.as_str().into(),
        millis(p.consent_on_record_at),
        millis(p.asked_at),
        i64::from(p.ask_count).into(),
        i64::from(p.reminded).into(),
        millis(p.decided_at),
        millis(p.undo_until),
        millis(p.snooze_until),
        i64::from(p.has_snoozed).into(),
        p.intro_note.as_ref().map(|n| n.as_str().to_string()).into(),
        p.private_reason
            .as_ref()
            .map(|r| r.as_str().to_string())
            .into(),
        intro.created_at.as_millis().into(),
    ]
}

/// A new intro, its two parties, their contacts and its search terms.
pub(super) fn insert_intro(w: &mut Statements, intro: &Intro, due_at: Option<Timestamp>) {
    w.push(
        "insert into intros (intro_id, connector_id, mode, status, reason, topic, note, due_at, created_at, updated_at, closed_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)",
        vec![
            intro.id.as_str().into(),
            intro.connector_id.as_str().into(),
            intro.mode.as_str().into(),
            intro.status.as_str().into(),
            intro.reason.as_str().into(),
            intro.topic.as_str().into(),
            intro.note.as_ref().map(|n| n.as_str().to_string()).into(),
            millis(due_at),
            intro.created_at.as_millis().into(),
            millis(intro.closed_at),
        ],
    );
    w.push(
        format!(
            "insert into parties (intro_id, role, name, email, email_key, blurb, consent, consent_on_record_at,
                 asked_at, ask_count, reminded, decided_at, undo_until, snooze_until, has_snoozed, intro_note,
                 private_reason, created_at)
             values {}",
            value_rows(2, PARTY_COLUMNS, "")
        ),
        intro
            .parties()
            .into_iter()
            .flat_map(|p| party_values(intro, p))
            .collect(),
    );
    super::contacts::record_parties(w, intro);
    let terms = search_terms(intro);
    w.push(
        format!(
            "insert into intro_search (connector_id, term, intro_id) values {}",
            value_rows(terms.len(), 3, "")
        ),
        terms
            .into_iter()
            .flat_map(|term| {
                [
                    intro.connector_id.as_str().into(),
                    term.into(),
                    intro.id.as_str().into(),
                ]
            })
            .collect(),
    );
}

/// The update of an intro's own row, which counts one more version; with
/// `version`, only while the row is still at that version.
pub(super) fn intro_update(
    intro: &Intro,
    due_at: Option<Timestamp>,
    now: Timestamp,
    version: Option<i64>,
) -> (String, Vec<Value>) {
    let mut sql = "update intros set status = $1, due_at = $2, updated_at = $3, closed_at = $4,
             version = version + 1
         where intro_id = $5"
        .to_string();
    let mut values = vec![
        intro.status.as_str().into(),
        millis(due_at),
        now.as_millis().into(),
        millis(intro.closed_at),
        intro.id.as_str().into(),
    ];
    if let Some(version) = version {
        sql.push_str(" and version = $6");
        values.push(version.into());
    }
    (sql, values)
}

/// The parties that changed since `before` (names and texts never change
/// in a transition).
pub(super) fn save_parties(w: &mut Statements, intro: &Intro, before: &Intro) {
    for p in intro.parties() {
        if before.party(p.role) == p {
            continue;
        }
        w.push(
            "update parties set consent = $1, asked_at = $2, ask_count = $3, reminded = $4, decided_at = $5,
                 undo_until = $6, snooze_until = $7, has_snoozed = $8, intro_note = $9, private_reason = $10
             where intro_id = $11 and role = $12",
            vec![
                p.consent.as_str().into(),
                millis(p.asked_at),
                i64::from(p.ask_count).into(),
                i64::from(p.reminded).into(),
                millis(p.decided_at),
                millis(p.undo_until),
                millis(p.snooze_until),
                i64::from(p.has_snoozed).into(),
                p.intro_note.as_ref().map(|n| n.as_str().to_string()).into(),
                p.private_reason.as_ref().map(|r| r.as_str().to_string()).into(),
                intro.id.as_str().into(),
                p.role.as_str().into(),
            ],
        );
    }
}

/// The transition's one event, its emails (outbox rows) and their link
/// tokens (only hashes).
pub(super) fn record_transition(
    w: &mut Statements,
    t: &Transition,
    ctx: &Context,
    token_secret: &[u8],
    message_id_domain: &str,
) {
    let e = &t.event;
    w.push(
        "insert into events (event_id, intro_id, kind, actor, role, channel, text_hash, status_after, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        vec![
            new_id().into(),
            t.intro.id.as_str().into(),
            e.kind.as_str().into(),
            e.actor.as_str().into(),
            e.role.map(|r| r.as_str()).into(),
            e.channel.as_str().into(),
            e.text_hash.clone().into(),
            e.status_after.as_str().into(),
            e.at.as_millis().into(),
        ],
    );
    if t.effects.is_empty() {
        return;
    }
    let emails: Vec<_> = t
        .effects
        .iter()
        .map(|effect| (new_id(), plan(effect, ctx.now)))
        .collect();
    let mut rows = Vec::new();
    let mut tokens = Vec::new();
    for (outbox_id, email) in &emails {
        // Random, not the time-ordered row id: a relay's Message-ID must
        // not tell when the intro closed.
        let message_id = format!("<{}@{message_id_domain}>", uuid::Uuid::new_v4().simple());
        rows.extend([
            outbox_id.into(),
            t.intro.id.as_str().into(),
            t.intro.connector_id.as_str().into(),
            email.kind.as_str().into(),
            email.recipient.as_str().into(),
            email.payload.to_string().into(),
            message_id.into(),
            email.not_before.as_millis().into(),
            ctx.now.as_millis().into(),
        ]);
        for (purpose, role, expires_at) in &email.tokens {
            tokens.extend([
                token_hash(token_secret, *purpose, outbox_id).into(),
                t.intro.id.as_str().into(),
                role.as_str().into(),
                purpose.as_str().into(),
                outbox_id.into(),
                expires_at.as_millis().into(),
                ctx.now.as_millis().into(),
            ]);
        }
    }
    w.push(
        format!(
            "insert into outbox (outbox_id, intro_id, connector_id, kind, recipient, payload, message_id,
                 not_before, created_at, status, attempts)
             values {}",
            value_rows(emails.len(), 9, "'pending', 0")
        ),
        rows,
    );
    if !tokens.is_empty() {
        w.push(
            format!(
                "insert into party_tokens (token_hash, intro_id, role, purpose, outbox_id, expires_at, created_at)
                 values {}",
                value_rows(tokens.len() / 7, 7, "")
            ),
            tokens,
        );
    }
}

/// `($1, $2, $3), ($4, $5, $6)…`: placeholders for a multi-row insert, with
/// the same `literals` (e.g. `'pending', 0`) after them in every row.
fn value_rows(rows: usize, columns: usize, literals: &str) -> String {
    (0..rows)
        .map(|r| {
            let mut cells: Vec<String> = (1..=columns)
                .map(|c| format!("${}", r * columns + c))
                .collect();
            if !literals.is_empty() {
                cells.push(literals.to_string());
            }
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}
