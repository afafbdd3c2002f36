//! Suspect mail on the desk: what a suspect new mail does (a case in the spam state, no
//! acknowledgement, no notice), the alert when the desk-wide acknowledgement limit holds
//! acks back, the daily summary's text, and the mail `#notspam` sends when it releases a
//! case.
//!
//! Invariants: pure (no I/O, the clock is `ctx.now`); a suspect mail never produces mail
//! to its sender nor a per-mail notice to the team; every value from a mail is made one
//! clean line before it reaches the summary.

use crate::desk::case::{Case, DESK_ACTOR, EventKind, NewEvent};
use crate::desk::decision::{Ctx, Decision, MessageKind};
use crate::mail::Mail;
use crate::mail::spam::{self, Rules, Verdict, one_line};
use crate::outgoing::templates::{self, Rendered};
use crate::outgoing::{Outgoing, Purpose};
use crate::types::{CaseId, CaseStatus};
use chrono::{DateTime, Duration, Utc};

/// Rows the daily summary lists at most; the rest are counted.
pub const SUMMARY_MAX_ROWS: usize = 200;

/// The verdict on `mail` under this desk's configuration.
pub fn verdict(ctx: &Ctx<'_>, mail: &Mail) -> Verdict {
    let rules = Rules {
        authserv_id: ctx.config.team.authserv_id.as_deref(),
        filter: ctx.config.spam.filter,
        threshold: ctx.config.spam.threshold,
    };
    let verdict = spam::judge(&mail.headers, mail.from_address(), &rules);
    // The server judged one sender (many take the last), the desk would answer the
    // first: perhaps a victim's address put there by the one who passed.
    let senders = mail.from_headers.max(mail.from_mailboxes);
    if senders < 2 {
        return verdict;
    }
    let why = format!(
        "the mail names {senders} senders (From); the server's verdict may be on another than the one an acknowledgement would go to"
    );
    match verdict {
        Verdict::Clean => Verdict::Suspect(vec![why]),
        Verdict::Suspect(mut reasons) => {
            reasons.insert(0, why);
            Verdict::Suspect(reasons)
        }
    }
}

/// A suspect mail that would open a case: filed on a new case in the spam state. Nobody
/// is written to; the daily summary names it.
pub fn quarantine(ctx: &Ctx<'_>, mail: &Mail, id: CaseId, verdict: &Verdict) -> Decision {
    let (mut case, opened) = super::opened_case(ctx, mail, id);
    case.status = CaseStatus::Spam;
    let mut d = Decision::on(case, true, MessageKind::Report);
    d.event(opened);
    d.event(NewEvent::new(
        EventKind::Quarantined,
        DESK_ACTOR,
        one_line(&verdict.reason(), 300),
    ));
    d
}

/// A mail from outside on a case already in the spam state: filed, not relayed; the
/// daily summary names it.
pub fn on_spam_case(ctx: &Ctx<'_>, mail: &Mail, case: Case, kind: MessageKind) -> Decision {
    let mut reason = format!("a new mail on {}, which is in the spam state", case.id);
    let v = verdict(ctx, mail);
    if v.is_suspect() {
        reason = format!("{reason}; {}", v.reason());
    }
    let mut d = Decision::on(case, false, kind);
    d.event(NewEvent::new(
        EventKind::OtherMail,
        mail.from_address(),
        format!("mail received: {}", one_line(&mail.subject, 200)),
    ));
    d.event(NewEvent::new(
        EventKind::Quarantined,
        DESK_ACTOR,
        one_line(&reason, 300),
    ));
    d
}

/// The note on a team relay of a suspect mail that threaded into a normal case.
pub fn suspect_note(verdict: &Verdict) -> Option<String> {
    match verdict {
        Verdict::Clean => None,
        Verdict::Suspect(_) => Some(format!(
            "SUSPECT: this mail may be spam, phishing or forged ({}). It joined the case because it threads into it.",
            one_line(&verdict.reason(), 300)
        )),
    }
}

