//! Team mail: authentication, the command block applied to the case in order, the
//! transcript answer, and the relay of the message to the rest of the team.
//!
//! Invariants: pure (no I/O, the clock is `ctx.now`); a failed command changes nothing
//! and the others still apply in order; commands run only for an authenticated team
//! member unless the operator explicitly allowed unauthenticated ones; only `#reply`
//! writes to the reporter, and only the text after the block.

mod advisory_fields;
mod desks;
mod lifecycle;
mod mail_out;
mod spam;
mod triage;

pub(crate) use lifecycle::reopens;
pub(crate) use spam::{ACK_WITHDRAWN, moves_to_spam, releases_from_spam};

use crate::commands::{Command, CommandError, ParsedBody};
use crate::desk::case::{Case, EventKind, NewEvent};
use crate::desk::decision::{Ctx, Decision, Facts, Filing, MessageKind, OneOff, answer_threading};
use crate::desk::relay;
use crate::mail::Mail;
use crate::mail::auth::{self, AuthVerdict};
use crate::outgoing::templates::{self, TemplateError, TranscriptLine};
use crate::outgoing::{Outgoing, Purpose};
use crate::types::{CaseId, CaseStatus};
use chrono::{Datelike, Duration, NaiveDate};

/// Alerts about refused commands allowed per hour, so a flood of forged mail cannot turn
/// the desk into a mail cannon aimed at the team.
pub const ALERTS_PER_HOUR: u32 = 5;

/// The outcome of one command: what to echo, and whether it succeeded.
struct Step {
    ok: bool,
    result: String,
}

fn ok(result: impl Into<String>) -> Step {
    Step {
        ok: true,
        result: result.into(),
    }
}

fn fail(result: impl Into<String>) -> Step {
    Step {
        ok: false,
        result: result.into(),
    }
}

/// Working state while a command block is applied.
struct Work<'a, 'c> {
    ctx: &'a Ctx<'c>,
    actor: &'a str,
    text: &'a str,
    /// Lines below the block were cut from `text` (quoted mail, a signature).
    text_cut: bool,
    /// Lines of the member's own were cut, beyond a reply's trailing quote and its
    /// signature ([`crate::commands::ParsedBody::cut_short`]).
    text_cut_short: bool,
    facts: &'a Facts,
    case: Case,
    events: Vec<NewEvent>,
    outgoing: Vec<Outgoing>,
    one_offs: Vec<OneOff>,
    extra: Vec<String>,
    repo_commit: Option<crate::publish::publication::RepoCommit>,
    /// The desk a `#move` that went through hands the case to.
    move_to: Option<String>,
    /// The names of the files attached to the member's mail: the desk sends text only.
    files: &'a [(String, String, usize)],
}

fn team_recipients_except(ctx: &Ctx<'_>, sender: &str) -> Vec<String> {
    ctx.config
        .team
        .recipients()
        .into_iter()
        .filter(|r| r != sender)
        .collect()
}

/// Decides what a team member's mail does.
pub fn team_mail(
    ctx: &Ctx<'_>,
    mail: &Mail,
    member: &str,
    filing: Filing,
    body: ParsedBody,
    recent_alerts: u32,
    facts: &Facts,
) -> Decision {
    let has_commands = !body.commands.is_empty();
    let verdict = authenticate(ctx, mail, member, has_commands);
    let wants_new = matches!(
        body.commands.first().map(|c| &c.parsed),
        Some(Ok(Command::New))
    );

    let refused = matches!(verdict, Some(AuthVerdict::Fail { .. }));
    let told = (recent_alerts, facts.explained_lately);
    // `#new` and `#case` together contradict each other: the case `#case` names is
    // never the one `#new` would open, so nothing is opened or done.
    if wants_new && names_a_case(&body) {
        return no_case(ctx, mail, member, &body, verdict.as_ref(), told);
    }
    let Some((case, opened)) = case_of(ctx, mail, filing, wants_new, refused) else {
        return no_case(ctx, mail, member, &body, verdict.as_ref(), told);
    };

    let mut d = Decision {
        opened,
        ..Decision::unfiled(MessageKind::Team)
    };
    if opened {
        d.events.push(
            NewEvent::new(
                EventKind::Opened,
                member,
                format!("opened by a team member with #new: {}", case.subject),
            )
            .public(),
        );
    }

    if let Some(AuthVerdict::Fail { reason }) = &verdict {
        Unauthenticated {
            ctx,
            mail,
            member,
            reason,
            body: &body,
            recent_alerts,
            facts,
            case: &case,
        }
        .refuse(&mut d);
        d.case = Some(case);
        return d;
    }

    d.events.push(NewEvent::new(
        EventKind::TeamMail,
        member,
        if body.text.is_empty() {
            format!("team mail: {}", mail.subject)
        } else {
            team_note(&body.text)
        },
    ));

    let (case, lines, failed, extra) = apply_commands(
        ctx,
        (member, &mail.attachments),
        &body,
        facts,
        case,
        opened,
        &mut d,
    );
    if has_commands {
        match transcript(ctx, mail, member, &case, lines, failed, extra) {
            Ok(out) => d.outgoing.push(out),
            Err(e) => crate::desk::template_failed(ctx, &mut d, Some(&case.id), "transcript", &e),
        }
    }
    answer_team(ctx, mail, member, &body, facts, &case, &mut d);
    d.case = Some(case);
    d
}

