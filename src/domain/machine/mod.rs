//! The intro state machine: `(intro, command, context) -> transition`.
//!
//! Pure: it reads the time and the timings from the context, never from the
//! world, and says what must be sent as effects. Every accepted command is one
//! transition and produces exactly one event.

use std::time::Duration;

mod step;

use super::intro::{Consent, Intro, IntroStatus, Role};
use super::{Note, PrivateReason, Timestamp, Timings};
use step::Step;

/// How a command reached twoyes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Web,
    Api,
    Cli,
    Scheduler,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Web => "web",
            Channel::Api => "api",
            Channel::Cli => "cli",
            Channel::Scheduler => "scheduler",
        }
    }
}

/// Who did it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Connector,
    Party(Role),
    System,
}

impl Actor {
    pub fn as_str(self) -> &'static str {
        match self {
            Actor::Connector => "connector",
            Actor::Party(role) => role.as_str(),
            Actor::System => "system",
        }
    }
}

/// A party's answer on the decision page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Yes { note: Option<Note> },
    NotNow { until: Timestamp },
    No { reason: Option<PrivateReason> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Send the first asks.
    Start,
    Decide {
        role: Role,
        decision: Decision,
        shown_text_hash: String,
    },
    Undo {
        role: Role,
    },
    Withdraw {
        role: Role,
    },
    Cancel,
    /// The undo window of `role`'s decision has ended: let it take effect.
    Settle {
        role: Role,
    },
    Remind {
        role: Role,
    },
    Expire {
        role: Role,
    },
    /// A "not now" date has come: ask once more.
    AskAgain {
        role: Role,
    },
    /// The person asked not to receive intro requests (the ask's stop link,
    /// or an opt-out found before the ask could be sent): their answer is no.
    OptOut {
        role: Role,
    },
}

/// What a closing or a snooze tells the connector privately.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Declined { role: Role },
    Expired { role: Role },
    Snoozed { role: Role, until: Timestamp },
    Withdrawn { role: Role },
    OptedOut { role: Role },
}

/// An email the transition causes. Times are when it may be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Ask { role: Role },
    Remind { role: Role },
    Introduce,
    Notify(Notice),
    Relay { role: Role, not_before: Timestamp },
    FollowUp { role: Role, not_before: Timestamp },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Started,
    DecidedYes,
    DecidedNotNow,
    DecidedNo,
    Undone,
    Withdrawn,
    Cancelled,
    Settled,
    Reminded,
    Expired,
    AskedAgain,
    OptedOut,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Started => "started",
            EventKind::DecidedYes => "decided_yes",
            EventKind::DecidedNotNow => "decided_not_now",
            EventKind::DecidedNo => "decided_no",
            EventKind::Undone => "undone",
            EventKind::Withdrawn => "withdrawn",
            EventKind::Cancelled => "cancelled",
            EventKind::Settled => "settled",
            EventKind::Reminded => "reminded",
            EventKind::Expired => "expired",
            EventKind::OptedOut => "opted_out",
            EventKind::AskedAgain => "asked_again",
        }
    }
}

/// The one record every transition leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub actor: Actor,
    pub role: Option<Role>,
    pub channel: Channel,
    pub at: Timestamp,
    /// The hash of the text the party was shown when deciding.
    pub text_hash: Option<String>,
    /// The intro status after the transition.
    pub status_after: IntroStatus,
}

#[derive(Debug, Clone)]
pub struct Transition {
    pub intro: Intro,
    pub event: Event,
    pub effects: Vec<Effect>,
}

/// What the machine needs from outside: the time, the timings, the channel,
/// and a uniform sample in `[0, 1)` for the relay delay.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    pub now: Timestamp,
    pub timings: Timings,
    pub channel: Channel,
    pub relay_sample: f64,
}

