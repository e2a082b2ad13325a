//! Outbox delivery: claim due rows under a lease, render, send, record.

use futures_util::StreamExt as _;
use tracing::Instrument;

use crate::domain::machine::Command;
use crate::domain::{Intro, Timestamp, Token, TokenHash};
use crate::mail::{Links, MessageParts, OutgoingMessage, SendError, build_message};
use crate::store::{
    Connector, ConnectorSettings, DeliveryFacts, OutboxItem, OutboxKind, Purpose, Recipient,
    StoreError,
};

use super::delivery_plan::{DAY, SUPPRESSED, daily_cap_holds, has_preferences_footer, obsolete};
use super::{Worker, full_jitter};

/// What a claimed batch read before sending, and when.
#[derive(Clone, Copy)]
struct Batch<'a> {
    facts: &'a DeliveryFacts,
    read_at: Timestamp,
}

/// Rows claimed per pass; `IN_FLIGHT_PER_CONNECTION` per SMTP connection are in hand at a time.
const BATCH: u32 = 64;
/// Emails of a batch in hand at once per SMTP connection: while one is on
/// the wire, the one before it waits for its record's group commit instead
/// of holding the connection idle. An email sent but not yet recorded is
/// sent again after a crash, so this bounds the duplicates a crash can
/// cause: twice `smtp-pool-size` per worker process.
const IN_FLIGHT_PER_CONNECTION: usize = 2;
/// How long a batch's facts are trusted before an email reads its own again.
const FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(1);
/// With the default backoff (30s doubling to 2h) this is about two days.
const MAX_ATTEMPTS: u32 = 30;

impl Worker {
    fn backoff(&self, attempts: u32) -> std::time::Duration {
        let base = self.settings.retry_base;
        let max = self.settings.retry_max;
        full_jitter(base, max, attempts.saturating_sub(1), rand::random::<f64>())
    }

    /// Sends every email that is due; returns how many it handled.
    pub(crate) async fn deliver_due(&self) -> anyhow::Result<usize> {
        let now = self.clock.now();
        let lease_until = now.plus(self.settings.lease);
        let items = self
            .store
            .claim_outbox(&self.id, now, lease_until, BATCH)
            .await?;
        if items.is_empty() {
            return Ok(0);
        }
        // What every email of the batch needs, read for all of them at once.
        let facts = match self
            .store
            .delivery_facts(&items, now.minus(DAY), &self.preference_tokens(&items))
            .await
        {
            Ok(facts) => facts,
            Err(e) => {
                // Give the batch back at once rather than let it sit out
                // its lease.
                for item in &items {
                    let _ = self.store.outbox_release(&item.id, &self.id).await;
                }
                return Err(e.into());
            }
        };
        let holds = daily_cap_holds(&items, &facts, now, self.settings.max_asks_per_day);
        let batch = Batch {
            facts: &facts,
            read_at: self.clock.now(),
        };
        // Several sends at once, two per connection the transport carries
        // (the SMTP pool's size): one at a time left all but one connection
        // idle, and their records now share group commits.
        let sends: Vec<_> = items
            .iter()
            .map(|item| {
                self.handle(
                    item,
                    batch,
                    holds.get(item.id.as_str()).copied(),
                    lease_until,
                )
            })
            .collect();
        let results: Vec<anyhow::Result<()>> = futures_util::stream::iter(sends)
            .buffer_unordered(IN_FLIGHT_PER_CONNECTION * self.transport.parallelism().max(1))
            .collect()
            .await;
        results.into_iter().collect::<anyhow::Result<()>>()?;
        Ok(items.len())
    }

    /// Sends one claimed row, or gives it back when too little of the lease
    /// is left to finish; a failed send is recorded for retry or as failed.
    async fn handle(
        &self,
        item: &OutboxItem,
        batch: Batch<'_>,
        hold: Option<Timestamp>,
        lease_until: Timestamp,
    ) -> anyhow::Result<()> {
        if self.clock.now().plus(self.settings.lease / 3) >= lease_until {
            self.store.outbox_release(&item.id, &self.id).await?;
            return Ok(());
        }
        if let Err(e) = self.deliver(item, batch, hold, lease_until).await {
            // One bad row must not hold up the rest of the batch.
            let why = format!("{e:#}");
            if item.attempts >= MAX_ATTEMPTS {
                tracing::error!(outbox = %item.id, error = %why, "delivery keeps failing; giving up");
                self.store
                    .outbox_failed(&item.id, &self.id, &why, self.clock.now())
                    .await?;
            } else {
                tracing::error!(outbox = %item.id, error = %why, "delivery failed; will retry");
                let at = self.clock.now().plus(self.backoff(item.attempts));
                self.store
                    .outbox_retry(&item.id, &self.id, at, &why)
                    .await?;
            }
        }
        Ok(())
    }

