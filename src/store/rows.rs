//! Reading and writing an intro as rows: one `intros` row and two `parties` rows.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{StoreError, StoreResult};
use crate::domain::{
    Blurb, Consent, EmailAddress, Intro, IntroStatus, Mode, Note, Party, PersonName, PrivateReason,
    Reason, Role, Timestamp, Topic,
};

macro_rules! party_columns {
    ($p:literal) => {
        concat!(
            $p,
            ".name as ",
            $p,
            "_name, ",
            $p,
            ".email as ",
            $p,
            "_email, ",
            $p,
            ".blurb as ",
            $p,
            "_blurb, ",
            $p,
            ".consent as ",
            $p,
            "_consent, ",
            $p,
            ".consent_on_record_at as ",
            $p,
            "_consent_on_record_at, ",
            $p,
            ".asked_at as ",
            $p,
            "_asked_at, ",
            $p,
            ".ask_count as ",
            $p,
            "_ask_count, ",
            $p,
            ".reminded as ",
            $p,
            "_reminded, ",
            $p,
            ".decided_at as ",
            $p,
            "_decided_at, ",
            $p,
            ".undo_until as ",
            $p,
            "_undo_until, ",
            $p,
            ".snooze_until as ",
            $p,
            "_snooze_until, ",
            $p,
            ".has_snoozed as ",
            $p,
            "_has_snoozed, ",
            $p,
            ".intro_note as ",
            $p,
            "_intro_note, ",
            $p,
            ".private_reason as ",
            $p,
            "_private_reason"
        )
    };
}

/// `select … from intros i join parties r … join parties t …`; callers add
/// the `where` clause with `concat!`. With a `from` text (a parenthesized
/// subquery of `intros`), the intros are that subquery's rows instead.
macro_rules! intro_select {
    () => {
        $crate::store::rows::intro_select!(from "intros")
    };
    (from $intros:expr) => {
        concat!(
            "select i.intro_id, i.connector_id, i.mode, i.status, i.reason, i.topic, i.note, ",
            "i.created_at, i.closed_at, i.version, ",
            $crate::store::rows::party_columns!("r"),
            ", ",
            $crate::store::rows::party_columns!("t"),
            " from ",
            $intros,
            " i",
            " join parties r on r.intro_id = i.intro_id and r.role = 'requester'",
            " join parties t on t.intro_id = i.intro_id and t.role = 'target'"
        )
    };
}
pub(super) use intro_select;
pub(super) use party_columns;

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// A row's columns by name: an sqlx row, or a row of the synchronous
/// SQLite read path (`sqlite_reads.rs`).
pub(super) trait Columns {
    fn text(&self, col: &str) -> StoreResult<Option<String>>;
    fn int(&self, col: &str) -> StoreResult<Option<i64>>;

    fn required_text(&self, col: &str) -> StoreResult<String> {
        self.text(col)?
            .ok_or_else(|| corrupt(&format!("{col} is missing")))
    }
    fn required_int(&self, col: &str) -> StoreResult<i64> {
        self.int(col)?
            .ok_or_else(|| corrupt(&format!("{col} is missing")))
    }
    fn timestamp(&self, col: &str) -> StoreResult<Option<Timestamp>> {
        Ok(self.int(col)?.map(Timestamp::from_millis))
    }
}

impl Columns for AnyRow {
    fn text(&self, col: &str) -> StoreResult<Option<String>> {
        Ok(self.try_get::<Option<String>, _>(col)?)
    }
    fn int(&self, col: &str) -> StoreResult<Option<i64>> {
        Ok(self.try_get::<Option<i64>, _>(col)?)
    }
}

/// A party's column names as `party_columns!` aliases them, for one role.
struct PartyColumnNames {
    name: &'static str,
    email: &'static str,
    blurb: &'static str,
    consent: &'static str,
    consent_on_record_at: &'static str,
    asked_at: &'static str,
    ask_count: &'static str,
    reminded: &'static str,
    decided_at: &'static str,
    undo_until: &'static str,
    snooze_until: &'static str,
    has_snoozed: &'static str,
    intro_note: &'static str,
    private_reason: &'static str,
}

