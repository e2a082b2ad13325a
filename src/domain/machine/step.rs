//! One transition in the making: the rules for each command.

use super::{Context, Decision, Effect, EventKind, MAX_SNOOZE, MachineError, Notice};
use crate::domain::Timestamp;
use crate::domain::intro::{Consent, Intro, IntroStatus, Mode, Role};

pub(super) struct Step<'a> {
    pub(super) intro: Intro,
    pub(super) effects: Vec<Effect>,
    pub(super) ctx: &'a Context,
}

impl Step<'_> {
    fn now(&self) -> Timestamp {
        self.ctx.now
    }

    pub(super) fn start(&mut self) -> Result<(), MachineError> {
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

    pub(super) fn decide(
        &mut self,
        role: Role,
        decision: Decision,
    ) -> Result<EventKind, MachineError> {
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

    pub(super) fn undo(&mut self, role: Role) -> Result<(), MachineError> {
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

    pub(super) fn settle(&mut self, role: Role) -> Result<(), MachineError> {
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

    pub(super) fn withdraw(&mut self, role: Role) -> Result<(), MachineError> {
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

    pub(super) fn remind(&mut self, role: Role) -> Result<(), MachineError> {
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

    pub(super) fn expire(&mut self, role: Role) -> Result<(), MachineError> {
        let now = self.now();
        let expire_after = self.ctx.timings.expire_after;
        let party = self.intro.party_mut(role);
        let due = party.asked_at.map(|at| at.plus(expire_after));
        if party.consent != Consent::Asked || due.is_none_or(|due| due > now) {
            return Err(MachineError::NotDue);
        }
        party.consent = Consent::Expired;
        // The other ask may run out at the same moment (parallel mode): it
        // expires with this one rather than hearing back about an intro it
        // never answered.
        let other = self.intro.party_mut(role.other());
        let other_due = other
            .asked_at
            .is_some_and(|at| at.plus(expire_after) <= now);
        if other.consent == Consent::Asked && other_due {
            other.consent = Consent::Expired;
        }
        self.effects.push(Effect::Notify(Notice::Expired { role }));
        self.close(IntroStatus::Expired, Some(role));
        Ok(())
    }

    pub(super) fn opt_out(&mut self, role: Role) -> Result<(), MachineError> {
        let party = self.intro.party_mut(role);
        match party.consent {
            Consent::Asked => {}
            Consent::NotAsked => return Err(MachineError::NotAsked),
            other => return Err(MachineError::AlreadyDecided(other)),
        }
        party.consent = Consent::Declined;
        party.decided_at = Some(self.ctx.now);
        self.effects.push(Effect::Notify(Notice::OptedOut { role }));
        self.close(IntroStatus::Declined, Some(role));
        Ok(())
    }

    pub(super) fn ask_again(&mut self, role: Role) -> Result<(), MachineError> {
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
    pub(super) fn close(&mut self, status: IntroStatus, closer: Option<Role>) {
        let now = self.now();
        let not_before = now.plus(self.ctx.timings.relay_delay.pick(self.ctx.relay_sample));
        self.intro.status = status;
        self.intro.closed_at = Some(now);
        for role in [Role::Requester, Role::Target] {
            let party = self.intro.party_mut(role);
            party.undo_until = None;
            // A no, a withdrawal or a silence of their own: they need no news.
            let closed_it_themselves = matches!(
                party.consent,
                Consent::Declined | Consent::Withdrawn | Consent::Expired
            );
            if Some(role) != closer && party.is_involved() && !closed_it_themselves {
                self.effects.push(Effect::Relay { role, not_before });
            }
        }
    }
}