    async fn deliver(
        &self,
        item: &OutboxItem,
        batch: Batch<'_>,
        hold: Option<Timestamp>,
        lease_until: Timestamp,
    ) -> anyhow::Result<()> {
        let span = tracing::info_span!("deliver", outbox = %item.id, kind = item.kind.as_str(), attempt = item.attempts);
        self.deliver_in_span(item, batch, hold, lease_until)
            .instrument(span)
            .await
    }

    async fn deliver_in_span(
        &self,
        item: &OutboxItem,
        batch: Batch<'_>,
        hold: Option<Timestamp>,
        lease_until: Timestamp,
    ) -> anyhow::Result<()> {
        if item.kind.is_about_request() {
            return self.deliver_request_mail(item, lease_until).await;
        }
        // A batch that sends slowly (a rate limit, a slow server) must not
        // act on what it read long ago: an intro closed, a person who
        // unsubscribed or was erased meanwhile. Its later emails read their
        // own facts again.
        let fresh;
        let facts = if self.clock.now() > batch.read_at.plus(FRESH_FOR) {
            let one = std::slice::from_ref(item);
            fresh = self
                .store
                .delivery_facts(
                    one,
                    self.clock.now().minus(DAY),
                    &self.preference_tokens(one),
                )
                .await?;
            &fresh
        } else {
            batch.facts
        };
        let intro = facts.intro(&item.intro_id).ok_or(StoreError::NotFound)?;
        let (connector, settings) = facts
            .connector(&item.connector_id)
            .ok_or(StoreError::NotFound)?;
        if let Some(why) = obsolete(item, intro, facts) {
            if why == SUPPRESSED {
                self.opted_out(item, intro).await?;
            }
            tracing::info!(why, "email no longer needed; not sent");
            self.store.outbox_skipped(&item.id, &self.id, why).await?;
            return Ok(());
        }
        if let Some(until) = hold {
            tracing::info!(until = %until, "this address had its asks for today; the ask waits");
            self.store.outbox_hold(&item.id, &self.id, until).await?;
            return Ok(());
        }
        let preferences_url = has_preferences_footer(item)
            .then(|| self.token(Purpose::Preferences, &item.id))
            .filter(|token| facts.has_preference_token(&token.hash()))
            .map(|token| self.url("p", &token));
        let message = match self.build(item, intro, connector, settings, preferences_url) {
            Ok(message) => message,
            Err(e) => {
                tracing::error!(error = %e, "email could not be built");
                self.store
                    .outbox_failed(&item.id, &self.id, &e.to_string(), self.clock.now())
                    .await?;
                return Ok(());
            }
        };
        self.send_and_record(item, &message, lease_until).await
    }

    /// Sends a built email and records what happened: sent; retried later
    /// with backoff after a temporary failure; failed for good after a
    /// permanent one, or after `MAX_ATTEMPTS`. The whole send, connecting and
    /// any rate wait included, must end inside the lease with room to record
    /// it: otherwise another worker could take the row over while this one is
    /// still sending, so with too little lease left the row is given back.
    pub(super) async fn send_and_record(
        &self,
        item: &OutboxItem,
        message: &OutgoingMessage,
        lease_until: Timestamp,
    ) -> anyhow::Result<()> {
        let room = self
            .clock
            .now()
            .until(lease_until)
            .saturating_sub(self.settings.lease / 6);
        if room < self.settings.lease / 6 {
            self.store.outbox_release(&item.id, &self.id).await?;
            return Ok(());
        }
        let sent = match tokio::time::timeout(room, self.transport.send(message)).await {
            Ok(sent) => sent,
            Err(_) => Err(SendError::Temporary(
                "the send ran out of lease time".into(),
            )),
        };
        match sent {
            Ok(()) => {
                if !self
                    .store
                    .outbox_sent(&item.id, &self.id, self.clock.now())
                    .await?
                {
                    tracing::warn!("sent, but the lease had passed to another worker");
                } else {
                    tracing::info!("email sent");
                }
            }
            Err(SendError::Temporary(e)) if item.attempts >= MAX_ATTEMPTS => {
                tracing::error!(error = %e, "temporary failures for too long; giving up");
                let why = format!("gave up after {} attempts; last: {e}", item.attempts);
                self.store
                    .outbox_failed(&item.id, &self.id, &why, self.clock.now())
                    .await?;
            }
            Err(SendError::Temporary(e)) => {
                let delay = self.backoff(item.attempts);
                tracing::warn!(error = %e, retry_in = ?delay, "temporary failure; will retry");
                self.store
                    .outbox_retry(&item.id, &self.id, self.clock.now().plus(delay), &e)
                    .await?;
            }
            Err(SendError::Permanent(e)) => {
                tracing::error!(error = %e, "the server refused this email for good");
                self.store
                    .outbox_failed(&item.id, &self.id, &e, self.clock.now())
                    .await?;
            }
        }
        Ok(())
    }

