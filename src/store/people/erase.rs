//! `person erase`: one transaction that leaves an address's owner only as
//! pseudonymous placeholders in the intros they were in, and as a hash in
//! the suppression list.

use serde_json::Value;
use sqlx::{AnyConnection, Row};

use super::scrub::{ERASED_TEXT, Scrubber, TEXT_TABLES, exec, scrub_json, scrub_table, strings};
use super::{ERASED_NAME, Erasure, placeholder_address};
use crate::domain::{EmailAddress, Timestamp};
use crate::store::rows::{intro_from_row, intro_select, search_terms};
use crate::store::sql::{Backend, SqlStore, new_id};
use crate::store::{StoreError, StoreResult};

impl SqlStore {
    pub(super) async fn erase_person_tx(
        &self,
        email: &EmailAddress,
        now: Timestamp,
    ) -> StoreResult<Erasure> {
        let key = email.normalized();
        let placeholder = placeholder_address(&self.options.token_secret, email);
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        if self.backend == Backend::Postgres {
            // Nobody decides on one of their intros while it is being erased.
            sqlx::query(
                "select intro_id from intros where intro_id in (select intro_id from parties where email_key = $1) for update",
            )
            .bind(&key)
            .fetch_all(&mut *conn)
            .await?;
        }
        if !strings(
            conn,
            "select connector_id from connectors where email_key = $1",
            &key,
        )
        .await?
        .is_empty()
        {
            return Err(StoreError::Conflict(format!(
                "{email} is a connector's account address; person erase forgets the people of intros, contacts and requests, not accounts"
            )));
        }
        let open = strings(
            conn,
            "select i.intro_id from intros i join parties p on p.intro_id = i.intro_id
             where p.email_key = $1 and i.status in ('asking', 'snoozed')",
            &key,
        )
        .await?;
        if let Some(id) = open.first() {
            return Err(StoreError::Conflict(format!(
                "intro {id} of theirs is still in progress; cancel it first"
            )));
        }

        // Every name they went by, and their address, as written anywhere.
        let mut needles =
            strings(conn, "select name from parties where email_key = $1", &key).await?;
        needles
            .extend(strings(conn, "select name from contacts where email_key = $1", &key).await?);
        needles.extend(
            strings(
                conn,
                "select requester_name from requests where requester_email_key = $1",
                &key,
            )
            .await?,
        );
        needles.push(key.clone());
        needles.sort();
        needles.dedup();
        let pairs: Vec<(&str, &str)> = needles.iter().map(|n| (n.as_str(), ERASED_TEXT)).collect();
        let scrubber = Scrubber::new(&pairs);

        let mut done = Erasure {
            placeholder: placeholder.clone(),
            ..Erasure::default()
        };
        // Every written email of their intros and requests names them.
        done.outbox_ids = strings(conn, "select outbox_id from outbox where intro_id in (select intro_id from parties where email_key = $1)", &key).await?;
        done.outbox_ids.extend(
            strings(conn, "select outbox_id from outbox where request_id in (select request_id from requests where requester_email_key = $1)", &key).await?,
        );

        // Emails not sent yet that would reach them, or ask the other party
        // about a connection with them, never go. The other party's relay
        // does: it names only the placeholder.
        done.emails_dropped = sqlx::query(
            "update outbox set status = 'skipped', last_error = 'the recipient asked to be forgotten',
                 lease_owner = null, lease_until = null, sent_at = $2
             where status = 'pending' and outbox_id in (
                 select o.outbox_id from outbox o join parties p on p.intro_id = o.intro_id
                 where p.email_key = $1 and (o.recipient = p.role or o.recipient = 'both' or o.kind = 'follow_up'))",
        )
        .bind(&key)
        .bind(now.as_millis())
        .execute(&mut *conn)
        .await?
        .rows_affected();

        for t in TEXT_TABLES {
            done.rows_scrubbed += scrub_table(conn, t, &scrubber, &key, &needles).await?;
        }
        let payloads = sqlx::query(
            "select outbox_id, payload from outbox where intro_id in (select intro_id from parties where email_key = $1)",
        )
        .bind(&key)
        .fetch_all(&mut *conn)
        .await?;
        for row in &payloads {
            let text: String = row.try_get("payload")?;
            let Ok(mut payload) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            if scrub_json(&mut payload, &scrubber) {
                sqlx::query("update outbox set payload = $1 where outbox_id = $2")
                    .bind(payload.to_string())
                    .bind(row.try_get::<String, _>("outbox_id")?)
                    .execute(&mut *conn)
                    .await?;
                done.rows_scrubbed += 1;
            }
        }
        // An import still running may hold them in its uploaded text.
        let imports = sqlx::query("select import_id, input from contact_imports where input <> ''")
            .fetch_all(&mut *conn)
            .await?;
        for row in &imports {
            let input: String = row.try_get("input")?;
            if !input.lines().any(|l| scrubber.scrub(l).is_some()) {
                continue;
            }
            let kept: Vec<&str> = input
                .lines()
                .map(|l| if scrubber.scrub(l).is_some() { "" } else { l })
                .collect();
            sqlx::query("update contact_imports set input = $1 where import_id = $2")
                .bind(kept.join("\n"))
                .bind(row.try_get::<String, _>("import_id")?)
                .execute(&mut *conn)
                .await?;
            done.rows_scrubbed += 1;
        }

        let intro_ids = strings(
            conn,
            "select intro_id from parties where email_key = $1",
            &key,
        )
        .await?;
        for (sql, bound) in [
            ("delete from party_tokens where exists (select 1 from parties p where p.intro_id = party_tokens.intro_id
                  and p.role = party_tokens.role and p.email_key = $1)", key.clone()),
            ("delete from intro_search where intro_id in (select intro_id from parties where email_key = $1)", key.clone()),
            ("delete from contacts where email_key = $1", key.clone()),
            ("delete from outbox where request_id in (select request_id from requests where requester_email_key = $1)", key.clone()),
            ("delete from requests where requester_email_key = $1", key.clone()),
            ("delete from login_failures where key = $1", format!("email:{key}")),
            ("delete from preferences where email_hash = $1", self.address_hash(email)),
        ] {
            done.rows_removed += exec(conn, sql, &bound).await?;
        }
        // A decision read before this erasure must not write the old notes
        // back: a new version sends it back to read again
        // (`store/unlocked_decisions.rs`).
        sqlx::query(
            "update intros set version = version + 1
             where intro_id in (select intro_id from parties where email_key = $1)",
        )
        .bind(&key)
        .execute(&mut *conn)
        .await?;
        done.intros_pseudonymised = sqlx::query(
            "update parties set name = $1, email = $2, email_key = $2, blurb = null, intro_note = null,
                 private_reason = null
             where email_key = $3",
        )
        .bind(ERASED_NAME)
        .bind(&placeholder)
        .bind(&key)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        // Their intros stay findable by the other party's name and address.
        for id in &intro_ids {
            let row = sqlx::query(concat!(intro_select!(), " where i.intro_id = $1"))
                .bind(id)
                .fetch_one(&mut *conn)
                .await?;
            let intro = intro_from_row(&row)?;
            for term in search_terms(&intro) {
                sqlx::query(
                    "insert into intro_search (connector_id, term, intro_id) values ($1, $2, $3)
                     on conflict do nothing",
                )
                .bind(&intro.connector_id)
                .bind(term)
                .bind(&intro.id)
                .execute(&mut *conn)
                .await?;
            }
        }
        sqlx::query(
            "insert into suppressions (suppression_id, email_hash, connector_id, created_at) values ($1, $2, '', $3)
             on conflict (email_hash, connector_id) do nothing",
        )
        .bind(new_id())
        .bind(self.address_hash(email))
        .bind(now.as_millis())
        .execute(&mut *conn)
        .await?;
        tx.commit().await?;
        Ok(done)
    }

