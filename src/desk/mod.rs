//! What the desk does with one incoming mail: the pure decision.
//!
//! Given the understood mail, who sent it, the case it belongs to (found by the shell)
//! and a few facts from the store, [`decide`] returns the case as it should be after the
//! mail, the events that explain it, and the mail to send. It renders templates but does
//! no I/O, reads no clock (`Ctx::now` is given) and cannot fail: a problem is an outcome
//! written into the case history, never an error that would stop the desk.
//!
//! Invariants:
//! - automatic mail and our own mail are never answered;
//! - a reporter is acknowledged once per case, within the rate limit;
//! - nothing a team member writes reaches a reporter except through `#reply`.

pub mod actions;
pub mod calendar;
pub mod case;
pub mod deadlines;
pub mod decision;
pub mod desks;
pub mod relay;
pub mod spam;

pub use decision::{Ctx, Decision, Facts, Filing, MessageKind, OneOff, answer_threading};

use crate::commands::ParsedBody;
use crate::desk::case::{Case, DESK_ACTOR, EventKind, NewEvent};
use crate::mail::Mail;
use crate::mail::classify::{AutoReason, Sender};
use crate::mail::spam::Verdict;
use crate::mail::subject;
use crate::mail::threading::ThreadReason;
use crate::outgoing::templates;
use crate::outgoing::{OutAttachment, Outgoing, Purpose, Undelivered};
use crate::types::{CaseId, CaseStatus, MessageId};
use chrono::Duration;

/// Everything the shell gathered about one incoming mail.
#[derive(Clone)]
pub struct Incoming<'a> {
    pub mail: &'a Mail,
    pub sender: Sender,
    pub filing: Filing,
    /// For team mail: the command block and text.
    pub body: Option<ParsedBody>,
    /// Acknowledgements sent to this sender within the rate-limit window.
    pub recent_acks: u32,
    /// Acknowledgements sent to this sender within the last day (see [`ACKS_A_DAY`]).
    pub acks_today: u32,
    /// Alerts about refused commands sent within the last hour.
    pub recent_alerts: u32,
    /// Acknowledgements the whole desk sent within `policy.ack_rate_limit_total`'s window.
    pub recent_acks_total: u32,
    /// Whether the team was already told, in that window, that acks are held back.
    pub ack_limit_told: bool,
    pub facts: Facts,
}

pub(crate) fn sender_display(mail: &Mail) -> String {
    match &mail.from {
        Some(m) => match &m.name {
            Some(n) => format!("{n} <{}>", m.address),
            None => m.address.clone(),
        },
        None => "(no From address)".into(),
    }
}

/// The most of a mail's text a team notice or relay carries in its own body, in bytes.
/// Each member's copy is its own outbox row, and text other than ASCII grows about
/// threefold in quoted-printable: a plain report of a few megabytes of Cyrillic made
/// notices the relay refused for their size, after the reporter was acknowledged, and
/// the team heard of it from the first-response reminder. A longer text is cut at a
/// line, and the original attached ([`original_for_team`]).
pub const TEAM_TEXT_MAX: usize = 256 * 1024;

/// The most acknowledgements one sender's mailbox gets in a day (or
/// `policy.ack_rate_limit`'s count, when larger): a robot that answers each one more
/// slowly than that limit's window would otherwise be answered for ever.
pub const ACKS_A_DAY: u32 = 10;

/// The original mail, attached for the team when its text alone would lose something: a
/// proof of concept sent as an attachment or inline after the text, an HTML-only body,
/// a text longer than a notice carries ([`TEAM_TEXT_MAX`]), or one that could not be
/// read whole (8-bit text in no declared charset, shown with U+FFFD in its place). A
/// notice refused for what it carries is sent again without it (see [`delivery_failed`]).
fn original_for_team(mail: &Mail) -> Vec<OutAttachment> {
    if mail.attachments.is_empty()
        && !mail.text_from_html
        && !mail.more_parts
        && mail.text.len() <= TEAM_TEXT_MAX
        && !mail.text.contains(char::REPLACEMENT_CHARACTER)
    {
        return Vec::new();
    }
    original(mail)
}

/// At most this many of a mail's other recipients are named in a team notice.
const ALSO_TO_MAX: usize = 20;

/// The mail's other recipients (To and Cc, the desk's own addresses left out), for the
/// team: a report that also went to a public list, a maintainer or a colleague is not
/// theirs alone to embargo, and the notice showed only its sender.
pub(crate) fn also_to(ctx: &Ctx<'_>, mail: &Mail) -> Vec<String> {
    let base = |a: &str| -> Option<(String, String)> {
        let (local, domain) = a.rsplit_once('@')?;
        let local = local.split('+').next().unwrap_or(local);
        Some((local.to_ascii_lowercase(), domain.to_ascii_lowercase()))
    };
    let own = base(&ctx.config.desk.address);
    let mut seen = std::collections::BTreeSet::new();
    let (mut out, mut more) = (Vec::new(), 0usize);
    for a in mail.to.iter().chain(&mail.cc) {
        if a.is_empty() || (own.is_some() && base(a) == own) || !seen.insert(a.as_str()) {
            continue;
        }
        if out.len() < ALSO_TO_MAX {
            out.push(crate::sanitize::one_line(a));
        } else {
            more += 1;
        }
    }
    if more > 0 {
        out.push(format!("and {more} more"));
    }
    out
}