/// The one alert per window saying acknowledgements are held back by the desk-wide limit.
pub fn ack_limit_alert(ctx: &Ctx<'_>, case: &CaseId, sent: u32) -> (NewEvent, Option<Outgoing>) {
    let limit = ctx.config.policy.ack_rate_limit_total;
    let window = humantime::format_duration(limit.window).to_string();
    let event = NewEvent::new(
        EventKind::AckLimit,
        DESK_ACTOR,
        format!(
            "the desk-wide acknowledgement limit ({} per {window}) is reached: acknowledgements are held back; the team was told",
            limit.count
        ),
    );
    let text = format!(
        "The desk has sent {sent} acknowledgements in the last {window}, its limit \
         (policy.ack_rate_limit_total = \"{} per {window}\").\n\n\
         Reports keep being filed and you keep being told of each one, but no \
         acknowledgement goes to their senders until the window has passed. This is often \
         a flood of mail with forged senders; each held-back case says so in its history.\n\
         Answer a real reporter with `#reply` on their case. You will not be told again \
         during this window.",
        limit.count
    );
    let rendered = ctx.templates.alert(
        &case.to_string(),
        "acknowledgements are held back (desk-wide limit)",
        text,
    );
    (event, Some(ctx.to_team(case, rendered)))
}

/// One suspect mail of the day, as the store found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuspectMail {
    pub case: String,
    pub at: DateTime<Utc>,
    pub sender: String,
    pub subject: String,
    pub reason: String,
}

/// The daily summary's headline and text, of `n` suspect mails of which `rows` are the
/// first; `None` for a day without suspect mail.
pub fn summary(
    ctx: &Ctx<'_>,
    n: usize,
    rows: &[SuspectMail],
    since: DateTime<Utc>,
) -> Option<Rendered> {
    if n == 0 {
        return None;
    }
    let cal = &ctx.config.calendar;
    let mut text = format!(
        "{n} suspect mail{} arrived since {}. None was acknowledged and nobody was told of \
         them one by one. Each is kept on a case in the spam state.\n\n",
        if n == 1 { "" } else { "s" },
        ctx.fmt_instant(since)
    );
    for r in rows.iter().take(SUMMARY_MAX_ROWS) {
        text.push_str(&format!(
            "{}  {}\n    from:    {}\n    subject: {}\n    why:     {}\n",
            one_line(&r.case, 40),
            r.at.with_timezone(&cal.tz()).format("%Y-%m-%d %H:%M"),
            display_or(&one_line(&r.sender, 120), "(no From address)"),
            display_or(&one_line(&r.subject, 120), "(no subject)"),
            display_or(&one_line(&r.reason, 300), "-"),
        ));
    }
    if n > SUMMARY_MAX_ROWS {
        text.push_str(&format!(
            "… and {} more (`secdesk cases --spam` lists every one).\n",
            n - SUMMARY_MAX_ROWS
        ));
    }
    text.push_str(
        "\nA real report among them? Write to the desk with `#case <id>` and `#notspam` on \
         the first lines: the reporter is acknowledged then, you are told of the case, and \
         its deadlines start. `secdesk cases --spam` lists every case in the spam state.",
    );
    let headline = format!(
        "{n} suspect mail{} held in the spam state",
        if n == 1 { "" } else { "s" }
    );
    Some(ctx.templates.alert("spam", &headline, text))
}

fn display_or(text: &str, empty: &str) -> String {
    if text.is_empty() {
        empty.to_string()
    } else {
        text.to_string()
    }
}

