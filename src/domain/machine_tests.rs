//! Tests of the intro state machine (SPEC §2 and §3).
//!
//! First examples, one behaviour each; then a property suite that drives
//! random command sequences through `machine::apply` and checks every
//! invariant of SPEC §3 after each step.

use std::collections::HashSet;
use std::time::Duration;

use proptest::prelude::*;

use super::machine::{self, Context, MAX_SNOOZE};
use super::{
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

// ---------------------------------------------------------------- examples

#[test]
fn target_first_asks_the_target_first_and_the_requester_once_the_targets_yes_takes_effect() {
    let mut flow = Flow::new(Mode::TargetFirst);

    let effects = flow.apply(Command::Start);
    assert_eq!(effects, vec![Effect::Ask { role: Role::Target }]);
    assert_eq!(flow.consent(Role::Target), Consent::Asked);
    assert_eq!(flow.consent(Role::Requester), Consent::NotAsked);
    assert_eq!(flow.intro.status, IntroStatus::Asking);

    let effects = flow.apply(yes(Role::Target));
    assert_eq!(effects, vec![], "nothing is sent during the undo window");
    assert_eq!(flow.consent(Role::Target), Consent::Accepted);
    assert_eq!(flow.consent(Role::Requester), Consent::NotAsked);

    flow.advance(flow.timings.undo_window);
    let effects = flow.apply(Command::Settle { role: Role::Target });
    assert_eq!(
        effects,
        vec![Effect::Ask {
            role: Role::Requester
        }]
    );
    assert_eq!(flow.consent(Role::Requester), Consent::Asked);
    assert_eq!(flow.intro.status, IntroStatus::Asking);
}

#[test]
fn when_both_have_said_yes_and_their_windows_have_passed_exactly_one_introduction_is_sent() {
    let mut flow = Flow::started(Mode::TargetFirst);
    flow.decide_and_settle(yes(Role::Target));

    let effects = flow.apply(yes(Role::Requester));
    assert_eq!(
        effects,
        vec![],
        "no introduction during the requester's undo window"
    );
    assert_eq!(flow.intro.status, IntroStatus::Asking);

    flow.advance(flow.timings.undo_window);
    let effects = flow.apply(Command::Settle {
        role: Role::Requester,
    });
    let follow_up = flow.now.plus(flow.timings.follow_up_after.unwrap());
    assert_eq!(
        effects,
        vec![
            Effect::Introduce,
            Effect::FollowUp {
                role: Role::Requester,
                not_before: follow_up
            },
            Effect::FollowUp {
                role: Role::Target,
                not_before: follow_up
            },
        ]
    );
    assert_eq!(flow.intro.status, IntroStatus::Introduced);
    assert_eq!(flow.intro.closed_at, Some(flow.now));
    assert_eq!(
        flow.refuse(Command::Settle {
            role: Role::Requester
        }),
        MachineError::Final(IntroStatus::Introduced)
    );
}

#[test]
fn a_yes_note_is_kept_for_the_introduction() {
    let mut flow = Flow::started(Mode::TargetFirst);
    let note = Note::parse("Book a slot: https://cal.example/bo").unwrap();
    flow.apply(decide(Role::Target, Decision::Yes { note: note.clone() }));
    assert_eq!(flow.intro.target.intro_note, note);
}

#[test]
fn with_no_undo_window_a_decision_takes_effect_at_once() {
    let timings = Timings {
        undo_window: Duration::ZERO,
        ..Timings::default()
    };
    let mut flow = Flow::new(Mode::TargetFirst).with_timings(timings);
    flow.apply(Command::Start);
    let effects = flow.apply(yes(Role::Target));
    assert_eq!(
        effects,
        vec![Effect::Ask {
            role: Role::Requester
        }]
    );
    assert_eq!(flow.intro.target.undo_until, None);
    let effects = flow.apply(yes(Role::Requester));
    assert_eq!(effects.first(), Some(&Effect::Introduce));
    assert_eq!(flow.intro.status, IntroStatus::Introduced);
}

#[test]
fn a_fresh_requester_consent_on_record_skips_the_requester_ask() {
    let mut flow = Flow::new(Mode::TargetFirst).with_requester_consent_on_record(T0.minus(DAY));
    flow.apply(Command::Start);

    let effects = flow.decide_and_settle(yes(Role::Target));

    assert_eq!(effects.first(), Some(&Effect::Introduce));
    assert!(!effects.iter().any(|e| matches!(e, Effect::Ask { .. })));
    assert_eq!(flow.consent(Role::Requester), Consent::Accepted);
    assert_eq!(flow.intro.requester.ask_count, 0);
    assert_eq!(flow.intro.status, IntroStatus::Introduced);
}

#[test]
fn a_requester_consent_on_record_older_than_reconfirm_after_is_asked_again() {
    let mut flow =
        Flow::new(Mode::TargetFirst).with_requester_consent_on_record(T0.minus(15 * DAY));
    flow.apply(Command::Start);

    let effects = flow.decide_and_settle(yes(Role::Target));

    assert_eq!(
        effects,
        vec![Effect::Ask {
            role: Role::Requester
        }]
    );
    assert_eq!(flow.consent(Role::Requester), Consent::Asked);
    assert_eq!(flow.intro.status, IntroStatus::Asking);
}

#[test]
fn a_requester_consent_exactly_reconfirm_after_old_when_the_yes_takes_effect_is_asked_again() {
    let settle_at = T0.plus(Timings::default().undo_window);
    let on_record = settle_at.minus(Timings::default().reconfirm_after);
    let mut flow = Flow::new(Mode::TargetFirst).with_requester_consent_on_record(on_record);
    flow.apply(Command::Start);

    let effects = flow.decide_and_settle(yes(Role::Target));

    assert_eq!(flow.now, settle_at);
    assert_eq!(
        effects,
        vec![Effect::Ask {
            role: Role::Requester
        }]
    );
}

#[test]
fn parallel_mode_asks_both_parties_at_once() {
    let mut flow = Flow::new(Mode::Parallel);

    let effects = flow.apply(Command::Start);

    assert_eq!(effects.len(), 2, "{effects:?}");
    assert!(effects.contains(&Effect::Ask { role: Role::Target }));
    assert!(effects.contains(&Effect::Ask {
        role: Role::Requester
    }));
    assert_eq!(flow.consent(Role::Target), Consent::Asked);
    assert_eq!(flow.consent(Role::Requester), Consent::Asked);
}

#[test]
fn parallel_mode_takes_a_fresh_requester_consent_on_record_instead_of_asking() {
    let mut flow = Flow::new(Mode::Parallel).with_requester_consent_on_record(T0.minus(HOUR));

    let effects = flow.apply(Command::Start);

    assert_eq!(effects, vec![Effect::Ask { role: Role::Target }]);
    assert_eq!(flow.consent(Role::Requester), Consent::Accepted);
    let effects = flow.decide_and_settle(yes(Role::Target));
    assert_eq!(effects.first(), Some(&Effect::Introduce));
}

#[test]
fn parallel_mode_introduces_only_when_the_second_yes_takes_effect() {
    let mut flow = Flow::started(Mode::Parallel);
    flow.apply(yes(Role::Target));
    flow.advance(5 * MINUTE);
    flow.apply(yes(Role::Requester));

    flow.advance(5 * MINUTE);
    let effects = flow.apply(Command::Settle { role: Role::Target });
    assert_eq!(effects, vec![], "the requester's yes can still be undone");
    assert_eq!(flow.intro.status, IntroStatus::Asking);

    flow.advance(5 * MINUTE);
    let effects = flow.apply(Command::Settle {
        role: Role::Requester,
    });
    assert_eq!(effects.first(), Some(&Effect::Introduce));
}

#[test]
fn an_undo_within_the_window_reverts_to_asked_and_causes_nothing() {
    for decision in [
        yes(Role::Target),
        no(Role::Target),
        not_now(Role::Target, T0.plus(5 * DAY)),
    ] {
        let mut flow = Flow::started(Mode::TargetFirst);
        flow.apply(decision);
        flow.advance(flow.timings.undo_window - MS);

        let effects = flow.apply(Command::Undo { role: Role::Target });

        assert_eq!(effects, vec![]);
        let target = &flow.intro.target;
        assert_eq!(target.consent, Consent::Asked);
        assert_eq!(target.undo_until, None);
        assert_eq!(target.decided_at, None);
        assert_eq!(target.private_reason, None);
        assert!(!target.has_snoozed, "an undone not-now does not use it up");
        assert_eq!(flow.consent(Role::Requester), Consent::NotAsked);
        assert_eq!(flow.intro.status, IntroStatus::Asking);
        flow.advance(HOUR);
        assert_eq!(
            flow.refuse(Command::Settle { role: Role::Target }),
            MachineError::NotDue
        );
    }
}

#[test]
fn an_undo_after_the_window_is_refused() {
    let mut flow = Flow::started(Mode::TargetFirst);
    flow.apply(yes(Role::Target));
    flow.advance(flow.timings.undo_window);

    assert_eq!(
        flow.refuse(Command::Undo { role: Role::Target }),
        MachineError::UndoWindowOver
    );

    flow.apply(Command::Settle { role: Role::Target });
    assert_eq!(
        flow.refuse(Command::Undo { role: Role::Target }),
        MachineError::NothingToUndo
    );
}

#[test]
fn an_undo_without_a_decision_is_refused() {
    let mut flow = Flow::started(Mode::TargetFirst);
    assert_eq!(
        flow.refuse(Command::Undo { role: Role::Target }),
        MachineError::NothingToUndo
    );
}

#[test]
fn settling_before_the_undo_window_ends_is_not_due() {
    let mut flow = Flow::started(Mode::TargetFirst);
    flow.apply(yes(Role::Target));
    flow.advance(flow.timings.undo_window - MS);

    assert_eq!(
        flow.refuse(Command::Settle { role: Role::Target }),
        MachineError::NotDue
    );
    assert_eq!(
        flow.refuse(Command::Settle {
            role: Role::Requester
        }),
        MachineError::NotDue
    );
}

#[test]
fn a_no_declines_the_intro_tells_the_connector_and_relays_only_to_the_other_involved_party() {
    let mut flow = Flow::started(Mode::Parallel);
    flow.decide_and_settle(yes(Role::Requester));

    let effects = flow.decide_and_settle(no(Role::Target));

    assert_eq!(
        effects,
        vec![
            Effect::Notify(Notice::Declined { role: Role::Target }),
            Effect::Relay {
                role: Role::Requester,
                not_before: flow.relay_at()
            },
        ]
    );
    assert_eq!(flow.intro.status, IntroStatus::Declined);
    assert_eq!(flow.consent(Role::Target), Consent::Declined);
    assert_eq!(flow.intro.closed_at, Some(flow.now));
}

#[test]
fn a_no_from_the_target_relays_nothing_to_a_requester_who_was_never_asked() {
    let mut flow = Flow::started(Mode::TargetFirst);

    let effects = flow.decide_and_settle(no(Role::Target));

    assert_eq!(
        effects,
        vec![Effect::Notify(Notice::Declined { role: Role::Target })]
    );
    assert_eq!(flow.intro.status, IntroStatus::Declined);
}

#[test]
fn a_no_from_the_target_relays_to_a_requester_who_asked_for_the_intro() {
    let mut flow = Flow::new(Mode::TargetFirst).with_requester_consent_on_record(T0);
    flow.apply(Command::Start);

    let effects = flow.decide_and_settle(no(Role::Target));

    assert_eq!(relays(&effects), vec![Role::Requester]);
}

#[test]
fn a_relay_is_sent_within_the_relay_delay() {
    for sample in [0.0, 0.25, 0.999_999] {
        let mut flow = Flow::started(Mode::Parallel);
        flow.relay_sample = sample;
        let effects = flow.decide_and_settle(no(Role::Target));
        let Some(Effect::Relay { not_before, .. }) = effects.last() else {
            panic!("no relay in {effects:?}");
        };
        assert!(*not_before >= flow.now.plus(24 * HOUR));
        assert!(*not_before <= flow.now.plus(72 * HOUR));
    }
}

#[test]
fn the_relay_is_the_same_whether_the_target_said_no_did_not_answer_or_the_connector_cancelled() {
    let expire_after = Timings::default().expire_after;
    let closings: [(&str, Vec<Command>); 3] = [
        ("no", vec![no(Role::Target)]),
        ("expiry", vec![Command::Expire { role: Role::Target }]),
        ("cancel", vec![Command::Cancel]),
    ];
    let mut seen = Vec::new();
    for (why, commands) in closings {
        let mut flow = Flow::new(Mode::TargetFirst)
            .with_requester_consent_on_record(T0)
            .with_timings(Timings {
                undo_window: Duration::ZERO,
                ..Timings::default()
            });
        flow.apply(Command::Start);
        flow.advance(expire_after);
        let mut effects = Vec::new();
        for command in commands {
            effects = flow.apply(command);
        }
        let relay: Vec<&Effect> = effects
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Effect::Relay {
                        role: Role::Requester,
                        ..
                    }
                )
            })
            .collect();
        assert_eq!(relay.len(), 1, "{why}: {effects:?}");
        seen.push(relay[0].clone());
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
}