/// The text of `mail` for a team notice: whole up to [`TEAM_TEXT_MAX`] bytes, else cut
/// at the last line end before it, saying how much is left out and where it is.
fn team_text(mail: &Mail) -> String {
    cut_for_team(&mail.text, WHOLE_ATTACHED)
}

/// Where a cut text's whole is, when the original is attached to the notice.
pub(crate) const WHOLE_ATTACHED: &str = "the whole mail is attached, original.eml";

/// Where a cut text's whole is, when nothing is attached.
pub(crate) const WHOLE_IN_MAILBOX: &str = "the whole mail stays in the desk's mailbox";

/// `text` whole up to [`TEAM_TEXT_MAX`] bytes, else cut at the last line end before it,
/// saying how much is left out and where the whole is (`whole`).
pub(crate) fn cut_for_team(text: &str, whole: &str) -> String {
    if text.len() <= TEAM_TEXT_MAX {
        return text.to_string();
    }
    let mut cut = TEAM_TEXT_MAX;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    if let Some(end) = text[..cut].rfind('\n')
        && end >= TEAM_TEXT_MAX / 2
    {
        cut = end + 1;
    }
    format!(
        "{}\n[... {} more bytes of text: {whole}]\n",
        &text[..cut],
        text.len() - cut
    )
}

/// The mail itself, as an attachment for the team.
pub(crate) fn original(mail: &Mail) -> Vec<OutAttachment> {
    vec![OutAttachment {
        filename: "original.eml".into(),
        content_type: "message/rfc822".into(),
        // Shared with the parsed mail: one copy of a big report, however many notices.
        bytes: std::sync::Arc::clone(&mail.raw),
        incoming: true,
    }]
}

/// A template failure is recorded on the case and told to the team, never dropped, and
/// never stops the desk. The start-up check makes it rare: it needs an override that
/// only breaks on real data.
pub(crate) fn template_failed(
    ctx: &Ctx<'_>,
    d: &mut Decision,
    case: Option<&CaseId>,
    what: &str,
    e: &dyn std::fmt::Display,
) {
    d.event(NewEvent::new(
        EventKind::DeliveryFailed,
        DESK_ACTOR,
        format!("could not write the {what}: {e}"),
    ));
    d.outgoing.push(plain_alert(ctx, case, what, e));
}

/// The team's alert about a mail the desk could not write: plain text, needing no
/// template (the broken one may be the alert's own).
pub(crate) fn plain_alert(
    ctx: &Ctx<'_>,
    case: Option<&CaseId>,
    what: &str,
    e: &dyn std::fmt::Display,
) -> Outgoing {
    let tag = case.map(|c| format!("[{c}] ")).unwrap_or_default();
    let rendered = crate::outgoing::templates::Rendered {
        subject: format!("{tag}the desk could not write the {what}"),
        body: format!(
            "A template failed while the desk wrote the {what}:\n\n    {e}\n\n\
             Nothing of it was sent. Fix the template override (`secdesk check` renders \
             them all), then act by hand if someone is waiting; the case's history says \
             what happened."
        ),
    };
    let out = Outgoing::new(
        Purpose::TeamNotice,
        case.cloned(),
        ctx.config.team.recipients(),
        rendered,
    );
    match case {
        Some(c) => out.reply_to(ctx.plus_address(c)),
        None => out,
    }
}

