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

use crate::commands::ParsedBody;
use crate::config::Config;
use crate::desk::case::{Case, DESK_ACTOR, EventKind, NewEvent};
use crate::mail::Mail;
use crate::mail::classify::Sender;
use crate::mail::subject;
use crate::mail::threading::ThreadReason;
use crate::outgoing::templates::{self, Templates};
use crate::outgoing::{OutAttachment, Outgoing, Purpose};
use crate::types::{CaseId, MessageId};
use actions::Facts;
use chrono::{DateTime, Duration, Utc};

/// What the desk logic needs besides the mail.
pub struct Ctx<'a> {
    pub config: &'a Config,
    pub templates: &'a Templates,
    pub now: DateTime<Utc>,
}

impl Ctx<'_> {
    pub fn fmt_instant(&self, t: DateTime<Utc>) -> String {
        self.config.calendar.format_instant(t)
    }

    pub fn fmt_date(&self, d: chrono::NaiveDate) -> String {
        self.config.calendar.format_date(d)
    }

    /// The first-response deadline of a case reported at `t`.
    pub fn respond_by(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        self.config
            .calendar
            .working_days_after(t, self.config.policy.first_response_days)
    }

    pub fn plus_address(&self, case: &CaseId) -> String {
        self.config.desk.plus_address(&case.plus_tag())
    }
}

/// Where the mail goes, as found by the shell (threading, `#case`, `#new`).
#[derive(Debug, Clone)]
pub enum Filing {
    Existing(Box<Case>, ThreadReason),
    /// No case found: a new one would get this id.
    New(CaseId),
}

/// What kind of message this was on its case (stored as `messages.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Report,
    Reporter,
    Team,
    Upstream,
    Other,
    Automatic,
    Desk,
    Unreadable,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Report => "report",
            MessageKind::Reporter => "reporter",
            MessageKind::Team => "team",
            MessageKind::Upstream => "upstream",
            MessageKind::Other => "other",
            MessageKind::Automatic => "automatic",
            MessageKind::Desk => "desk",
            MessageKind::Unreadable => "unreadable",
        }
    }
}

/// A one-off reminder requested with `#remind`.
#[derive(Debug, Clone, PartialEq)]
pub struct OneOff {
    pub due: DateTime<Utc>,
    pub note: String,
}

/// The outcome of one mail.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The case after the mail; `None` when the mail goes on no case.
    pub case: Option<Case>,
    pub opened: bool,
    pub kind: MessageKind,
    pub events: Vec<NewEvent>,
    pub outgoing: Vec<Outgoing>,
    pub one_offs: Vec<OneOff>,
}

impl Decision {
    /// A mail filed on no case (yet): callers set `case` once they have one.
    pub(crate) fn unfiled(kind: MessageKind) -> Decision {
        Decision {
            case: None,
            opened: false,
            kind,
            events: Vec::new(),
            outgoing: Vec::new(),
            one_offs: Vec::new(),
        }
    }

    fn on(case: Case, opened: bool, kind: MessageKind) -> Decision {
        Decision {
            case: Some(case),
            opened,
            ..Decision::unfiled(kind)
        }
    }

    fn event(&mut self, e: NewEvent) {
        self.events.push(e);
    }
}

/// Everything the shell gathered about one incoming mail.
pub struct Incoming<'a> {
    pub mail: &'a Mail,
    pub sender: Sender,
    pub filing: Filing,
    /// For team mail: the command block and text.
    pub body: Option<ParsedBody>,
    /// Acknowledgements sent to this sender within the rate-limit window.
    pub recent_acks: u32,
    /// Alerts about refused commands sent within the last hour.
    pub recent_alerts: u32,
    pub facts: Facts,
}

/// `In-Reply-To` and `References` for an answer to `mail`.
pub fn answer_threading(mail: &Mail) -> (Option<MessageId>, Vec<MessageId>) {
    let mut refs = mail.references.clone();
    if refs.is_empty()
        && let Some(parent) = mail.in_reply_to.first()
    {
        refs.push(parent.clone());
    }
    refs.push(mail.message_id.clone());
    // Long chains are trimmed from the middle, as RFC 5322 suggests, keeping the root.
    if refs.len() > 20 {
        let tail = refs.split_off(refs.len() - 19);
        refs.truncate(1);
        refs.extend(tail);
    }
    (Some(mail.message_id.clone()), refs)
}

fn sender_display(mail: &Mail) -> String {
    match &mail.from {
        Some(m) => match &m.name {
            Some(n) => format!("{n} <{}>", m.address),
            None => m.address.clone(),
        },
        None => "(no From address)".into(),
    }
}

/// The original mail, attached for the team when its text alone would lose something: a
/// proof of concept sent as an attachment, or an HTML-only body.
fn original_for_team(mail: &Mail) -> Vec<OutAttachment> {
    if mail.attachments.is_empty() && !mail.text_from_html {
        return Vec::new();
    }
    vec![OutAttachment {
        filename: "original.eml".into(),
        content_type: "message/rfc822".into(),
        // Shared with the parsed mail: one copy of a big report, however many notices.
        bytes: std::sync::Arc::clone(&mail.raw),
    }]
}