#[test]
fn not_now_puts_the_intro_on_hold_and_tells_the_connector() {
    let mut flow = Flow::started(Mode::TargetFirst);
    let until = T0.plus(5 * DAY);

    let effects = flow.apply(not_now(Role::Target, until));
    assert_eq!(effects, vec![]);
    assert_eq!(
        flow.intro.status,
        IntroStatus::Asking,
        "not yet: it can be undone"
    );
    flow.advance(flow.timings.undo_window);
    let effects = flow.apply(Command::Settle { role: Role::Target });

    assert_eq!(
        effects,
        vec![Effect::Notify(Notice::Snoozed {
            role: Role::Target,
            until
        })]
    );
    assert_eq!(flow.intro.status, IntroStatus::Snoozed);
    assert_eq!(flow.consent(Role::Target), Consent::Snoozed);
    assert_eq!(flow.intro.target.snooze_until, Some(until));
}

#[test]
fn a_not_now_date_must_be_after_now_and_within_a_year() {
    let mut flow = Flow::started(Mode::TargetFirst);
    assert_eq!(
        flow.refuse(not_now(Role::Target, T0)),
        MachineError::SnoozeDateInvalid
    );
    assert_eq!(
        flow.refuse(not_now(Role::Target, T0.plus(MAX_SNOOZE).plus(MS))),
        MachineError::SnoozeDateInvalid
    );
    flow.apply(not_now(Role::Target, T0.plus(MAX_SNOOZE)));
}

