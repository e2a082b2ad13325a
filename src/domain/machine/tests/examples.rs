//! One behaviour each.

use super::*;

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

#[test]
fn after_downtime_an_ask_past_its_expiry_expires_instead_of_being_reminded() {
    let flow = Flow::started(Mode::TargetFirst);
    let late = T0.plus(8 * DAY);
    assert_eq!(
        machine::due_now(&flow.intro, &flow.timings, late),
        Some(Command::Expire { role: Role::Target })
    );
    let on_time = T0.plus(3 * DAY);
    assert_eq!(
        machine::due_now(&flow.intro, &flow.timings, on_time),
        Some(Command::Remind { role: Role::Target })
    );
    assert_eq!(
        machine::due_now(&flow.intro, &flow.timings, T0.plus(DAY)),
        None
    );
}

#[test]
fn opting_out_of_asks_closes_the_intro_as_that_persons_no() {
    let mut flow = Flow::started(Mode::Parallel);
    let effects = flow.apply(Command::OptOut { role: Role::Target });
    assert_eq!(flow.intro.status, IntroStatus::Declined);
    assert_eq!(flow.intro.target.consent, Consent::Declined);
    assert!(effects.contains(&Effect::Notify(Notice::OptedOut { role: Role::Target })));
    assert_eq!(relays(&effects), vec![Role::Requester]);
}
