//! Delivery of the emails about a request from the public page: the
//! requester's confirmation link and the connector's kind "no". They belong
//! to a request, not an intro, so they are rendered here; the lease, retry
//! and failure rules are those of every other outbox row.

use serde_json::json;

use crate::domain::{EmailAddress, PersonName, Timestamp, Token};
use crate::mail::{MessageParts, OutgoingMessage};
use crate::store::{
    Connector, ConnectorSettings, IntroRequest, OutboxItem, OutboxKind, RequestStatus,
    confirm_token_context,
};

use super::Worker;

impl Worker {
    pub(super) async fn deliver_request_mail(
        &self,
        item: &OutboxItem,
        lease_until: Timestamp,
    ) -> anyhow::Result<()> {
        let Some(request) = self.store.request_for_outbox(&item.id).await? else {
            self.store
                .outbox_skipped(&item.id, &self.id, "the request is gone")
                .await?;
            return Ok(());
        };
        let now = self.clock.now();
        let stale = item.kind == OutboxKind::RequestConfirm
            && (request.status != RequestStatus::Unconfirmed || request.confirm_expires_at <= now);
        if stale {
            tracing::info!("confirmation link no longer usable; not sent");
            self.store
                .outbox_skipped(&item.id, &self.id, "the confirmation link expired unsent")
                .await?;
            return Ok(());
        }
        let connector = self.store.connector(&request.connector_id).await?;
        let settings = self.store.connector_settings(&connector.id).await?;
        let message = match self.build_request_mail(item, &request, &connector, &settings) {
            Ok(message) => message,
            Err(e) => {
                tracing::error!(error = %e, "email could not be built");
                self.store
                    .outbox_failed(&item.id, &self.id, &e.to_string(), now)
                    .await?;
                return Ok(());
            }
        };
        self.send_and_record(item, &message, lease_until).await
    }

    fn build_request_mail(
        &self,
        item: &OutboxItem,
        request: &IntroRequest,
        connector: &Connector,
        settings: &ConnectorSettings,
    ) -> anyhow::Result<OutgoingMessage> {
        let requester_name = PersonName::parse(&request.requester_name)?;
        let requester_email = EmailAddress::parse(&request.requester_email)?;
        let mut ctx = json!({
            "connector": {
                "name": connector.name.as_str(),
                "first_name": connector.name.first_name(),
                "email": connector.email.as_str(),
            },
            "requester": {
                "name": requester_name.as_str(),
                "first_name": requester_name.first_name(),
            },
            "wants_to_meet": request.wants_to_meet,
            "message": request.decline_message,
        });
        if item.kind == OutboxKind::RequestConfirm {
            let token = Token::derive(
                &self.settings.token_secret,
                &confirm_token_context(&item.id),
            );
            ctx["confirm_url"] = json!(format!(
                "{}/r/confirm/{}",
                self.settings.base_url,
                token.expose()
            ));
            ctx["expires_on"] = json!(request.confirm_expires_at.human_date());
        }
        let rendered = self.composer.render_request(item.kind, ctx)?;
        let sender_name = settings
            .sender_name
            .as_ref()
            .map_or(connector.name.as_str(), |n| n.as_str());
        let reply_to = settings.reply_to.as_ref().unwrap_or(&connector.email);
        let parts = MessageParts {
            message_id: &item.message_id,
            from_name: sender_name,
            from_address: &self.settings.mail_from,
            to: vec![(requester_name.as_str(), &requester_email)],
            cc: vec![],
            reply_to: vec![(sender_name, reply_to)],
            auto_submitted: true,
            list_unsubscribe: None,
            list_unsubscribe_mailto: None,
            date: self.clock.now(),
        };
        self.finish_message(item, &parts, &rendered)
    }
}