#[test]
fn on_the_not_now_date_the_party_is_asked_once_more() {
    let mut flow = Flow::started(Mode::TargetFirst);
    let until = T0.plus(5 * DAY);
    flow.decide_and_settle(not_now(Role::Target, until));

    flow.now = until.minus(MS);
    assert_eq!(
        flow.refuse(Command::AskAgain { role: Role::Target }),
        MachineError::NotDue
    );
    flow.now = until;
    let effects = flow.apply(Command::AskAgain { role: Role::Target });

    assert_eq!(effects, vec![Effect::Ask { role: Role::Target }]);
    let target = &flow.intro.target;
    assert_eq!(target.consent, Consent::Asked);
    assert_eq!(target.ask_count, 2);
    assert_eq!(target.asked_at, Some(until));
    assert_eq!(target.snooze_until, None);
    assert_eq!(flow.intro.status, IntroStatus::Asking);

    let effects = flow.decide_and_settle(yes(Role::Target));
    assert_eq!(
        effects,
        vec![Effect::Ask {
            role: Role::Requester
        }]
    );
}

#[test]
fn a_second_not_now_is_refused() {
    let mut flow = Flow::started(Mode::TargetFirst);
    let until = T0.plus(2 * DAY);
    flow.decide_and_settle(not_now(Role::Target, until));
    flow.now = until;
    flow.apply(Command::AskAgain { role: Role::Target });

    let error = flow.refuse(not_now(Role::Target, until.plus(3 * DAY)));

    assert_eq!(error, MachineError::SnoozeUsed);
    assert_eq!(flow.consent(Role::Target), Consent::Asked);
}

#[test]
fn a_party_who_said_yes_may_withdraw_and_the_intro_closes_as_declined() {
    let mut flow = Flow::started(Mode::TargetFirst);
    flow.decide_and_settle(yes(Role::Target));
    flow.advance(HOUR);

    let effects = flow.apply(Command::Withdraw { role: Role::Target });

    assert_eq!(
        effects,
        vec![
            Effect::Notify(Notice::Withdrawn { role: Role::Target }),
            Effect::Relay {
                role: Role::Requester,
                not_before: flow.relay_at()
            },
        ]
    );
    assert_eq!(flow.intro.status, IntroStatus::Declined);
    assert_eq!(flow.consent(Role::Target), Consent::Withdrawn);
}

#[test]
fn only_a_yes_that_has_taken_effect_can_be_withdrawn() {
    let mut flow = Flow::started(Mode::TargetFirst);
    assert_eq!(
        flow.refuse(Command::Withdraw { role: Role::Target }),
        MachineError::CannotWithdraw
    );
    flow.apply(yes(Role::Target));
    assert_eq!(
        flow.refuse(Command::Withdraw { role: Role::Target }),
        MachineError::CannotWithdraw,
        "during the undo window, undo is the way back"
    );
    assert_eq!(
        flow.refuse(Command::Withdraw {
            role: Role::Requester
        }),
        MachineError::CannotWithdraw
    );
}

#[test]
fn an_unanswered_party_is_reminded_exactly_once() {
    let mut flow = Flow::started(Mode::TargetFirst);
    let remind_after = flow.timings.remind_after;

    flow.advance(remind_after - MS);
    assert_eq!(
        flow.refuse(Command::Remind { role: Role::Target }),
        MachineError::NotDue
    );
    flow.advance(MS);
    let effects = flow.apply(Command::Remind { role: Role::Target });
    assert_eq!(effects, vec![Effect::Remind { role: Role::Target }]);
    assert!(flow.intro.target.reminded);

    assert_eq!(
        flow.refuse(Command::Remind { role: Role::Target }),
        MachineError::NotDue
    );
    flow.advance(DAY);
    assert_eq!(
        flow.refuse(Command::Remind { role: Role::Target }),
        MachineError::NotDue
    );
    assert_eq!(
        flow.refuse(Command::Remind {
            role: Role::Requester
        }),
        MachineError::NotDue,
        "the requester was never asked"
    );
}

#[test]
fn no_reminder_when_remind_after_is_not_before_expire_after() {
    let timings = Timings {
        remind_after: 7 * DAY,
        expire_after: 7 * DAY,
        ..Timings::default()
    };
    let mut flow = Flow::new(Mode::TargetFirst).with_timings(timings);
    flow.apply(Command::Start);
    flow.advance(7 * DAY);
    assert_eq!(
        flow.refuse(Command::Remind { role: Role::Target }),
        MachineError::NotDue
    );
}