macro_rules! party_column_names {
    ($p:literal) => {
        PartyColumnNames {
            name: concat!($p, "_name"),
            email: concat!($p, "_email"),
            blurb: concat!($p, "_blurb"),
            consent: concat!($p, "_consent"),
            consent_on_record_at: concat!($p, "_consent_on_record_at"),
            asked_at: concat!($p, "_asked_at"),
            ask_count: concat!($p, "_ask_count"),
            reminded: concat!($p, "_reminded"),
            decided_at: concat!($p, "_decided_at"),
            undo_until: concat!($p, "_undo_until"),
            snooze_until: concat!($p, "_snooze_until"),
            has_snoozed: concat!($p, "_has_snoozed"),
            intro_note: concat!($p, "_intro_note"),
            private_reason: concat!($p, "_private_reason"),
        }
    };
}

/// Named once, not formatted for every read: two dozen `format!`s were 3%
/// of the decision page's time.
const REQUESTER_COLUMNS: PartyColumnNames = party_column_names!("r");
const TARGET_COLUMNS: PartyColumnNames = party_column_names!("t");

fn party_from_row(row: &(impl Columns + ?Sized), role: Role) -> StoreResult<Party> {
    let c = match role {
        Role::Requester => &REQUESTER_COLUMNS,
        Role::Target => &TARGET_COLUMNS,
    };
    let opt_text = |col: &str| -> StoreResult<String> { Ok(row.text(col)?.unwrap_or_default()) };
    Ok(Party {
        role,
        name: PersonName::parse(&row.required_text(c.name)?).map_err(|_| corrupt("party name"))?,
        email: EmailAddress::parse(&row.required_text(c.email)?)
            .map_err(|_| corrupt("party email"))?,
        blurb: Blurb::parse(&opt_text(c.blurb)?).map_err(|_| corrupt("blurb"))?,
        consent: Consent::parse(&row.required_text(c.consent)?)
            .ok_or_else(|| corrupt("consent"))?,
        consent_on_record_at: row.timestamp(c.consent_on_record_at)?,
        asked_at: row.timestamp(c.asked_at)?,
        ask_count: u32::try_from(row.required_int(c.ask_count)?)
            .map_err(|_| corrupt("ask_count"))?,
        reminded: row.required_int(c.reminded)? != 0,
        decided_at: row.timestamp(c.decided_at)?,
        undo_until: row.timestamp(c.undo_until)?,
        snooze_until: row.timestamp(c.snooze_until)?,
        has_snoozed: row.required_int(c.has_snoozed)? != 0,
        intro_note: Note::parse(&opt_text(c.intro_note)?).map_err(|_| corrupt("intro note"))?,
        private_reason: PrivateReason::parse(&opt_text(c.private_reason)?)
            .map_err(|_| corrupt("private reason"))?,
    })
}

pub(super) fn intro_from_row(row: &(impl Columns + ?Sized)) -> StoreResult<Intro> {
    let topic = row.required_text("topic")?;
    let note = row.text("note")?;
    Ok(Intro {
        id: row.required_text("intro_id")?,
        connector_id: row.required_text("connector_id")?,
        mode: Mode::parse(&row.required_text("mode")?).ok_or_else(|| corrupt("mode"))?,
        status: IntroStatus::parse(&row.required_text("status")?)
            .ok_or_else(|| corrupt("status"))?,
        reason: Reason::parse(&row.required_text("reason")?).map_err(|_| corrupt("reason"))?,
        topic: Topic::parse(&topic)
            .ok()
            .flatten()
            .ok_or_else(|| corrupt("topic"))?,
        note: Note::parse(&note.unwrap_or_default()).map_err(|_| corrupt("note"))?,
        requester: party_from_row(row, Role::Requester)?,
        target: party_from_row(row, Role::Target)?,
        created_at: Timestamp::from_millis(row.required_int("created_at")?),
        closed_at: row.timestamp("closed_at")?,
    })
}

/// What the dashboard's search finds an intro by: the start of any word of a
/// party's name (and the whole name), or of their address.
pub(super) fn search_terms(intro: &Intro) -> std::collections::BTreeSet<String> {
    let mut terms = std::collections::BTreeSet::new();
    for party in intro.parties() {
        let name = party.name.as_str().to_lowercase();
        for word in name.split_whitespace() {
            terms.insert(word.to_string());
        }
        terms.insert(name.split_whitespace().collect::<Vec<_>>().join(" "));
        terms.insert(party.email.normalized().to_string());
    }
    terms
}