/// Every mail claiming a team address is checked, commands or not: a forged note must
/// never pass for the member's words (unless the operator trusts the network).
/// Two From headers are refused even where authentication is relaxed.
/// `None`: the mail is not checked.
fn authenticate(
    ctx: &Ctx<'_>,
    mail: &Mail,
    member: &str,
    has_commands: bool,
) -> Option<AuthVerdict> {
    if ctx.config.team.require_authenticated_commands
        || (has_commands && mail.from_headers.max(mail.from_mailboxes) > 1)
    {
        Some(auth::evaluate_mail(
            mail,
            ctx.config.team.authserv_id.as_deref().unwrap_or(""),
            member,
        ))
    } else {
        None
    }
}

/// A team mail on `case` that failed authentication (`reason`).
#[derive(Clone, Copy)]
struct Unauthenticated<'a> {
    ctx: &'a Ctx<'a>,
    mail: &'a Mail,
    member: &'a str,
    reason: &'a str,
    body: &'a ParsedBody,
    recent_alerts: u32,
    facts: &'a Facts,
    case: &'a Case,
}

impl Unauthenticated<'_> {
    /// A note is kept as a claim, commands are refused and the team alerted.
    fn refuse(self, d: &mut Decision) {
        d.kind = MessageKind::Unauthenticated;
        let commands = self.body.commands.len();
        if commands == 0 {
            self.note(d);
            return;
        }
        let reason = self.reason;
        d.events.push(NewEvent::new(
            EventKind::Refused,
            self.member,
            format!("{commands} command line(s) refused: the mail is not authenticated ({reason})"),
        ));
        let case = Some(&self.case.id);
        let (mail, body) = (self.mail, self.body);
        if let Some(alert) = refused_alert(
            self.ctx,
            case,
            mail,
            self.member,
            reason,
            body,
            self.recent_alerts,
        ) {
            d.outgoing.push(alert);
        }
    }
}

/// Applies the mail's commands to `case`, into `d`; returns the case as they left it,
/// the transcript lines, whether one failed, and the extra status lines.
fn apply_commands(
    ctx: &Ctx<'_>,
    (member, files): (&str, &[(String, String, usize)]),
    body: &ParsedBody,
    facts: &Facts,
    case: Case,
    opened: bool,
    d: &mut Decision,
) -> (Case, Vec<TranscriptLine>, bool, Vec<String>) {
    let mut w = Work {
        ctx,
        actor: member,
        text: &body.text,
        text_cut: body.cut,
        text_cut_short: body.cut_short,
        facts,
        case,
        events: Vec::new(),
        outgoing: Vec::new(),
        one_offs: Vec::new(),
        extra: Vec::new(),
        repo_commit: None,
        move_to: None,
        files,
    };
    let (lines, failed) = w.apply_all(body, opened);
    let Work {
        case,
        events,
        outgoing,
        one_offs,
        extra,
        repo_commit,
        move_to,
        ..
    } = w;
    d.repo_commit = repo_commit;
    d.move_to = move_to;
    d.events.extend(events);
    d.outgoing.extend(outgoing);
    d.one_offs.extend(one_offs);
    (case, lines, failed, extra)
}

/// The rest of the team hears of the message, unless loop protection holds it (an
/// autoresponder answering a relay, a flood).
fn answer_team(
    ctx: &Ctx<'_>,
    mail: &Mail,
    member: &str,
    body: &ParsedBody,
    facts: &Facts,
    case: &Case,
    d: &mut Decision,
) {
    let has_commands = !body.commands.is_empty();
    let request = relay::Request {
        mail,
        sender: member,
        team: true,
        human_sign: has_commands,
        participant: true,
    };
    let wanted = !team_recipients_except(ctx, member).is_empty()
        && (!body.text.is_empty() || has_commands || carries_more(mail, body));
    if wanted && !has_commands && facts.repeats_own_note && !carries_more(mail, body) {
        d.events.push(NewEvent::new(
            EventKind::AutomaticMail,
            member,
            "not relayed to the team: with no command, it repeats word for word a note of \
             theirs on this case from the last day, as an autoresponder does (loop protection)",
        ));
        return;
    }
    if wanted && let relay::Relay::Held(why) = relay::check(ctx, &request, &facts.recent) {
        d.events
            .push(NewEvent::new(EventKind::AutomaticMail, member, why));
        return;
    }
    match relay_to_team(ctx, mail, member, case, body) {
        Some(Ok(out)) => d.outgoing.push(out),
        Some(Err(e)) => {
            crate::desk::template_failed(ctx, d, Some(&case.id), "team relay", &e);
        }
        None => {}
    }
}