/// A template failure is reported on the case rather than stopping the desk. The
/// start-up check makes this rare: it needs an override that only breaks on real data.
fn template_failed(d: &mut Decision, what: &str, e: &crate::outgoing::templates::TemplateError) {
    d.event(NewEvent::new(
        EventKind::DeliveryFailed,
        DESK_ACTOR,
        format!("could not write the {what}: {e}"),
    ));
}

/// Decides what one readable mail does.
pub fn decide(ctx: &Ctx<'_>, incoming: Incoming<'_>) -> Decision {
    let Incoming {
        mail,
        sender,
        filing,
        body,
        recent_acks,
        recent_alerts,
        facts,
    } = incoming;
    match (sender, filing) {
        (Sender::Desk, filing) => desk_address_mail(ctx, mail, filing, &facts),
        (Sender::Automatic(reason), Filing::Existing(case, _)) => {
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
            d
        }
        (Sender::Automatic(reason), Filing::New(id)) => new_case(
            ctx,
            mail,
            id,
            AckPlan::No(format!(
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
        (Sender::Other(addr), Filing::Existing(case, reason)) => {
            other_on_case(ctx, mail, &addr, *case, reason)
        }
        (Sender::Other(_), Filing::New(id)) => {
            let limit = ctx.config.policy.ack_rate_limit;
            let plan = if recent_acks >= limit.count {
                AckPlan::No(format!(
                    "not acknowledged: this sender already got {recent_acks} acknowledgements in the last {} (policy.ack_rate_limit)",
                    humantime::format_duration(limit.window)
                ))
            } else {
                AckPlan::Yes
            };
            new_case(ctx, mail, id, plan)
        }
    }
}

enum AckPlan {
    Yes,
    No(String),
}

/// The start of the event recorded when our own mail comes back; the team is told of it
/// once per case.
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
/// at most once per case, so a loop cannot flood the team.
fn desk_address_mail(ctx: &Ctx<'_>, mail: &Mail, filing: Filing, facts: &Facts) -> Decision {
    let own = is_own_mail(ctx, mail);
    match filing {
        Filing::Existing(case, reason) if own => {
            let told = facts
                .timeline
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
            let mut relay = other_on_case(ctx, mail, mail.from_address(), *case, reason);
            relay.kind = MessageKind::Desk;
            relay.events = d.events;
            relay
        }
        Filing::Existing(case, reason) => {
            let mut d = other_on_case(ctx, mail, mail.from_address(), *case, reason);
            d.kind = MessageKind::Desk;
            d
        }
        Filing::New(id) => {
            let why = if own {
                format!("not acknowledged: {OWN_MAIL_BACK} (a loop?)")
            } else {
                "not acknowledged: it comes from the desk's own address (a forwarder that rewrites From?)".to_string()
            };
            let mut d = new_case(ctx, mail, id, AckPlan::No(why));
            if own {
                d.kind = MessageKind::Desk;
            }
            // The desk is nobody's reporter: no reminders to answer it, no #reply to it.
            if let Some(c) = d.case.as_mut() {
                c.reporter = None;
                c.reporter_name = None;
            }
            d
        }
    }
}

/// A mail that opens a case: the case, the ack (if allowed) and the team notice.
fn new_case(ctx: &Ctx<'_>, mail: &Mail, id: CaseId, ack: AckPlan) -> Decision {
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
    let mut case = Case::new(
        id.clone(),
        subject_text.clone(),
        reporter,
        ctx.now,
        mail.message_id.clone(),
    );
    if let Some(days) = ctx.config.policy.embargo_days {
        let today = ctx.config.calendar.local_date(ctx.now);
        case.embargo_end = today.checked_add_signed(Duration::days(i64::from(days)));
    }
    let kind = MessageKind::Report;
    let mut d = Decision::on(case.clone(), true, kind);
    d.event(
        NewEvent::new(
            EventKind::Opened,
            mail.from_address(),
            format!("report received: {subject_text}"),
        )
        .public(),
    );
    let respond_by = ctx.respond_by(ctx.now);
    let embargo_text = case.embargo_end.map(|e| ctx.fmt_date(e));

    let ack_note = match &ack {
        AckPlan::Yes => {
            match ctx.templates.render(&templates::Ack {
                case_id: id.to_string(),
                subject: subject_text.clone(),
                reporter_name: mail.from.as_ref().and_then(|m| m.name.clone()),
                desk_name: ctx.config.desk.name.clone(),
                respond_by: ctx.fmt_instant(respond_by),
                embargo_end: embargo_text.clone(),
            }) {
                Ok(r) => {
                    d.outgoing.push(
                        Outgoing::new(
                            Purpose::Ack,
                            Some(id.clone()),
                            vec![mail.from_address().to_string()],
                            r,
                        )
                        .reply_to(ctx.plus_address(&id))
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
                    template_failed(&mut d, "acknowledgement", &e);
                    "NOT acknowledged: the ack template failed (see the case history)".to_string()
                }
            }
        }
        AckPlan::No(why) => {
            d.event(NewEvent::new(
                EventKind::AckSuppressed,
                DESK_ACTOR,
                why.clone(),
            ));
            why.clone()
        }
    };

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
        received: ctx.fmt_instant(ctx.now),
        respond_by: Some(ctx.fmt_instant(respond_by)),
        embargo_end: embargo_text,
        ack_note,
        attachments: attachments_list,
        text: mail.text.clone(),
    }) {
        Ok(r) => d.outgoing.push(
            Outgoing::new(
                Purpose::TeamNotice,
                Some(id.clone()),
                ctx.config.team.recipients(),
                r,
            )
            .reply_to(ctx.plus_address(&id))
            .threaded(answer_threading(mail))
            .attach(original_for_team(mail)),
        ),
        Err(e) => template_failed(&mut d, "team notice", &e),
    }
    d.case = Some(case);
    d
}

/// A mail from a non-team sender on an existing case.
fn other_on_case(
    ctx: &Ctx<'_>,
    mail: &Mail,
    addr: &str,
    case: Case,
    reason: ThreadReason,
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
    let mut d = Decision::on(case.clone(), false, kind);
    d.event(NewEvent::new(
        event,
        addr,
        format!("mail received: {}", mail.subject),
    ));
    // The team hears of it, with the original when its text alone would lose something.
    let relay = ctx.templates.render(&templates::TeamMail {
        case_id: case.id.to_string(),
        subject: case.subject.clone(),
        role: role.to_string(),
        headline,
        from: sender_display(mail),
        received: ctx.fmt_instant(ctx.now),
        note,
        text: mail.text.clone(),
    });
    match relay {
        Ok(r) => d.outgoing.push(
            Outgoing::new(
                Purpose::TeamNotice,
                Some(case.id.clone()),
                ctx.config.team.recipients(),
                r,
            )
            .reply_to(ctx.plus_address(&case.id))
            .threaded(answer_threading(mail))
            .attach(original_for_team(mail)),
        ),
        Err(e) => template_failed(&mut d, "team relay", &e),
    }
    d
}

/// A mail that could not be parsed: filed on a new case, the team told.
pub fn unreadable(
    ctx: &Ctx<'_>,
    id: CaseId,
    message_id: &MessageId,
    reason: &str,
    raw: &[u8],
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
    d.event(NewEvent::new(
        EventKind::Unreadable,
        DESK_ACTOR,
        format!("a mail of {size} bytes could not be read ({reason}); its raw bytes are stored"),
    ));
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
        Ok(r) => d.outgoing.push(
            Outgoing::new(
                Purpose::TeamNotice,
                Some(id.clone()),
                ctx.config.team.recipients(),
                r,
            )
            .reply_to(ctx.plus_address(&id))
            .attach(vec![OutAttachment {
                filename: "unreadable.eml".into(),
                content_type: "application/octet-stream".into(),
                bytes: std::sync::Arc::new(raw.to_vec()),
            }]),
        ),
        Err(e) => template_failed(&mut d, "team alert", &e),
    }
    d
}

/// The team alert for a mail the server refused for good, when it was meant for someone
/// outside the team (a reporter not hearing from us, a maintainer, the announce list).
/// Mail to the team itself is only recorded: mailing the team that its mail cannot reach
/// it would be a loop.
pub fn delivery_failed(
    ctx: &Ctx<'_>,
    case: &CaseId,
    purpose: Purpose,
    to: &[String],
    error: &str,
) -> Option<Outgoing> {
    let what = match purpose {
        Purpose::Ack => "acknowledgement",
        Purpose::Reply => "reply",
        Purpose::Forward => "forward to upstream",
        Purpose::PublishedNotice => "publication notice",
        Purpose::Announce => "announcement",
        Purpose::Preannounce => "pre-announcement",
        Purpose::TeamNotice | Purpose::Transcript | Purpose::Reminder | Purpose::Digest => {
            return None;
        }
    };
    let to = to.join(", ");
    let r = ctx
        .templates
        .render(&templates::TeamAlert {
            case_id: case.to_string(),
            headline: format!("the {what} to {to} could not be delivered"),
            text: format!(
                "The mail server refused the {what} to {to} for good:\n\n    {error}\n\n\
                 They have not received it. Check the address, and reach them another way if \
                 needed; `#show` lists the case's history."
            ),
        })
        .ok()?;
    Some(
        Outgoing::new(
            Purpose::TeamNotice,
            Some(case.clone()),
            ctx.config.team.recipients(),
            r,
        )
        .reply_to(ctx.plus_address(case)),
    )
}