/// Decides what one readable mail does.
pub fn decide(ctx: &Ctx<'_>, incoming: Incoming<'_>) -> Decision {
    let Incoming {
        mail,
        sender,
        filing,
        body,
        recent_acks,
        acks_today,
        recent_alerts,
        recent_acks_total,
        ack_limit_told,
        facts,
    } = incoming;
    match (sender, filing) {
        (Sender::Desk, filing) => desk_address_mail(ctx, mail, filing, &facts),
        (Sender::Automatic(_), Filing::Existing(case, _)) if case.status == CaseStatus::Spam => {
            spam::on_spam_case(ctx, mail, *case, MessageKind::Automatic)
        }
        (Sender::Automatic(reason), Filing::Existing(case, _)) => {
            let id = case.id.clone();
            let mut d = Decision::on(*case, false, MessageKind::Automatic);
            d.event(NewEvent::new(
                EventKind::AutomaticMail,
                mail.from_address(),
                format!(
                    "automatic mail ({}), stored, not answered: {}",
                    reason.describe(),
                    mail.subject
                ),
            ));
            bounced(ctx, &mut d, mail, &facts.bounced);
            let refused =
                actions::automatic_commands(ctx, &id, mail, &reason.describe(), recent_alerts);
            if let Some((event, alert)) = refused {
                d.event(event);
                d.outgoing.extend(alert);
            }
            d
        }
        (Sender::Automatic(_), Filing::New(id)) if spam::verdict(ctx, mail).is_suspect() => {
            let mut d = spam::quarantine(ctx, mail, id, &spam::verdict(ctx, mail));
            // Released with `#notspam`, no person waits there either.
            nobody_reports(&mut d);
            d
        }
        // A delivery report or a mail daemon's that threads into no case is about mail
        // the desk never sent (every mail it sends is on file): backscatter of forged
        // mail, or a bounce in a form the desk cannot read (qmail's, pasting the
        // original inline). Told one by one, a bounce of a notice to a broken mailbox
        // opened a case whose notice bounced again, for ever; it is held in the spam
        // state, in the daily summary, instead.
        (
            Sender::Automatic(
                reason @ (AutoReason::DeliveryReport
                | AutoReason::EmptyReturnPath
                | AutoReason::SystemSender(_)),
            ),
            Filing::New(id),
        ) => {
            let why = Verdict::Suspect(vec![format!(
                "a delivery report or a mail system's mail ({}) about no mail the desk sent",
                reason.describe()
            )]);
            let mut d = spam::quarantine(ctx, mail, id, &why);
            nobody_reports(&mut d);
            d
        }
        // An automatic answer to the desk's own mail of no case (a digest, a summary, an
        // explanation: the team's alone): a member's responder. It is kept, on no case;
        // each digest opened a bogus report, told to the team.
        (Sender::Automatic(_), Filing::New(_)) if answers_the_desk(ctx, mail) => {
            Decision::unfiled(MessageKind::Automatic)
        }
        // A list that rewrote From, a robot: no person waits for an answer there, and a
        // `#reply` or a thanks sent there could publish an embargoed report. The team
        // reaches a person with `#forward`.
        (Sender::Automatic(reason), Filing::New(id)) => new_case(
            ctx,
            mail,
            id,
            AckPlan::Nobody(format!(
                "not acknowledged: automatic mail ({})",
                reason.describe()
            )),
        ),
        (Sender::Team(member), filing) => actions::team_mail(
            ctx,
            mail,
            &member,
            filing,
            body.unwrap_or_else(|| crate::commands::parse_body(&mail.text)),
            recent_alerts,
            &facts,
        ),
        (Sender::Other(_), Filing::Existing(case, _)) if case.status == CaseStatus::Spam => {
            spam::on_spam_case(ctx, mail, *case, MessageKind::Other)
        }
        (Sender::Other(addr), Filing::Existing(case, reason)) => {
            let note = spam::suspect_note(&spam::verdict(ctx, mail));
            other_on_case(ctx, mail, &addr, *case, reason, note, Some(&facts.recent))
        }
        (Sender::Other(addr), Filing::New(id)) => {
            let verdict = spam::verdict(ctx, mail);
            if verdict.is_suspect() {
                let mut d = spam::quarantine(ctx, mail, id, &verdict);
                // Released with `#notspam`, the list gets no acknowledgement either.
                if facts.is_announce_list(&addr) {
                    nobody_reports(&mut d);
                }
                return d;
            }
            // The list the advisories go to: whatever is sent back there is published
            // (its server takes the desk's mail), so a mail in its name has nobody to
            // answer.
            if facts.is_announce_list(&addr) {
                return new_case(
                    ctx,
                    mail,
                    id,
                    AckPlan::Nobody(
                        "not acknowledged: it comes from a public announce list (publish.announce), where an answer would be published".to_string(),
                    ),
                );
            }
            let limit = ctx.config.policy.ack_rate_limit;
            let total = ctx.config.policy.ack_rate_limit_total;
            let held_back = recent_acks < limit.count && recent_acks_total >= total.count;
            let plan = if recent_acks >= limit.count {
                AckPlan::No(format!(
                    "not acknowledged: this sender already got {recent_acks} acknowledgements in the last {} (policy.ack_rate_limit)",
                    humantime::format_duration(limit.window)
                ))
            } else if acks_today >= ACKS_A_DAY.max(limit.count) {
                AckPlan::No(format!(
                    "not acknowledged: this sender already got {acks_today} acknowledgements in the last day (a robot answering each one, slower than policy.ack_rate_limit's window, would never stop); answer with #reply"
                ))
            } else if held_back {
                AckPlan::No(format!(
                    "not acknowledged: the desk sent {recent_acks_total} acknowledgements in the last {}, its limit (policy.ack_rate_limit_total); answer with #reply",
                    humantime::format_duration(total.window)
                ))
            } else {
                AckPlan::Yes
            };
            let mut d = new_case(ctx, mail, id.clone(), plan);
            if held_back && !ack_limit_told {
                let (event, alert) = spam::ack_limit_alert(ctx, &id, recent_acks_total);
                d.event(event);
                d.outgoing.extend(alert);
            }
            d
        }
    }
}

enum AckPlan {
    Yes,
    /// Not acknowledged, for the reason given; a person still waits for an answer.
    No(String),
    /// Not acknowledged, and nobody waits for an answer (a machine, the desk itself): the
    /// case has no reporter and its notice no date to answer by.
    Nobody(String),
}

/// Whether `mail` answers one of the desk's own mails (by its In-Reply-To or
/// References).
pub(crate) fn answers_the_desk(ctx: &Ctx<'_>, mail: &Mail) -> bool {
    mail.in_reply_to
        .iter()
        .chain(&mail.references)
        .any(|id| crate::outgoing::is_our_message_id(id, &ctx.config.desk.hostname))
}

/// The start of the event recorded when our own mail comes back; the team is told of it
/// once per case in loop protection's window (ten minutes).
const OWN_MAIL_BACK: &str = "our own mail came back to the desk; not answered";

/// Whether `mail` is our own mail come back: our Message-ID domain, or our loop header
/// naming our address (written only by a desk, ours or another with our address).
fn is_own_mail(ctx: &Ctx<'_>, mail: &Mail) -> bool {
    let desk = &ctx.config.desk;
    crate::outgoing::is_our_message_id(&mail.message_id, &desk.hostname)
        || mail
            .header_values(crate::mail::classify::LOOP_HEADER)
            .any(|v| crate::types::normalize_address(v) == desk.address)
}