fn names_a_case(body: &ParsedBody) -> bool {
    body.commands
        .iter()
        .any(|c| matches!(c.parsed, Ok(Command::Case(_))))
}

/// The case a team mail works on, and whether it opens it: its own case, or a new one
/// for `#new` (unless authentication failed). `None`: the mail goes on no case.
fn case_of(
    ctx: &Ctx<'_>,
    mail: &Mail,
    filing: Filing,
    wants_new: bool,
    refused: bool,
) -> Option<(Case, bool)> {
    match filing {
        Filing::Existing(c, _) if !wants_new => Some((*c, false)),
        Filing::New(id) if wants_new && !refused => {
            let subject =
                crate::mail::subject::base_subject(&mail.subject, &ctx.config.desk.case_prefix);
            let mut c = Case::new(
                id,
                if subject.is_empty() {
                    "(no subject)".into()
                } else {
                    subject
                },
                None,
                ctx.now,
                mail.message_id.clone(),
            );
            if let Some(days) = ctx.config.policy.embargo_days {
                c.embargo_end = ctx
                    .config
                    .calendar
                    .local_date(ctx.now)
                    .checked_add_signed(Duration::days(i64::from(days)));
            }
            Some((c, true))
        }
        Filing::Existing(_, _) | Filing::New(_) => None,
    }
}

/// The transcript answer to the member: each command line and what it did, then the
/// case's status and what `#show` or `#help` asked for. The error is the template's:
/// the caller records it and tells the team.
fn transcript(
    ctx: &Ctx<'_>,
    mail: &Mail,
    member: &str,
    case: &Case,
    lines: Vec<TranscriptLine>,
    failed: bool,
    extra: Vec<String>,
) -> Result<Outgoing, TemplateError> {
    let mut status = status_line(ctx, case);
    for e in extra {
        status.push_str("\n\n");
        status.push_str(&e);
    }
    match ctx.templates.render(&templates::Transcript {
        case_id: case.id.to_string(),
        subject: case.subject.clone(),
        lines,
        failed,
        status,
    }) {
        Ok(r) => Ok(Outgoing::new(
            Purpose::Transcript,
            Some(case.id.clone()),
            vec![member.to_string()],
            r,
        )
        .reply_to(ctx.plus_address(&case.id))
        .threaded(answer_threading(mail))),
        Err(e) => Err(e),
    }
}

/// The rest of the team hears of the message: the note, and which commands ran.
fn relay_to_team(
    ctx: &Ctx<'_>,
    mail: &Mail,
    member: &str,
    case: &Case,
    body: &ParsedBody,
) -> Option<Result<Outgoing, TemplateError>> {
    let has_commands = !body.commands.is_empty();
    let others = team_recipients_except(ctx, member);
    let more = carries_more(mail, body);
    if others.is_empty() || (body.text.is_empty() && !has_commands && !more) {
        return None;
    }
    let mut text = String::new();
    for line in &body.commands {
        text.push_str(&line.text);
        text.push('\n');
    }
    if has_commands && !body.text.is_empty() {
        text.push('\n');
    }
    text.push_str(&body.text);
    let r = ctx.templates.render(&templates::TeamMail {
        case_id: case.id.to_string(),
        subject: case.subject.clone(),
        role: "Team".into(),
        headline: format!("{member} wrote on {} (internal to the team).", case.id),
        from: member.to_string(),
        also_to: crate::desk::also_to(ctx, mail),
        received: ctx.fmt_instant(ctx.now),
        note: None,
        // Cut as every notice's text is (a relay the server refuses for its size is
        // told to nobody).
        text: crate::desk::cut_for_team(&text, crate::desk::WHOLE_IN_MAILBOX),
    });
    Some(r.map(|r| {
        Outgoing::new(Purpose::TeamNotice, Some(case.id.clone()), others, r)
            .reply_to(ctx.plus_address(&case.id))
            .threaded(answer_threading(mail))
            .attach(if more {
                crate::desk::original(mail)
            } else {
                Vec::new()
            })
    }))
}

