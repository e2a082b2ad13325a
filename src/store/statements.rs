//! Several writes sent as one: on SQLite, one multi-statement query (sqlx
//! binds `$N` across all of its statements), so a use case pays one thread
//! hand-off for all its inserts and updates instead of one each — inside
//! the write lane, where hand-offs are what limits throughput. PostgreSQL
//! prepares one statement at a time, so there they become one statement of
//! data-modifying `WITH` parts: one round trip instead of one per write.
//!
//! The parts of one PostgreSQL statement share a snapshot and do not see
//! each other's rows, so no part may read or change what another writes
//! (foreign keys are checked at the end of the statement, and do see them).
//! The use cases' writes are inserts of new rows and updates of distinct
//! rows, which fits.

use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use super::sql::Backend;
use super::{StoreError, StoreResult};

/// A value bound to a placeholder.
#[derive(Debug, Clone)]
pub(super) enum Value {
    Text(Option<String>),
    Int(Option<i64>),
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(Some(v.to_string()))
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(Some(v))
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(Some(v.clone()))
    }
}
impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        Value::Text(v)
    }
}
impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Self {
        Value::Text(v.map(str::to_string))
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(Some(v))
    }
}
impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Value::Int(v)
    }
}

/// Statements with `$1…$n` placeholders each, run in order.
#[derive(Debug, Default)]
pub(super) struct Statements {
    parts: Vec<(String, Vec<Value>)>,
    /// PostgreSQL: wake every listening worker process at commit.
    notify: bool,
}

impl Statements {
    pub(super) fn push(&mut self, sql: impl Into<String>, values: Vec<Value>) {
        self.parts.push((sql.into(), values));
    }

    /// On PostgreSQL, tells every worker process listening that there is
    /// work, when the transaction commits (`NOTIFY`); SQLite's workers are
    /// in this process and woken by the store.
    pub(super) fn notify_workers(&mut self) {
        self.notify = true;
    }

    pub(super) async fn execute(
        self,
        conn: &mut AnyConnection,
        backend: Backend,
    ) -> StoreResult<()> {
        match backend {
            // Its workers are woken in this process (`notify` is for others).
            Backend::Sqlite if self.parts.is_empty() => Ok(()),
            Backend::Postgres if self.parts.is_empty() && !self.notify => Ok(()),
            Backend::Sqlite => {
                let (sql, values) = one_sqlite_query(None, self.parts);
                run(conn, sql, values).await
            }
            Backend::Postgres => {
                let (sql, values) = one_postgres_statement(None, self.parts, self.notify);
                run(conn, sql, values).await
            }
        }
    }

    /// Runs the writes, then `query`, and returns the query's rows. On
    /// SQLite all of it, after `opening` (see
    /// `SqlStore::begin_write_opened_by_caller`), is one multi-statement
    /// query: one thread hand-off. The query sees the writes.
    pub(super) async fn execute_then_fetch(
        self,
        conn: &mut AnyConnection,
        backend: Backend,
        opening: Option<&str>,
        query: (&str, Vec<Value>),
    ) -> StoreResult<Vec<AnyRow>> {
        let (query_sql, query_values) = query;
        match backend {
            Backend::Sqlite => {
                let mut parts = self.parts;
                parts.push((query_sql.to_string(), query_values));
                let (sql, values) = one_sqlite_query(opening, parts);
                Ok(bound(&sql, values).fetch_all(conn).await?)
            }
            Backend::Postgres => {
                self.execute(&mut *conn, backend).await?;
                Ok(bound(query_sql, query_values).fetch_all(conn).await?)
            }
        }
    }

