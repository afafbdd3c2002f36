//! Lifecycle commands: the case's status (valid, invalid, duplicate, fixed, closed,
//! reopened) and its dates (embargo, one-off reminders).

use super::{Step, Work, fail, ok};
use crate::commands::{EmbargoSpec, When};
use crate::desk::case::{CLOSED_FROM_SPAM, EventKind};
use crate::desk::decision::OneOff;
use crate::types::{CaseId, CaseStatus};
use chrono::Duration;

impl Work<'_, '_> {
    pub(super) fn valid(&mut self) -> Step {
        if let Some(s) = self.needs_open() {
            return s;
        }
        if self.case.status != CaseStatus::New {
            return ok(format!("already {}", self.case.status));
        }
        self.case.status = CaseStatus::Valid;
        self.public_change(CONFIRMED.into());
        ok("marked valid")
    }

    pub(super) fn invalid(&mut self, reason: &str) -> Step {
        if let Some(s) = self.needs_open() {
            return s;
        }
        self.case.status = CaseStatus::Closed;
        self.case.close_reason = Some(format!("invalid: {reason}"));
        self.change(format!("closed as invalid: {reason}"));
        ok(format!("closed as invalid ({reason}); reminders stopped"))
    }

    pub(super) fn duplicate(&mut self, named: &CaseId) -> Step {
        let Some(other) = self.facts.known_cases.get(named).cloned() else {
            return fail(format!("there is no case {named}"));
        };
        let other = &other;
        if *other == self.case.id {
            return fail("a case cannot duplicate itself");
        }
        if let Some(s) = self.needs_open() {
            return s;
        }
        self.case.status = CaseStatus::Closed;
        self.case.duplicate_of = Some(other.clone());
        self.case.close_reason = Some(format!("duplicate of {other}"));
        self.change(format!("closed as a duplicate of {other}"));
        ok(format!(
            "closed as a duplicate of {other}; reminders stopped"
        ))
    }

    pub(super) fn embargo(&mut self, spec: &EmbargoSpec) -> Step {
        // Out in the open already: no embargo holds it, and no reminder follows one.
        if self.case.status == CaseStatus::Published {
            return self
                .needs_open()
                .unwrap_or_else(|| fail("the case is published"));
        }
        let today = self.today();
        let date = match spec {
            EmbargoSpec::None => {
                self.case.embargo_end = None;
                self.change("embargo lifted (none)".into());
                return ok(
                    "no embargo: the case may be published at any time; embargo reminders stopped",
                );
            }
            EmbargoSpec::Until(d) => *d,
            EmbargoSpec::DaysFromNow(n) => {
                match today.checked_add_signed(Duration::days(i64::from(*n))) {
                    Some(d) => d,
                    None => return fail("that date is out of range"),
                }
            }
        };
        if date < today {
            return fail(format!(
                "{date} is in the past (today is {today}); give a later date or `#embargo none`"
            ));
        }
        if let Some(refused) = self.out_of_window(date) {
            return refused;
        }
        self.case.embargo_end = Some(date);
        let text = format!("embargo until {}", self.ctx.fmt_embargo(date));
        self.change(text.clone());
        ok(format!("{text}; reminders follow it"))
    }

    pub(super) fn remind(&mut self, when: &When, text: &str) -> Step {
        let ctx = self.ctx;
        // A closed case's reminders are cancelled with it: one planned now would be too.
        if let Some(refused) = self.needs_open() {
            return refused;
        }
        let date = match when {
            When::Date(d) => *d,
            When::DaysFromNow(n) => match self
                .today()
                .checked_add_signed(Duration::days(i64::from(*n)))
            {
                Some(d) => d,
                None => return fail("that date is out of range"),
            },
        };
        if let Some(refused) = self.out_of_window(date) {
            return refused;
        }
        let due = crate::desk::deadlines::one_off_due(&ctx.config.calendar, date);
        if due <= ctx.now {
            return fail(format!(
                "{} is already past; give a later date",
                ctx.fmt_instant(due)
            ));
        }
        self.one_offs.push(OneOff {
            due,
            note: text.to_string(),
        });
        self.change(format!(
            "reminder planned for {}: {text}",
            ctx.fmt_instant(due)
        ));
        ok(format!("you will be reminded on {}", ctx.fmt_instant(due)))
    }

