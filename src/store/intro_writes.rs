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
    let mut values = vec![
        intro.id.as_str().into(),
        p.role.as_str().into(),
        p.name.as_str().into(),
        p.email.as_str().into(),
        p.email.normalized().into(),
        p.blurb.as_ref().map(|b| b.as_str().to_string()).into(),
        millis(p.consent_on_record_at),
    ];
    values.extend(party_state(p));
    values.push(intro.created_at.as_millis().into());
    values
}

/// What a transition may change of a party, in the column order of
/// `PARTY_UPDATE` (and of `insert_intro`, after `consent_on_record_at`).
fn party_state(p: &Party) -> [Value; 10] {
    [
        p.consent.as_str().into(),
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
    ]
}

/// A new intro, its two parties, their contacts and its search terms (its
/// due time is among its transition's rows).
pub(super) fn insert_intro(w: &mut Statements, intro: &Intro) {
    w.push(
        "insert into intros (intro_id, connector_id, mode, status, reason, topic, note, created_at, updated_at, closed_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)",
        vec![
            intro.id.as_str().into(),
            intro.connector_id.as_str().into(),
            intro.mode.as_str().into(),
            intro.status.as_str().into(),
            intro.reason.as_str().into(),
            intro.topic.as_str().into(),
            intro.note.as_ref().map(|n| n.as_str().to_string()).into(),
            intro.created_at.as_millis().into(),
            millis(intro.closed_at),
        ],
    );
    w.push(
        format!(
            "insert into parties (intro_id, role, name, email, email_key, blurb, consent_on_record_at, consent,
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
    now: Timestamp,
    version: Option<i64>,
) -> (String, Vec<Value>) {
    let mut sql = "update intros set status = $1, updated_at = $2, closed_at = $3,
             version = version + 1
         where intro_id = $4"
        .to_string();
    let mut values = vec![
        intro.status.as_str().into(),
        now.as_millis().into(),
        millis(intro.closed_at),
        intro.id.as_str().into(),
    ];
    if let Some(version) = version {
        sql.push_str(" and version = $5");
        values.push(version.into());
    }
    (sql, values)
}

/// What a transition writes besides its intro's own row, as rows of values
/// in the column orders of `PARTY_UPDATE`, `EVENT_INSERT`, `OUTBOX_COLUMNS`
/// and `TOKEN_COLUMNS`: sent as statements (`push_to`), or several
/// transitions' rows at once (`guarded_batches`).
#[derive(Debug)]
pub(super) struct TransitionRows {
    /// The parties that changed (names and texts never change in a
    /// transition); none for an intro inserted as it stands.
    pub(super) parties: Vec<Vec<Value>>,
    /// The transition's one event.
    pub(super) event: Vec<Value>,
    /// Its emails (outbox rows)…
    pub(super) outbox: Vec<Vec<Value>>,
    /// …and their link tokens (only hashes).
    pub(super) tokens: Vec<Vec<Value>>,
    /// When the workers next have something to do for the intro.
    pub(super) due: Due,
}

/// An intro's next due time, kept in `intro_due`, a table of its own so that
/// a decision's update of `intros` changes none of its indexed columns (see
/// the migration `intro_due`).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Due {
    pub(super) intro_id: String,
    pub(super) at: Option<Timestamp>,
    /// The intro is new: it has no row to replace or remove.
    pub(super) new: bool,
}

const DUE_UPSERT: &str = "insert into intro_due (intro_id, due_at) values ($1, $2)
     on conflict (intro_id) do update set due_at = excluded.due_at
     where intro_due.due_at <> excluded.due_at";
const DUE_DELETE: &str = "delete from intro_due where intro_id = $1";

impl Due {
    /// Its write, if it has one.
    pub(super) fn push_to(self, w: &mut Statements) {
        match self.at {
            Some(at) => w.push(
                DUE_UPSERT,
                vec![self.intro_id.into(), at.as_millis().into()],
            ),
            None if !self.new => w.push(DUE_DELETE, vec![self.intro_id.into()]),
            None => {}
        }
    }
}

/// A changed party's update; its values as `changed_parties` makes them.
const PARTY_UPDATE: &str = "update parties set consent = $1, asked_at = $2, ask_count = $3, reminded = $4, decided_at = $5,
         undo_until = $6, snooze_until = $7, has_snoozed = $8, intro_note = $9, private_reason = $10
     where intro_id = $11 and role = $12";

const EVENT_INSERT: &str = "insert into events (event_id, intro_id, kind, actor, role, channel, text_hash, status_after, created_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

const OUTBOX_COLUMNS: &str = "outbox_id, intro_id, connector_id, kind, recipient, payload, message_id, not_before, created_at";
const TOKEN_COLUMNS: &str =
    "token_hash, intro_id, role, purpose, outbox_id, expires_at, created_at";

impl TransitionRows {
    /// The rows of transition `t` from `before` (`None`: the intro is
    /// inserted as it stands, parties and all), after which its next due
    /// time is `due_at`.
    pub(super) fn new(
        before: Option<&Intro>,
        t: &Transition,
        ctx: &Context,
        due_at: Option<Timestamp>,
        token_secret: &[u8],
        message_id_domain: &str,
    ) -> Self {
        let parties = before
            .map(|before| changed_parties(&t.intro, before))
            .unwrap_or_default();
        let e = &t.event;
        let event = vec![
            new_id().into(),
            t.intro.id.as_str().into(),
            e.kind.as_str().into(),
            e.actor.as_str().into(),
            e.role.map(|r| r.as_str()).into(),
            e.channel.as_str().into(),
            e.text_hash.clone().into(),
            e.status_after.as_str().into(),
            e.at.as_millis().into(),
        ];
        let mut outbox = Vec::new();
        let mut tokens = Vec::new();
        for effect in &t.effects {
            let outbox_id = new_id();
            let email = plan(effect, ctx.now);
            // Random, not the time-ordered row id: a relay's Message-ID must
            // not tell when the intro closed.
            let message_id = format!("<{}@{message_id_domain}>", uuid::Uuid::new_v4().simple());
            for (purpose, role, expires_at) in &email.tokens {
                tokens.push(vec![
                    token_hash(token_secret, *purpose, &outbox_id).into(),
                    t.intro.id.as_str().into(),
                    role.as_str().into(),
                    purpose.as_str().into(),
                    outbox_id.as_str().into(),
                    expires_at.as_millis().into(),
                    ctx.now.as_millis().into(),
                ]);
            }
            outbox.push(vec![
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
        }
        Self {
            parties,
            event,
            outbox,
            tokens,
            due: Due {
                intro_id: t.intro.id.as_str().to_string(),
                at: due_at,
                new: before.is_none(),
            },
        }
    }

    /// The rows as statements, after those already in `w`.
    pub(super) fn push_to(self, w: &mut Statements) {
        for party in self.parties {
            w.push(PARTY_UPDATE, party);
        }
        w.push(EVENT_INSERT, self.event);
        if !self.outbox.is_empty() {
            w.push(
                format!(
                    "insert into outbox ({OUTBOX_COLUMNS}, status, attempts) values {}",
                    value_rows(self.outbox.len(), 9, "'pending', 0")
                ),
                self.outbox.concat(),
            );
        }
        if !self.tokens.is_empty() {
            w.push(
                format!(
                    "insert into party_tokens ({TOKEN_COLUMNS}) values {}",
                    value_rows(self.tokens.len(), 7, "")
                ),
                self.tokens.concat(),
            );
        }
        self.due.push_to(w);
    }
}

/// The `PARTY_UPDATE` values of each party that changed since `before`.
fn changed_parties(intro: &Intro, before: &Intro) -> Vec<Vec<Value>> {
    intro
        .parties()
        .into_iter()
        .filter(|&p| before.party(p.role) != p)
        .map(|p| {
            let mut values = party_state(p).to_vec();
            values.extend([intro.id.as_str().into(), p.role.as_str().into()]);
            values
        })
        .collect()
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
