//! A connector's contacts: one per normalized email address, made from the
//! people of their intros (see `record_parties`, called as an intro is
//! inserted) and from CSV imports, which run as jobs committed in batches.
//! Every query is scoped to one connector.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::rows::{intro_from_row, intro_select};
use super::sql::{SqlStore, new_id};
use super::statements::Statements;
use super::{StoreError, StoreResult};
use crate::domain::{Intro, ParseError, PersonName, Timestamp};

/// One person a connector knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub id: String,
    pub name: String,
    pub email: String,
    pub how_known: String,
    pub notes: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

/// One page of contacts in name order. `query` matches any part of the name
/// or the address; `after` is the last id of the page before.
#[derive(Debug, Clone, Default)]
pub struct ContactSearch {
    pub connector_id: String,
    pub query: Option<String>,
    pub after: Option<String>,
    pub limit: u32,
}

/// Free text about a contact: how the connector knows them (one line, up to
/// 200 characters) or notes (up to 5,000). No control characters but line
/// breaks and tabs in notes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContactText(String);

impl ContactText {
    pub fn how_known(input: &str) -> Result<Self, ParseError> {
        let text = input.trim();
        if text.chars().any(char::is_control) {
            return Err(ParseError::new(
                "how_known",
                "“How you know them” must be one line without control characters",
            ));
        }
        Self::bounded("how_known", "“How you know them”", text, 200)
    }

