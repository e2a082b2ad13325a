//! Random command sequences; every SPEC §3 invariant after every step.

use super::*;

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
    OptOut(Role),
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
        Action::OptOut(role) => Command::OptOut { role: *role },
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
        Command::OptOut { role } => (EventKind::OptedOut, Actor::Party(*role), Some(*role)),
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
            // A party whose own no, withdrawal or silence is on record is
            // not told (two asks that run out together both expire);
            // everyone else who was asked or asked for it is. A no still
            // inside its undo window when the intro closes otherwise counts
            // as that party's own answer: they hear nothing more.
            let said_no = matches!(
                p.consent,
                Consent::Declined | Consent::Withdrawn | Consent::Expired
            );
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
            Notice::OptedOut { role } => (*role, Consent::Declined, IntroStatus::Declined),
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
        | Command::AskAgain { role }
        | Command::OptOut { role } => Some(before.party(*role)),
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
        1 => role().prop_map(Action::OptOut),
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
                    cooldown: secs(90 * 86_400),
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