#[test]
fn an_unanswered_ask_expires_after_expire_after() {
    let mut flow = Flow::started(Mode::TargetFirst);

    flow.advance(flow.timings.expire_after - MS);
    assert_eq!(
        flow.refuse(Command::Expire { role: Role::Target }),
        MachineError::NotDue
    );
    flow.advance(MS);
    let effects = flow.apply(Command::Expire { role: Role::Target });

    assert_eq!(
        effects,
        vec![Effect::Notify(Notice::Expired { role: Role::Target })]
    );
    assert_eq!(flow.intro.status, IntroStatus::Expired);
    assert_eq!(flow.consent(Role::Target), Consent::Expired);
}

#[test]
fn when_one_ask_expires_the_other_asked_party_gets_a_relay() {
    let mut flow = Flow::started(Mode::Parallel);
    flow.advance(2 * DAY);
    flow.decide_and_settle(yes(Role::Requester));
    flow.advance(5 * DAY);

    let effects = flow.apply(Command::Expire { role: Role::Target });

    assert_eq!(relays(&effects), vec![Role::Requester]);
}

#[test]
fn a_party_who_has_answered_does_not_expire() {
    let mut flow = Flow::started(Mode::TargetFirst);
    flow.decide_and_settle(yes(Role::Target));
    flow.now = T0.plus(30 * DAY);
    assert_eq!(
        flow.refuse(Command::Expire { role: Role::Target }),
        MachineError::NotDue
    );
}

#[test]
fn a_cancel_relays_to_everyone_who_was_asked() {
    let mut flow = Flow::started(Mode::Parallel);
    flow.decide_and_settle(yes(Role::Target));

    let effects = flow.apply(Command::Cancel);

    let at = flow.relay_at();
    assert_eq!(effects.len(), 2, "{effects:?}");
    assert!(effects.contains(&Effect::Relay {
        role: Role::Requester,
        not_before: at
    }));
    assert!(effects.contains(&Effect::Relay {
        role: Role::Target,
        not_before: at
    }));
    assert_eq!(flow.intro.status, IntroStatus::Cancelled);
}

#[test]
fn a_cancel_relays_nothing_to_a_party_who_was_never_asked() {
    let mut flow = Flow::started(Mode::TargetFirst);

    let effects = flow.apply(Command::Cancel);

    assert_eq!(relays(&effects), vec![Role::Target]);
}

#[test]
fn a_cancel_during_an_undo_window_drops_the_pending_decision() {
    let mut flow = Flow::started(Mode::TargetFirst);
    flow.apply(yes(Role::Target));

    let effects = flow.apply(Command::Cancel);

    assert!(!effects.contains(&Effect::Ask {
        role: Role::Requester
    }));
    assert_eq!(flow.intro.target.undo_until, None);
    assert_eq!(machine::next_due(&flow.intro, &flow.timings), None);
}

#[test]
fn a_start_is_accepted_only_once() {
    let mut flow = Flow::started(Mode::TargetFirst);
    assert_eq!(flow.refuse(Command::Start), MachineError::AlreadyStarted);
}

#[test]
fn a_decision_needs_an_open_ask() {
    let mut flow = Flow::started(Mode::TargetFirst);
    assert_eq!(flow.refuse(yes(Role::Requester)), MachineError::NotAsked);
    flow.apply(yes(Role::Target));
    assert_eq!(
        flow.refuse(no(Role::Target)),
        MachineError::AlreadyDecided(Consent::Accepted)
    );
}

#[test]
fn anything_applied_to_a_final_intro_is_refused_as_final() {
    let no_window = Timings {
        undo_window: Duration::ZERO,
        ..Timings::default()
    };
    let mut finals = Vec::new();

    let mut introduced = Flow::new(Mode::Parallel).with_timings(no_window);
    introduced.apply(Command::Start);
    introduced.apply(yes(Role::Target));
    introduced.apply(yes(Role::Requester));
    finals.push(introduced);

    let mut declined = Flow::started(Mode::TargetFirst);
    declined.decide_and_settle(no(Role::Target));
    finals.push(declined);

    let mut expired = Flow::started(Mode::TargetFirst);
    expired.advance(expired.timings.expire_after);
    expired.apply(Command::Expire { role: Role::Target });
    finals.push(expired);

    let mut cancelled = Flow::started(Mode::Parallel);
    cancelled.apply(Command::Cancel);
    finals.push(cancelled);

    for mut flow in finals {
        let status = flow.intro.status;
        assert!(status.is_final());
        assert_eq!(machine::next_due(&flow.intro, &flow.timings), None);
        for later in [Duration::ZERO, HOUR, 400 * DAY] {
            flow.advance(later);
            for command in every_command(flow.now) {
                assert_eq!(flow.refuse(command), MachineError::Final(status));
            }
        }
    }
}

#[test]
fn every_transition_leaves_one_event_stamped_now_with_its_channel() {
    let mut flow = Flow::new(Mode::TargetFirst);
    let t = flow.try_apply(Command::Start).unwrap();
    assert_eq!(t.event.kind, EventKind::Started);
    assert_eq!(t.event.actor, Actor::Connector);
    assert_eq!(t.event.at, T0);
    assert_eq!(t.event.channel, Channel::Web);
    assert_eq!(t.event.status_after, IntroStatus::Asking);

    flow.advance(MINUTE);
    let t = flow
        .try_apply(decide(Role::Target, Decision::Yes { note: None }))
        .unwrap();
    assert_eq!(t.event.kind, EventKind::DecidedYes);
    assert_eq!(t.event.actor, Actor::Party(Role::Target));
    assert_eq!(t.event.role, Some(Role::Target));
    assert_eq!(t.event.at, T0.plus(MINUTE));
    assert_eq!(t.event.text_hash.as_deref(), Some("shown-text-hash"));
}

