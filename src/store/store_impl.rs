//! `Store` for `SqlStore`: each method is one use case of the files beside it.

use std::sync::Arc;

use async_trait::async_trait;

use super::sql::{Backend, SqlStore};
use super::*;

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }

    fn wakeups(&self) -> Arc<tokio::sync::Notify> {
        self.wake.clone()
    }

    fn start_wakeup_listener(&self) {
        SqlStore::start_wakeup_listener(self);
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn add_connector(&self, new: NewConnector, now: Timestamp) -> StoreResult<Connector> {
        self.add_connector_tx(new, None, now).await
    }
    async fn connector(&self, connector_id: &str) -> StoreResult<Connector> {
        self.connector_query(connector_id).await
    }
    async fn connector_by_email(&self, email: &EmailAddress) -> StoreResult<Option<Connector>> {
        self.connector_by_email_query(email).await
    }
    async fn add_api_token(
        &self,
        connector_id: &str,
        hash: &TokenHash,
        now: Timestamp,
    ) -> StoreResult<()> {
        self.add_api_token_tx(connector_id, hash, now).await
    }
    async fn connector_by_api_token(&self, hash: &TokenHash) -> StoreResult<Option<Connector>> {
        self.connector_by_api_token_query(hash).await
    }

    async fn create_intro(&self, intro: Intro, ctx: Context) -> StoreResult<Intro> {
        self.create_intro_tx(intro, ctx, None).await
    }
    async fn create_intro_from_request(
        &self,
        intro: Intro,
        ctx: Context,
        request_id: &str,
    ) -> StoreResult<Intro> {
        self.create_intro_tx(intro, ctx, Some(request_id)).await
    }
    async fn apply(
        &self,
        intro_id: &str,
        connector_id: Option<&str>,
        command: Command,
        ctx: Context,
    ) -> StoreResult<Intro> {
        self.apply_tx(intro_id, connector_id, command, ctx).await
    }
    async fn apply_seen(
        &self,
        link: &PartyLink,
        command: Command,
        ctx: Context,
    ) -> StoreResult<Intro> {
        self.apply_seen_tx(link, command, ctx).await
    }
    async fn apply_due(&self, intro_id: &str, ctx: Context) -> StoreResult<bool> {
        self.apply_due_tx(intro_id, ctx).await
    }
    async fn intro(&self, intro_id: &str, connector_id: Option<&str>) -> StoreResult<Intro> {
        self.intro_query(intro_id, connector_id).await
    }
    async fn list_intros(&self, filter: &IntroFilter) -> StoreResult<Vec<Intro>> {
        self.list_intros_query(filter).await
    }
    async fn events(&self, intro_id: &str) -> StoreResult<Vec<EventRecord>> {
        self.events_query(intro_id).await
    }
    async fn outbox_for_intro(&self, intro_id: &str) -> StoreResult<Vec<OutboxItem>> {
        self.outbox_for_intro_query(intro_id).await
    }
    async fn due_intro_ids(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<String>> {
        self.due_intro_ids_query(now, limit).await
    }
    async fn next_due_at(&self) -> StoreResult<Option<Timestamp>> {
        self.next_due_at_query().await
    }

    async fn party_token(&self, hash: &TokenHash) -> StoreResult<Option<PartyToken>> {
        self.party_token_query(hash).await
    }
    async fn party_link(&self, hash: &TokenHash) -> StoreResult<Option<PartyLink>> {
        match &self.links {
            Some(links) => links.read(hash.as_str()).await,
            None => self.party_link_query(hash).await,
        }
    }
    async fn suppress(
        &self,
        email: &EmailAddress,
        connector_id: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<()> {
        self.suppress_tx(email, connector_id, now).await
    }
    async fn record_late_answer(
        &self,
        intro_id: &str,
        role: Role,
        answer: &LateAnswer,
    ) -> StoreResult<()> {
        self.record_late_answer_tx(intro_id, role, answer).await
    }
    async fn late_answer(&self, intro_id: &str, role: Role) -> StoreResult<Option<LateAnswer>> {
        self.late_answer_query(intro_id, role).await
    }
    async fn record_follow_up(
        &self,
        intro_id: &str,
        role: Role,
        answer: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        self.record_follow_up_tx(intro_id, role, answer, now).await
    }
    async fn follow_up_answer(&self, intro_id: &str, role: Role) -> StoreResult<Option<String>> {
        self.follow_up_answer_query(intro_id, role).await
    }

    async fn claim_outbox(
        &self,
        worker: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<OutboxItem>> {
        self.claim_outbox_tx(worker, now, lease_until, limit).await
    }
    async fn outbox_sent(
        &self,
        outbox_id: &str,
        worker: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.outbox_sent_tx(outbox_id, worker, now).await
    }
    async fn outbox_retry(
        &self,
        outbox_id: &str,
        worker: &str,
        at: Timestamp,
        error: &str,
    ) -> StoreResult<bool> {
        self.outbox_retry_tx(outbox_id, worker, at, error).await
    }
    async fn outbox_failed(
        &self,
        outbox_id: &str,
        worker: &str,
        error: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.outbox_failed_tx(outbox_id, worker, error, now).await
    }
    async fn outbox_release(&self, outbox_id: &str, worker: &str) -> StoreResult<bool> {
        self.outbox_release_tx(outbox_id, worker).await
    }
    async fn outbox_skipped(&self, outbox_id: &str, worker: &str, why: &str) -> StoreResult<bool> {
        self.outbox_skipped_tx(outbox_id, worker, why).await
    }
    async fn next_outbox_at(&self) -> StoreResult<Option<Timestamp>> {
        self.next_outbox_at_query().await
    }

    async fn metrics(&self, now: Timestamp) -> StoreResult<MetricsSnapshot> {
        self.metrics_query(now).await
    }
}