/// The longest a "not now" may put an intro on hold.
pub const MAX_SNOOZE: Duration = Duration::from_secs(365 * 86_400);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MachineError {
    #[error("this intro is already {0}; nothing can change it now")]
    Final(IntroStatus),
    #[error("this intro has already started")]
    AlreadyStarted,
    #[error("this person has not been asked yet")]
    NotAsked,
    #[error("this person has already answered ({0})")]
    AlreadyDecided(Consent),
    #[error("there is no recent decision to undo")]
    NothingToUndo,
    #[error("the time to undo this decision has passed")]
    UndoWindowOver,
    #[error("only a yes that has taken effect can be withdrawn")]
    CannotWithdraw,
    #[error("\"not now\" can be chosen only once per intro")]
    SnoozeUsed,
    #[error("the date to be asked again must be after today and within a year")]
    SnoozeDateInvalid,
    #[error("nothing is due yet")]
    NotDue,
}

pub fn apply(intro: &Intro, command: Command, ctx: &Context) -> Result<Transition, MachineError> {
    if intro.status.is_final() {
        return Err(MachineError::Final(intro.status));
    }
    let mut step = Step {
        intro: intro.clone(),
        effects: Vec::new(),
        ctx,
    };
    let (kind, actor, role, text_hash) = match command {
        Command::Start => {
            step.start()?;
            (EventKind::Started, Actor::Connector, None, None)
        }
        Command::Decide {
            role,
            decision,
            shown_text_hash,
        } => {
            let kind = step.decide(role, decision)?;
            (kind, Actor::Party(role), Some(role), Some(shown_text_hash))
        }
        Command::Undo { role } => {
            step.undo(role)?;
            (EventKind::Undone, Actor::Party(role), Some(role), None)
        }
        Command::Withdraw { role } => {
            step.withdraw(role)?;
            (EventKind::Withdrawn, Actor::Party(role), Some(role), None)
        }
        Command::Cancel => {
            step.close(IntroStatus::Cancelled, None);
            (EventKind::Cancelled, Actor::Connector, None, None)
        }
        Command::Settle { role } => {
            step.settle(role)?;
            (EventKind::Settled, Actor::System, Some(role), None)
        }
        Command::Remind { role } => {
            step.remind(role)?;
            (EventKind::Reminded, Actor::System, Some(role), None)
        }
        Command::Expire { role } => {
            step.expire(role)?;
            (EventKind::Expired, Actor::System, Some(role), None)
        }
        Command::AskAgain { role } => {
            step.ask_again(role)?;
            (EventKind::AskedAgain, Actor::System, Some(role), None)
        }
        Command::OptOut { role } => {
            step.opt_out(role)?;
            (EventKind::OptedOut, Actor::Party(role), Some(role), None)
        }
    };
    let event = Event {
        kind,
        actor,
        role,
        channel: ctx.channel,
        at: ctx.now,
        text_hash,
        status_after: step.intro.status,
    };
    Ok(Transition {
        intro: step.intro,
        event,
        effects: step.effects,
    })
}

/// The timer command to apply at `now`, if one is due. A reminder whose
/// ask has also run out (after downtime, say) gives way to the expiry.
pub fn due_now(intro: &Intro, timings: &Timings, now: Timestamp) -> Option<Command> {
    let (at, command) = next_due(intro, timings)?;
    if at > now {
        return None;
    }
    if let Command::Remind { role } = command {
        let asked = intro.party(role).asked_at?;
        if asked.plus(timings.expire_after) <= now {
            return Some(Command::Expire { role });
        }
    }
    Some(command)
}

/// The next timer command due for this intro, and when.
pub fn next_due(intro: &Intro, timings: &Timings) -> Option<(Timestamp, Command)> {
    if intro.status.is_final() {
        return None;
    }
    let mut due: Vec<(Timestamp, Command)> = Vec::new();
    for party in intro.parties() {
        let role = party.role;
        if let Some(until) = party.undo_until {
            due.push((until, Command::Settle { role }));
            continue;
        }
        match (party.consent, party.asked_at, party.snooze_until) {
            (Consent::Asked, Some(asked), _) => {
                if !party.reminded && timings.remind_after < timings.expire_after {
                    due.push((asked.plus(timings.remind_after), Command::Remind { role }));
                }
                due.push((asked.plus(timings.expire_after), Command::Expire { role }));
            }
            (Consent::Snoozed, _, Some(until)) => due.push((until, Command::AskAgain { role })),
            _ => {}
        }
    }
    due.into_iter().min_by_key(|(at, _)| *at)
}

#[cfg(test)]
mod tests;