/// Mail from the desk's own address (or a plus address of it), or carrying our loop
/// header. It is never answered, but never swallowed either: a forwarder that rewrites
/// From to ours, or another desk, may be carrying a real report. It is filed on its case
/// (a new one when it threads nowhere) and the team is told; for our own mail come back,
/// at most once per case in ten minutes, so a loop cannot flood the team.
fn desk_address_mail(ctx: &Ctx<'_>, mail: &Mail, filing: Filing, facts: &Facts) -> Decision {
    let own = is_own_mail(ctx, mail);
    match filing {
        // A case in the spam state takes no per-mail notice, whatever the mail claims.
        Filing::Existing(case, _) if case.status == CaseStatus::Spam => {
            spam::on_spam_case(ctx, mail, *case, MessageKind::Desk)
        }
        Filing::Existing(case, reason) if own => {
            // Told once per loop protection's window: what a mail reads of its case is
            // bounded by time, whatever the case's age or a flood of forged desk mail.
            // A window overflowing is a flood: the team was told of its start.
            let told = facts.recent.overflow
                || facts
                    .recent
                    .events
                    .iter()
                    .any(|e| e.detail.starts_with(OWN_MAIL_BACK));
            let mut d = Decision::on(*case.clone(), false, MessageKind::Desk);
            if told {
                d.event(NewEvent::new(
                    EventKind::AutomaticMail,
                    DESK_ACTOR,
                    "our own mail came back again; not answered (the team was told the first time)",
                ));
                return d;
            }
            d.event(NewEvent::new(
                EventKind::AutomaticMail,
                DESK_ACTOR,
                format!("{OWN_MAIL_BACK}; the team is told once"),
            ));
            let note = spam::suspect_note(&spam::verdict(ctx, mail));
            let mut relay =
                other_on_case(ctx, mail, mail.from_address(), *case, reason, note, None);
            relay.kind = MessageKind::Desk;
            relay.events = d.events;
            relay
        }
        Filing::Existing(case, reason) => {
            let note = spam::suspect_note(&spam::verdict(ctx, mail));
            let mut d = other_on_case(
                ctx,
                mail,
                mail.from_address(),
                *case,
                reason,
                note,
                Some(&facts.recent),
            );
            d.kind = MessageKind::Desk;
            d
        }
        // Claiming to be the desk costs a spammer nothing (a From, a header): suspect
        // mail that would open a case is quarantined whatever it claims.
        Filing::New(id) if spam::verdict(ctx, mail).is_suspect() => {
            let mut d = spam::quarantine(ctx, mail, id, &spam::verdict(ctx, mail));
            // Released with `#notspam`, it must not be acknowledged either.
            nobody_reports(&mut d);
            d
        }
        Filing::New(id) => {
            let why = if own {
                format!("not acknowledged: {OWN_MAIL_BACK} (a loop?)")
            } else {
                "not acknowledged: it comes from the desk's own address (a forwarder that rewrites From?)".to_string()
            };
            let mut d = new_case(ctx, mail, id, AckPlan::Nobody(why));
            if own {
                d.kind = MessageKind::Desk;
            }
            d
        }
    }
}

/// The desk is nobody's reporter: no acknowledgement, no reminders to answer it, no
/// `#reply` to it.
fn nobody_reports(d: &mut Decision) {
    if let Some(c) = d.case.as_mut() {
        c.reporter = None;
        c.reporter_name = None;
    }
}

/// The case a report opens (subject without our tag, reporter, first message) and its
/// `Opened` event, which the reporter may see.
pub(crate) fn opened_case(ctx: &Ctx<'_>, mail: &Mail, id: CaseId) -> (Case, NewEvent) {
    let subject_text = subject::base_subject(&mail.subject, &ctx.config.desk.case_prefix);
    let subject_text = if subject_text.is_empty() {
        "(no subject)".to_string()
    } else {
        subject_text
    };
    let reporter = mail
        .from
        .as_ref()
        .map(|m| (m.address.clone(), m.name.clone()));
    let opened = NewEvent::new(
        EventKind::Opened,
        mail.from_address(),
        format!("report received: {subject_text}"),
    )
    .public();
    let case = Case::new(id, subject_text, reporter, ctx.now, mail.message_id.clone());
    (case, opened)
}

/// The acknowledgement of `mail`, the report of case `id`: queued on `d` with its event;
/// returns what the team notice says of it.
fn acknowledge(
    ctx: &Ctx<'_>,
    d: &mut Decision,
    mail: &Mail,
    (id, subject_text): (&CaseId, &str),
    (respond_by, embargo_text): (chrono::DateTime<chrono::Utc>, Option<String>),
) -> String {
    match ctx.templates.render(&templates::Ack {
        case_id: id.to_string(),
        subject: subject_text.to_string(),
        reporter_name: mail.from.as_ref().and_then(|m| m.name.clone()),
        desk_name: ctx.config.desk.name.clone(),
        respond_by: ctx.fmt_instant(respond_by),
        embargo_end: embargo_text,
    }) {
        Ok(r) => {
            d.outgoing.push(
                Outgoing::new(
                    Purpose::Ack,
                    Some(id.clone()),
                    vec![mail.from_address().to_string()],
                    r,
                )
                .reply_to(ctx.plus_address(id))
                .threaded(answer_threading(mail)),
            );
            d.event(NewEvent::new(
                EventKind::Acknowledged,
                DESK_ACTOR,
                format!(
                    "acknowledged to {}; a person answers by {}",
                    mail.from_address(),
                    ctx.fmt_instant(respond_by)
                ),
            ));
            "acknowledged".to_string()
        }
        Err(e) => {
            template_failed(ctx, d, Some(id), "acknowledgement", &e);
            "NOT acknowledged: the ack template failed (see the case history)".to_string()
        }
    }
}

