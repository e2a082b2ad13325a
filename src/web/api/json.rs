//! The API's JSON shapes.

use serde::Serialize;

use crate::domain::{Intro, Party};

#[derive(Debug, Serialize)]
pub struct PartyJson {
    pub name: String,
    pub email: String,
    pub consent: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blurb: Option<String>,
    /// The requester's consent was recorded before any ask (request page or API).
    pub consent_on_record: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asked_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
    /// Until when the latest decision can still be undone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undo_until: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ask_again_on: Option<String>,
    /// The note a yes carries into the introduction email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// A no's reason: for the connector's eyes only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_reason: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PartiesJson {
    pub requester: PartyJson,
    pub target: PartyJson,
}

#[derive(Debug, Serialize)]
pub struct IntroJson {
    pub id: String,
    pub status: &'static str,
    pub mode: &'static str,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
    pub reason: String,
    pub topic: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub parties: PartiesJson,
}

fn party_json(p: &Party) -> PartyJson {
    PartyJson {
        name: p.name.to_string(),
        email: p.email.to_string(),
        consent: p.consent.as_str(),
        blurb: p.blurb.as_ref().map(|b| b.to_string()),
        consent_on_record: p.consent_on_record_at.is_some(),
        asked_at: p.asked_at.map(|t| t.to_rfc3339()),
        decided_at: p.decided_at.map(|t| t.to_rfc3339()),
        undo_until: p.undo_until.map(|t| t.to_rfc3339()),
        ask_again_on: p.snooze_until.map(|t| t.to_rfc3339()),
        note: p.intro_note.as_ref().map(|n| n.to_string()),
        private_reason: p.private_reason.as_ref().map(|r| r.to_string()),
    }
}

impl From<&Intro> for IntroJson {
    fn from(intro: &Intro) -> Self {
        Self {
            id: intro.id.clone(),
            status: intro.status.as_str(),
            mode: intro.mode.as_str(),
            created_at: intro.created_at.to_rfc3339(),
            closed_at: intro.closed_at.map(|t| t.to_rfc3339()),
            reason: intro.reason.to_string(),
            topic: intro.topic.to_string(),
            note: intro.note.as_ref().map(|n| n.to_string()),
            parties: PartiesJson {
                requester: party_json(&intro.requester),
                target: party_json(&intro.target),
            },
        }
    }
}
