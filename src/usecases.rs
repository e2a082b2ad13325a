//! Use cases shared by the CLI and the API: they parse raw input into domain
//! values, check what the machine cannot know (opt-outs), and call the store.

use std::sync::Arc;

use crate::domain::machine::{Channel, Context};
use crate::domain::{
    Blurb, Clock, EmailAddress, Intro, IntroStatus, Mode, Note, ParseError, Party, PersonName,
    Reason, Role, Timings, Topic,
};
use crate::store::{Connector, OneTimePurpose, Store, StoreError};

/// A proposed intro as it arrives, before parsing.
#[derive(Debug, Clone, Default)]
pub struct ProposeInput {
    pub requester_name: String,
    pub requester_email: String,
    pub requester_blurb: Option<String>,
    pub target_name: String,
    pub target_email: String,
    pub reason: String,
    pub note: Option<String>,
    pub topic: Option<String>,
    pub mode: Option<String>,
    pub requester_opted_in: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    #[error("{0}")]
    Invalid(ParseError),
    /// One of the two has asked not to get intro requests from this connector.
    #[error("{name} has asked not to receive intro requests")]
    OptedOut { name: String },
    /// One of the two has paused intro requests until `until`. The date is
    /// theirs to share: it tells the connector when to come back.
    #[error("{name} has paused intro requests until {}", until.human_date())]
    Paused {
        name: String,
        until: crate::domain::Timestamp,
    },
    /// One of the two has had as many asks in the last 30 days as they
    /// allow. Neither their number nor who asked them is said.
    #[error(
        "{name} has had as many intro requests this month as they want; please try again in a few weeks"
    )]
    MonthlyLimit { name: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The context for a command issued now through `channel`.
pub fn context(clock: &dyn Clock, timings: Timings, channel: Channel) -> Context {
    Context {
        now: clock.now(),
        timings,
        channel,
        relay_sample: rand::random::<f64>(),
    }
}

fn field<T>(result: Result<T, ParseError>, name: &'static str) -> Result<T, ProposeError> {
    result.map_err(|e| ProposeError::Invalid(e.in_field(name)))
}

/// Parses a proposal into a new intro for `connector` (not yet stored).
pub fn parse_proposal(
    input: &ProposeInput,
    connector: &Connector,
    clock: &dyn Clock,
) -> Result<Intro, ProposeError> {
    let now = clock.now();
    let requester_email = field(
        EmailAddress::parse(&input.requester_email),
        "requester.email",
    )?;
    let target_email = field(EmailAddress::parse(&input.target_email), "target.email")?;
    if requester_email.normalized() == target_email.normalized() {
        return Err(ProposeError::Invalid(ParseError::new(
            "target.email",
            "the requester and the target have the same address; an intro needs two people",
        )));
    }
    let blurb = field(
        Blurb::parse(input.requester_blurb.as_deref().unwrap_or("")),
        "requester.blurb",
    )?;
    if input.requester_opted_in && blurb.is_none() {
        return Err(ProposeError::Invalid(ParseError::new(
            "requester.blurb",
            "a requester who opted in (--requester-opted-in, requester_opted_in) needs the blurb they wrote when they asked for the intro",
        )));
    }
    let mode = match input
        .mode
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        None => Mode::TargetFirst,
        Some(text) => Mode::parse(text).ok_or_else(|| {
            ProposeError::Invalid(ParseError::new(
                "mode",
                // Echo at most a short, one-line excerpt of what was sent.
                format!(
                    "mode must be target_first or parallel, not `{}`",
                    text.chars()
                        .filter(|c| !c.is_control())
                        .take(40)
                        .collect::<String>()
                ),
            ))
        })?,
    };
    let reason = field(Reason::parse(&input.reason), "reason")?;
    let topic = match input.topic.as_deref() {
        Some(text) => field(Topic::parse(text), "topic")?,
        None => None,
    }
    .unwrap_or_else(|| Topic::from_reason(&reason));
    let mut requester = Party::new(
        Role::Requester,
        field(PersonName::parse(&input.requester_name), "requester.name")?,
        requester_email,
        blurb,
    );
    requester.consent_on_record_at = input.requester_opted_in.then_some(now);
    let target = Party::new(
        Role::Target,
        field(PersonName::parse(&input.target_name), "target.name")?,
        target_email,
        None,
    );
    Ok(Intro {
        id: uuid::Uuid::now_v7().to_string(),
        connector_id: connector.id.clone(),
        mode,
        status: IntroStatus::Asking,
        reason,
        topic,
        note: field(Note::parse(input.note.as_deref().unwrap_or("")), "note")?,
        requester,
        target,
        created_at: now,
        closed_at: None,
    })
}

/// Checks, stores and starts a proposed intro: the first asks are in the
/// outbox when this returns.
pub async fn propose_intro(
    store: &Arc<dyn Store>,
    clock: &dyn Clock,
    timings: Timings,
    connector: &Connector,
    input: &ProposeInput,
    channel: Channel,
) -> Result<Intro, ProposeError> {
    propose(store, clock, timings, connector, input, channel, None).await
}

/// Like `propose_intro`, approving the connector's pending request
/// `request_id` in the same transaction.
pub async fn propose_intro_from_request(
    store: &Arc<dyn Store>,
    clock: &dyn Clock,
    timings: Timings,
    connector: &Connector,
    input: &ProposeInput,
    request_id: &str,
) -> Result<Intro, ProposeError> {
    propose(
        store,
        clock,
        timings,
        connector,
        input,
        Channel::Web,
        Some(request_id),
    )
    .await
}