#[test]
fn next_due_names_the_timer_that_comes_first() {
    let timings = Timings::default();

    let mut flow = Flow::started(Mode::TargetFirst);
    assert_eq!(
        machine::next_due(&flow.intro, &timings),
        Some((
            T0.plus(timings.remind_after),
            Command::Remind { role: Role::Target }
        ))
    );

    flow.advance(timings.remind_after);
    flow.apply(Command::Remind { role: Role::Target });
    assert_eq!(
        machine::next_due(&flow.intro, &timings),
        Some((
            T0.plus(timings.expire_after),
            Command::Expire { role: Role::Target }
        ))
    );

    flow.apply(yes(Role::Target));
    assert_eq!(
        machine::next_due(&flow.intro, &timings),
        Some((
            flow.now.plus(timings.undo_window),
            Command::Settle { role: Role::Target }
        ))
    );

    let mut snoozed = Flow::started(Mode::TargetFirst);
    let until = T0.plus(4 * DAY);
    snoozed.decide_and_settle(not_now(Role::Target, until));
    assert_eq!(
        machine::next_due(&snoozed.intro, &timings),
        Some((until, Command::AskAgain { role: Role::Target }))
    );

    let unreminded = Timings {
        remind_after: 8 * DAY,
        ..timings
    };
    let fresh = Flow::started(Mode::TargetFirst);
    assert_eq!(
        machine::next_due(&fresh.intro, &unreminded),
        Some((
            T0.plus(timings.expire_after),
            Command::Expire { role: Role::Target }
        ))
    );

    let mut parallel = Flow::started(Mode::Parallel);
    parallel.advance(HOUR);
    parallel.apply(yes(Role::Requester));
    assert_eq!(
        machine::next_due(&parallel.intro, &timings),
        Some((
            T0.plus(HOUR).plus(timings.undo_window),
            Command::Settle {
                role: Role::Requester
            }
        ))
    );
}

// -------------------------------------------------------------- properties

/// A party's answer, with the not-now date relative to the time it is given.
#[derive(Debug, Clone)]
enum Answer {
    Yes { note: bool },
    NotNow { in_ms: i64 },
    No { reason: bool },
}

#[derive(Debug, Clone)]
enum Action {
    Start,
    Decide(Role, Answer),
    Undo(Role),
    Withdraw(Role),
    Cancel,
    Settle(Role),
    Remind(Role),
    Expire(Role),
    AskAgain(Role),
    /// Move the clock on by this many milliseconds.
    Advance(u64),
    /// Move the clock to the next timer (if it is later) and fire it.
    NextDue,
}

#[derive(Debug, Clone)]
struct Scenario {
    mode: Mode,
    timings: Timings,
    /// How long before the start the requester's consent was recorded.
    requester_on_record: Option<Duration>,
    channel: Channel,
    /// Each action with the relay sample its context carries.
    steps: Vec<(Action, f64)>,
}

/// What a run saw, to check the generator reaches every corner.
#[derive(Debug, Default)]
struct Seen {
    statuses: HashSet<&'static str>,
    events: HashSet<&'static str>,
}

fn command_for(action: &Action, now: Timestamp, n: usize) -> Option<Command> {
    let command = match action {
        Action::Start => Command::Start,
        Action::Decide(role, answer) => {
            let decision = match answer {
                Answer::Yes { note } => Decision::Yes {
                    note: note.then(|| Note::parse("Here is my calendar.").unwrap().unwrap()),
                },
                Answer::NotNow { in_ms } => Decision::NotNow {
                    until: Timestamp::from_millis(now.as_millis() + in_ms),
                },
                Answer::No { reason } => Decision::No {
                    reason: reason.then(|| PrivateReason::parse("Busy.").unwrap().unwrap()),
                },
            };
            Command::Decide {
                role: *role,
                decision,
                shown_text_hash: format!("hash-{n}"),
            }
        }
        Action::Undo(role) => Command::Undo { role: *role },
        Action::Withdraw(role) => Command::Withdraw { role: *role },
        Action::Cancel => Command::Cancel,
        Action::Settle(role) => Command::Settle { role: *role },
        Action::Remind(role) => Command::Remind { role: *role },
        Action::Expire(role) => Command::Expire { role: *role },
        Action::AskAgain(role) => Command::AskAgain { role: *role },
        Action::Advance(_) | Action::NextDue => return None,
    };
    Some(command)
}

fn same(a: &Result<Transition, MachineError>, b: &Result<Transition, MachineError>) -> bool {
    match (a, b) {
        (Ok(x), Ok(y)) => x.intro == y.intro && x.event == y.event && x.effects == y.effects,
        (Err(x), Err(y)) => x == y,
        _ => false,
    }
}

/// The event kind and actor a command must leave.
fn expected_event(command: &Command) -> (EventKind, Actor, Option<Role>) {
    match command {
        Command::Start => (EventKind::Started, Actor::Connector, None),
        Command::Decide { role, decision, .. } => {
            let kind = match decision {
                Decision::Yes { .. } => EventKind::DecidedYes,
                Decision::NotNow { .. } => EventKind::DecidedNotNow,
                Decision::No { .. } => EventKind::DecidedNo,
            };
            (kind, Actor::Party(*role), Some(*role))
        }
        Command::Undo { role } => (EventKind::Undone, Actor::Party(*role), Some(*role)),
        Command::Withdraw { role } => (EventKind::Withdrawn, Actor::Party(*role), Some(*role)),
        Command::Cancel => (EventKind::Cancelled, Actor::Connector, None),
        Command::Settle { role } => (EventKind::Settled, Actor::System, Some(*role)),
        Command::Remind { role } => (EventKind::Reminded, Actor::System, Some(*role)),
        Command::Expire { role } => (EventKind::Expired, Actor::System, Some(*role)),
        Command::AskAgain { role } => (EventKind::AskedAgain, Actor::System, Some(*role)),
    }
}

/// What the whole run has caused so far.
struct History {
    introductions: usize,
    relayed: HashSet<Role>,
}

const ROLES: [Role; 2] = [Role::Requester, Role::Target];

