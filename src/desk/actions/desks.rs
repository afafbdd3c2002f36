//! `#move <desk>`: checked here, carried out by the shell once the mail is recorded (the
//! new case id is the target desk's, which only the store can give).

use super::{Step, Work, fail, ok};
use crate::outgoing::Purpose;
use crate::types::CaseStatus;

impl Work<'_, '_> {
    pub(super) fn move_to(&mut self, desk: &str) -> Step {
        let here = self.ctx.config.desk_label();
        // A removed desk's case, handled here, may come here.
        if desk == here && !self.facts.other_desks.iter().any(|d| d == here) {
            return fail(format!("{} is already on the desk {here}", self.case.id));
        }
        if !self.facts.other_desks.iter().any(|d| d == desk) {
            return fail(if self.facts.other_desks.is_empty() {
                "this daemon serves one desk only: there is nowhere to move the case".to_string()
            } else {
                format!(
                    "there is no desk named `{desk}`; the desks are: {}",
                    self.facts.other_desks.join(", ")
                )
            });
        }
        // Its advisory was committed and is pushed from this desk's repository, under
        // this desk's prefix: a published case stays where it was published.
        if self.case.status == CaseStatus::Published {
            return fail(format!(
                "{} was published here as {}; it stays on the desk {here}",
                self.case.id,
                self.case.advisory_id.as_deref().unwrap_or("an advisory")
            ));
        }
        if let Some(already) = &self.move_to {
            return fail(format!(
                "the case already moves to the desk {already}: one `#move` a mail"
            ));
        }
        // Its pre-announcement went to this desk's list in this mail: the advisory it
        // promised is this desk's to publish.
        if self
            .outgoing
            .iter()
            .any(|o| o.purpose == Purpose::Preannounce)
        {
            return fail(
                "this mail pre-announced the case on this desk's list: `#move` it in a mail of its own, if at all",
            );
        }
        self.move_to = Some(desk.to_string());
        let told = if self.case.sender_unanswered() {
            "not its sender: the case is or was in the spam state".to_string()
        } else if let Some(why) = &self.facts.report_automatic {
            format!("not its sender: the report was sent by a machine ({why})")
        } else if self.case.reporter.is_none() {
            "nobody else: the case has no reporter".to_string()
        } else {
            "and so is the reporter".to_string()
        };
        ok(format!(
            "the case moves to the desk {desk}: it takes a new id there (its team is told it, {told}); {} keeps threading to it",
            self.case.id
        ))
    }
}
