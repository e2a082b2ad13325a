//! The intro state machine: `(intro, command, context) -> transition`.
//!
//! Pure: it reads the time and the timings from the context, never from the
//! world, and says what must be sent as effects. Every accepted command is one
//! transition and produces exactly one event.

use std::time::Duration;

use super::intro::{Consent, Intro, IntroStatus, Mode, Role};
use super::{Note, PrivateReason, Timestamp, Timings};

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
}

/// What a closing or a snooze tells the connector privately.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Declined { role: Role },
    Expired { role: Role },
    Snoozed { role: Role, until: Timestamp },
    Withdrawn { role: Role },
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

struct Step<'a> {
    intro: Intro,
    effects: Vec<Effect>,
    ctx: &'a Context,
}

impl Step<'_> {
    fn now(&self) -> Timestamp {
        self.ctx.now
    }

    fn start(&mut self) -> Result<(), MachineError> {
        if self
            .intro
            .parties()
            .iter()
            .any(|p| p.ask_count > 0 || p.consent != Consent::NotAsked)
        {
            return Err(MachineError::AlreadyStarted);
        }
        self.ask(Role::Target);
        if self.intro.mode == Mode::Parallel {
            self.ask_requester_unless_on_record();
        }
        Ok(())
    }

    fn ask(&mut self, role: Role) {
        let now = self.now();
        let party = self.intro.party_mut(role);
        party.consent = Consent::Asked;
        party.asked_at = Some(now);
        party.ask_count += 1;
        party.reminded = false;
        party.snooze_until = None;
        self.effects.push(Effect::Ask { role });
    }

    /// Takes the requester's recorded consent when it is fresh; asks otherwise.
    fn ask_requester_unless_on_record(&mut self) {
        let now = self.now();
        let reconfirm_after = self.ctx.timings.reconfirm_after;
        let requester = self.intro.party_mut(Role::Requester);
        let fresh = requester
            .consent_on_record_at
            .is_some_and(|at| at.plus(reconfirm_after) > now);
        if fresh {
            requester.consent = Consent::Accepted;
            requester.decided_at = Some(now);
        } else {
            self.ask(Role::Requester);
        }
    }

    fn decide(&mut self, role: Role, decision: Decision) -> Result<EventKind, MachineError> {
        let now = self.now();
        let undo_window = self.ctx.timings.undo_window;
        let party = self.intro.party_mut(role);
        match party.consent {
            Consent::Asked => {}
            Consent::NotAsked => return Err(MachineError::NotAsked),
            other => return Err(MachineError::AlreadyDecided(other)),
        }
        let kind = match decision {
            Decision::Yes { note } => {
                party.consent = Consent::Accepted;
                party.intro_note = note;
                EventKind::DecidedYes
            }
            Decision::NotNow { until } => {
                if party.has_snoozed {
                    return Err(MachineError::SnoozeUsed);
                }
                if until <= now || until > now.plus(MAX_SNOOZE) {
                    return Err(MachineError::SnoozeDateInvalid);
                }
                party.consent = Consent::Snoozed;
                party.has_snoozed = true;
                party.snooze_until = Some(until);
                EventKind::DecidedNotNow
            }
            Decision::No { reason } => {
                party.consent = Consent::Declined;
                party.private_reason = reason;
                EventKind::DecidedNo
            }
        };
        party.decided_at = Some(now);
        if undo_window.is_zero() {
            self.take_effect(role);
        } else {
            party.undo_until = Some(now.plus(undo_window));
        }
        Ok(kind)
    }

    fn undo(&mut self, role: Role) -> Result<(), MachineError> {
        let now = self.now();
        let party = self.intro.party_mut(role);
        match party.undo_until {
            None => Err(MachineError::NothingToUndo),
            Some(until) if until <= now => Err(MachineError::UndoWindowOver),
            Some(_) => {
                if party.consent == Consent::Snoozed {
                    party.has_snoozed = false;
                }
                party.consent = Consent::Asked;
                party.decided_at = None;
                party.undo_until = None;
                party.snooze_until = None;
                party.intro_note = None;
                party.private_reason = None;
                Ok(())
            }
        }
    }

    fn settle(&mut self, role: Role) -> Result<(), MachineError> {
        let now = self.now();
        let party = self.intro.party_mut(role);
        match party.undo_until {
            Some(until) if until <= now => {
                party.undo_until = None;
                self.take_effect(role);
                Ok(())
            }
            _ => Err(MachineError::NotDue),
        }
    }

    /// What a decision causes once it can no longer be undone.
    fn take_effect(&mut self, role: Role) {
        let party = self.intro.party(role);
        match party.consent {
            Consent::Accepted => {
                let requester_waiting = self.intro.requester.consent == Consent::NotAsked;
                if self.intro.mode == Mode::TargetFirst && role == Role::Target && requester_waiting
                {
                    self.ask_requester_unless_on_record();
                }
                self.introduce_if_ready();
            }
            Consent::Declined => {
                self.effects.push(Effect::Notify(Notice::Declined { role }));
                self.close(IntroStatus::Declined, Some(role));
            }
            Consent::Snoozed => {
                let until = party.snooze_until.unwrap_or(self.now());
                self.effects
                    .push(Effect::Notify(Notice::Snoozed { role, until }));
                self.refresh_status();
            }
            _ => {}
        }
    }

    fn introduce_if_ready(&mut self) {
        let ready = self
            .intro
            .parties()
            .iter()
            .all(|p| p.consent == Consent::Accepted && !p.decision_pending());
        if !ready {
            self.refresh_status();
            return;
        }
        let now = self.now();
        self.intro.status = IntroStatus::Introduced;
        self.intro.closed_at = Some(now);
        self.effects.push(Effect::Introduce);
        if let Some(after) = self.ctx.timings.follow_up_after {
            for role in [Role::Requester, Role::Target] {
                self.effects.push(Effect::FollowUp {
                    role,
                    not_before: now.plus(after),
                });
            }
        }
    }

    fn refresh_status(&mut self) {
        let snoozed = self
            .intro
            .parties()
            .iter()
            .any(|p| p.consent == Consent::Snoozed && !p.decision_pending());
        self.intro.status = if snoozed {
            IntroStatus::Snoozed
        } else {
            IntroStatus::Asking
        };
    }

    fn withdraw(&mut self, role: Role) -> Result<(), MachineError> {
        let party = self.intro.party_mut(role);
        if party.consent != Consent::Accepted || party.decision_pending() {
            return Err(MachineError::CannotWithdraw);
        }
        party.consent = Consent::Withdrawn;
        party.decided_at = Some(self.ctx.now);
        self.effects
            .push(Effect::Notify(Notice::Withdrawn { role }));
        self.close(IntroStatus::Declined, Some(role));
        Ok(())
    }

    fn remind(&mut self, role: Role) -> Result<(), MachineError> {
        let now = self.now();
        let timings = self.ctx.timings;
        let party = self.intro.party_mut(role);
        let due = party.asked_at.map(|at| at.plus(timings.remind_after));
        let allowed = party.consent == Consent::Asked
            && !party.reminded
            && timings.remind_after < timings.expire_after
            && due.is_some_and(|due| due <= now);
        if !allowed {
            return Err(MachineError::NotDue);
        }
        party.reminded = true;
        self.effects.push(Effect::Remind { role });
        Ok(())
    }

    fn expire(&mut self, role: Role) -> Result<(), MachineError> {
        let now = self.now();
        let expire_after = self.ctx.timings.expire_after;
        let party = self.intro.party_mut(role);
        let due = party.asked_at.map(|at| at.plus(expire_after));
        if party.consent != Consent::Asked || due.is_none_or(|due| due > now) {
            return Err(MachineError::NotDue);
        }
        party.consent = Consent::Expired;
        self.effects.push(Effect::Notify(Notice::Expired { role }));
        self.close(IntroStatus::Expired, Some(role));
        Ok(())
    }

    fn ask_again(&mut self, role: Role) -> Result<(), MachineError> {
        let now = self.now();
        let party = self.intro.party(role);
        let due = party.consent == Consent::Snoozed
            && !party.decision_pending()
            && party.snooze_until.is_some_and(|until| until <= now);
        if !due {
            return Err(MachineError::NotDue);
        }
        self.ask(role);
        self.refresh_status();
        Ok(())
    }

    /// Ends the intro without an introduction. Everyone else who was asked,
    /// or who asked for it, gets one relay after the relay delay; the text of
    /// a relay never depends on why the intro closed.
    fn close(&mut self, status: IntroStatus, closer: Option<Role>) {
        let now = self.now();
        let not_before = now.plus(self.ctx.timings.relay_delay.pick(self.ctx.relay_sample));
        self.intro.status = status;
        self.intro.closed_at = Some(now);
        for role in [Role::Requester, Role::Target] {
            let party = self.intro.party_mut(role);
            party.undo_until = None;
            let said_no_themselves =
                matches!(party.consent, Consent::Declined | Consent::Withdrawn);
            if Some(role) != closer && party.is_involved() && !said_no_themselves {
                self.effects.push(Effect::Relay { role, not_before });
            }
        }
    }
}