/// A mail that opens a case: the case, the ack (if allowed) and the team notice.
fn new_case(ctx: &Ctx<'_>, mail: &Mail, id: CaseId, ack: AckPlan) -> Decision {
    let (mut case, opened) = opened_case(ctx, mail, id.clone());
    let subject_text = case.subject.clone();
    if let Some(days) = ctx.config.policy.embargo_days {
        let today = ctx.config.calendar.local_date(ctx.now);
        case.embargo_end = today.checked_add_signed(Duration::days(i64::from(days)));
    }
    let mut d = Decision::on(case.clone(), true, MessageKind::Report);
    d.event(opened);
    let respond_by = ctx.respond_by(ctx.now);
    let embargo_text = case.embargo_end.map(|e| ctx.fmt_embargo(e));

    let ack_note = match &ack {
        AckPlan::Yes => acknowledge(
            ctx,
            &mut d,
            mail,
            (&id, &subject_text),
            (respond_by, embargo_text.clone()),
        ),
        AckPlan::No(why) | AckPlan::Nobody(why) => {
            d.event(NewEvent::new(
                EventKind::AckSuppressed,
                DESK_ACTOR,
                why.clone(),
            ));
            why.clone()
        }
    };
    let nobody = matches!(ack, AckPlan::Nobody(_));

    let attachments_list: Vec<String> = mail
        .attachments
        .iter()
        .map(|(n, ct, size)| format!("{n} ({ct}, {size} bytes)"))
        .collect();
    match ctx.templates.render(&templates::TeamNewCase {
        case_id: id.to_string(),
        subject: subject_text,
        desk_address: ctx.config.desk.address.clone(),
        from: sender_display(mail),
        also_to: also_to(ctx, mail),
        received: ctx.fmt_instant(ctx.now),
        // Nobody waits for an answer: no date the desk would remind anyone of.
        respond_by: (!nobody).then(|| ctx.fmt_instant(respond_by)),
        embargo_end: embargo_text,
        ack_note,
        attachments: attachments_list,
        text: team_text(mail),
    }) {
        Ok(r) => d.outgoing.push(
            ctx.to_team(&id, r)
                .threaded(answer_threading(mail))
                .attach(original_for_team(mail)),
        ),
        Err(e) => template_failed(ctx, &mut d, Some(&id), "team notice", &e),
    }
    d.case = Some(case);
    if nobody {
        nobody_reports(&mut d);
    }
    d
}

/// A mail from a non-team sender on an existing case.
fn other_on_case(
    ctx: &Ctx<'_>,
    mail: &Mail,
    addr: &str,
    case: Case,
    reason: ThreadReason,
    suspect: Option<String>,
    // The case's history, for the relay's loop protection; `None` where the caller has
    // its own (our own mail come back is told to the team once per case).
    timeline: Option<&relay::Recent>,
) -> Decision {
    let (kind, event, role, headline, note) = if case.reporter.as_deref() == Some(addr) {
        (
            MessageKind::Reporter,
            EventKind::ReporterMail,
            "Reporter",
            format!("The reporter wrote again on {}.", case.id),
            None,
        )
    } else if case.upstream.iter().any(|u| u == addr) {
        (
            MessageKind::Upstream,
            EventKind::UpstreamMail,
            "Upstream",
            format!("The upstream maintainer {addr} wrote on {}.", case.id),
            None,
        )
    } else {
        (
            MessageKind::Other,
            EventKind::OtherMail,
            "Other sender",
            format!(
                "Someone who is neither the reporter nor a team member wrote on {}.",
                case.id
            ),
            Some(format!(
                "{addr} is not the reporter; filed by {}",
                reason.describe()
            )),
        )
    };
    // A suspect mail in a participant's name is a claim, not their mail: recorded as an
    // outsider's, it uses up the outsiders' relays, never theirs (five forgeries in the
    // reporter's name held her own mail back from the team).
    let claim = suspect.is_some() && kind != MessageKind::Other;
    let event = if claim { EventKind::OtherMail } else { event };
    let mut d = Decision::on(case.clone(), false, kind);
    d.event(NewEvent::new(
        event,
        addr,
        format!(
            "{}mail received: {}",
            if suspect.is_some() { "suspect " } else { "" },
            mail.subject
        ),
    ));
    // A suspect mail that threads into a case is filed as usual, marked for the team.
    let note = match (suspect, note) {
        (Some(s), Some(n)) => Some(format!("{s}\n{n}")),
        (s, n) => s.or(n),
    };
    let request = relay::Request {
        mail,
        sender: addr,
        team: false,
        human_sign: false,
        participant: kind != MessageKind::Other && !claim,
    };
    if let Some(timeline) = timeline
        && let relay::Relay::Held(why) = relay::check(ctx, &request, timeline)
    {
        d.event(NewEvent::new(EventKind::AutomaticMail, addr, why));
        return d;
    }
    // The team hears of it, with the original when its text alone would lose something.
    let relay = ctx.templates.render(&templates::TeamMail {
        case_id: case.id.to_string(),
        subject: case.subject.clone(),
        role: role.to_string(),
        headline,
        from: sender_display(mail),
        also_to: also_to(ctx, mail),
        received: ctx.fmt_instant(ctx.now),
        note,
        text: team_text(mail),
    });
    match relay {
        Ok(r) => d.outgoing.push(
            ctx.to_team(&case.id, r)
                .threaded(answer_threading(mail))
                .attach(original_for_team(mail)),
        ),
        Err(e) => template_failed(ctx, &mut d, Some(&case.id), "team relay", &e),
    }
    d
}

