//! CSV imports of contacts as jobs: the uploaded text, progress committed
//! with each batch, a lease so that a job whose process died is taken up
//! again, and the rows that failed. Scoped to one connector.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::contacts::{ContactText, name_key};
use super::sql::{SqlStore, new_id};
use super::{StoreError, StoreResult};
use crate::domain::{EmailAddress, PersonName, Timestamp};

/// A CSV row, parsed: a contact to add or update, or why it cannot be.
#[derive(Debug, Clone)]
pub enum ImportRow {
    Valid {
        line: u64,
        name: PersonName,
        email: EmailAddress,
        how_known: ContactText,
        notes: ContactText,
    },
    Invalid {
        line: u64,
        message: String,
    },
}

/// A CSV import and how far it got. `status`: `running` or `done`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportJob {
    pub id: String,
    pub file_name: String,
    pub status: String,
    pub total: i64,
    pub processed: i64,
    pub added: i64,
    pub updated: i64,
    pub failed: i64,
    pub lease_until: Timestamp,
    pub created_at: Timestamp,
}

#[async_trait]
pub trait ContactImportStore: Send + Sync {
    /// Records a new import of `total` rows, leased until `lease_until`.
    async fn create_import(
        &self,
        connector_id: &str,
        file_name: &str,
        input: &str,
        total: i64,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<String>;
    /// `NotFound` for another connector's import.
    async fn import_job(&self, connector_id: &str, import_id: &str) -> StoreResult<ImportJob>;
    /// The failed rows, by line.
    async fn import_errors(&self, import_id: &str) -> StoreResult<Vec<(i64, String)>>;
    /// A running import's connector, text and rows done so far.
    async fn import_work(&self, import_id: &str) -> StoreResult<Option<(String, String, i64)>>;
    /// Takes over a running import whose lease ran out; whether it did.
    async fn claim_import(
        &self,
        import_id: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<bool>;
    /// Stores one batch and the progress after it, in one transaction, if the
    /// import is still at `processed` rows (else nothing, and `false`).
    async fn save_import_batch(
        &self,
        import_id: &str,
        processed: i64,
        rows: &[ImportRow],
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<bool>;
    /// Marks the import done and forgets the uploaded text.
    async fn finish_import(&self, import_id: &str, now: Timestamp) -> StoreResult<()>;
}

fn job_from_row(row: &AnyRow) -> StoreResult<ImportJob> {
    Ok(ImportJob {
        id: row.try_get("import_id")?,
        file_name: row.try_get("file_name")?,
        status: row.try_get("status")?,
        total: row.try_get("total")?,
        processed: row.try_get("processed")?,
        added: row.try_get("added")?,
        updated: row.try_get("updated")?,
        failed: row.try_get("failed")?,
        lease_until: Timestamp::from_millis(row.try_get("lease_until")?),
        created_at: Timestamp::from_millis(row.try_get("created_at")?),
    })
}

#[async_trait]
impl ContactImportStore for SqlStore {
    async fn create_import(
        &self,
        connector_id: &str,
        file_name: &str,
        input: &str,
        total: i64,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<String> {
        let id = new_id();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "insert into contact_imports (import_id, connector_id, file_name, status, input, total,
                 processed, added, updated, failed, lease_until, created_at, finished_at)
             values ($1, $2, $3, 'running', $4, $5, 0, 0, 0, 0, $6, $7, null)",
        )
        .bind(&id)
        .bind(connector_id)
        .bind(file_name)
        .bind(input)
        .bind(total)
        .bind(lease_until.as_millis())
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn import_job(&self, connector_id: &str, import_id: &str) -> StoreResult<ImportJob> {
        let row = sqlx::query(
            "select import_id, file_name, status, total, processed, added, updated, failed,
                 lease_until, created_at
             from contact_imports where connector_id = $1 and import_id = $2",
        )
        .bind(connector_id)
        .bind(import_id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => job_from_row(&row),
            None => Err(StoreError::NotFound),
        }
    }

    async fn import_errors(&self, import_id: &str) -> StoreResult<Vec<(i64, String)>> {
        let rows = sqlx::query(
            "select line, message from contact_import_errors where import_id = $1 order by line limit 1000",
        )
        .bind(import_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("line")?, r.try_get("message")?)))
            .collect()
    }

    async fn import_work(&self, import_id: &str) -> StoreResult<Option<(String, String, i64)>> {
        let row = sqlx::query(
            "select connector_id, input, processed from contact_imports
             where import_id = $1 and status = 'running'",
        )
        .bind(import_id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => Ok(Some((
                r.try_get("connector_id")?,
                r.try_get("input")?,
                r.try_get("processed")?,
            ))),
            None => Ok(None),
        }
    }

    async fn claim_import(
        &self,
        import_id: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "update contact_imports set lease_until = $1
             where import_id = $2 and status = 'running' and lease_until < $3",
        )
        .bind(lease_until.as_millis())
        .bind(import_id)
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn save_import_batch(
        &self,
        import_id: &str,
        processed: i64,
        rows: &[ImportRow],
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let Some(job) = sqlx::query(
            "select connector_id from contact_imports
             where import_id = $1 and status = 'running' and processed = $2",
        )
        .bind(import_id)
        .bind(processed)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(false);
        };
        let connector_id: String = job.try_get("connector_id")?;
        let (mut added, mut updated, mut failed) = (0i64, 0i64, 0i64);
        for row in rows {
            match row {
                ImportRow::Invalid { line, message } => {
                    failed += 1;
                    sqlx::query(
                        "insert into contact_import_errors (import_id, line, message) values ($1, $2, $3)",
                    )
                    .bind(import_id)
                    .bind(i64::try_from(*line).unwrap_or(i64::MAX))
                    .bind(message)
                    .execute(&mut *tx)
                    .await?;
                }
                ImportRow::Valid {
                    name,
                    email,
                    how_known,
                    notes,
                    ..
                } => {
                    let exists = sqlx::query(
                        "select 1 as one from contacts where connector_id = $1 and email_key = $2",
                    )
                    .bind(&connector_id)
                    .bind(email.normalized())
                    .fetch_optional(&mut *tx)
                    .await?
                    .is_some();
                    if exists {
                        updated += 1
                    } else {
                        added += 1
                    }
                    // The file is the connector's own word: it sets the name,
                    // and the other fields where it has something to say.
                    sqlx::query(
                        "insert into contacts (contact_id, connector_id, name, name_key, email, email_key,
                             how_known, notes, created_at, updated_at, last_used_at)
                         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, null)
                         on conflict (connector_id, email_key) do update set
                             name = excluded.name, name_key = excluded.name_key,
                             how_known = case when excluded.how_known = '' then contacts.how_known else excluded.how_known end,
                             notes = case when excluded.notes = '' then contacts.notes else excluded.notes end,
                             updated_at = excluded.updated_at",
                    )
                    .bind(new_id())
                    .bind(&connector_id)
                    .bind(name.as_str())
                    .bind(name_key(name.as_str()))
                    .bind(email.as_str())
                    .bind(email.normalized())
                    .bind(how_known.as_str())
                    .bind(notes.as_str())
                    .bind(now.as_millis())
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        sqlx::query(
            "update contact_imports set processed = processed + $1, added = added + $2,
                 updated = updated + $3, failed = failed + $4, lease_until = $5
             where import_id = $6",
        )
        .bind(i64::try_from(rows.len()).unwrap_or(i64::MAX))
        .bind(added)
        .bind(updated)
        .bind(failed)
        .bind(lease_until.as_millis())
        .bind(import_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn finish_import(&self, import_id: &str, now: Timestamp) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "update contact_imports set status = 'done', input = '', finished_at = $1
             where import_id = $2 and status = 'running'",
        )
        .bind(now.as_millis())
        .bind(import_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