    pub fn notes(input: &str) -> Result<Self, ParseError> {
        let text = input.replace("\r\n", "\n").replace('\r', "\n");
        let text = text.trim();
        if text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(ParseError::new(
                "notes",
                "The notes contain a control character",
            ));
        }
        Self::bounded("notes", "The notes", text, 5000)
    }

    fn bounded(
        field: &'static str,
        label: &str,
        text: &str,
        max: usize,
    ) -> Result<Self, ParseError> {
        let len = text.chars().count();
        if len > max {
            return Err(ParseError::new(
                field,
                format!("{label} is {len} characters; the limit is {max}"),
            ));
        }
        Ok(Self(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the connector may change about a contact (the address is the key).
#[derive(Debug, Clone)]
pub struct ContactEdit {
    pub name: PersonName,
    pub how_known: ContactText,
    pub notes: ContactText,
}

#[async_trait]
pub trait ContactStore: Send + Sync {
    async fn search_contacts(&self, search: &ContactSearch) -> StoreResult<Vec<Contact>>;
    async fn contact_count(&self, connector_id: &str) -> StoreResult<i64>;
    /// `NotFound` for another connector's contact.
    async fn contact(&self, connector_id: &str, contact_id: &str) -> StoreResult<Contact>;
    /// This connector's intros the contact is a party of, newest first.
    async fn contact_intros(&self, connector_id: &str, email: &str) -> StoreResult<Vec<Intro>>;
    async fn update_contact(
        &self,
        connector_id: &str,
        contact_id: &str,
        edit: &ContactEdit,
        now: Timestamp,
    ) -> StoreResult<()>;
}

const CONTACT_COLUMNS: &str =
    "contact_id, name, email, how_known, notes, created_at, updated_at, last_used_at";

fn contact_from_row(row: &AnyRow) -> StoreResult<Contact> {
    Ok(Contact {
        id: row.try_get("contact_id")?,
        name: row.try_get("name")?,
        email: row.try_get("email")?,
        how_known: row.try_get("how_known")?,
        notes: row.try_get("notes")?,
        created_at: Timestamp::from_millis(row.try_get("created_at")?),
        updated_at: Timestamp::from_millis(row.try_get("updated_at")?),
        last_used_at: row
            .try_get::<Option<i64>, _>("last_used_at")?
            .map(Timestamp::from_millis),
    })
}

/// The sort key of a name: lower case, single spaces.
pub fn name_key(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// A LIKE pattern matching `text` anywhere (with `escape '\'`).
fn contains_pattern(text: &str) -> String {
    let mut out = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Makes each party of a new intro a contact of its connector, or marks the
/// contact as just used. Runs inside the intro's transaction.
pub(super) fn record_parties(writes: &mut Statements, intro: &Intro) {
    for party in intro.parties() {
        writes.push(
            "insert into contacts (contact_id, connector_id, name, name_key, email, email_key,
                 how_known, notes, created_at, updated_at, last_used_at)
             values ($1, $2, $3, $4, $5, $6, '', '', $7, $7, $7)
             on conflict (connector_id, email_key) do update set last_used_at = excluded.last_used_at
             where contacts.last_used_at is null or contacts.last_used_at < excluded.last_used_at",
            vec![
                new_id().into(),
                intro.connector_id.as_str().into(),
                party.name.as_str().into(),
                name_key(party.name.as_str()).into(),
                party.email.as_str().into(),
                party.email.normalized().into(),
                intro.created_at.as_millis().into(),
            ],
        );
    }
}

#[async_trait]
impl ContactStore for SqlStore {
    async fn search_contacts(&self, search: &ContactSearch) -> StoreResult<Vec<Contact>> {
        let limit = i64::from(search.limit.clamp(1, 200));
        // The cursor is the last contact shown: continue after its name.
        let (after_key, after_id) = match &search.after {
            Some(id) => {
                let row = sqlx::query(
                    "select name_key from contacts where connector_id = $1 and contact_id = $2",
                )
                .bind(&search.connector_id)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                match row {
                    Some(row) => (row.try_get::<String, _>("name_key")?, id.clone()),
                    None => return Ok(vec![]),
                }
            }
            None => (String::new(), String::new()),
        };
        let pattern = search
            .query
            .as_deref()
            .map(name_key)
            .filter(|q| !q.is_empty())
            .map(|q| contains_pattern(&q))
            .unwrap_or_default();
        let sql = format!(
            "select {CONTACT_COLUMNS} from contacts
             where connector_id = $1
               and (name_key > $2 or (name_key = $2 and contact_id > $3))
               and ($4 = '' or name_key like $4 escape '\\' or email_key like $4 escape '\\')
             order by name_key, contact_id limit $5"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&search.connector_id)
            .bind(after_key)
            .bind(after_id)
            .bind(pattern)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(contact_from_row).collect()
    }

    async fn contact_count(&self, connector_id: &str) -> StoreResult<i64> {
        let row = sqlx::query("select count(*) as n from contacts where connector_id = $1")
            .bind(connector_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    async fn contact(&self, connector_id: &str, contact_id: &str) -> StoreResult<Contact> {
        let sql = format!(
            "select {CONTACT_COLUMNS} from contacts where connector_id = $1 and contact_id = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(connector_id)
            .bind(contact_id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => contact_from_row(&row),
            None => Err(StoreError::NotFound),
        }
    }

    async fn contact_intros(&self, connector_id: &str, email: &str) -> StoreResult<Vec<Intro>> {
        let rows = sqlx::query(concat!(
            intro_select!(),
            " where i.connector_id = $1 and (r.email_key = $2 or t.email_key = $2)",
            " order by i.created_at desc, i.intro_id desc limit 200"
        ))
        .bind(connector_id)
        .bind(email.to_ascii_lowercase())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(intro_from_row).collect()
    }

    async fn update_contact(
        &self,
        connector_id: &str,
        contact_id: &str,
        edit: &ContactEdit,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "update contacts set name = $1, name_key = $2, how_known = $3, notes = $4, updated_at = $5
             where connector_id = $6 and contact_id = $7",
        )
        .bind(edit.name.as_str())
        .bind(name_key(edit.name.as_str()))
        .bind(edit.how_known.as_str())
        .bind(edit.notes.as_str())
        .bind(now.as_millis())
        .bind(connector_id)
        .bind(contact_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_patterns_escape_wildcards() {
        assert_eq!(contains_pattern("ada"), "%ada%");
        assert_eq!(contains_pattern("50%_a\\"), "%50\\%\\_a\\\\%");
    }

    #[test]
    fn names_sort_case_and_space_insensitively() {
        assert_eq!(name_key("  Ada   LOVELACE "), "ada lovelace");
        assert_eq!(name_key("Élodie"), "élodie");
    }

    #[test]
    fn contact_texts_are_bounded() {
        assert_eq!(
            ContactText::how_known(" met at PyCon ").unwrap().as_str(),
            "met at PyCon"
        );
        assert!(ContactText::how_known("two\nlines").is_err());
        assert!(ContactText::how_known(&"x".repeat(201)).is_err());
        assert_eq!(ContactText::notes("a\r\nb").unwrap().as_str(), "a\nb");
        assert!(ContactText::notes("bell\u{7}").is_err());
        assert!(ContactText::notes(&"x".repeat(5001)).is_err());
    }
}
