//! Reading and writing an intro as rows: one `intros` row and two `parties` rows.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

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
/// the `where` clause with `concat!`.
macro_rules! intro_select {
    () => {
        concat!(
            "select i.intro_id, i.connector_id, i.mode, i.status, i.reason, i.topic, i.note, ",
            "i.created_at, i.closed_at, ",
            $crate::store::rows::party_columns!("r"),
            ", ",
            $crate::store::rows::party_columns!("t"),
            " from intros i",
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

fn opt_ts(row: &AnyRow, col: &str) -> StoreResult<Option<Timestamp>> {
    Ok(row
        .try_get::<Option<i64>, _>(col)?
        .map(Timestamp::from_millis))
}

fn party_from_row(row: &AnyRow, role: Role) -> StoreResult<Party> {
    let p = match role {
        Role::Requester => "r",
        Role::Target => "t",
    };
    let col = |name: &str| format!("{p}_{name}");
    let text =
        |name: &str| -> StoreResult<String> { Ok(row.try_get::<String, _>(col(name).as_str())?) };
    let opt_text = |name: &str| -> StoreResult<Option<String>> {
        Ok(row.try_get::<Option<String>, _>(col(name).as_str())?)
    };
    let int = |name: &str| -> StoreResult<i64> { Ok(row.try_get::<i64, _>(col(name).as_str())?) };
    let parse_opt = |v: Option<String>| v.unwrap_or_default();
    Ok(Party {
        role,
        name: PersonName::parse(&text("name")?).map_err(|_| corrupt("party name"))?,
        email: EmailAddress::parse(&text("email")?).map_err(|_| corrupt("party email"))?,
        blurb: Blurb::parse(&parse_opt(opt_text("blurb")?)).map_err(|_| corrupt("blurb"))?,
        consent: Consent::parse(&text("consent")?).ok_or_else(|| corrupt("consent"))?,
        consent_on_record_at: opt_ts(row, &col("consent_on_record_at"))?,
        asked_at: opt_ts(row, &col("asked_at"))?,
        ask_count: u32::try_from(int("ask_count")?).map_err(|_| corrupt("ask_count"))?,
        reminded: int("reminded")? != 0,
        decided_at: opt_ts(row, &col("decided_at"))?,
        undo_until: opt_ts(row, &col("undo_until"))?,
        snooze_until: opt_ts(row, &col("snooze_until"))?,
        has_snoozed: int("has_snoozed")? != 0,
        intro_note: Note::parse(&parse_opt(opt_text("intro_note")?))
            .map_err(|_| corrupt("intro note"))?,
        private_reason: PrivateReason::parse(&parse_opt(opt_text("private_reason")?))
            .map_err(|_| corrupt("private reason"))?,
    })
}

pub(super) fn intro_from_row(row: &AnyRow) -> StoreResult<Intro> {
    let topic: String = row.try_get("topic")?;
    let note: Option<String> = row.try_get("note")?;
    Ok(Intro {
        id: row.try_get("intro_id")?,
        connector_id: row.try_get("connector_id")?,
        mode: Mode::parse(&row.try_get::<String, _>("mode")?).ok_or_else(|| corrupt("mode"))?,
        status: IntroStatus::parse(&row.try_get::<String, _>("status")?)
            .ok_or_else(|| corrupt("status"))?,
        reason: Reason::parse(&row.try_get::<String, _>("reason")?)
            .map_err(|_| corrupt("reason"))?,
        topic: Topic::parse(&topic)
            .ok()
            .flatten()
            .ok_or_else(|| corrupt("topic"))?,
        note: Note::parse(&note.unwrap_or_default()).map_err(|_| corrupt("note"))?,
        requester: party_from_row(row, Role::Requester)?,
        target: party_from_row(row, Role::Target)?,
        created_at: Timestamp::from_millis(row.try_get("created_at")?),
        closed_at: opt_ts(row, "closed_at")?,
    })
}

pub(super) async fn insert_intro(
    conn: &mut AnyConnection,
    intro: &Intro,
    due_at: Option<Timestamp>,
) -> StoreResult<()> {
    sqlx::query(
        "insert into intros (intro_id, connector_id, mode, status, reason, topic, note, due_at, created_at, updated_at, closed_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)",
    )
    .bind(&intro.id)
    .bind(&intro.connector_id)
    .bind(intro.mode.as_str())
    .bind(intro.status.as_str())
    .bind(intro.reason.as_str())
    .bind(intro.topic.as_str())
    .bind(intro.note.as_ref().map(|n| n.as_str().to_string()))
    .bind(due_at.map(Timestamp::as_millis))
    .bind(intro.created_at.as_millis())
    .bind(intro.closed_at.map(Timestamp::as_millis))
    .execute(&mut *conn)
    .await?;
    // Both parties, as they stand, in one statement: inside the write lock
    // every statement costs a thread hand-off.
    let mut parties = sqlx::query(
        "insert into parties (intro_id, role, name, email, email_key, blurb, consent, consent_on_record_at,
             asked_at, ask_count, reminded, decided_at, undo_until, snooze_until, has_snoozed, intro_note,
             private_reason, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18),
                ($19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36)",
    );
    for p in intro.parties() {
        parties = parties
            .bind(&intro.id)
            .bind(p.role.as_str())
            .bind(p.name.as_str())
            .bind(p.email.as_str())
            .bind(p.email.normalized())
            .bind(p.blurb.as_ref().map(|b| b.as_str().to_string()))
            .bind(p.consent.as_str())
            .bind(p.consent_on_record_at.map(Timestamp::as_millis))
            .bind(p.asked_at.map(Timestamp::as_millis))
            .bind(i64::from(p.ask_count))
            .bind(i64::from(p.reminded))
            .bind(p.decided_at.map(Timestamp::as_millis))
            .bind(p.undo_until.map(Timestamp::as_millis))
            .bind(p.snooze_until.map(Timestamp::as_millis))
            .bind(i64::from(p.has_snoozed))
            .bind(p.intro_note.as_ref().map(|n| n.as_str().to_string()))
            .bind(p.private_reason.as_ref().map(|r| r.as_str().to_string()))
            .bind(intro.created_at.as_millis());
    }
    parties.execute(&mut *conn).await?;
    super::contacts::record_parties(&mut *conn, intro).await?;
    let terms = search_terms(intro);
    let sql = format!(
        "insert into intro_search (connector_id, term, intro_id) values {}",
        value_rows(terms.len(), 3)
    );
    let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
    for term in terms {
        insert = insert.bind(&intro.connector_id).bind(term).bind(&intro.id);
    }
    insert.execute(&mut *conn).await?;
    Ok(())
}

/// `($1, $2, $3), ($4, $5, $6)…`: placeholders for a multi-row insert.
pub(super) fn value_rows(rows: usize, columns: usize) -> String {
    value_rows_with(rows, columns, "")
}

/// Like `value_rows`, with the same literal values (`'pending', 0`) in
/// every row after the placeholders.
pub(super) fn value_rows_with(rows: usize, columns: usize, literals: &str) -> String {
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

/// Writes the changing parts of an intro back (names and texts never
/// change); a party as it was `before` is not written again.
pub(super) async fn save_intro(
    conn: &mut AnyConnection,
    intro: &Intro,
    before: Option<&Intro>,
    due_at: Option<Timestamp>,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query("update intros set status = $1, due_at = $2, updated_at = $3, closed_at = $4 where intro_id = $5")
        .bind(intro.status.as_str())
        .bind(due_at.map(Timestamp::as_millis))
        .bind(now.as_millis())
        .bind(intro.closed_at.map(Timestamp::as_millis))
        .bind(&intro.id)
        .execute(&mut *conn)
        .await?;
    for p in intro.parties() {
        if before.is_some_and(|b| b.party(p.role) == p) {
            continue;
        }
        sqlx::query(
            "update parties set consent = $1, asked_at = $2, ask_count = $3, reminded = $4, decided_at = $5,
                 undo_until = $6, snooze_until = $7, has_snoozed = $8, intro_note = $9, private_reason = $10
             where intro_id = $11 and role = $12",
        )
        .bind(p.consent.as_str())
        .bind(p.asked_at.map(Timestamp::as_millis))
        .bind(i64::from(p.ask_count))
        .bind(i64::from(p.reminded))
        .bind(p.decided_at.map(Timestamp::as_millis))
        .bind(p.undo_until.map(Timestamp::as_millis))
        .bind(p.snooze_until.map(Timestamp::as_millis))
        .bind(i64::from(p.has_snoozed))
        .bind(p.intro_note.as_ref().map(|n| n.as_str().to_string()))
        .bind(p.private_reason.as_ref().map(|r| r.as_str().to_string()))
        .bind(&intro.id)
        .bind(p.role.as_str())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
