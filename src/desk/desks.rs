//! Need-to-know between desks (PRODUCT.md §9): what the desk does when a member of one
//! desk acts on another desk's case, and the words of a `#move`.

use crate::desk::actions::ALERTS_PER_HOUR;
use crate::desk::case::{Case, EventKind, NewEvent};
use crate::desk::{Ctx, Decision, MessageKind};
use crate::mail::Mail;
use crate::outgoing::templates::{self, Rendered};
use crate::outgoing::{Outgoing, Purpose};

/// A member of desk `home` sent command lines on `case`, which belongs to the desk of
/// `ctx`: nothing is done, the refusal is recorded on the case and the case's team is
/// told (at most [`ALERTS_PER_HOUR`] refusal alerts an hour, as for unauthenticated
/// commands: a forged From must not flood the team). The sender is told nothing (they
/// have no business with this case).
///
/// `unauthenticated`: why the mail is not the member's for their own desk's server (a
/// forged From): it is recorded and told as a claim, and the team is not asked to add
/// whoever sent it.
pub fn refused_elsewhere(
    ctx: &Ctx<'_>,
    mail: &Mail,
    (member, unauthenticated): (&str, Option<&str>),
    home: &str,
    case: Case,
    lines: usize,
    recent_alerts: u32,
) -> Decision {
    let id = case.id.clone();
    let mut d = Decision::on(case, false, MessageKind::Other);
    let detail = match unauthenticated {
        None => format!(
            "{lines} command line(s) from {member} refused: a member of the desk {home}, not of this case's desk ({})",
            ctx.config.desk_label()
        ),
        Some(why) => format!(
            "{lines} command line(s) from a mail claiming to be {member} (a member of the desk {home}) refused: not authenticated ({why})"
        ),
    };
    d.event(NewEvent::new(EventKind::Refused, member, detail));
    if recent_alerts >= ALERTS_PER_HOUR {
        return d;
    }
    let text = match unauthenticated {
        None => format!(
            "{member}, a member of the desk {home}, sent {lines} command line(s) on this case \
             (subject: {}). Only this desk's team may act on its cases: nothing was done, and \
             {member} was told nothing. If they should work on it, add them to this desk's \
             team, or hand the case over with #move.",
            mail.subject
        ),
        Some(why) => format!(
            "A mail claiming to be {member}, a member of the desk {home}, sent {lines} command \
             line(s) on this case (subject: {}). It was not authenticated ({why}): it may be \
             forged. Nothing was done, and nobody was answered.",
            mail.subject
        ),
    };
    let rendered = ctx
        .templates
        .render(&templates::TeamAlert {
            case_id: id.to_string(),
            headline: match unauthenticated {
                None => format!("commands from a member of another desk ({member}) refused"),
                Some(_) => format!("commands in the name of {member}, not authenticated, refused"),
            },
            text: text.clone(),
        })
        .unwrap_or_else(|_| Rendered {
            subject: format!("[{id}] commands from a member of another desk refused"),
            body: text,
        });
    d.outgoing.push(
        Outgoing::new(
            Purpose::TeamNotice,
            Some(id.clone()),
            ctx.config.team.recipients(),
            rendered,
        )
        .reply_to(ctx.plus_address(&id)),
    );
    d
}

/// What a `#move` says, once the store gave the case its new id: the event on the case,
/// the old team's notice (from the old desk), the new team's (from the new desk, with
/// the report), and the reporter's (from the new desk: only that the case continues
/// under the new id, naming no desk).
pub struct HandOver<'a> {
    /// The desk the case leaves, and the one it joins.
    pub from: &'a Ctx<'a>,
    pub to: &'a Ctx<'a>,
    /// The case as it is now, under its new id.
    pub case: &'a Case,
    pub old_id: &'a crate::types::CaseId,
    pub actor: &'a str,
    pub report_text: &'a str,
    /// The reporter's latest message, to thread the reporter's notice under.
    pub reporter_last: Option<crate::types::MessageId>,
    /// The responder the case had, who is not on the new desk's team: the case arrives
    /// with none (their reminders would have gone on to them).
    pub left_responder: Option<&'a str>,
    /// Why the report was automatic mail (a list's, a robot's), if it was: it was never
    /// acknowledged, and its sender is told nothing of the move either.
    pub automatic_report: Option<String>,
    /// Who sent the report (From, with its name); empty when not at hand.
    pub report_sender: &'a str,
    /// The team opened the case itself (`#new`).
    pub opened_by_team: bool,
}

