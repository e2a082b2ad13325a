//! Tests of the intro state machine (SPEC §2 and §3).
//!
//! `examples`: one behaviour each; `properties`: a suite that drives
//! random command sequences through `machine::apply` and checks every
//! invariant of SPEC §3 after each step.

use std::collections::HashSet;
use std::time::Duration;

use proptest::prelude::*;

use crate::domain::machine::{self, Context, MAX_SNOOZE};
use crate::domain::{
    Actor, Channel, Command, Consent, Decision, Effect, EmailAddress, EventKind, Intro,
    IntroStatus, MachineError, Mode, Note, Notice, Party, PersonName, PrivateReason, Reason,
    RelayDelay, Role, Timestamp, Timings, Topic, Transition,
};

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);
const MS: Duration = Duration::from_millis(1);

/// When every example intro is created and started.
const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);

fn new_intro(mode: Mode) -> Intro {
    let reason = Reason::parse("You both run small bakeries and want to share an oven.").unwrap();
    Intro {
        id: "intro-1".to_string(),
        connector_id: "connector-1".to_string(),
        mode,
        status: IntroStatus::Asking,
        topic: Topic::from_reason(&reason),
        reason,
        note: None,
        requester: Party::new(
            Role::Requester,
            PersonName::parse("Ann Lee").unwrap(),
            EmailAddress::parse("ann@example.org").unwrap(),
            None,
        ),
        target: Party::new(
            Role::Target,
            PersonName::parse("Bo Chen").unwrap(),
            EmailAddress::parse("bo@example.com").unwrap(),
            None,
        ),
        created_at: T0,
        closed_at: None,
    }
}

fn decide(role: Role, decision: Decision) -> Command {
    Command::Decide {
        role,
        decision,
        shown_text_hash: "shown-text-hash".to_string(),
    }
}

fn yes(role: Role) -> Command {
    decide(role, Decision::Yes { note: None })
}

fn no(role: Role) -> Command {
    decide(
        role,
        Decision::No {
            reason: PrivateReason::parse("Not the right time for me.").unwrap(),
        },
    )
}

fn not_now(role: Role, until: Timestamp) -> Command {
    decide(role, Decision::NotNow { until })
}

/// Every command the machine knows, for "nothing works any more" checks.
fn every_command(now: Timestamp) -> Vec<Command> {
    let mut all = vec![Command::Start, Command::Cancel];
    for role in [Role::Requester, Role::Target] {
        all.extend([
            yes(role),
            no(role),
            not_now(role, now.plus(DAY)),
            Command::Undo { role },
            Command::Withdraw { role },
            Command::Settle { role },
            Command::Remind { role },
            Command::Expire { role },
            Command::AskAgain { role },
        ]);
    }
    all
}

/// An intro driven through the machine by hand, with a clock that only moves
/// when told to.
struct Flow {
    intro: Intro,
    now: Timestamp,
    timings: Timings,
    relay_sample: f64,
}

impl Flow {
    fn new(mode: Mode) -> Self {
        Self {
            intro: new_intro(mode),
            now: T0,
            timings: Timings::default(),
            relay_sample: 0.5,
        }
    }

    /// A flow whose `Start` has been applied.
    fn started(mode: Mode) -> Self {
        let mut flow = Self::new(mode);
        flow.apply(Command::Start);
        flow
    }

    fn with_timings(mut self, timings: Timings) -> Self {
        self.timings = timings;
        self
    }

    fn with_requester_consent_on_record(mut self, at: Timestamp) -> Self {
        self.intro.requester.consent_on_record_at = Some(at);
        self
    }

    fn ctx(&self) -> Context {
        Context {
            now: self.now,
            timings: self.timings,
            channel: Channel::Web,
            relay_sample: self.relay_sample,
        }
    }

    fn advance(&mut self, by: Duration) {
        self.now = self.now.plus(by);
    }

    fn try_apply(&mut self, command: Command) -> Result<Transition, MachineError> {
        let result = machine::apply(&self.intro, command, &self.ctx());
        if let Ok(t) = &result {
            self.intro = t.intro.clone();
        }
        result
    }

    /// Applies a command that must be accepted; returns its effects.
    fn apply(&mut self, command: Command) -> Vec<Effect> {
        let shown = format!("{command:?}");
        match self.try_apply(command) {
            Ok(t) => t.effects,
            Err(e) => panic!("{shown} was refused at {}: {e:?}", self.now),
        }
    }

    /// Applies a command that must be refused; checks the intro did not change.
    fn refuse(&mut self, command: Command) -> MachineError {
        let before = self.intro.clone();
        let shown = format!("{command:?}");
        match self.try_apply(command) {
            Ok(t) => panic!("{shown} was accepted: {:?}", t.effects),
            Err(e) => {
                assert_eq!(self.intro, before);
                e
            }
        }
    }

    /// A decision, then its undo window, then its settling; returns what
    /// the settling caused.
    fn decide_and_settle(&mut self, command: Command) -> Vec<Effect> {
        let role = match &command {
            Command::Decide { role, .. } => *role,
            other => panic!("not a decision: {other:?}"),
        };
        let effects = self.apply(command);
        assert!(effects.is_empty(), "a decision causes nothing at once");
        self.advance(self.timings.undo_window);
        self.apply(Command::Settle { role })
    }

    fn consent(&self, role: Role) -> Consent {
        self.intro.party(role).consent
    }

    fn relay_at(&self) -> Timestamp {
        self.now
            .plus(self.timings.relay_delay.pick(self.relay_sample))
    }
}

fn relays(effects: &[Effect]) -> Vec<Role> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Relay { role, .. } => Some(*role),
            _ => None,
        })
        .collect()
}

mod examples;
mod properties;