/// Checks one accepted transition against SPEC §3.
fn check_transition(
    before: &Intro,
    command: &Command,
    ctx: &Context,
    t: &Transition,
    history: &mut History,
) -> Result<(), TestCaseError> {
    let after = &t.intro;
    let effects = &t.effects;
    let timings = &ctx.timings;

    // Exactly one event per transition, stamped now, through this channel.
    let (kind, actor, role) = expected_event(command);
    prop_assert_eq!(t.event.kind, kind);
    prop_assert_eq!(t.event.actor, actor);
    prop_assert_eq!(t.event.role, role);
    prop_assert_eq!(t.event.at, ctx.now);
    prop_assert_eq!(t.event.channel, ctx.channel);
    prop_assert_eq!(t.event.status_after, after.status);
    match command {
        Command::Decide {
            shown_text_hash, ..
        } => {
            prop_assert_eq!(t.event.text_hash.as_ref(), Some(shown_text_hash));
        }
        _ => prop_assert_eq!(&t.event.text_hash, &None),
    }

    // What never changes.
    prop_assert_eq!(&after.id, &before.id);
    prop_assert_eq!(after.mode, before.mode);
    prop_assert_eq!(after.created_at, before.created_at);
    for r in ROLES {
        let (b, a) = (before.party(r), after.party(r));
        prop_assert_eq!(a.consent_on_record_at, b.consent_on_record_at);
        prop_assert!(a.ask_count >= b.ask_count);
        prop_assert!(a.ask_count <= b.ask_count + 1);
    }

    let newly_final = after.status.is_final();
    let introduced = after.status == IntroStatus::Introduced;

    // Introduced only with every consent accepted and nothing pending undo.
    if introduced {
        for p in after.parties() {
            prop_assert_eq!(p.consent, Consent::Accepted, "introduced: {:?}", after);
            prop_assert!(
                !p.decision_pending(),
                "introduced while undoable: {:?}",
                after
            );
        }
    }

    // At most one introduction, and it comes with the status.
    let introduces = effects.iter().filter(|e| **e == Effect::Introduce).count();
    prop_assert_eq!(introduces, usize::from(introduced), "{:?}", effects);
    history.introductions += introduces;
    prop_assert!(history.introductions <= 1);

    // The closing transition only tells, never asks.
    if newly_final {
        prop_assert_eq!(after.closed_at, Some(ctx.now));
        for e in effects {
            prop_assert!(
                matches!(
                    e,
                    Effect::Relay { .. }
                        | Effect::Notify(_)
                        | Effect::FollowUp { .. }
                        | Effect::Introduce
                ),
                "a closing transition caused {:?}",
                e
            );
        }
        for p in after.parties() {
            prop_assert!(!p.decision_pending(), "pending decision on a final intro");
        }
    } else {
        prop_assert_eq!(after.closed_at, None);
        let snoozed = after
            .parties()
            .iter()
            .any(|p| p.consent == Consent::Snoozed && !p.decision_pending());
        let status = if snoozed {
            IntroStatus::Snoozed
        } else {
            IntroStatus::Asking
        };
        prop_assert_eq!(after.status, status, "{:?}", after);
    }

    // Relays: only on a close without an introduction, only to involved
    // parties other than the closer, once per party, inside the delay range.
    let closer = match after.status {
        IntroStatus::Declined | IntroStatus::Expired => t.event.role,
        _ => None,
    };
    let closing_without_intro = newly_final && !introduced;
    let mut relayed_now = HashSet::new();
    for e in effects {
        if let Effect::Relay { role, not_before } = e {
            prop_assert!(
                closing_without_intro,
                "relay without a close: {:?}",
                effects
            );
            prop_assert!(after.party(*role).is_involved(), "relay to the uninvolved");
            prop_assert_ne!(Some(*role), closer, "relay to the one who closed it");
            prop_assert!(history.relayed.insert(*role), "second relay to {}", role);
            relayed_now.insert(*role);
            prop_assert!(*not_before >= ctx.now.plus(timings.relay_delay.min));
            prop_assert!(*not_before <= ctx.now.plus(timings.relay_delay.max));
        }
    }
    if closing_without_intro {
        for r in ROLES {
            let p = after.party(r);
            // A party whose own no or withdrawal is on record is not told;
            // everyone else who was asked or asked for it is. (This follows
            // machine.rs: a no still inside its undo window when the
            // connector cancels, or the other ask expires, gets no relay
            // either, although SPEC §2.5 reads as if it should.)
            let said_no = matches!(p.consent, Consent::Declined | Consent::Withdrawn);
            let owed = p.is_involved() && Some(r) != closer && !said_no;
            prop_assert_eq!(
                relayed_now.contains(&r),
                owed,
                "relay to {} on close: {:?} / {:?}",
                r,
                effects,
                after
            );
        }
    }

    // The connector's private notices match what happened.
    let notices: Vec<&Notice> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Notify(n) => Some(n),
            _ => None,
        })
        .collect();
    prop_assert!(notices.len() <= 1, "{:?}", effects);
    match after.status {
        IntroStatus::Declined | IntroStatus::Expired if newly_final => {
            prop_assert_eq!(notices.len(), 1, "a close without a notice: {:?}", effects)
        }
        IntroStatus::Cancelled | IntroStatus::Introduced => prop_assert!(notices.is_empty()),
        _ => {}
    }
    for n in notices {
        let (who, consent, status) = match n {
            Notice::Declined { role } => (*role, Consent::Declined, IntroStatus::Declined),
            Notice::Withdrawn { role } => (*role, Consent::Withdrawn, IntroStatus::Declined),
            Notice::Expired { role } => (*role, Consent::Expired, IntroStatus::Expired),
            Notice::Snoozed { role, until } => {
                prop_assert_eq!(after.party(*role).snooze_until, Some(*until));
                (*role, Consent::Snoozed, IntroStatus::Snoozed)
            }
        };
        prop_assert_eq!(Some(who), t.event.role);
        prop_assert_eq!(after.party(who).consent, consent);
        prop_assert_eq!(after.status, status);
    }

    // Follow-ups come with the introduction, one per party.
    let follow_ups: Vec<&Effect> = effects
        .iter()
        .filter(|e| matches!(e, Effect::FollowUp { .. }))
        .collect();
    match (introduced, timings.follow_up_after) {
        (true, Some(after_)) => {
            for r in ROLES {
                let wanted = Effect::FollowUp {
                    role: r,
                    not_before: ctx.now.plus(after_),
                };
                prop_assert!(follow_ups.contains(&&wanted), "{:?}", effects);
            }
            prop_assert_eq!(follow_ups.len(), 2);
        }
        _ => prop_assert!(follow_ups.is_empty(), "{:?}", effects),
    }

    // Asks only to parties whose consent became `asked`, and every new ask
    // is sent.
    for r in ROLES {
        let asks = effects
            .iter()
            .filter(|e| **e == Effect::Ask { role: r })
            .count();
        let (b, a) = (before.party(r), after.party(r));
        let newly_asked = a.ask_count > b.ask_count;
        prop_assert_eq!(asks, usize::from(newly_asked), "{:?}", effects);
        if newly_asked {
            prop_assert_eq!(a.consent, Consent::Asked);
            prop_assert!(matches!(b.consent, Consent::NotAsked | Consent::Snoozed));
            prop_assert_eq!(a.asked_at, Some(ctx.now));
            prop_assert!(!a.reminded);
        }
        let reminders = effects
            .iter()
            .filter(|e| **e == Effect::Remind { role: r })
            .count();
        prop_assert_eq!(reminders, usize::from(!b.reminded && a.reminded));
        if reminders > 0 {
            prop_assert_eq!(a.consent, Consent::Asked);
            prop_assert!(!a.decision_pending());
            prop_assert!(timings.remind_after < timings.expire_after);
            prop_assert!(ctx.now >= b.asked_at.unwrap().plus(timings.remind_after));
        }
    }

    // In target_first mode the requester is asked only once the target's
    // yes has taken effect.
    if after.mode == Mode::TargetFirst
        && effects.contains(&Effect::Ask {
            role: Role::Requester,
        })
    {
        prop_assert_eq!(after.target.consent, Consent::Accepted);
        prop_assert!(!after.target.decision_pending());
    }
    if after.mode == Mode::TargetFirst && after.requester.ask_count > 0 {
        prop_assert!(after.target.ask_count > 0);
    }

    // A decision causes nothing during its undo window; an undo never
    // causes anything.
    match command {
        Command::Decide { role, .. } if !timings.undo_window.is_zero() => {
            prop_assert!(effects.is_empty(), "{:?}", effects);
            prop_assert_eq!(
                after.party(*role).undo_until,
                Some(ctx.now.plus(timings.undo_window))
            );
            prop_assert_eq!(after.status, before.status);
        }
        Command::Undo { role } => {
            prop_assert!(effects.is_empty(), "{:?}", effects);
            let (b, a) = (before.party(*role), after.party(*role));
            prop_assert_eq!(a.consent, Consent::Asked);
            prop_assert!(b.undo_until.unwrap() > ctx.now);
            prop_assert_eq!(a.undo_until, None);
            if b.consent == Consent::Snoozed {
                prop_assert!(!a.has_snoozed, "an undone not-now was used up");
            }
        }
        Command::Settle { role } => {
            let until = before.party(*role).undo_until;
            prop_assert!(until.is_some_and(|u| u <= ctx.now), "settled early");
            prop_assert_eq!(after.party(*role).undo_until, None);
        }
        Command::Withdraw { role } => {
            let b = before.party(*role);
            prop_assert_eq!(b.consent, Consent::Accepted);
            prop_assert!(!b.decision_pending(), "withdrew an undoable yes");
        }
        Command::Decide {
            role,
            decision: Decision::NotNow { .. },
            ..
        } => prop_assert!(!before.party(*role).has_snoozed, "a second not-now"),
        _ => {}
    }

    // Every party who comes to be asked is sent an ask (an undo only
    // reopens the ask they already have).
    if !matches!(command, Command::Undo { .. }) {
        for r in ROLES {
            let (b, a) = (before.party(r), after.party(r));
            if a.consent == Consent::Asked && b.consent != Consent::Asked {
                prop_assert!(effects.contains(&Effect::Ask { role: r }), "{:?}", effects);
            }
        }
    }

    // The requester's consent on record stands in for an ask only while it
    // is younger than `reconfirm_after`.
    let (b, a) = (&before.requester, &after.requester);
    if b.consent == Consent::NotAsked && a.consent != Consent::NotAsked {
        let fresh = b
            .consent_on_record_at
            .is_some_and(|at| at.plus(timings.reconfirm_after) > ctx.now);
        let expected = if fresh {
            Consent::Accepted
        } else {
            Consent::Asked
        };
        prop_assert_eq!(a.consent, expected, "requester on record: {:?}", after);
    }
    Ok(())
}

