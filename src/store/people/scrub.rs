//! Replacing an erased person's name and address inside other people's text
//! (a connector's reason, notes, an SMTP server's error), whatever its case.

use serde_json::Value;
use sqlx::{AnyConnection, Row};

use crate::store::StoreResult;

/// What to look for and what to put in its place.
pub(super) struct Scrubber {
    needles: Vec<(Vec<char>, String)>,
}

fn folded(text: &str) -> Vec<char> {
    text.chars().flat_map(char::to_lowercase).collect()
}

impl Scrubber {
    /// Needles shorter than 3 characters are ignored: they would match
    /// everywhere.
    pub(super) fn new(pairs: &[(&str, &str)]) -> Self {
        let mut needles: Vec<(Vec<char>, String)> = pairs
            .iter()
            .map(|(needle, with)| (folded(needle.trim()), (*with).to_string()))
            .filter(|(needle, _)| needle.len() >= 3)
            .collect();
        // The longest first, so a full name wins over a part of it.
        needles.sort_by_key(|(needle, _)| std::cmp::Reverse(needle.len()));
        needles.dedup_by(|a, b| a.0 == b.0);
        Self { needles }
    }

    /// The text with every needle replaced, or None if none occurs.
    pub(super) fn scrub(&self, text: &str) -> Option<String> {
        let chars: Vec<char> = text.chars().collect();
        // Each character's lower case, kept per character so that a match
        // maps back to the characters it came from.
        let lower: Vec<Vec<char>> = chars.iter().map(|c| c.to_lowercase().collect()).collect();
        let mut out = String::with_capacity(text.len());
        let mut changed = false;
        let mut i = 0;
        'outer: while i < chars.len() {
            for (needle, with) in &self.needles {
                if let Some(end) = match_at(&lower, i, needle) {
                    out.push_str(with);
                    i = end;
                    changed = true;
                    continue 'outer;
                }
            }
            out.push(chars[i]);
            i += 1;
        }
        changed.then_some(out)
    }
}

/// Where a match of `needle` starting at character `start` ends.
fn match_at(lower: &[Vec<char>], start: usize, needle: &[char]) -> Option<usize> {
    let mut at = start;
    let mut matched = 0;
    while matched < needle.len() {
        let piece = lower.get(at)?;
        if needle.get(matched..matched + piece.len())? != piece.as_slice() {
            return None;
        }
        matched += piece.len();
        at += 1;
    }
    Some(at)
}

/// What a name or address becomes inside someone else's text.
pub(super) const ERASED_TEXT: &str = "[erased]";

/// Their intros, as `where` clause on a table with an `intro_id` column.
pub(super) const THEIR_INTROS: &str =
    "intro_id in (select intro_id from parties where email_key = $1)";

/// One table whose free text may name them: its key expressions, its text
/// columns with their length limits, and which rows to look at.
pub(super) struct TextTable {
    table: &'static str,
    keys: &'static [&'static str],
    columns: &'static [(&'static str, usize)],
    /// `$1` is their normalized address; `None` looks at rows that contain
    /// one of the needles.
    filter: Option<&'static str>,
}

pub(super) const TEXT_TABLES: &[TextTable] = &[
    TextTable {
        table: "intros",
        keys: &["intro_id"],
        columns: &[("reason", 2000), ("topic", 80), ("note", 1000)],
        filter: Some(THEIR_INTROS),
    },
    // The other party's texts in those intros (their own are cleared).
    TextTable {
        table: "parties",
        keys: &["intro_id", "role"],
        columns: &[
            ("blurb", 1200),
            ("intro_note", 1000),
            ("private_reason", 1000),
        ],
        filter: Some(
            "email_key <> $1 and intro_id in (select intro_id from parties where email_key = $1)",
        ),
    },
    TextTable {
        table: "outbox",
        keys: &["outbox_id"],
        columns: &[("last_error", usize::MAX)],
        filter: Some(THEIR_INTROS),
    },
    TextTable {
        table: "contacts",
        keys: &["contact_id"],
        columns: &[("how_known", 200), ("notes", 5000)],
        filter: None,
    },
    TextTable {
        table: "requests",
        keys: &["request_id"],
        columns: &[
            ("wants_to_meet", 100),
            ("reason", 2000),
            ("blurb", 1200),
            ("decline_message", 1000),
        ],
        filter: None,
    },
    TextTable {
        table: "contact_import_errors",
        keys: &["import_id", "cast(line as text)"],
        columns: &[("message", usize::MAX)],
        filter: None,
    },
];