/// A member's mail holds more than its note shows: text of their own cut below it (a
/// forwarded report, which the quote stripping takes for a forward; not the quote a
/// reply carries), files, parts beyond the text, or HTML alone. The rest of the team
/// gets the mail itself with it.
fn carries_more(mail: &Mail, body: &ParsedBody) -> bool {
    // A case opened with `#new` from a mail that lost anything below its commands: what
    // was cut is likely the report itself (forwarded under a signature, say).
    let opens = body
        .commands
        .iter()
        .any(|c| matches!(c.parsed, Ok(Command::New)));
    body.cut_short
        || (opens && body.cut)
        || !mail.attachments.is_empty()
        || mail.more_parts
        || mail.text_from_html
}

impl Unauthenticated<'_> {
    /// A mail claiming a team address, with no commands, that is not authenticated:
    /// recorded as unauthenticated and shown to the whole team (the claimed member
    /// included) as a claim, never as the member's note. Relays of such mail share the
    /// hourly alert budget.
    fn note(self, d: &mut Decision) {
        let Unauthenticated {
            ctx,
            mail,
            member,
            reason,
            body,
            recent_alerts,
            facts,
            case,
        } = self;
        d.events.push(NewEvent::new(
            EventKind::Refused,
            member,
            format!(
                "a mail claiming to be {member} is not authenticated ({reason}); recorded as \
                 unauthenticated, not as {member}'s note: {}",
                mail.subject
            ),
        ));
        // Not authenticated: whoever sent it is an outsider until shown otherwise.
        let request = relay::Request {
            mail,
            sender: member,
            team: true,
            human_sign: false,
            participant: false,
        };
        if let relay::Relay::Held(why) = relay::check(ctx, &request, &facts.recent) {
            d.events
                .push(NewEvent::new(EventKind::AutomaticMail, member, why));
            return;
        }
        if recent_alerts >= ALERTS_PER_HOUR {
            d.events.push(NewEvent::new(
                EventKind::AutomaticMail,
                member,
                format!(
                    "not relayed to the team: {ALERTS_PER_HOUR} alerts about unauthenticated mail \
                     were sent in the last hour"
                ),
            ));
            return;
        }
        let note = format!(
            "claims to be {member}; not authenticated ({reason}). Do not take it as {member}'s \
             words: the mail server named in team.authserv_id ({}) did not vouch for it.",
            ctx.config
                .team
                .authserv_id
                .as_deref()
                .unwrap_or("(none configured)")
        );
        // Cut as every notice's text is: anyone can send a forged claim, of any size.
        let text = if body.text.is_empty() {
            "(no text)".to_string()
        } else {
            crate::desk::cut_for_team(&body.text, crate::desk::WHOLE_IN_MAILBOX)
        };
        match ctx.templates.render(&templates::TeamMail {
            case_id: case.id.to_string(),
            subject: case.subject.clone(),
            role: "Unauthenticated".into(),
            headline: format!(
                "A mail on {} claims to be from {member}, but it is not authenticated.",
                case.id
            ),
            from: crate::desk::sender_display(mail),
            also_to: crate::desk::also_to(ctx, mail),
            received: ctx.fmt_instant(ctx.now),
            note: Some(note),
            text,
        }) {
            Ok(r) => d
                .outgoing
                .push(ctx.to_team(&case.id, r).threaded(answer_threading(mail))),
            Err(e) => crate::desk::template_failed(ctx, d, Some(&case.id), "team relay", &e),
        }
    }
}

/// How a member's note (team mail with words) is recorded on its case: by its first
/// line. A responder's note repeats it word for word.
pub fn team_note(text: &str) -> String {
    format!("team note: {}", first_line(text))
}

fn first_line(text: &str) -> String {
    shortened(text.lines().find(|l| !l.trim().is_empty()))
}

/// What a command sending the text below the block tells its sender of it: how many
/// lines went and the last of them, and whether lines below it were `cut`, so a cut the
/// sender did not mean (a pasted patch's `From:` line taken for a quoted mail's header)
/// shows.
fn text_sent(text: &str, cut: bool) -> String {
    let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
    let last = shortened(text.lines().rev().find(|l| !l.trim().is_empty()));
    let s = if lines == 1 { "" } else { "s" };
    let below = if cut {
        "; what your mail had below it was taken for quoted mail or a signature, and not sent"
    } else {
        ""
    };
    format!("{lines} line{s} of text, the last “{last}”{below}")
}