/// A mail that could not be parsed: filed on a new case, the team told, unless
/// `recent` (the unreadable mails of the last hour) reached the hourly alert budget: a
/// flood of junk is told a few times an hour, the rest is on its cases.
pub fn unreadable(
    ctx: &Ctx<'_>,
    id: CaseId,
    (message_id, reason, raw): (&MessageId, &str, &[u8]),
    recent: u32,
) -> Decision {
    let size = raw.len();
    // The first lines only: enough to recognise the mail, never a megabyte of base64.
    let excerpt: String = String::from_utf8_lossy(raw.get(..raw.len().min(2048)).unwrap_or(raw))
        .lines()
        .take(30)
        .collect::<Vec<_>>()
        .join("\n");
    let case = Case::new(
        id.clone(),
        "(unreadable mail)".into(),
        None,
        ctx.now,
        message_id.clone(),
    );
    let mut d = Decision::on(case.clone(), true, MessageKind::Unreadable);
    let mut detail =
        format!("a mail of {size} bytes could not be read ({reason}); its raw bytes are stored");
    if recent >= crate::desk::actions::ALERTS_PER_HOUR {
        detail.push_str(&format!(
            "; the team was not told at once: {recent} unreadable mails came within the hour \
             (a flood?), and the case waits in `secdesk cases` and the digest"
        ));
        d.event(NewEvent::new(EventKind::Unreadable, DESK_ACTOR, detail));
        return d;
    }
    d.event(NewEvent::new(EventKind::Unreadable, DESK_ACTOR, detail));
    let text = format!(
        "A mail of {size} bytes arrived at {} but could not be read: {reason}.\n\
         Its raw bytes are kept in the database and attached here. Nobody was answered.\n\
         `#close` this case once you have looked at it.\n\n----- The first lines -----\n{excerpt}",
        ctx.config.desk.address
    );
    match ctx.templates.render(&templates::TeamAlert {
        case_id: id.to_string(),
        headline: "a mail could not be read".into(),
        text,
    }) {
        Ok(r) => d
            .outgoing
            .push(ctx.to_team(&id, r).attach(vec![OutAttachment {
                filename: "unreadable.eml".into(),
                content_type: "application/octet-stream".into(),
                bytes: std::sync::Arc::new(raw.to_vec()),
                incoming: false,
            }])),
        Err(e) => template_failed(ctx, &mut d, Some(&id), "team alert", &e),
    }
    d
}

/// A delivery report came back for the desk's own mail on the case: each mail it says
/// failed for good is on the case's history, and the team is told as when the server
/// refuses one at once ([`delivery_failed`]): a reporter's acknowledgement or a `#reply`
/// that bounced later, at a relay, has not reached them. The alert goes to the team
/// alone, so a bounce of it ends there. Each mail is told once for good: the store
/// marks it failed as it finds it (`process::bounced`), so another report naming it,
/// which anyone who got it can write, finds nothing.
fn bounced(ctx: &Ctx<'_>, d: &mut Decision, mail: &Mail, failed: &[Undelivered]) {
    let Some(case) = d.case.as_ref().map(|c| c.id.clone()) else {
        return;
    };
    for mail_failed in failed {
        let error = format!(
            "a delivery report came back from {}: {}",
            mail.from_address(),
            mail.subject
        );
        d.event(NewEvent::new(
            EventKind::DeliveryFailed,
            crate::desk::case::DESK_ACTOR,
            format!(
                "the {} mail to {} could not be delivered: {error}",
                mail_failed.purpose.as_str(),
                mail_failed.to.join(", ")
            ),
        ));
        if let Some(alert) = delivery_failed(ctx, &case, mail_failed, &error) {
            d.outgoing.push(alert);
        }
    }
}