/// What `#notspam` sends when it releases a case: the acknowledgement to the reporter
/// (promised date counted from now; none when `no_ack` says why not) and the new-case
/// notice to the team. Sets the case's embargo as a new case would get it. Template
/// failures are returned as events. `acknowledged`: the reporter was acknowledged
/// before the case went to spam.
pub fn release(
    ctx: &Ctx<'_>,
    case: &mut Case,
    (report_text, sender, no_ack, acknowledged): (&str, &str, Option<String>, bool),
    (actor, on_arrival): (&str, bool),
) -> (Vec<Outgoing>, Vec<NewEvent>, String) {
    let mut out = Vec::new();
    let mut events = Vec::new();
    let id = case.id.clone();
    // The default embargo of a report quarantined on arrival, which never had one; a
    // case the team put in spam keeps its embargo decision (`#embargo none` stands).
    if on_arrival
        && case.embargo_end.is_none()
        && let Some(days) = ctx.config.policy.embargo_days
    {
        case.embargo_end = ctx
            .config
            .calendar
            .local_date(ctx.now)
            .checked_add_signed(Duration::days(i64::from(days)));
    }
    // The first-response clock starts when the team accepts the report, unless the
    // reporter was already given a date (a report acknowledged, then put in spam by
    // mistake): that date stands.
    if !acknowledged {
        case.opened_at = ctx.now;
    }
    let respond_by = ctx.respond_by(case.opened_at);
    let embargo_text = case.embargo_end.map(|e| ctx.fmt_embargo(e));
    let threading = (
        Some(case.root_message_id.clone()),
        vec![case.root_message_id.clone()],
    );
    let ack_note = match (&case.reporter, no_ack) {
        (_, Some(why)) => format!("not acknowledged: {why}"),
        (Some(reporter), None) => match ctx.templates.render(&templates::Ack {
            case_id: id.to_string(),
            subject: case.subject.clone(),
            reporter_name: case.reporter_name.clone(),
            desk_name: ctx.config.desk.name.clone(),
            respond_by: ctx.fmt_instant(respond_by),
            embargo_end: embargo_text.clone(),
        }) {
            Ok(r) => {
                out.push(
                    Outgoing::new(Purpose::Ack, Some(id.clone()), vec![reporter.clone()], r)
                        .reply_to(ctx.plus_address(&id))
                        .threaded(threading.clone()),
                );
                events.push(NewEvent::new(
                    EventKind::Acknowledged,
                    DESK_ACTOR,
                    format!(
                        "acknowledged to {reporter} on release from spam; a person answers by {}",
                        ctx.fmt_instant(respond_by)
                    ),
                ));
                format!("acknowledged to {reporter} (released from spam by {actor})")
            }
            Err(e) => {
                events.push(NewEvent::new(
                    EventKind::DeliveryFailed,
                    DESK_ACTOR,
                    format!("could not write the acknowledgement: {e}"),
                ));
                "NOT acknowledged: the ack template failed (see the case history)".into()
            }
        },
        (None, None) => "no reporter address to acknowledge".into(),
    };
    match ctx.templates.render(&templates::TeamNewCase {
        case_id: id.to_string(),
        subject: case.subject.clone(),
        desk_address: ctx.config.desk.address.clone(),
        // The report's sender as the team sees it; a machine's mail has no reporter.
        from: match (sender, &case.reporter) {
            ("", Some(reporter)) => reporter.clone(),
            ("", None) => "(no From address)".into(),
            (sender, _) => sender.to_string(),
        },
        // The stored report's recipients are not at hand here; the original is.
        also_to: Vec::new(),
        received: ctx.fmt_instant(ctx.now),
        // Nobody waits for an answer from a machine: no date anything reminds of.
        respond_by: case.reporter.is_some().then(|| ctx.fmt_instant(respond_by)),
        embargo_end: embargo_text,
        ack_note: ack_note.clone(),
        attachments: Vec::new(),
        // Cut as a notice's is (a report of megabytes made a notice the relay refused).
        text: crate::desk::cut_for_team(report_text, crate::desk::WHOLE_IN_MAILBOX),
    }) {
        Ok(r) => out.push(ctx.to_team(&id, r).threaded(threading)),
        Err(e) => events.push(NewEvent::new(
            EventKind::DeliveryFailed,
            DESK_ACTOR,
            format!("could not write the team notice: {e}"),
        )),
    }
    let answer = match case.reporter {
        Some(_) => format!("a person answers by {}", ctx.fmt_instant(respond_by)),
        None => "nobody waits for an answer (no reporter)".to_string(),
    };
    (
        out,
        events,
        format!("released from spam: {ack_note}; {answer}"),
    )
}
