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

fn party_from_row(row: &(impl Columns + ?Sized), role: Role) -> StoreResult<Party> {
    let p = match role {
        Role::Requester => "r",
        Role::Target => "t",
    };
    let col = |name: &str| format!("{p}_{name}");
    let text = |name: &str| row.required_text(&col(name));
    let opt_text =
        |name: &str| -> StoreResult<String> { Ok(row.text(&col(name))?.unwrap_or_default()) };
    let int = |name: &str| row.required_int(&col(name));
    let ts = |name: &str| row.timestamp(&col(name));
    Ok(Party {
        role,
        name: PersonName::parse(&text("name")?).map_err(|_| corrupt("party name"))?,
        email: EmailAddress::parse(&text("email")?).map_err(|_| corrupt("party email"))?,
        blurb: Blurb::parse(&opt_text("blurb")?).map_err(|_| corrupt("blurb"))?,
        consent: Consent::parse(&text("consent")?).ok_or_else(|| corrupt("consent"))?,
        consent_on_record_at: ts("consent_on_record_at")?,
        asked_at: ts("asked_at")?,
        ask_count: u32::try_from(int("ask_count")?).map_err(|_| corrupt("ask_count"))?,
        reminded: int("reminded")? != 0,
        decided_at: ts("decided_at")?,
        undo_until: ts("undo_until")?,
        snooze_until: ts("snooze_until")?,
        has_snoozed: int("has_snoozed")? != 0,
        intro_note: Note::parse(&opt_text("intro_note")?).map_err(|_| corrupt("intro note"))?,
        private_reason: PrivateReason::parse(&opt_text("private_reason")?)
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