/// The team alert for a mail the server refused for good, when it was meant for someone
/// outside the team (a reporter not hearing from us, a maintainer, the announce list),
/// and a reminder: the deadline it was about must not pass unseen. Other mail to the team
/// is only recorded: mailing the team that its mail cannot reach it would be a loop (the
/// alert about a reminder is such mail, so it ends there). Except a notice that carried
/// a mail the desk received: refused for what it carried (its size, a scanner taking
/// the proof of concept for malware), it is replaced by a plain one to the same
/// members, with nothing attached, whose own failure ends there.
pub fn delivery_failed(
    ctx: &Ctx<'_>,
    case: &CaseId,
    failed: &Undelivered,
    error: &str,
) -> Option<Outgoing> {
    let (purpose, to) = (failed.purpose, failed.to.as_slice());
    if purpose == Purpose::TeamNotice && failed.carries_attachments {
        return Some(notice_without_original(ctx, case, failed, error));
    }
    let what = undelivered_what(purpose)?;
    let to = to.join(", ");
    let r = ctx.templates.render(&templates::TeamAlert {
        case_id: case.to_string(),
        headline: format!("the {what} to {to} could not be delivered"),
        text: format!(
            "The mail server refused the {what} to {to} for good:\n\n    {error}\n\n\
                 They have not received it. Check the address, and reach them another way if \
                 needed; `#show` lists the case's history."
        ),
    });
    let r = match r {
        Ok(r) => r,
        // The team still hears of it, in plain words.
        Err(e) => {
            return Some(plain_alert(
                ctx,
                Some(case),
                &format!("alert that the {what} to {to} could not be delivered"),
                &e,
            ));
        }
    };
    Some(ctx.to_team(case, r))
}

/// What the team is told of when `purpose`'s mail does not arrive: mail meant for
/// someone outside the team, and reminders (a deadline must not pass unseen). The team's
/// own notices are not: a mail about one would go the same way.
fn undelivered_what(purpose: Purpose) -> Option<&'static str> {
    Some(match purpose {
        Purpose::Ack => "acknowledgement",
        Purpose::Reply => "reply",
        Purpose::Forward => "forward to upstream",
        Purpose::PublishedNotice => "publication notice",
        Purpose::MoveNotice => "notice of the case's new id",
        Purpose::Announce => "announcement",
        Purpose::Preannounce => "pre-announcement",
        Purpose::Reminder => "reminder",
        Purpose::TeamNotice | Purpose::Transcript | Purpose::Digest => return None,
    })
}

/// The team alert for a mail the relay has kept deferring for `tries` tries since
/// `waited` ago (see [`delivery_failed`] for the refused one); `None` for the team's own
/// mail, reminders included: a reminder goes as a copy to each member, and a relay
/// deferring them all would have each copy tell every member, alerts the relay defers
/// just the same.
pub fn delivery_delayed(
    ctx: &Ctx<'_>,
    case: &CaseId,
    (purpose, to): (Purpose, &[String]),
    (tries, waited): (u32, &str),
    error: &str,
) -> Option<Outgoing> {
    let what = undelivered_what(purpose).filter(|_| purpose != Purpose::Reminder)?;
    let to = to.join(", ");
    let r = ctx.templates.render(&templates::TeamAlert {
        case_id: case.to_string(),
        headline: format!("the {what} to {to} is not delivered yet"),
        text: format!(
            "The mail server has deferred the {what} to {to} at each of {tries} tries over \
             {waited}:\n\n    {error}\n\nThey have not received it yet. The desk goes on \
             trying, hourly; the relay's own log says why it waits. Reach them another way \
             if it cannot wait; `#show` lists the case's history."
        ),
    });
    match r {
        Ok(r) => Some(ctx.to_team(case, r)),
        // The team still hears of it, in plain words.
        Err(e) => Some(plain_alert(
            ctx,
            Some(case),
            &format!("alert that the {what} to {to} is not delivered yet"),
            &e,
        )),
    }
}