fn fit(text: String, limit: usize) -> String {
    if text.chars().count() <= limit {
        text
    } else {
        text.chars().take(limit).collect()
    }
}

/// Replaces every needle in the string values of a JSON document.
pub(super) fn scrub_json(value: &mut Value, scrubber: &Scrubber) -> bool {
    match value {
        Value::String(s) => match scrubber.scrub(s) {
            Some(clean) => {
                *s = clean;
                true
            }
            None => false,
        },
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |c, v| scrub_json(v, scrubber) | c),
        Value::Object(map) => map
            .values_mut()
            .fold(false, |c, v| scrub_json(v, scrubber) | c),
        _ => false,
    }
}

pub(super) async fn strings(
    conn: &mut AnyConnection,
    sql: &'static str,
    key: &str,
) -> StoreResult<Vec<String>> {
    let rows = sqlx::query(sql).bind(key).fetch_all(&mut *conn).await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?)
}

pub(super) async fn exec(
    conn: &mut AnyConnection,
    sql: &'static str,
    key: &str,
) -> StoreResult<u64> {
    Ok(sqlx::query(sql)
        .bind(key)
        .execute(&mut *conn)
        .await?
        .rows_affected())
}

/// Rewrites the rows of `t` whose text names them; returns how many.
pub(super) async fn scrub_table(
    conn: &mut AnyConnection,
    t: &TextTable,
    scrubber: &Scrubber,
    key: &str,
    needles: &[String],
) -> StoreResult<u64> {
    let cols: Vec<&str> = t.columns.iter().map(|(c, _)| *c).collect();
    let keys: Vec<String> = t
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{k} as k{i}"))
        .collect();
    let mut sql = format!(
        "select {}, {} from {}",
        keys.join(", "),
        cols.join(", "),
        t.table
    );
    let mut query_binds: Vec<String> = Vec::new();
    match t.filter {
        Some(filter) => {
            sql.push_str(&format!(" where {filter}"));
            query_binds.push(key.to_string());
        }
        None => {
            // A first sieve in SQL (the same case folding on both sides);
            // the exact match is the scrubber's.
            let mut any = Vec::new();
            for needle in needles {
                query_binds.push(needle.clone());
                let n = query_binds.len();
                for c in &cols {
                    any.push(format!("lower({c}) like '%' || lower(${n}) || '%'"));
                }
            }
            sql.push_str(&format!(" where {}", any.join(" or ")));
        }
    }
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in query_binds {
        query = query.bind(b);
    }
    let rows = query.fetch_all(&mut *conn).await?;
    let sets: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = ${}", i + 1))
        .collect();
    let wheres: Vec<String> = t
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{k} = ${}", cols.len() + i + 1))
        .collect();
    let update = format!(
        "update {} set {} where {}",
        t.table,
        sets.join(", "),
        wheres.join(" and ")
    );
    let mut changed = 0;
    for row in &rows {
        let mut values = Vec::with_capacity(cols.len());
        let mut any = false;
        for (c, limit) in t.columns {
            let value: Option<String> = row.try_get(*c)?;
            let clean = value
                .as_deref()
                .and_then(|v| scrubber.scrub(v))
                .map(|v| fit(v, *limit));
            any |= clean.is_some();
            values.push(clean.or(value));
        }
        if !any {
            continue;
        }
        let mut q = sqlx::query(sqlx::AssertSqlSafe(update.clone()));
        for v in values {
            q = q.bind(v);
        }
        for i in 0..t.keys.len() {
            q = q.bind(row.try_get::<String, _>(format!("k{i}").as_str())?);
        }
        q.execute(&mut *conn).await?;
        changed += 1;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::Scrubber;

    #[test]
    fn names_and_addresses_are_replaced_in_any_case() {
        let s = Scrubber::new(&[
            ("Émile Zola", "the other person"),
            ("emile@example.org", "erased-1@erased.invalid"),
        ]);
        assert_eq!(
            s.scrub("ÉMILE ZOLA <Emile@Example.org> met émile zola.")
                .as_deref(),
            Some("the other person <erased-1@erased.invalid> met the other person.")
        );
        assert_eq!(s.scrub("Nothing here, Emile."), None);
    }

    #[test]
    fn short_needles_are_ignored_and_longer_ones_win() {
        let s = Scrubber::new(&[("Al", "x"), ("Al Bundy", "y"), ("Al Bundy Jr", "z")]);
        assert_eq!(
            s.scrub("Al Bundy Jr and Al Bundy").as_deref(),
            Some("z and y")
        );
        assert_eq!(s.scrub("Al"), None);
    }
}