/// What a mail sent out of the desk left behind of the member's own mail: their files,
/// which the desk never sends (it sends text, written by people who may be fooled).
fn files_left(files: &[(String, String, usize)]) -> String {
    if files.is_empty() {
        return String::new();
    }
    format!(
        "; your {} did not go: the desk sends text only, send {} yourself if needed",
        attached_files(files.iter().map(|(name, _, _)| name.as_str())),
        if files.len() == 1 { "it" } else { "them" },
    )
}

/// "N attached file(s) (names)", the first ten names each made one line.
fn attached_files<'f>(names: impl ExactSizeIterator<Item = &'f str>) -> String {
    let n = names.len();
    let shown: Vec<String> = names.take(10).map(crate::sanitize::one_line).collect();
    format!(
        "{n} attached file{} ({})",
        if n == 1 { "" } else { "s" },
        shown.join(", ")
    )
}

/// `line` trimmed, cut at 100 characters.
fn shortened(line: Option<&str>) -> String {
    let line = crate::sanitize::one_line(line.unwrap_or("").trim());
    let mut s: String = line.chars().take(100).collect();
    if line.chars().count() > 100 {
        s.push('…');
    }
    s
}

/// How many times an hour a member is told that a mail of theirs named no case. A
/// mail without a command line past that is kept and not answered: a member's
/// autoresponder that does not thread, answering the explanation (or the digest), names
/// no case either, and answering each would loop.
pub const EXPLANATIONS_PER_HOUR: u32 = 2;

/// A team mail that names no case: explain how to name one (a member who forwarded a
/// report without `#new` must not believe it filed). A mail without a command line that
/// answers the desk's own mail, or comes after [`EXPLANATIONS_PER_HOUR`] explanations
/// to the same member, is kept and not answered: the explanation starts no thread of
/// its own, so an answer to it names no case either, and answering that would loop.
fn no_case(
    ctx: &Ctx<'_>,
    mail: &Mail,
    member: &str,
    body: &ParsedBody,
    verdict: Option<&AuthVerdict>,
    (recent_alerts, explained_lately): (u32, u32),
) -> Decision {
    let mut d = Decision::unfiled(MessageKind::Team);
    let answers_us = crate::desk::answers_the_desk(ctx, mail);
    if body.commands.is_empty() && (answers_us || explained_lately >= EXPLANATIONS_PER_HOUR) {
        return d;
    }
    if let Some(AuthVerdict::Fail { reason }) = verdict {
        // Refused commands are told to the team (within the hourly alert budget),
        // whether they asked for a new case or named none: an impersonation is never
        // silent. So is a mail with none, which filed nothing: a report a member forwarded
        // without `#new` from a server that does not sign would otherwise vanish unseen.
        if let Some(alert) = refused_alert(ctx, None, mail, member, reason, body, recent_alerts) {
            d.outgoing.push(alert);
        }
        return d;
    }
    let named = body.commands.iter().find_map(|c| match &c.parsed {
        Ok(Command::Case(id)) => Some(id.clone()),
        _ => None,
    });
    let opens = matches!(
        body.commands.first().map(|c| &c.parsed),
        Some(Ok(Command::New))
    );
    let why = match named {
        Some(id) if opens => format!(
            "`#new` opens a new case and `#case {id}` names another: a mail does one or the other"
        ),
        Some(id) => format!("there is no case {id}"),
        None => {
            "this mail is not a reply to a case, has no case tag in its subject, and names no case"
                .into()
        }
    };
    let lines: Vec<TranscriptLine> = body
        .commands
        .iter()
        .map(|c| TranscriptLine {
            line_no: c.line_no,
            text: c.text.clone(),
            ok: false,
            result: format!("not applied: {why}"),
        })
        .collect();
    let status = format!(
        "Nothing was changed: {why}. Start the mail with `#case {}-YYYY-NNNN` to name a case, or with `#new` to open one.\n\nThe mail itself is kept in the desk's database.",
        ctx.config.desk.case_prefix
    );
    match ctx.templates.render(&templates::Transcript {
        case_id: "no case".into(),
        subject: mail.subject.clone(),
        lines,
        failed: true,
        status,
    }) {
        Ok(r) => d.outgoing.push(
            Outgoing::new(Purpose::Transcript, None, vec![member.to_string()], r)
                .threaded(answer_threading(mail)),
        ),
        // No case to record it on: the team hears of it.
        Err(e) => d
            .outgoing
            .push(crate::desk::plain_alert(ctx, None, "transcript", &e)),
    }
    d
}