async fn propose(
    store: &Arc<dyn Store>,
    clock: &dyn Clock,
    timings: Timings,
    connector: &Connector,
    input: &ProposeInput,
    channel: Channel,
    from_request: Option<&str>,
) -> Result<Intro, ProposeError> {
    use crate::store::MONTHLY_WINDOW;
    let intro = parse_proposal(input, connector, clock)?;
    // One read per person: their stops (from everyone or this connector)
    // and their own pause and monthly maximum (the preferences page).
    let mut choices = Vec::with_capacity(2);
    for party in intro.parties() {
        let own = store.preferences(&party.email, &connector.id).await?;
        if own.stop_all || own.stop_connector {
            return Err(ProposeError::OptedOut {
                name: party.name.to_string(),
            });
        }
        choices.push(own);
    }
    // Pauses and maximums are about asks: a requester whose consent is on
    // record asked for this intro themselves and is not asked now.
    let now = clock.now();
    for (party, choices) in intro.parties().into_iter().zip(choices) {
        if party.consent_on_record_at.is_some() {
            continue;
        }
        let name = party.name.to_string();
        if let Some(until) = choices.paused_until.filter(|until| *until > now) {
            return Err(ProposeError::Paused { name, until });
        }
        if let Some(max) = choices.monthly_max {
            let asked = store
                .asks_to_since(&party.email, now.minus(MONTHLY_WINDOW))
                .await?;
            if asked >= max {
                return Err(ProposeError::MonthlyLimit { name });
            }
        }
    }
    let ctx = context(clock, timings, channel);
    Ok(match from_request {
        None => store.create_intro(intro, ctx).await?,
        Some(request_id) => {
            store
                .create_intro_from_request(intro, ctx, request_id)
                .await?
        }
    })
}

/// How long a printed setup or set-password link works.
pub const ONE_TIME_LINK_TTL: std::time::Duration = std::time::Duration::from_secs(72 * 3600);

/// Creates a one-time link (only its hash is stored) and returns its URL,
/// to be shown once: on the console, never in a log.
pub async fn one_time_link(
    store: &dyn Store,
    base_url: &str,
    purpose: OneTimePurpose,
    clock: &dyn Clock,
) -> Result<String, StoreError> {
    let token = crate::domain::Token::generate();
    let now = clock.now();
    store
        .create_one_time_link(&token.hash(), &purpose, now, now.plus(ONE_TIME_LINK_TTL))
        .await?;
    let path = match purpose {
        OneTimePurpose::Setup => "setup",
        OneTimePurpose::Password { .. } => "password",
    };
    Ok(format!(
        "{}/{path}/{}",
        base_url.trim_end_matches('/'),
        token.expose()
    ))
}

/// Sets a connector's password from a script (`--password-stdin`).
pub async fn set_password(
    store: &dyn Store,
    connector: &Connector,
    typed: &str,
) -> anyhow::Result<()> {
    let password = crate::domain::Password::parse_new(typed)?;
    let hash = tokio::task::spawn_blocking(move || password.hash()).await??;
    store.set_password_hash(&connector.id, &hash).await?;
    Ok(())
}

/// The consent record of an intro (SPEC §3; issue 6): every decision a
/// party took, with who, when, through which channel, and the hash of the
/// exact text they were shown; and a requester's consent recorded before
/// any ask (the request page, or the API's `requester_opted_in`).
pub fn consent_record(intro: &Intro, events: &[crate::store::EventRecord]) -> serde_json::Value {
    use serde_json::json;
    let decision = |kind: &str| match kind {
        "decided_yes" => Some("yes"),
        "decided_not_now" => Some("not_now"),
        "decided_no" => Some("no"),
        "undone" => Some("undone"),
        "withdrawn" => Some("withdrawn"),
        "opted_out" => Some("opted_out"),
        _ => None,
    };
    let decisions: Vec<serde_json::Value> = events
        .iter()
        .filter_map(|e| {
            let role = Role::parse(e.role.as_deref().unwrap_or(&e.actor))?;
            let what = decision(&e.kind)?;
            Some(json!({
                "role": role.as_str(),
                "name": intro.party(role).name.as_str(),
                "email": intro.party(role).email.as_str(),
                "decision": what,
                "at": e.at.to_rfc3339(),
                "channel": e.channel,
                "actor": e.actor,
                "text_hash": e.text_hash,
            }))
        })
        .collect();
    let started = events.iter().find(|e| e.kind == "started");
    let recorded = intro.requester.consent_on_record_at.map(|at| {
        json!({
            "role": "requester",
            "name": intro.requester.name.as_str(),
            "email": intro.requester.email.as_str(),
            "at": at.to_rfc3339(),
            "channel": started.map(|e| e.channel.as_str()),
            "blurb_hash": intro.requester.blurb.as_ref().map(|b| crate::domain::text_hash(b.as_str())),
        })
    });
    let party = |p: &Party| json!({"name": p.name.as_str(), "email": p.email.as_str(), "consent": p.consent.as_str()});
    json!({
        "intro_id": intro.id,
        "status": intro.status.as_str(),
        "parties": {"requester": party(&intro.requester), "target": party(&intro.target)},
        "recorded_consent": recorded,
        "decisions": decisions,
    })
}