    /// PostgreSQL, as a transaction of its own: the writes are applied only
    /// if `guard`, an `update` of one row, changes that row; true if so. If
    /// it changes none (the row moved on since it was read), nothing is
    /// written and the answer is false.
    pub(super) async fn execute_if(
        self,
        conn: &mut AnyConnection,
        guard: (String, Vec<Value>),
    ) -> StoreResult<bool> {
        let (sql, values) = one_postgres_statement(Some(guard), self.parts, self.notify);
        match run(conn, sql, values).await {
            Ok(()) => Ok(true),
            Err(StoreError::Database(sqlx::Error::Database(e)))
                if e.code().as_deref() == Some(DIVISION_BY_ZERO) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

/// `opening`, then every part, as one multi-statement query for SQLite,
/// each part's placeholders moved past those of the parts before it.
fn one_sqlite_query(
    opening: Option<&str>,
    parts: Vec<(String, Vec<Value>)>,
) -> (String, Vec<Value>) {
    let mut sql = opening.unwrap_or_default().to_string();
    let mut values = Vec::new();
    for (part, part_values) in parts {
        sql.push_str(&renumber(&part, values.len()));
        sql.push_str(";\n");
        values.extend(part_values);
    }
    (sql, values)
}

/// The SQLSTATE a failed guard raises on purpose (see `one_postgres_statement`).
const DIVISION_BY_ZERO: &str = "22012";

/// `with w0 as (…), w1 as (…) select …`: every write a data-modifying
/// `WITH` part. With a `guard`, the main query divides by the number of
/// rows the guard changed: none, and the statement fails with a division
/// by zero, which undoes all of its parts at once (the caller sees false).
fn one_postgres_statement(
    guard: Option<(String, Vec<Value>)>,
    parts: Vec<(String, Vec<Value>)>,
    notify: bool,
) -> (String, Vec<Value>) {
    let mut writes = Vec::new();
    let mut outputs = Vec::new();
    let mut values = Vec::new();
    if let Some((sql, guard_values)) = guard {
        writes.push(format!("guard as ({sql} returning 1)"));
        values.extend(guard_values);
        outputs.push("1 / (select count(*) from guard) as applied");
    }
    for (i, (part, part_values)) in parts.into_iter().enumerate() {
        writes.push(format!("w{i} as ({})", renumber(&part, values.len())));
        values.extend(part_values);
    }
    if notify {
        outputs.push("pg_notify('twoyes_work', '')");
    }
    if outputs.is_empty() {
        outputs.push("1");
    }
    let main = format!("select {}", outputs.join(", "));
    if writes.is_empty() {
        return (main, values);
    }
    (format!("with {}\n{main}", writes.join(",\n")), values)
}

async fn run(conn: &mut AnyConnection, sql: String, values: Vec<Value>) -> StoreResult<()> {
    bound(&sql, values).execute(conn).await?;
    Ok(())
}

/// `sql` with `values` bound to its placeholders in order.
fn bound(
    sql: &str,
    values: Vec<Value>,
) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()));
    for value in values {
        query = match value {
            Value::Text(v) => query.bind(v),
            Value::Int(v) => query.bind(v),
        };
    }
    query
}

/// `$3` becomes `$(3 + offset)`; the statements twoyes writes have no `$`
/// anywhere but in placeholders.
fn renumber(sql: &str, offset: usize) -> String {
    if offset == 0 {
        return sql.to_string();
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let mut digits = String::new();
        while let Some((_, d)) = chars.peek().copied().filter(|(_, d)| d.is_ascii_digit()) {
            digits.push(d);
            chars.next();
        }
        match digits.parse::<usize>() {
            Ok(n) => out.push_str(&(n + offset).to_string()),
            Err(_) => out.push_str(&digits),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Value, one_postgres_statement, renumber};

    #[test]
    fn postgres_writes_become_one_statement() {
        let parts = vec![
            (
                "update a set x = $1 where id = $2".to_string(),
                vec![Value::from(1), Value::from("i")],
            ),
            (
                "insert into b values ($1)".to_string(),
                vec![Value::from("v")],
            ),
        ];
        let (sql, values) = one_postgres_statement(None, parts, true);
        assert_eq!(
            sql,
            "with w0 as (update a set x = $1 where id = $2),\nw1 as (insert into b values ($3))\nselect pg_notify('twoyes_work', '')"
        );
        assert_eq!(values.len(), 3);
        let (sql, _) = one_postgres_statement(
            None,
            vec![("insert into b values ($1)".into(), vec![])],
            false,
        );
        assert_eq!(sql, "with w0 as (insert into b values ($1))\nselect 1");
    }

    #[test]
    fn a_guarded_statement_divides_by_the_rows_its_guard_changed() {
        let guard = (
            "update a set v = v + 1 where id = $1 and v = $2".to_string(),
            vec![Value::from("i"), Value::from(7)],
        );
        let parts = vec![(
            "insert into b values ($1)".to_string(),
            vec![Value::from("v")],
        )];
        let (sql, values) = one_postgres_statement(Some(guard), parts, false);
        assert_eq!(
            sql,
            "with guard as (update a set v = v + 1 where id = $1 and v = $2 returning 1),\n\
             w0 as (insert into b values ($3))\n\
             select 1 / (select count(*) from guard) as applied"
        );
        assert_eq!(values.len(), 3);
    }

    #[test]
    fn placeholders_move_past_the_statements_before() {
        assert_eq!(
            renumber("update t set a = $1, b = $12 where c = $2", 10),
            "update t set a = $11, b = $22 where c = $12"
        );
        assert_eq!(
            renumber("insert into t values ($1)", 0),
            "insert into t values ($1)"
        );
    }
}