    pub(super) async fn compact_after_erase_sqlite(&self) -> StoreResult<()> {
        if self.backend != Backend::Sqlite {
            return Ok(());
        }
        let mut conn = self.pool.acquire().await?;
        for step in [
            "pragma wal_checkpoint(truncate)",
            "vacuum",
            "pragma wal_checkpoint(truncate)",
        ] {
            // A checkpoint another connection is running (each process has a
            // thread for them: `sqlite_checkpoints`) makes this one say busy
            // at once; it is over within moments, so try again for a while.
            let mut tries = 0;
            loop {
                let row = sqlx::query(step).fetch_optional(&mut *conn).await?;
                let busy = match row {
                    Some(r) => r.try_get::<i64, _>(0)?,
                    None => 0,
                };
                if busy == 0 {
                    break;
                }
                tries += 1;
                if tries >= CHECKPOINT_TRIES {
                    return Err(StoreError::Conflict(
                        "the database's write-ahead log could not be emptied while others were writing to it; run the same `twoyes person erase` again".into(),
                    ));
                }
                tokio::time::sleep(CHECKPOINT_RETRY).await;
            }
        }
        Ok(())
    }
}

/// How often, and how far apart, an erasure tries to empty the write-ahead
/// log while other checkpoints are running: five seconds in all.
const CHECKPOINT_TRIES: u32 = 100;
const CHECKPOINT_RETRY: std::time::Duration = std::time::Duration::from_millis(50);