    pub(super) fn fixed(&mut self) -> Step {
        if let Some(s) = self.needs_open() {
            return s;
        }
        self.case.status = CaseStatus::Fixed;
        self.case.fixed_at = Some(self.ctx.now);
        match self.case.fixed_in.clone() {
            Some(v) => {
                self.public_change(format!("fix released in {v}"));
                ok(format!(
                    "marked fixed in {v}; `#publish` it today: the embargo no longer holds once the fix is out"
                ))
            }
            None => {
                self.public_change("fix released".into());
                ok("marked fixed (tip: `#fixed-in <version>` names the release)")
            }
        }
    }

    pub(super) fn close(&mut self) -> Step {
        // A case in the spam state may be closed for good (it leaves `cases --spam`).
        if !self.case.is_open() && self.case.status != CaseStatus::Spam {
            return ok(format!("already {}", self.case.status));
        }
        // The move decided whom it tells by the spam state at its line.
        if self.case.status == CaseStatus::Spam
            && let Some(step) = self.moving("close")
        {
            return step;
        }
        // Reopened, a case closed from spam goes back to spam: its reporter was never
        // acknowledged, nor its embargo set (`reopen`).
        let reason = match self.case.status {
            CaseStatus::Spam => CLOSED_FROM_SPAM,
            _ => "closed by the team",
        };
        self.case.status = CaseStatus::Closed;
        self.case.close_reason = Some(reason.into());
        self.change("closed".into());
        ok("closed; reminders stopped")
    }

    pub(super) fn reopen(&mut self) -> Step {
        if self.case.is_open() {
            return ok(format!("already open ({})", self.case.status));
        }
        if self.case.status == CaseStatus::Published {
            return fail(
                "the advisory is published; a published case cannot be reopened (open a new case with `#new`)",
            );
        }
        if self.case.status == CaseStatus::Spam {
            return fail(
                "the case is in the spam state; `#notspam` releases it (and acknowledges the reporter)",
            );
        }
        if self.case.close_reason.as_deref() == Some(CLOSED_FROM_SPAM) {
            self.case.status = CaseStatus::Spam;
            self.case.close_reason = None;
            self.change("reopened (spam)".into());
            return ok(
                "back in the spam state, where it was closed from; `#notspam` releases it (and acknowledges the reporter)",
            );
        }
        // Back to the triage it had: a case closed before anyone confirmed it is new.
        self.case.status = if self.case.fixed_at.is_some() {
            CaseStatus::Fixed
        } else if self.confirmed() {
            CaseStatus::Valid
        } else {
            CaseStatus::New
        };
        self.case.close_reason = None;
        self.case.duplicate_of = None;
        self.change(format!("{REOPENED}{})", self.case.status));
        ok(format!("reopened; status {}", self.case.status))
    }
}

impl Work<'_, '_> {
    /// Whether the case was confirmed (`#valid`), by this mail or before.
    fn confirmed(&self) -> bool {
        let stored = self.facts.timeline.iter().map(|e| (e.kind, &e.detail));
        let this_mail = self.events.iter().map(|e| (e.kind, &e.detail));
        this_mail
            .chain(stored)
            .any(|(kind, detail)| kind == EventKind::Changed && detail == CONFIRMED)
    }
}

/// How `#reopen` begins its change's words.
const REOPENED: &str = "reopened (";

/// Whether `events` reopen their case (`#reopen`).
pub(crate) fn reopens(events: &[crate::desk::case::NewEvent]) -> bool {
    events
        .iter()
        .any(|e| e.kind == EventKind::Changed && e.detail.starts_with(REOPENED))
}

/// How `#valid` records the confirmation, in the public timeline.
const CONFIRMED: &str = "the report was confirmed as a vulnerability";