/// Checks that a refusal gives the reason that fits the intro.
fn check_refusal(
    before: &Intro,
    command: &Command,
    ctx: &Context,
    e: &MachineError,
) -> Result<(), TestCaseError> {
    let party = match command {
        Command::Decide { role, .. }
        | Command::Undo { role }
        | Command::Withdraw { role }
        | Command::Settle { role }
        | Command::Remind { role }
        | Command::Expire { role }
        | Command::AskAgain { role } => Some(before.party(*role)),
        Command::Start | Command::Cancel => None,
    };
    match (e, party) {
        (MachineError::Final(_), _) => prop_assert!(false, "refused as final while live"),
        (MachineError::AlreadyStarted, _) => prop_assert_eq!(command, &Command::Start),
        (MachineError::NotAsked, Some(p)) => prop_assert_eq!(p.consent, Consent::NotAsked),
        (MachineError::AlreadyDecided(c), Some(p)) => {
            prop_assert_eq!(*c, p.consent);
            prop_assert!(!matches!(c, Consent::Asked | Consent::NotAsked));
        }
        (MachineError::NothingToUndo, Some(p)) => prop_assert_eq!(p.undo_until, None),
        (MachineError::UndoWindowOver, Some(p)) => {
            prop_assert!(p.undo_until.is_some_and(|u| u <= ctx.now));
        }
        (MachineError::CannotWithdraw, Some(p)) => {
            prop_assert!(p.consent != Consent::Accepted || p.decision_pending());
        }
        (MachineError::SnoozeUsed, Some(p)) => prop_assert!(p.has_snoozed),
        (MachineError::SnoozeDateInvalid, Some(_)) => match command {
            Command::Decide {
                decision: Decision::NotNow { until },
                ..
            } => prop_assert!(*until <= ctx.now || *until > ctx.now.plus(MAX_SNOOZE)),
            other => prop_assert!(false, "{:?} refused for a date", other),
        },
        (MachineError::NotDue, Some(_)) => {
            let timer = matches!(
                command,
                Command::Settle { .. }
                    | Command::Remind { .. }
                    | Command::Expire { .. }
                    | Command::AskAgain { .. }
            );
            prop_assert!(timer, "{:?} refused as not due", command);
        }
        (other, None) => prop_assert!(false, "{:?} refused with {:?}", command, other),
    }
    Ok(())
}

