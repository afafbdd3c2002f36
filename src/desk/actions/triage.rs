//! Triage commands: which case the mail works on, who responds, how severe it is, and
//! the answers that only inform (`#show`, `#help`).

use super::{Step, Work, fail, ok};
use crate::commands::{self, Assignee, CvssScore};
use crate::types::{CaseId, Severity};

impl Work<'_, '_> {
    pub(super) fn new_case(&mut self, opened_now: bool) -> Step {
        if opened_now {
            ok(format!("opened {}", self.case.id))
        } else {
            fail("`#new` must be the first line; this mail already belongs to a case")
        }
    }

    pub(super) fn working_on(&mut self, id: &CaseId) -> Step {
        if *id == self.case.id {
            ok(format!("working on {id}"))
        } else if self.facts.former_ids.contains(id) {
            ok(format!("working on {} (formerly {id})", self.case.id))
        } else {
            fail(format!(
                "this mail belongs to {}, not {id}; write a separate mail for {id}",
                self.case.id
            ))
        }
    }

    pub(super) fn assign(&mut self, who: &Assignee) -> Step {
        let addr = match who {
            Assignee::Me => self.actor.to_string(),
            Assignee::Address(a) => a.clone(),
        };
        if !self.ctx.config.team.is_member(&addr) {
            return fail(format!(
                "{addr} is not a team member (team.members); only team members can be responders"
            ));
        }
        self.case.assignee = Some(addr.clone());
        self.change(format!("responder: {addr}"));
        ok(format!("assigned to {addr}"))
    }

    pub(super) fn unassign(&mut self) -> Step {
        match self.case.assignee.take() {
            Some(prev) => {
                self.change(format!("responder {prev} removed"));
                ok(format!("{prev} is no longer the responder"))
            }
            None => ok("nobody was assigned"),
        }
    }

    pub(super) fn severity(&mut self, s: Severity) -> Step {
        self.case.severity = Some(s);
        self.change(format!("severity: {s}"));
        ok(format!("severity set to {s}"))
    }

    pub(super) fn cvss(&mut self, score: &CvssScore) -> Step {
        self.case.cvss_vector = Some(score.vector.clone());
        self.case.cvss_score = Some(score.score);
        self.change(format!(
            "CVSS: {} (score {:.1}, {})",
            score.vector, score.score, score.rating
        ));
        ok(format!(
            "CVSS score {:.1} ({}) from {}",
            score.score, score.rating, score.vector
        ))
    }

    pub(super) fn show(&mut self) -> Step {
        self.extra.push(crate::publish::report::case_text(
            &self.case,
            &self.facts.timeline,
            &self.ctx.config.calendar,
            None,
        ));
        ok("summary and timeline below")
    }

    pub(super) fn help(&mut self) -> Step {
        self.extra.push(commands::help_text());
        ok("the commands are listed below")
    }
}