/// What stands for a notice refused with the mail it carried: to the same members, plain,
/// with the notice's own words when they are at hand (the sender, the text, the date to
/// answer by). It pointed to `secdesk case`, which shows the case's history, never a mail.
fn notice_without_original(
    ctx: &Ctx<'_>,
    case: &CaseId,
    failed: &Undelivered,
    error: &str,
) -> Outgoing {
    let to = failed.to.as_slice();
    let rcpts = to.join(", ");
    let said = match failed.text.as_deref().map(str::trim) {
        Some(text) if !text.is_empty() => format!(
            "Here is what it said, without the attachments:\n\n{}\n",
            crate::sanitize::text_block(text)
        ),
        _ => String::new(),
    };
    let r = ctx.templates.render(&templates::TeamAlert {
        case_id: case.to_string(),
        headline: format!("a notice to {rcpts} could not carry the mail it was about"),
        text: format!(
            "The mail server refused, for good, a notice on this case to {rcpts} that carried \
             the sender's mail and its attachments:\n\n    {error}\n\n\
             Nothing of it reached {rcpts}. The sender's mail, attachments included, stays in \
             the desk's mailbox; `#show` lists the case's history.\n\n{said}"
        ),
    });
    match r {
        Ok(r) => Outgoing::new(Purpose::TeamNotice, Some(case.clone()), to.to_vec(), r)
            .reply_to(ctx.plus_address(case)),
        Err(e) => plain_alert(ctx, Some(case), "notice that could not carry its mail", &e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::outgoing::templates::Rendered;
    use crate::outgoing::{Outgoing, Purpose, compose};
    use crate::types::MessageId;
    use chrono::{TimeZone, Utc};
    use mail_parser::MimeHeaders;

    /// A report with a proof of concept attached; `body` is its text, `header` its top.
    fn with_attachment(header: &str, body: &str) -> Vec<u8> {
        format!(
            "{header}MIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
             --b1\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n\
             --b1\r\nContent-Type: application/octet-stream; name=poc.bin\r\n\
             Content-Disposition: attachment; filename=poc.bin\r\n\
             Content-Transfer-Encoding: base64\r\n\r\nAAECAwQF\r\n--b1--\r\n"
        )
        .into_bytes()
    }

    /// A report whose only body is HTML.
    fn html_only(header: &str, body: &str) -> Vec<u8> {
        format!(
            "{header}MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\
             Content-Transfer-Encoding: 8bit\r\n\r\n<p>{body}</p>\r\n"
        )
        .into_bytes()
    }

    const TOP: &str = "From: Rep <rep@example.net>\r\nTo: security@example.org\r\n\
        Subject: overflow\r\nMessage-ID: <r1@example.net>\r\n\
        DKIM-Signature: v=1; a=rsa-sha256; d=example.net; s=s1; \
        bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AbCd\r\n";

    /// The team notice for `raw`, composed and parsed back: (the attached part's
    /// Content-Type, its Content-Transfer-Encoding, its file name, its decoded bytes).
    fn attached_original(raw: &[u8]) -> (String, String, String, Vec<u8>) {
        let crate::mail::Parsed::Mail(mail) = crate::mail::parse(raw) else {
            panic!("the report should parse");
        };
        let attachments = original_for_team(&mail);
        assert_eq!(attachments.len(), 1, "the original is attached");
        let words = Rendered {
            subject: "[SEC-2026-0001] overflow".into(),
            body: "A new report.".into(),
        };
        let out = Outgoing::new(
            Purpose::TeamNotice,
            None,
            vec!["alice@example.org".into()],
            words,
        )
        .attach(attachments);
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        let id = MessageId::new("n1@example.org").unwrap();
        let composed = compose(&out, &id, "security@example.org", "Desk", now).unwrap();
        let sent = mail_parser::MessageParser::default()
            .parse(&composed.bytes)
            .unwrap();
        assert_eq!(sent.body_text(0).unwrap().trim_end(), "A new report.");
        let part = sent.attachment(0).expect("one attachment");
        let header = |name: &str| {
            part.headers
                .iter()
                .find(|h| h.name.as_str().eq_ignore_ascii_case(name))
                .map(|h| {
                    let at = h.offset_start as usize..h.offset_end as usize;
                    String::from_utf8_lossy(&composed.bytes[at])
                        .trim()
                        .to_string()
                })
                .unwrap_or_default()
        };
        let content_type = header("Content-Type");
        let essence = content_type.split(';').next().unwrap().trim().to_string();
        (
            essence,
            header("Content-Transfer-Encoding"),
            part.attachment_name().unwrap_or_default().to_string(),
            part.contents().to_vec(),
        )
    }

    #[test]
    fn the_original_is_attached_in_an_encoding_that_keeps_it_whole() {
        let clean = with_attachment(TOP, "Overflow when the length is zero.");
        let clean_html = html_only(TOP, "Overflow when the length is zero.");
        let eight_bit = html_only(TOP, "Grüße, Zoë: overflow.");
        let eight_bit_attached = with_attachment(TOP, "Grüße, Zoë: overflow.");
        let mut hostile = with_attachment(TOP, &format!("a\0b\n{}\nc\rd", "x".repeat(2000)));
        hostile.extend_from_slice(b"\xff\xfe");
        let long_line = html_only(TOP, &"y".repeat(998));
        let nul = html_only(TOP, "a\0b");
        let bare_cr = html_only(TOP, "a\rb");
        for (name, raw, expected) in [
            ("clean", &clean, ("message/rfc822", "7bit")),
            ("clean, HTML only", &clean_html, ("message/rfc822", "7bit")),
            // 7 bits on the wire for any relay: an 8-bit mail cannot go as a message.
            (
                "8-bit, HTML only",
                &eight_bit,
                ("application/octet-stream", "base64"),
            ),
            (
                "8-bit",
                &eight_bit_attached,
                ("application/octet-stream", "base64"),
            ),
            ("hostile", &hostile, ("application/octet-stream", "base64")),
            (
                "a line over 998",
                &long_line,
                ("application/octet-stream", "base64"),
            ),
            ("a NUL", &nul, ("application/octet-stream", "base64")),
            (
                "a bare CR",
                &bare_cr,
                ("application/octet-stream", "base64"),
            ),
        ] {
            let (ct, cte, filename, bytes) = attached_original(raw);
            assert_eq!((ct.as_str(), cte.as_str()), expected, "{name}");
            assert_eq!(filename, "original.eml", "{name}");
            assert!(bytes == *raw, "{name}: the attached bytes differ");
        }
    }

    /// Mail stored with LF line endings (an import) is attached as a message in its
    /// canonical CRLF form: no byte but the CRs is added, so CRLF to LF gives the original
    /// back exactly.
    #[test]
    fn an_original_stored_with_lf_is_attached_with_crlf() {
        let crlf_raw = with_attachment(TOP, "Overflow when the length is zero.");
        let lf_raw = String::from_utf8(crlf_raw.clone())
            .unwrap()
            .replace("\r\n", "\n")
            .into_bytes();
        let (ct, cte, filename, bytes) = attached_original(&lf_raw);
        assert_eq!((ct.as_str(), cte.as_str()), ("message/rfc822", "7bit"));
        assert_eq!(filename, "original.eml");
        assert!(bytes == crlf_raw);
        let back = String::from_utf8(bytes).unwrap().replace("\r\n", "\n");
        assert!(back.into_bytes() == lf_raw);
    }
}
