//! What a claimed batch decides before anything is sent: which emails are
//! no longer needed, and which asks wait for the daily cap. Pure: it reads
//! only the batch's `DeliveryFacts`.

use std::collections::HashMap;

use crate::domain::{Consent, Intro, Timestamp};
use crate::store::{DeliveryFacts, OutboxItem, OutboxKind};

pub(super) const DAY: std::time::Duration = std::time::Duration::from_secs(86_400);

/// How soon an ask held back only by its own batch's asks is looked at again.
const RECHECK: std::time::Duration = std::time::Duration::from_secs(60);

pub(super) const SUPPRESSED: &str = "the recipient asked not to be contacted";

/// Why an email is no longer to be sent, if it is not: an ask or reminder
/// whose person was no longer waiting to be asked by the time it could go,
/// or any email to a party who asked not to be contacted.
pub(super) fn obsolete(
    item: &OutboxItem,
    intro: &Intro,
    facts: &DeliveryFacts,
) -> Option<&'static str> {
    let role = item.recipient.role()?;
    let party = intro.party(role);
    let is_ask = matches!(item.kind, OutboxKind::Ask | OutboxKind::Reminder);
    if is_ask && (intro.status.is_final() || party.consent != Consent::Asked) {
        return Some("the intro moved on before this ask could be sent");
    }
    facts
        .is_suppressed(&party.email, &intro.connector_id)
        .then_some(SUPPRESSED)
}

/// Emails to one party carry a preferences link in their footer. Rows
/// queued before preferences existed have no such token; they go without
/// it rather than with a link that would not work.
pub(super) fn has_preferences_footer(item: &OutboxItem) -> bool {
    matches!(
        item.kind,
        OutboxKind::Ask | OutboxKind::Reminder | OutboxKind::Relay | OutboxKind::FollowUp
    ) && item.recipient.role().is_some()
}

/// The asks and reminders of a batch that must wait because their
/// address already got `max-asks-per-recipient-per-day` of them in the
/// last 24 hours (from any connector), each with when it may go: when
/// the oldest of those is a day old. Asks earlier in the batch count,
/// so one batch cannot send an address more than the cap allows.
pub(super) fn daily_cap_holds<'a>(
    items: &'a [OutboxItem],
    facts: &DeliveryFacts,
    now: Timestamp,
    cap: u32,
) -> HashMap<&'a str, Timestamp> {
    let cap = cap.max(1) as usize;
    let mut sent: HashMap<String, Vec<Timestamp>> = HashMap::new();
    let mut holds = HashMap::new();
    for item in items {
        let (OutboxKind::Ask | OutboxKind::Reminder, Some(role)) =
            (item.kind, item.recipient.role())
        else {
            continue;
        };
        let Some(intro) = facts.intro(&item.intro_id) else {
            continue;
        };
        if obsolete(item, intro, facts).is_some() {
            continue;
        }
        let email = &intro.party(role).email;
        let times = sent
            .entry(email.normalized().to_string())
            .or_insert_with(|| facts.asks_sent(email).to_vec());
        if times.len() >= cap {
            // The (len - cap + 1)th oldest must age out before one more may
            // go. When that is one of this batch's own asks, which may yet
            // fail to go, look again shortly instead.
            let oldest = times[times.len() - cap];
            let until = if oldest == now {
                now.plus(RECHECK)
            } else {
                oldest.plus(DAY)
            };
            holds.insert(item.id.as_str(), until);
        } else {
            times.push(now);
        }
    }
    holds
}