/// Runs a scenario from `Start`, checking every step.
fn run(s: &Scenario) -> Result<Seen, TestCaseError> {
    let mut intro = new_intro(s.mode);
    intro.requester.consent_on_record_at = s.requester_on_record.map(|age| T0.minus(age));
    let mut now = T0;
    let mut history = History {
        introductions: 0,
        relayed: HashSet::new(),
    };
    let mut seen = Seen::default();
    let start = std::iter::once((Action::Start, 0.5));
    for (n, (action, relay_sample)) in start.chain(s.steps.iter().cloned()).enumerate() {
        let (command, must_succeed) = match &action {
            Action::Advance(ms) => {
                now = now.plus(Duration::from_millis(*ms));
                continue;
            }
            Action::NextDue => match machine::next_due(&intro, &s.timings) {
                // A live intro always has a timer left: nothing gets stuck.
                None => {
                    prop_assert!(intro.status.is_final(), "stuck: {:?}", intro);
                    continue;
                }
                Some((at, command)) => {
                    prop_assert!(!intro.status.is_final(), "timer on a final intro");
                    now = now.max(at);
                    (command, true)
                }
            },
            other => (command_for(other, now, n).unwrap(), n == 0),
        };
        let ctx = Context {
            now,
            timings: s.timings,
            channel: s.channel,
            relay_sample,
        };
        let first = machine::apply(&intro, command.clone(), &ctx);
        let second = machine::apply(&intro, command.clone(), &ctx);
        prop_assert!(same(&first, &second), "apply is not pure for {:?}", command);

        if intro.status.is_final() {
            prop_assert_eq!(
                first.err(),
                Some(MachineError::Final(intro.status)),
                "a final intro accepted {:?}",
                command
            );
            continue;
        }
        match first {
            Err(e) => {
                prop_assert!(
                    !must_succeed,
                    "{:?} was refused: {:?} / {:?}",
                    command,
                    e,
                    intro
                );
                check_refusal(&intro, &command, &ctx, &e)?;
            }
            Ok(t) => {
                check_transition(&intro, &command, &ctx, &t, &mut history)?;
                seen.events.insert(t.event.kind.as_str());
                intro = t.intro;
            }
        }
    }
    seen.statuses.insert(intro.status.as_str());
    Ok(seen)
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Requester), Just(Role::Target)]
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap()
}

fn answer() -> impl Strategy<Value = Answer> {
    let day = ms(DAY) as i64;
    let year = ms(MAX_SNOOZE) as i64;
    let not_now = prop_oneof![
        8 => 1i64..=10 * day,
        1 => -day..=0,
        1 => year - day..=year + day,
    ];
    prop_oneof![
        5 => any::<bool>().prop_map(|note| Answer::Yes { note }),
        2 => not_now.prop_map(|in_ms| Answer::NotNow { in_ms }),
        2 => any::<bool>().prop_map(|reason| Answer::No { reason }),
    ]
}

fn advance() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0),
        0..=ms(30 * MINUTE),
        0..=ms(2 * DAY),
        0..=ms(10 * DAY),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        12 => (role(), answer()).prop_map(|(r, a)| Action::Decide(r, a)),
        4 => role().prop_map(Action::Undo),
        2 => role().prop_map(Action::Withdraw),
        1 => Just(Action::Cancel),
        4 => role().prop_map(Action::Settle),
        2 => role().prop_map(Action::Remind),
        2 => role().prop_map(Action::Expire),
        2 => role().prop_map(Action::AskAgain),
        1 => Just(Action::Start),
        10 => advance().prop_map(Action::Advance),
        8 => Just(Action::NextDue),
    ]
}

fn timings() -> impl Strategy<Value = Timings> {
    let secs = Duration::from_secs;
    let relay = prop_oneof![
        1 => Just((0u64, 0u64)),
        4 => (0..=72 * 3600u64, 0..=72 * 3600u64),
    ];
    (
        0..=8 * 24u64,
        1..=10 * 24u64,
        prop_oneof![Just(0u64), 1..=1800u64],
        relay,
        0..=30 * 24u64,
        proptest::option::of(1..=30u64),
    )
        .prop_map(
            move |(remind_h, expire_h, undo_s, (relay_min, relay_span), reconfirm_h, follow_d)| {
                Timings {
                    remind_after: secs(remind_h * 3600),
                    expire_after: secs(expire_h * 3600),
                    undo_window: secs(undo_s),
                    relay_delay: RelayDelay {
                        min: secs(relay_min),
                        max: secs(relay_min + relay_span),
                    },
                    reconfirm_after: secs(reconfirm_h * 3600),
                    follow_up_after: follow_d.map(|d| secs(d * 86_400)),
                }
            },
        )
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop_oneof![Just(Mode::TargetFirst), Just(Mode::Parallel)],
        timings(),
        proptest::option::of((0..=30 * 24u64).prop_map(|h| Duration::from_secs(h * 3600))),
        prop_oneof![
            Just(Channel::Web),
            Just(Channel::Api),
            Just(Channel::Cli),
            Just(Channel::Scheduler)
        ],
        proptest::collection::vec((action(), 0.0..1.0f64), 0..60),
    )
        .prop_map(
            |(mode, timings, requester_on_record, channel, steps)| Scenario {
                mode,
                timings,
                requester_on_record,
                channel,
                steps,
            },
        )
}

proptest! {
    // 10,000 random sequences by default (PROPTEST_CASES overrides). Failures
    // are not persisted to a file: the shrunk case is printed instead.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_invariant_holds_after_every_step_of_any_command_sequence(s in scenario()) {
        run(&s)?;
    }
}

#[test]
fn the_generated_sequences_reach_every_outcome() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let strategy = scenario();
    let mut seen = Seen::default();
    for _ in 0..1000 {
        let s = strategy.new_tree(&mut runner).unwrap().current();
        let one = run(&s).unwrap();
        seen.statuses.extend(one.statuses);
        seen.events.extend(one.events);
    }
    for status in IntroStatus::ALL {
        assert!(
            seen.statuses.contains(status.as_str()),
            "no run ended {status}: {:?}",
            seen.statuses
        );
    }
    for kind in [
        EventKind::Started,
        EventKind::DecidedYes,
        EventKind::DecidedNotNow,
        EventKind::DecidedNo,
        EventKind::Undone,
        EventKind::Withdrawn,
        EventKind::Cancelled,
        EventKind::Settled,
        EventKind::Reminded,
        EventKind::Expired,
        EventKind::AskedAgain,
    ] {
        assert!(
            seen.events.contains(kind.as_str()),
            "no run saw {}: {:?}",
            kind.as_str(),
            seen.events
        );
    }
}
