//! Need-to-know between desks (PRODUCT.md §9): what the desk does when a member of one
//! desk acts on another desk's case, and the words of a `#move`.

use crate::desk::case::{Case, EventKind, NewEvent};
use crate::desk::{Ctx, Decision, MessageKind};
use crate::mail::Mail;
use crate::outgoing::templates::{self, Rendered};
use crate::outgoing::{Outgoing, Purpose};

/// A member of desk `home` sent command lines on `case`, which belongs to the desk of
/// `ctx`: nothing is done, the refusal is recorded on the case and the case's team is
/// told. The sender is told nothing (they have no business with this case).
pub fn refused_elsewhere(
    ctx: &Ctx<'_>,
    mail: &Mail,
    member: &str,
    home: &str,
    case: Case,
    lines: usize,
) -> Decision {
    let id = case.id.clone();
    let mut d = Decision::on(case, false, MessageKind::Other);
    let detail = format!(
        "{lines} command line(s) from {member} refused: a member of the desk {home}, not of this case's desk ({})",
        ctx.config.desk_label()
    );
    d.event(NewEvent::new(EventKind::Refused, member, detail));
    let text = format!(
        "{member}, a member of the desk {home}, sent {lines} command line(s) on this case \
         (subject: {}). Only this desk's team may act on its cases: nothing was done, and \
         {member} was told nothing. If they should work on it, add them to this desk's \
         team, or hand the case over with #move.",
        mail.subject
    );
    let rendered = ctx
        .templates
        .render(&templates::TeamAlert {
            case_id: id.to_string(),
            headline: format!("commands from a member of another desk ({member}) refused"),
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