/// The team alert about a mail whose commands were refused.
fn refused_alert(
    ctx: &Ctx<'_>,
    case: Option<&CaseId>,
    mail: &Mail,
    member: &str,
    reason: &str,
    body: &ParsedBody,
    recent_alerts: u32,
) -> Option<Outgoing> {
    if recent_alerts >= ALERTS_PER_HOUR {
        return None;
    }
    let commands: Vec<&str> = body.commands.iter().map(|c| c.text.as_str()).collect();
    let (what, done, headline) = if commands.is_empty() {
        (
            "names no case".to_string(),
            "It filed nothing: it is kept in the desk's database, on no case. Was it a report \
             forwarded without `#new`?"
                .to_string(),
            format!("unauthenticated mail from {member} filed nothing"),
        )
    } else {
        (
            "carried commands".to_string(),
            format!(
                "None of its commands ran:\n{}",
                commands
                    .iter()
                    .map(|c| format!("    {c}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
            format!("unauthenticated commands from {member} refused"),
        )
    };
    let text = format!(
        "A mail claiming to come from {member} {what}, but it is not authenticated:\n{reason}.\n\n\
         {done}\n\nIf {member} really sent it, their mail server must sign it (DKIM) or pass DMARC, as seen by {}.\n\
         If not, someone is impersonating a team member.\n\nMessage-ID: {}\nSubject: {}",
        ctx.config
            .team
            .authserv_id
            .as_deref()
            .unwrap_or("(no authserv_id configured)"),
        mail.message_id.bracketed(),
        mail.subject,
    );
    let what = format!("alert about unauthenticated commands from {member}");
    Some(alert_on(ctx, case, (headline, text), &what))
}

/// The team alert `headline` / `text` on `case` (or on none), in plain words when its
/// template fails (`what` says what it was).
fn alert_on(
    ctx: &Ctx<'_>,
    case: Option<&CaseId>,
    (headline, text): (String, String),
    what: &str,
) -> Outgoing {
    let r = ctx.templates.render(&templates::TeamAlert {
        case_id: case
            .map(CaseId::to_string)
            .unwrap_or_else(|| "no case".into()),
        headline,
        text,
    });
    let r = match r {
        Ok(r) => r,
        Err(e) => return crate::desk::plain_alert(ctx, case, what, &e),
    };
    let alert = Outgoing::new(
        Purpose::TeamNotice,
        case.cloned(),
        ctx.config.team.recipients(),
        r,
    );
    match case {
        Some(c) => alert.reply_to(ctx.plus_address(c)),
        None => alert,
    }
}

/// A member's mail on `case` that bears a sign of automatic mail (`reason`) and carries
/// command lines: they are not run (an autoresponder's never are), and, lest she wait for
/// what never comes, the case says so and the team is told (at most
/// [`ALERTS_PER_HOUR`] an hour). The sender is not answered. `None` for anyone else's
/// mail, or one without commands.
pub(crate) fn automatic_commands(
    ctx: &Ctx<'_>,
    case: &CaseId,
    mail: &Mail,
    reason: &str,
    recent_alerts: u32,
) -> Option<(NewEvent, Option<Outgoing>)> {
    let member = mail.from_address();
    if !ctx.config.team.members.iter().any(|m| m == member) {
        return None;
    }
    let body = crate::commands::parse_body(&mail.text);
    if !body.has_commands_meant() {
        return None;
    }
    let commands: Vec<String> = body
        .commands
        .iter()
        .map(|c| format!("    {}", c.text))
        .collect();
    // Not authenticated, it is a claim of her name, never shown as hers: nobody is asked
    // to send its commands again.
    let forged = match authenticate(ctx, mail, member, true) {
        Some(AuthVerdict::Fail { reason }) => Some(reason),
        _ => None,
    };
    let event = NewEvent::new(
        EventKind::Refused,
        member,
        match &forged {
            None => format!(
                "{} command line(s) not run: the mail is automatic ({reason})",
                commands.len()
            ),
            Some(why) => format!(
                "{} command line(s) not run: a mail claiming to be from {member}, automatic \
                 ({reason}) and not authenticated ({why})",
                commands.len()
            ),
        },
    );
    let alert = (recent_alerts < ALERTS_PER_HOUR).then(|| {
        let text = match &forged {
            None => format!(
                "A mail from {member} carried commands, but it bears a sign of automatic mail \
                 ({reason}), and the desk never runs an autoresponder's commands. None of them \
                 ran:\n{}\n\nIf {member} wrote it, their mail client or a list it went through \
                 added that sign: send the commands again in a plain reply.\n\nMessage-ID: {}\n\
                 Subject: {}",
                commands.join("\n"),
                mail.message_id.bracketed(),
                mail.subject,
            ),
            Some(why) => format!(
                "A mail claiming to be from {member} carried commands; it bears a sign of \
                 automatic mail ({reason}) and is not authenticated ({why}): it may be \
                 forged. None of its commands ran:\n{}\n\nMessage-ID: {}\nSubject: {}",
                commands.join("\n"),
                mail.message_id.bracketed(),
                mail.subject,
            ),
        };
        let headline = match forged {
            None => format!("commands from {member} in automatic mail not run"),
            Some(_) => format!("commands claiming to be from {member} not run"),
        };
        let what = format!("alert about commands from {member} in automatic mail");
        alert_on(ctx, Some(case), (headline, text), &what)
    });
    Some((event, alert))
}

/// One line summing up the case, for transcripts.
pub fn status_line(ctx: &Ctx<'_>, c: &Case) -> String {
    let mut parts = vec![format!("Status: {}", c.status)];
    parts.push(match &c.assignee {
        Some(a) => format!("responder {a}"),
        None => "no responder".into(),
    });
    if let Some(s) = c.severity {
        parts.push(format!("severity {s}"));
    }
    parts.push(match c.embargo_end {
        Some(e) => format!("embargo until {}", ctx.fmt_date(e)),
        None => "no embargo".into(),
    });
    parts.join(", ")
}

impl Work<'_, '_> {
    fn change(&mut self, detail: String) {
        self.events
            .push(NewEvent::new(EventKind::Changed, self.actor, detail));
    }

    fn public_change(&mut self, detail: String) {
        self.events
            .push(NewEvent::new(EventKind::Changed, self.actor, detail).public());
    }

    fn today(&self) -> NaiveDate {
        self.ctx.config.calendar.local_date(self.ctx.now)
    }

    /// Every date a command takes lies within ten years from today and after 2000, the
    /// same window as `+Nd`: beyond it, deadline arithmetic and the database's fixed-width
    /// instants would break (`9999-12-31` once planned a reminder at `+10000-01-01`).
    fn out_of_window(&self, date: NaiveDate) -> Option<Step> {
        let today = self.today();
        let latest = today
            .checked_add_signed(Duration::days(i64::from(crate::commands::MAX_DAYS)))
            .unwrap_or(today);
        if date > latest {
            return Some(fail(format!(
                "{date} is more than ten years ahead (the latest is {latest}, or +{}d)",
                crate::commands::MAX_DAYS
            )));
        }
        if date.year() < crate::commands::MIN_YEAR {
            return Some(fail(format!(
                "{date} is before {}; check the year",
                crate::commands::MIN_YEAR
            )));
        }
        None
    }

    fn needs_open(&self) -> Option<Step> {
        (!self.case.is_open()).then(|| {
            let (id, status) = (&self.case.id, self.case.status);
            match status {
                // It cannot be reopened: advice to do so would only be refused.
                CaseStatus::Published => fail(format!(
                    "{id} is published and does not change; a new finding is a new case (`#new`)"
                )),
                CaseStatus::Spam => fail(format!("{id} is {status}; `#notspam` it first")),
                _ => fail(format!("{id} is {status}; `#reopen` it first")),
            }
        })
    }

    /// A published advisory says what it said when it went out: its files are pushed, its
    /// announcement sent, the reporter has a copy. A command that would change it (a
    /// credit withdrawn, a CVE added) is refused rather than answered as if it took effect
    /// (`#package` and the status commands say why in their own words).
    fn published_as_it_is(&self, cmd: &Command) -> Option<Step> {
        let own_refusal = matches!(
            cmd,
            Command::Package(_) | Command::Valid | Command::Fixed | Command::Preannounce(_)
        );
        if self.case.status != CaseStatus::Published || !cmd.changes_advisory() || own_refusal {
            return None;
        }
        let advisory = self.case.advisory_id.as_deref().unwrap_or("an advisory");
        Some(fail(format!(
            "{} is published as {advisory} and its advisory does not change: its files, its \
             announcement and the reporter's copy keep what they say; a correction goes to \
             the advisory database itself",
            self.case.id
        )))
    }

    /// Applies the command block in order; a failed command changes nothing and is
    /// recorded, the others still apply. Returns the transcript lines and whether any
    /// failed.
    ///
    /// A `#case` naming another case than the one the mail is on stops the whole block:
    /// the member meant the case they named, and a `#reply` or `#close` here would reach
    /// the wrong reporter or end the wrong case.
    fn apply_all(&mut self, body: &ParsedBody, opened: bool) -> (Vec<TranscriptLine>, bool) {
        let mut lines = Vec::new();
        let mut failed = false;
        // So does a `#case` or `#new` line the desk could not read: the member meant some
        // other case, or a new one, and which is unknown.
        let elsewhere = body.commands.iter().find_map(|l| match &l.parsed {
            Ok(Command::Case(id)) if *id != self.case.id && !self.facts.former_ids.contains(id) => {
                Some(format!("the mail names {id} (`#case`)"))
            }
            Err(CommandError::Malformed {
                keyword: keyword @ ("case" | "new"),
                ..
            }) => Some(format!(
                "the mail's `#{keyword}` line could not be read, so which case it means is unknown"
            )),
            _ => None,
        });
        // A publication cannot be taken back: none goes out of a mail whose lines above
        // it did not all apply (a `#cve` or `#cwe` mistyped would be missing from it).
        let mut first_failed: Option<usize> = None;
        for line in &body.commands {
            let step = match (&line.parsed, &elsewhere, first_failed) {
                (Ok(cmd @ Command::Case(_)), _, _) => self.apply(cmd, opened),
                (Ok(_), Some(why), _) => fail(format!(
                    "not done: {why}, but it belongs to {}",
                    self.case.id
                )),
                // (A case that is not open is refused by `#publish` itself, saying why.)
                (Ok(Command::Publish { .. }), None, Some(n)) if self.case.is_open() => {
                    fail(format!(
                        "not run: line {n} above failed, and an advisory goes out only from a mail \
                     whose commands all applied; send `#publish` again once they do"
                    ))
                }
                (Ok(cmd), None, _) => self.apply(cmd, opened),
                (Err(e), _, _) => fail(e.to_string()),
            };
            if !step.ok {
                first_failed = first_failed.or(Some(line.line_no));
                failed = true;
                self.events.push(NewEvent::new(
                    EventKind::CommandFailed,
                    self.actor,
                    format!("{}: {}", line.text, step.result),
                ));
            }
            lines.push(TranscriptLine {
                line_no: line.line_no,
                text: line.text.clone(),
                ok: step.ok,
                result: step.result,
            });
        }
        (lines, failed)
    }

    /// Applies one command; one that changes what the advisory says dates the change
    /// (the advisory's `modified`). One that changed nothing ("already valid", a credit
    /// given already) dates nothing.
    fn apply(&mut self, cmd: &Command, opened_now: bool) -> Step {
        if let Some(refused) = self.published_as_it_is(cmd) {
            return refused;
        }
        let dates = cmd.changes_advisory();
        let before = dates.then(|| (self.case.clone(), self.public_events()));
        let step = self.apply_one(cmd, opened_now);
        if step.ok
            && let Some((case, public)) = before
            && (self.case != case || self.public_events() != public)
        {
            self.case.advisory_changed_at = Some(self.ctx.now);
        }
        step
    }

    /// How many public events (the advisory's timeline) this mail's commands made.
    fn public_events(&self) -> usize {
        self.events.iter().filter(|e| e.public).count()
    }

    /// The commands are grouped by family, one file each: triage, advisory fields,
    /// lifecycle, mail out.
    fn apply_one(&mut self, cmd: &Command, opened_now: bool) -> Step {
        match cmd {
            // triage.rs
            Command::New => self.new_case(opened_now),
            Command::Case(id) => self.working_on(id),
            Command::Assign(who) => self.assign(who),
            Command::Unassign => self.unassign(),
            Command::Severity(s) => self.severity(*s),
            Command::Cvss(score) => self.cvss(score),
            Command::Show => self.show(),
            Command::Help => self.help(),
            // advisory_fields.rs
            Command::Cve(cve) => self.cve(cve),
            Command::Cwe(n) => self.cwe(*n),
            Command::Summary(s) => self.summary(s),
            Command::Workaround(s) => self.workaround(s),
            Command::Reference { kind, url } => self.reference(*kind, url),
            Command::Details => self.details(),
            Command::Package(p) => self.package(p),
            Command::Affected(r) => self.affected(r),
            Command::FixedIn(v) => self.fixed_in(v),
            Command::Credit(c) => self.credit(c),
            Command::Bindings(names) => self.bindings(names),
            Command::Commit { package, url, sha } => self.commit(package.as_deref(), url, sha),
            // lifecycle.rs
            Command::Valid => self.valid(),
            Command::Invalid(reason) => self.invalid(reason),
            Command::Duplicate(other) => self.duplicate(other),
            Command::Embargo(spec) => self.embargo(spec),
            Command::Remind { when, text } => self.remind(when, text),
            Command::Fixed => self.fixed(),
            Command::Close => self.close(),
            Command::Reopen => self.reopen(),
            // mail_out.rs
            Command::Reply => self.reply(),
            Command::Forward(addr) => self.forward(addr),
            Command::Preannounce(date) => self.preannounce(*date),
            Command::Publish { now } => self.publish(*now),
            // spam.rs
            Command::Spam => self.spam(),
            Command::NotSpam => self.notspam(),
            // desks.rs (the shell moves the case once this mail is recorded)
            Command::Move(desk) => self.move_to(desk),
        }
    }
}
