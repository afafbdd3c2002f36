//! The spam state by command: `#spam` quarantines a case (its reminders stop, it leaves
//! the digest), `#notspam` releases one (the reporter is acknowledged now, the team is
//! told, deadlines are planned from now).

use super::{Step, Work, fail, ok};
use crate::desk::case::EventKind;
use crate::desk::spam;
use crate::types::CaseStatus;

impl Work<'_, '_> {
    pub(super) fn spam(&mut self) -> Step {
        if let Some(step) = self.moving("spam") {
            return step;
        }
        match self.case.status {
            CaseStatus::Spam => ok(format!("{} is already in the spam state", self.case.id)),
            CaseStatus::Published => fail(format!(
                "{} is published; a published case cannot be moved to spam",
                self.case.id
            )),
            _ => {
                let before = self.case.status;
                self.case.status = CaseStatus::Spam;
                self.change(format!("{SPAM_WAS}{before})"));
                ok(
                    "moved to the spam state; reminders stopped, not in the digest, and an acknowledgement not sent yet is withdrawn; `#notspam` undoes it",
                )
            }
        }
    }

    /// Refuses `#keyword` after a `#move` in the same mail: the move decided whom it
    /// tells (the sender of a case in the spam state is not told) by the state then.
    pub(super) fn moving(&self, keyword: &str) -> Option<Step> {
        self.move_to.as_ref().map(|desk| {
            fail(format!(
                "the case moves to the desk {desk} in this mail: `#{keyword}` it in a mail of its own, before or after the move"
            ))
        })
    }

    pub(super) fn notspam(&mut self) -> Step {
        if let Some(step) = self.moving("notspam") {
            return step;
        }
        if self.case.status != CaseStatus::Spam {
            return ok(format!(
                "{} is not in the spam state ({})",
                self.case.id, self.case.status
            ));
        }
        // A case the team had taken further and put in spam by mistake goes back to where
        // it was, its embargo and dates untouched; a report quarantined on arrival, or a
        // new one, is released as a new report.
        if let Some(before) = self.status_before_spam() {
            self.case.status = before;
            let summary = format!("released from the spam state: {before} again, as it was");
            self.change(summary.clone());
            return ok(summary);
        }
        self.case.status = CaseStatus::New;
        // A machine's mail has no reporter: no reminder to answer it, no `#reply` to it
        // (a case quarantined before that rule kept its sender as reporter).
        if self.facts.report_automatic.is_some() {
            self.case.reporter = None;
            self.case.reporter_name = None;
        }
        // Nobody is acknowledged twice, and no machine is (an acknowledgement `#spam`
        // withdrew before it went is queued again as it was: `Desk::record`).
        let acknowledged = self
            .facts
            .timeline
            .iter()
            .any(|e| e.kind == EventKind::Acknowledged);
        // Put in spam by the team (not quarantined on arrival): what it had decided stands.
        let on_arrival = !self.was_put_in_spam();
        let public = self
            .case
            .reporter
            .as_deref()
            .is_some_and(|r| self.facts.is_announce_list(r));
        let no_ack = if acknowledged {
            Some("already acknowledged".to_string())
        } else if public {
            Some("it comes from a public announce list (publish.announce), where an answer would be published".to_string())
        } else {
            self.facts
                .report_automatic
                .as_ref()
                .map(|why| format!("the report was sent by a machine ({why})"))
        };
        let (out, events, summary) = spam::release(
            self.ctx,
            &mut self.case,
            (
                &self.facts.report_text,
                &self.facts.report_sender,
                no_ack,
                acknowledged,
            ),
            (self.actor, on_arrival),
        );
        self.outgoing.extend(out);
        self.events.extend(events);
        self.change(summary.clone());
        ok(summary)
    }

    /// Whether the team put the case in spam (`#spam`, in this mail or before), rather
    /// than the desk quarantining it on arrival.
    fn was_put_in_spam(&self) -> bool {
        self.events.iter().any(|e| e.detail.starts_with(SPAM_WAS))
            || self
                .facts
                .timeline
                .iter()
                .any(|e| e.detail.starts_with(SPAM_WAS))
    }

    /// The status the case had when the team last put it in spam, when the team had
    /// taken it past new; `None` for a case quarantined on arrival. A `#spam` earlier in
    /// the same mail is the last, though not stored yet.
    fn status_before_spam(&self) -> Option<CaseStatus> {
        let was = |kind: EventKind, detail: &str| {
            let was = detail.strip_prefix(SPAM_WAS)?.strip_suffix(')')?;
            (kind == EventKind::Changed).then(|| CaseStatus::parse(was))?
        };
        let this_mail = self.events.iter().rev().map(|e| (e.kind, &e.detail));
        let stored = self
            .facts
            .timeline
            .iter()
            .rev()
            .map(|e| (e.kind, &e.detail));
        this_mail
            .chain(stored)
            .find_map(|(kind, detail)| was(kind, detail))
            .filter(|s| !matches!(s, CaseStatus::New | CaseStatus::Spam))
    }
}

/// How `#spam` records the status it leaves, which `#notspam` restores.
const SPAM_WAS: &str = "moved to the spam state (was ";

/// What the case says when `#spam` withdrew its acknowledgement before it went.
pub(crate) const ACK_WITHDRAWN: &str =
    "the acknowledgement not sent yet was withdrawn: the case is in the spam state";

/// Whether `events` take their case out of the spam state (`#notspam`, either way).
pub(crate) fn releases_from_spam(events: &[crate::desk::case::NewEvent]) -> bool {
    events
        .iter()
        .any(|e| e.kind == EventKind::Changed && e.detail.starts_with(RELEASED))
}

/// How both ways out of the spam state begin their change's words.
const RELEASED: &str = "released from ";

/// Whether `events` move their case to the spam state (`#spam`).
pub(crate) fn moves_to_spam(events: &[crate::desk::case::NewEvent]) -> bool {
    events.iter().any(|e| e.detail.starts_with(SPAM_WAS))
}