    /// Opting out of asks is this person's answer: the intro closes and the
    /// connector is told, instead of waiting for an expiry.
    async fn opted_out(&self, item: &OutboxItem, intro: &Intro) -> anyhow::Result<()> {
        let (OutboxKind::Ask | OutboxKind::Reminder, Some(role)) =
            (item.kind, item.recipient.role())
        else {
            return Ok(());
        };
        let command = Command::OptOut { role };
        match self
            .store
            .apply(&intro.id, None, command, self.context())
            .await
        {
            Ok(_) | Err(StoreError::Machine(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The hashes of the preferences tokens the footers of `items` would link to.
    fn preference_tokens(&self, items: &[OutboxItem]) -> Vec<TokenHash> {
        items
            .iter()
            .filter(|item| has_preferences_footer(item))
            .map(|item| self.token(Purpose::Preferences, &item.id).hash())
            .collect()
    }

    fn token(&self, purpose: Purpose, outbox_id: &str) -> Token {
        Token::derive(
            &self.settings.token_secret,
            &crate::store::token_context(purpose, outbox_id),
        )
    }

    fn link(&self, path: &str, purpose: Purpose, outbox_id: &str) -> String {
        self.url(path, &self.token(purpose, outbox_id))
    }

    fn url(&self, path: &str, token: &Token) -> String {
        format!("{}/{path}/{}", self.settings.base_url, token.expose())
    }

    /// Builds the MIME message, signs it when DKIM is set, and wraps it for
    /// a transport.
    pub(super) fn finish_message(
        &self,
        item: &OutboxItem,
        parts: &MessageParts<'_>,
        rendered: &crate::mail::Rendered,
    ) -> anyhow::Result<OutgoingMessage> {
        let mut message = build_message(parts, rendered)?;
        if let Some(signer) = &self.settings.dkim {
            signer.sign(&mut message);
        }
        Ok(OutgoingMessage {
            outbox_id: item.id.clone(),
            message_id: item.message_id.clone(),
            envelope: message.envelope().clone(),
            raw: message.formatted(),
        })
    }

    fn build(
        &self,
        item: &OutboxItem,
        intro: &Intro,
        connector: &Connector,
        settings: &ConnectorSettings,
        preferences_url: Option<String>,
    ) -> anyhow::Result<OutgoingMessage> {
        let mut links = Links {
            preferences_url,
            ..Links::default()
        };
        let mut list_unsubscribe = None;
        match item.kind {
            OutboxKind::Ask | OutboxKind::Reminder => {
                links.decision_url = Some(self.link("o", Purpose::Decide, &item.id));
                let unsubscribe = self.link("u", Purpose::Unsubscribe, &item.id);
                list_unsubscribe = Some(unsubscribe.clone());
                links.unsubscribe_url = Some(unsubscribe);
            }
            OutboxKind::FollowUp => {
                links.follow_up_url = Some(self.link("f", Purpose::FollowUp, &item.id))
            }
            _ => {}
        }
        let own = &settings.timings.apply(&self.settings.timings);
        let rendered = self.composer.render_with(
            item,
            intro,
            connector,
            &links,
            own.expire_after,
            Some(&settings.wording),
        )?;
        let sender_name = settings
            .sender_name
            .as_ref()
            .map(|n| n.as_str())
            .unwrap_or(connector.name.as_str());
        let connector_box = (connector.name.as_str(), &connector.email);
        let reply_box = (
            sender_name,
            settings.reply_to.as_ref().unwrap_or(&connector.email),
        );
        let party_box = |role: crate::domain::Role| {
            let p = intro.party(role);
            (p.name.as_str(), &p.email)
        };
        let (to, cc, reply_to) = match item.recipient {
            Recipient::Requester | Recipient::Target => {
                let role = item
                    .recipient
                    .role()
                    .ok_or_else(|| anyhow::anyhow!("no role"))?;
                (vec![party_box(role)], vec![], vec![reply_box])
            }
            Recipient::Connector => (vec![connector_box], vec![], vec![]),
            Recipient::BothParties => {
                let both = vec![
                    party_box(crate::domain::Role::Requester),
                    party_box(crate::domain::Role::Target),
                ];
                (both.clone(), vec![connector_box], both)
            }
        };
        let parts = MessageParts {
            message_id: &item.message_id,
            from_name: sender_name,
            from_address: &self.settings.mail_from,
            to,
            cc,
            reply_to,
            auto_submitted: item.kind != OutboxKind::Introduction,
            list_unsubscribe_mailto: list_unsubscribe.as_ref().map(|_| {
                format!(
                    "mailto:{}?subject=Please%20stop%20sending%20me%20intro%20requests",
                    connector.email
                )
            }),
            list_unsubscribe,
            date: self.clock.now(),
        };
        self.finish_message(item, &parts, &rendered)
    }
}
