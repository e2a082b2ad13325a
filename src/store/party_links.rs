//! What an emailed link opens, read in one statement: the token, its intro,
//! and its connector's name and own timings. A decision page is the most
//! requested page; every statement costs a hand-off to SQLite's thread, so
//! one read instead of five is most of its speed (see the README's
//! performance section).

use super::rows::{Columns, intro_from_row, intro_select};
use super::sql::SqlStore;
use super::{PartyToken, Purpose, StoreError, StoreResult};
use crate::domain::{Intro, PersonName, Role, Timestamp, TimingOverrides, TokenHash};

/// A link's token with everything its page needs.
#[derive(Debug, Clone)]
pub struct PartyLink {
    pub token: PartyToken,
    pub intro: Intro,
    pub connector_name: PersonName,
    /// The connector's own timings (applied over the installation's).
    pub timings: TimingOverrides,
    /// How many writes the intro's state had when read (see `Store::apply_seen`).
    pub version: i64,
}

/// The token's row (and its hash) with its intro, connector name and own
/// timings, for the links whose condition follows.
macro_rules! party_link_select {
    () => {
        concat!(
            "select x.*, pt.token_hash as token_hash, pt.role as token_role,",
            " pt.purpose as token_purpose, pt.outbox_id as token_outbox,",
            " pt.expires_at as token_expires, c.name as connector_name, cs.timings as own_timings",
            " from party_tokens pt",
            " join (",
            intro_select!(),
            ") x on x.intro_id = pt.intro_id",
            " join connectors c on c.connector_id = x.connector_id",
            " left join connector_settings cs on cs.connector_id = x.connector_id",
        )
    };
}

/// One link.
pub(super) const PARTY_LINK_SQL: &str = concat!(party_link_select!(), " where pt.token_hash = $1");

/// The links whose hashes are in `$1`, a JSON array (PostgreSQL only; see
/// `link_batches`).
pub(super) const PARTY_LINKS_SQL: &str = concat!(
    party_link_select!(),
    " where pt.token_hash in (select jsonb_array_elements_text(cast($1 as jsonb)))"
);

impl SqlStore {
    pub(super) async fn party_link_query(
        &self,
        hash: &TokenHash,
    ) -> StoreResult<Option<PartyLink>> {
        self.read_one(PARTY_LINK_SQL, &[hash.as_str()], |row| {
            party_link_from_row(row)
        })
        .await
    }
}

pub(super) fn party_link_from_row(row: &(impl Columns + ?Sized)) -> StoreResult<PartyLink> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("token {what}"));
    let intro = intro_from_row(row)?;
    let token = PartyToken {
        intro_id: intro.id.clone(),
        role: Role::parse(&row.required_text("token_role")?).ok_or_else(|| corrupt("role"))?,
        purpose: Purpose::parse(&row.required_text("token_purpose")?)
            .ok_or_else(|| corrupt("purpose"))?,
        outbox_id: row.required_text("token_outbox")?,
        expires_at: Timestamp::from_millis(row.required_int("token_expires")?),
    };
    let connector_name = PersonName::parse(&row.required_text("connector_name")?)
        .map_err(|_| corrupt("connector name"))?;
    let timings = row
        .text("own_timings")?
        .map(|json| TimingOverrides::from_json(&json))
        .unwrap_or_default();
    Ok(PartyLink {
        token,
        intro,
        connector_name,
        timings,
        version: row.required_int("version")?,
    })
}
