//! Several writes sent as one: on SQLite, one multi-statement query (sqlx
//! binds `$N` across all of its statements), so a use case pays one thread
//! hand-off for all its inserts and updates instead of one each — inside
//! the write lane, where hand-offs are what limits throughput. PostgreSQL
//! prepares one statement at a time, so there each runs on its own.

use sqlx::AnyConnection;

use super::StoreResult;
use super::sql::Backend;

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
}

impl Statements {
    pub(super) fn push(&mut self, sql: impl Into<String>, values: Vec<Value>) {
        self.parts.push((sql.into(), values));
    }

    pub(super) async fn execute(
        self,
        conn: &mut AnyConnection,
        backend: Backend,
    ) -> StoreResult<()> {
        if self.parts.is_empty() {
            return Ok(());
        }
        match backend {
            Backend::Sqlite => {
                let mut sql = String::new();
                let mut values = Vec::new();
                for (part, part_values) in self.parts {
                    sql.push_str(&renumber(&part, values.len()));
                    sql.push_str(";\n");
                    values.extend(part_values);
                }
                run(conn, sql, values).await
            }
            Backend::Postgres => {
                for (sql, values) in self.parts {
                    run(conn, sql, values).await?;
                }
                Ok(())
            }
        }
    }
}

async fn run(conn: &mut AnyConnection, sql: String, values: Vec<Value>) -> StoreResult<()> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for value in values {
        query = match value {
            Value::Text(v) => query.bind(v),
            Value::Int(v) => query.bind(v),
        };
    }
    query.execute(conn).await?;
    Ok(())
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
    use super::renumber;

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