impl HandOver<'_> {
    pub fn decide(&self) -> (NewEvent, Vec<Outgoing>) {
        let (old, new) = (self.old_id, &self.case.id);
        let (from_desk, to_desk) = (self.from.config.desk_label(), self.to.config.desk_label());
        // The same desk on both sides: a case of a desk removed from the configuration,
        // handled by the top level, which takes it into its own series.
        let same = from_desk == to_desk;
        let mut detail = if same {
            format!("moved to the desk {to_desk} ({new}): {old}'s desk is no longer configured")
        } else {
            format!("moved from the desk {from_desk} ({old}) to the desk {to_desk} ({new})")
        };
        let mut unassigned = String::new();
        if let Some(left) = self.left_responder {
            detail.push_str(&format!(
                "; {left}, its responder, is not on that desk's team: it has no responder"
            ));
            unassigned = format!(
                "It has no responder on your desk yet ({left} was, on the desk {from_desk}): \
                 #assign me takes it.\n\n"
            );
        }
        if let Some(why) = &self.automatic_report {
            detail.push_str(&format!(
                "; its sender is not told: the report was automatic mail ({})",
                crate::sanitize::one_line(why)
            ));
        }
        let event = NewEvent::new(EventKind::Changed, self.actor, detail);
        let mut out = Vec::new();
        let old_team = Rendered {
            subject: format!(
                "[{old}] moved to the desk {to_desk} as {new}: {}",
                self.case.subject
            ),
            body: format!(
                "{actor} handed {old} (\"{subject}\") to the desk {to_desk}, where it is now {new}.\n\n\
                 Its history went along; mail naming {old} still reaches it. This desk's team is \
                 no longer told about it and can no longer act on it.\n",
                actor = self.actor,
                subject = self.case.subject,
            ),
        };
        if !same {
            out.push(Outgoing::new(
                Purpose::TeamNotice,
                Some(new.clone()),
                self.from.config.team.recipients(),
                old_team,
            ));
        }
        let new_team = Rendered {
            subject: format!(
                "[{new}] handed over from the desk {from_desk}: {}",
                self.case.subject
            ),
            body: format!(
                "{actor} of the desk {from_desk} handed this case to your desk. It was {old}; it \
                 is now {new}, and its whole history came along (`#show` lists it).\n\n\
                 {unassigned}Reporter: {reporter}\n\nThe report:\n\n{report}\n",
                actor = self.actor,
                // Written here, not by a template: made one line as a template would
                // (an address from mail may hold control or direction characters).
                reporter = match (self.case.reporter.as_deref(), &self.automatic_report) {
                    (Some(reporter), _) => crate::sanitize::one_line(reporter),
                    (None, Some(why)) => format!(
                        "(none: the report was automatic mail, {}, from {})",
                        crate::sanitize::one_line(why),
                        crate::sanitize::one_line(self.report_sender)
                    ),
                    (None, None) if !self.opened_by_team => format!(
                        "(none: nobody to answer; the report came from {})",
                        crate::sanitize::one_line(self.report_sender)
                    ),
                    (None, None) => "(none: opened by a team)".to_string(),
                },
                // Cut as a notice's is: a report of megabytes made a notice the relay
                // refused, the new team told nothing.
                report = crate::sanitize::text_block(
                    crate::desk::cut_for_team(
                        self.report_text.trim(),
                        crate::desk::WHOLE_IN_MAILBOX
                    )
                    .trim()
                ),
            ),
        };
        out.push(
            Outgoing::new(
                Purpose::TeamNotice,
                Some(new.clone()),
                self.to.config.team.recipients(),
                new_team,
            )
            .reply_to(self.to.plus_address(new)),
        );
        // The sender of a case in the spam state (or closed from it) never heard from the
        // desk, and is told nothing now: a forged address, or a spammer's (backscatter).
        // Nor is the sender of automatic mail (a list that rewrote From, a robot): no
        // answer to a machine.
        let reporter = (self.case.reporter.as_ref())
            .filter(|_| !self.case.sender_unanswered() && self.automatic_report.is_none());
        if let Some(reporter) = reporter {
            let words = Rendered {
                subject: format!("[{new}] {}", self.case.subject),
                body: format!(
                    "Hello,\n\nyour report {old} continues as {new}: please use {new} from now on \
                     (replies to earlier mail still reach it).\n\n-- \n{}\n",
                    self.to.config.desk.name
                ),
            };
            let refs: Vec<_> = self.reporter_last.iter().cloned().collect();
            out.push(
                Outgoing::new(
                    Purpose::MoveNotice,
                    Some(new.clone()),
                    vec![reporter.clone()],
                    words,
                )
                .reply_to(self.to.plus_address(new))
                .threaded((self.reporter_last.clone(), refs)),
            );
        }
        (event, out)
    }
}
