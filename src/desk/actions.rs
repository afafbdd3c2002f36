//! Team mail: authentication, the command block applied to the case in order, the
//! transcript answer, and the relay of the message to the rest of the team.
//!
//! Invariants: pure (no I/O, the clock is `ctx.now`); a failed command changes nothing
//! and the others still apply in order; commands run only for an authenticated team
//! member unless the operator explicitly allowed unauthenticated ones; only `#reply`
//! writes to the reporter, and only the text after the block.

use crate::commands::{self, Assignee, Command, Credit, CveCommand, EmbargoSpec, ParsedBody, When};
use crate::desk::case::{Case, CreditChoice, DESK_ACTOR, Event, EventKind, NewEvent};
use crate::desk::{Ctx, Decision, Filing, MessageKind, OneOff, answer_threading};
use crate::mail::Mail;
use crate::mail::auth::{self, AuthVerdict};
use crate::outgoing::templates::{self, TranscriptLine};
use crate::outgoing::{OutAttachment, Outgoing, Purpose};
use crate::publish::advisory;
use crate::publish::publication;
use crate::types::{CaseId, CaseStatus, MessageId};
use chrono::{Datelike, Duration, NaiveDate};
use std::collections::BTreeSet;

/// Facts from the store that some commands need, gathered before deciding.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Which of the cases named by `#duplicate` exist.
    pub known_cases: BTreeSet<CaseId>,
    /// The advisory id `#publish` would allocate.
    pub next_advisory_id: String,
    /// The case's history so far (for `#show` and the advisory timeline).
    pub timeline: Vec<Event>,
    /// The text of the report (for `#forward`).
    pub report_text: String,
    /// The reporter's latest message on the case (what `#reply` answers).
    pub reporter_last_message: Option<MessageId>,
}

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
    facts: &'a Facts,
    case: Case,
    events: Vec<NewEvent>,
    outgoing: Vec<Outgoing>,
    one_offs: Vec<OneOff>,
    extra: Vec<String>,
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
    // Two From headers are refused even where authentication is relaxed.
    let verdict = if has_commands
        && (ctx.config.team.require_authenticated_commands || mail.from_headers > 1)
    {
        Some(auth::evaluate_mail(
            mail,
            ctx.config.team.authserv_id.as_deref().unwrap_or(""),
            member,
        ))
    } else {
        None
    };
    let wants_new = matches!(
        body.commands.first().map(|c| &c.parsed),
        Some(Ok(Command::New))
    );

    let (case, opened) = match filing {
        Filing::Existing(c, _) if !wants_new => (*c, false),
        Filing::New(id) if wants_new && !matches!(verdict, Some(AuthVerdict::Fail { .. })) => {
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
            (c, true)
        }
        Filing::Existing(_, _) | Filing::New(_) => {
            return no_case(
                ctx,
                mail,
                member,
                &body,
                verdict.as_ref(),
                wants_new,
                recent_alerts,
            );
        }
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
        d.events.push(NewEvent::new(
            EventKind::Refused,
            member,
            format!(
                "{} command line(s) refused: the mail is not authenticated ({reason})",
                body.commands.len()
            ),
        ));
        if let Some(alert) = refused_alert(
            ctx,
            Some(&case.id),
            mail,
            member,
            reason,
            &body,
            recent_alerts,
        ) {
            d.outgoing.push(alert);
        }
        d.case = Some(case);
        return d;
    }

    d.events.push(NewEvent::new(
        EventKind::TeamMail,
        member,
        if body.text.is_empty() {
            format!("team mail: {}", mail.subject)
        } else {
            format!("team note: {}", first_line(&body.text))
        },
    ));

    let mut w = Work {
        ctx,
        actor: member,
        text: &body.text,
        facts,
        case,
        events: Vec::new(),
        outgoing: Vec::new(),
        one_offs: Vec::new(),
        extra: Vec::new(),
    };
    let mut lines = Vec::new();
    let mut failed = false;
    for line in &body.commands {
        let step = match &line.parsed {
            Ok(cmd) => w.apply(cmd, opened),
            Err(e) => fail(e.to_string()),
        };
        if !step.ok {
            failed = true;
            w.events.push(NewEvent::new(
                EventKind::CommandFailed,
                member,
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

    let Work {
        case,
        events,
        outgoing,
        one_offs,
        extra,
        ..
    } = w;
    d.events.extend(events);
    d.outgoing.extend(outgoing);
    d.one_offs.extend(one_offs);

    if has_commands {
        let mut status = status_line(ctx, &case);
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
            Ok(r) => d.outgoing.push(
                Outgoing::new(
                    Purpose::Transcript,
                    Some(case.id.clone()),
                    vec![member.to_string()],
                    r,
                )
                .reply_to(ctx.plus_address(&case.id))
                .threaded(answer_threading(mail)),
            ),
            Err(e) => d.events.push(NewEvent::new(
                EventKind::DeliveryFailed,
                DESK_ACTOR,
                format!("could not write the transcript: {e}"),
            )),
        }
    }

    // The rest of the team hears of the message: the note, and which commands ran.
    let others = team_recipients_except(ctx, member);
    if !others.is_empty() && (!body.text.is_empty() || has_commands) {
        let mut text = String::new();
        for line in &body.commands {
            text.push_str(&line.text);
            text.push('\n');
        }
        if has_commands && !body.text.is_empty() {
            text.push('\n');
        }
        text.push_str(&body.text);
        if let Ok(r) = ctx.templates.render(&templates::TeamMail {
            case_id: case.id.to_string(),
            subject: case.subject.clone(),
            role: "Team".into(),
            headline: format!("{member} wrote on {} (internal to the team).", case.id),
            from: member.to_string(),
            received: ctx.fmt_instant(ctx.now),
            note: None,
            text,
        }) {
            d.outgoing.push(
                Outgoing::new(Purpose::TeamNotice, Some(case.id.clone()), others, r)
                    .reply_to(ctx.plus_address(&case.id))
                    .threaded(answer_threading(mail)),
            );
        }
    }
    d.case = Some(case);
    d
}

fn first_line(text: &str) -> String {
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let mut s: String = line.chars().take(100).collect();
    if line.chars().count() > 100 {
        s.push('…');
    }
    s
}

/// A team mail that names no case: explain how to name one.
fn no_case(
    ctx: &Ctx<'_>,
    mail: &Mail,
    member: &str,
    body: &ParsedBody,
    verdict: Option<&AuthVerdict>,
    wants_new: bool,
    recent_alerts: u32,
) -> Decision {
    let mut d = Decision::unfiled(MessageKind::Team);
    if let Some(AuthVerdict::Fail { reason }) = verdict {
        if wants_new
            && let Some(alert) = refused_alert(ctx, None, mail, member, reason, body, recent_alerts)
        {
            d.outgoing.push(alert);
        }
        return d;
    }
    let named = body.commands.iter().find_map(|c| match &c.parsed {
        Ok(Command::Case(id)) => Some(id.clone()),
        _ => None,
    });
    let why = match named {
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
        "Nothing was changed: {why}. Start the mail with `#case SEC-YYYY-NNNN` to name a case, or with `#new` to open one.\n\nThe mail itself is kept in the desk's database."
    );
    if let Ok(r) = ctx.templates.render(&templates::Transcript {
        case_id: "no case".into(),
        subject: mail.subject.clone(),
        lines,
        failed: true,
        status,
    }) {
        d.outgoing.push(
            Outgoing::new(Purpose::Transcript, None, vec![member.to_string()], r)
                .threaded(answer_threading(mail)),
        );
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
    let text = format!(
        "A mail claiming to come from {member} carried commands, but it is not authenticated:\n{reason}.\n\n\
         None of its commands ran:\n{}\n\nIf {member} really sent it, their mail server must sign it (DKIM) or pass DMARC, as seen by {}.\n\
         If not, someone is impersonating a team member.\n\nMessage-ID: {}\nSubject: {}",
        commands
            .iter()
            .map(|c| format!("    {c}"))
            .collect::<Vec<_>>()
            .join("\n"),
        ctx.config
            .team
            .authserv_id
            .as_deref()
            .unwrap_or("(no authserv_id configured)"),
        mail.message_id.bracketed(),
        mail.subject,
    );
    let r = ctx
        .templates
        .render(&templates::TeamAlert {
            case_id: case
                .map(CaseId::to_string)
                .unwrap_or_else(|| "no case".into()),
            headline: format!("unauthenticated commands from {member} refused"),
            text,
        })
        .ok()?;
    let alert = Outgoing::new(
        Purpose::TeamNotice,
        case.cloned(),
        ctx.config.team.recipients(),
        r,
    );
    Some(match case {
        Some(c) => alert.reply_to(ctx.plus_address(c)),
        None => alert,
    })
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
            .checked_add_signed(Duration::days(i64::from(commands::MAX_DAYS)))
            .unwrap_or(today);
        if date > latest {
            return Some(fail(format!(
                "{date} is more than ten years ahead (the latest is {latest}, or +{}d)",
                commands::MAX_DAYS
            )));
        }
        if date.year() < commands::MIN_YEAR {
            return Some(fail(format!(
                "{date} is before {}; check the year",
                commands::MIN_YEAR
            )));
        }
        None
    }

    fn needs_open(&self) -> Option<Step> {
        (!self.case.is_open()).then(|| {
            fail(format!(
                "{} is {}; `#reopen` it first",
                self.case.id, self.case.status
            ))
        })
    }

    fn apply(&mut self, cmd: &Command, opened_now: bool) -> Step {
        let ctx = self.ctx;
        match cmd {
            Command::New => {
                if opened_now {
                    ok(format!("opened {}", self.case.id))
                } else {
                    fail("`#new` must be the first line; this mail already belongs to a case")
                }
            }
            Command::Case(id) => {
                if *id == self.case.id {
                    ok(format!("working on {id}"))
                } else {
                    fail(format!(
                        "this mail belongs to {}, not {id}; write a separate mail for {id}",
                        self.case.id
                    ))
                }
            }
            Command::Assign(who) => {
                let addr = match who {
                    Assignee::Me => self.actor.to_string(),
                    Assignee::Address(a) => a.clone(),
                };
                if !ctx.config.team.is_member(&addr) {
                    return fail(format!(
                        "{addr} is not a team member (team.members); only team members can be responders"
                    ));
                }
                self.case.assignee = Some(addr.clone());
                self.change(format!("responder: {addr}"));
                ok(format!("assigned to {addr}"))
            }
            Command::Unassign => match self.case.assignee.take() {
                Some(prev) => {
                    self.change(format!("responder {prev} removed"));
                    ok(format!("{prev} is no longer the responder"))
                }
                None => ok("nobody was assigned"),
            },
            Command::Severity(s) => {
                self.case.severity = Some(*s);
                self.change(format!("severity: {s}"));
                ok(format!("severity set to {s}"))
            }
            Command::Cvss(score) => {
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
            Command::Valid => {
                if let Some(s) = self.needs_open() {
                    return s;
                }
                if self.case.status != CaseStatus::New {
                    return ok(format!("already {}", self.case.status));
                }
                self.case.status = CaseStatus::Valid;
                self.public_change("the report was confirmed as a vulnerability".into());
                ok("marked valid")
            }
            Command::Invalid(reason) => {
                if let Some(s) = self.needs_open() {
                    return s;
                }
                self.case.status = CaseStatus::Closed;
                self.case.close_reason = Some(format!("invalid: {reason}"));
                self.change(format!("closed as invalid: {reason}"));
                ok(format!("closed as invalid ({reason}); reminders stopped"))
            }
            Command::Duplicate(other) => {
                if *other == self.case.id {
                    return fail("a case cannot duplicate itself");
                }
                if !self.facts.known_cases.contains(other) {
                    return fail(format!("there is no case {other}"));
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
            Command::Cve(CveCommand::Requested) => {
                self.case.cve_requested = true;
                self.change("CVE requested".into());
                ok("CVE marked as requested")
            }
            Command::Cve(CveCommand::Ids(ids)) => {
                self.case.cves = ids.clone();
                self.case.cve_requested = false;
                self.public_change(format!("{} assigned", ids.join(", ")));
                ok(format!("CVE: {}", ids.join(", ")))
            }
            Command::Cwe(n) => {
                if !self.case.cwes.contains(n) {
                    self.case.cwes.push(*n);
                }
                self.change(format!("CWE-{n} added"));
                ok(format!(
                    "CWE: {}",
                    self.case
                        .cwes
                        .iter()
                        .map(|c| format!("CWE-{c}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
            Command::Summary(s) => {
                let mut result = format!("summary: {s}");
                if s.chars().count() > advisory::SUMMARY_MAX {
                    result.push_str(&format!(
                        " (over {} characters: the advisory title will be shortened)",
                        advisory::SUMMARY_MAX
                    ));
                }
                self.case.summary = Some(s.clone());
                self.change(format!("summary: {s}"));
                ok(result)
            }
            Command::Workaround(s) => {
                self.case.workaround = Some(s.clone());
                self.change(format!("workaround: {s}"));
                ok(format!("workaround: {s}"))
            }
            Command::Reference { kind, url } => {
                let kind = kind.to_string().to_ascii_uppercase();
                if self.case.references.iter().any(|(_, u)| u == url) {
                    return ok(format!("{url} was already a reference"));
                }
                self.case.references.push((kind.clone(), url.clone()));
                self.change(format!("reference {kind} {url}"));
                ok(format!("reference added: {kind} {url}"))
            }
            Command::Details => {
                if self.text.trim().is_empty() {
                    return fail(
                        "`#details` takes the text after the command block, and there is none",
                    );
                }
                self.case.details = Some(self.text.to_string());
                self.change("advisory details replaced".into());
                ok(format!(
                    "advisory details set ({} lines)",
                    self.text.lines().count()
                ))
            }
            Command::Package(p) => {
                self.case.package = Some(p.clone());
                self.change(format!("package: {p}"));
                ok(format!("package: {p} ({})", ctx.config.publish.ecosystem))
            }
            Command::Affected(r) => {
                let note = match advisory::parse_range(r) {
                    Ok(_) => String::new(),
                    Err(e) => format!(" (note: {e}; it will be shown as written)"),
                };
                self.case.affected = Some(r.clone());
                self.change(format!("affected: {r}"));
                ok(format!("affected versions: {r}{note}"))
            }
            Command::FixedIn(v) => {
                self.case.fixed_in = Some(v.clone());
                self.change(format!("fixed in {v}"));
                ok(format!("fixed in {v}"))
            }
            Command::Embargo(spec) => self.embargo(spec),
            Command::Credit(c) => {
                self.case.credit = match c {
                    Credit::Name(n) => CreditChoice::Name(n.clone()),
                    Credit::Anonymous => CreditChoice::Anonymous,
                };
                let text = match c {
                    Credit::Name(n) => format!("the reporter will be credited as {n}"),
                    Credit::Anonymous => "the reporter stays anonymous".into(),
                };
                self.change(text.clone());
                ok(text)
            }
            Command::Reply => self.reply(),
            Command::Forward(addr) => self.forward(addr),
            Command::Remind { when, text } => {
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
                    note: text.clone(),
                });
                self.change(format!(
                    "reminder planned for {}: {text}",
                    ctx.fmt_instant(due)
                ));
                ok(format!("you will be reminded on {}", ctx.fmt_instant(due)))
            }
            Command::Fixed => {
                if let Some(s) = self.needs_open() {
                    return s;
                }
                self.case.status = CaseStatus::Fixed;
                self.case.fixed_at = Some(ctx.now);
                match self.case.fixed_in.clone() {
                    Some(v) => {
                        self.public_change(format!("fix released in {v}"));
                        ok(format!(
                            "marked fixed in {v}; `#publish` when the embargo allows"
                        ))
                    }
                    None => {
                        self.public_change("fix released".into());
                        ok("marked fixed (tip: `#fixed-in <version>` names the release)")
                    }
                }
            }
            Command::Publish { now } => self.publish(*now),
            Command::Preannounce(date) => self.preannounce(*date),
            Command::Close => {
                if !self.case.is_open() {
                    return ok(format!("already {}", self.case.status));
                }
                self.case.status = CaseStatus::Closed;
                self.case.close_reason = Some("closed by the team".into());
                self.change("closed".into());
                ok("closed; reminders stopped")
            }
            Command::Reopen => {
                if self.case.is_open() {
                    return ok(format!("already open ({})", self.case.status));
                }
                if self.case.status == CaseStatus::Published {
                    return fail(
                        "the advisory is published; a published case cannot be reopened (open a new case with `#new`)",
                    );
                }
                self.case.status = if self.case.fixed_at.is_some() {
                    CaseStatus::Fixed
                } else {
                    CaseStatus::Valid
                };
                self.case.close_reason = None;
                self.case.duplicate_of = None;
                self.change(format!("reopened ({})", self.case.status));
                ok(format!("reopened; status {}", self.case.status))
            }
            Command::Show => {
                self.extra.push(crate::publish::report::case_text(
                    &self.case,
                    &self.facts.timeline,
                    &ctx.config.calendar,
                ));
                ok("summary and timeline below")
            }
            Command::Help => {
                self.extra.push(commands::help_text());
                ok("the commands are listed below")
            }
        }
    }

    fn embargo(&mut self, spec: &EmbargoSpec) -> Step {
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
        let text = format!("embargo until {}", self.ctx.fmt_date(date));
        self.change(text.clone());
        ok(format!("{text}; reminders follow it"))
    }

    fn reply(&mut self) -> Step {
        let ctx = self.ctx;
        let Some(reporter) = self.case.reporter.clone() else {
            return fail("this case has no reporter address to answer (it was opened with `#new`)");
        };
        if self.text.trim().is_empty() {
            return fail("`#reply` sends the text after the command block, and there is none");
        }
        let r = match ctx.templates.render(&templates::Reply {
            case_id: self.case.id.to_string(),
            subject: self.case.subject.clone(),
            text: self.text.to_string(),
            desk_name: ctx.config.desk.name.clone(),
        }) {
            Ok(r) => r,
            Err(e) => return fail(format!("the reply template failed: {e}")),
        };
        let parent = self
            .facts
            .reporter_last_message
            .clone()
            .unwrap_or_else(|| self.case.root_message_id.clone());
        let mut references = vec![self.case.root_message_id.clone()];
        if parent != self.case.root_message_id {
            references.push(parent.clone());
        }
        self.outgoing.push(
            Outgoing::new(
                Purpose::Reply,
                Some(self.case.id.clone()),
                vec![reporter.clone()],
                r,
            )
            .reply_to(ctx.plus_address(&self.case.id))
            .threaded((Some(parent), references)),
        );
        if self.case.first_reply_at.is_none() {
            self.case.first_reply_at = Some(ctx.now);
        }
        self.case.last_reply_at = Some(ctx.now);
        self.events.push(NewEvent::new(
            EventKind::RepliedToReporter,
            self.actor,
            format!("replied to the reporter: {}", first_line(self.text)),
        ));
        ok(format!(
            "sent to the reporter ({reporter}) from {}",
            ctx.config.desk.address
        ))
    }

    fn forward(&mut self, addr: &str) -> Step {
        let ctx = self.ctx;
        if ctx.config.team.is_member(addr) {
            return fail(format!("{addr} is a team member and already sees the case"));
        }
        if crate::types::normalize_address(addr) == ctx.config.desk.address {
            return fail("that is the desk's own address");
        }
        let r = match ctx.templates.render(&templates::Forward {
            case_id: self.case.id.to_string(),
            subject: self.case.subject.clone(),
            desk_name: ctx.config.desk.name.clone(),
            text: self.text.to_string(),
            severity: self.case.severity.map(|s| s.to_string()),
            embargo_end: self.case.embargo_end.map(|e| ctx.fmt_date(e)),
            report: self.facts.report_text.clone(),
        }) {
            Ok(r) => r,
            Err(e) => return fail(format!("the forward template failed: {e}")),
        };
        let addr = crate::types::normalize_address(addr);
        self.outgoing.push(
            Outgoing::new(
                Purpose::Forward,
                Some(self.case.id.clone()),
                vec![addr.clone()],
                r,
            )
            .reply_to(ctx.plus_address(&self.case.id)),
        );
        if !self.case.upstream.contains(&addr) {
            self.case.upstream.push(addr.clone());
        }
        self.events.push(NewEvent::new(
            EventKind::Forwarded,
            self.actor,
            format!("forwarded to {addr}"),
        ));
        ok(format!(
            "forwarded to {addr}; their replies will join this case"
        ))
    }

    fn preannounce(&mut self, date: NaiveDate) -> Step {
        let ctx = self.ctx;
        let Some(list) = ctx.config.publish.announce.clone() else {
            return fail("no announce list is configured (publish.announce)");
        };
        let Some(package) = self.case.package.clone() else {
            return fail("name the package first with `#package <name>`");
        };
        if date < self.today() {
            return fail(format!("{date} is in the past"));
        }
        if let Some(refused) = self.out_of_window(date) {
            return refused;
        }
        let r = match ctx.templates.render(&templates::Preannounce {
            desk_name: ctx.config.desk.name.clone(),
            package: package.clone(),
            date: ctx.fmt_date(date),
        }) {
            Ok(r) => r,
            Err(e) => return fail(format!("the preannounce template failed: {e}")),
        };
        self.case.preannounce = Some(date);
        self.outgoing.push(Outgoing::new(
            Purpose::Preannounce,
            Some(self.case.id.clone()),
            vec![list.clone()],
            r,
        ));
        self.public_change(format!("pre-announcement sent for {date}"));
        ok(format!(
            "pre-announcement of {package} on {date} sent to {list}"
        ))
    }

    fn publish(&mut self, override_embargo: bool) -> Step {
        let ctx = self.ctx;
        match self.case.status {
            CaseStatus::Published => {
                return ok(format!(
                    "already published as {}",
                    self.case.advisory_id.clone().unwrap_or_default()
                ));
            }
            CaseStatus::Closed => {
                return fail(format!("{} is closed; `#reopen` it first", self.case.id));
            }
            _ => {}
        }
        if let Some(end) = self.case.embargo_end
            && self.today() < end
            && !override_embargo
        {
            return fail(format!(
                "the embargo runs until {}; publish then, or `#publish now` to override it",
                ctx.fmt_date(end)
            ));
        }
        let id = self.facts.next_advisory_id.clone();
        let mut published = self.case.clone();
        published.status = CaseStatus::Published;
        published.published_at = Some(ctx.now);
        published.advisory_id = Some(id.clone());
        let mut timeline = self.facts.timeline.clone();
        timeline.extend(self.events.iter().filter(|e| e.public).map(|e| Event {
            at: ctx.now,
            kind: e.kind,
            actor: e.actor.clone(),
            detail: e.detail.clone(),
            public: true,
            message_id: None,
        }));
        timeline.push(Event {
            at: ctx.now,
            kind: EventKind::Published,
            actor: self.actor.to_string(),
            detail: format!("advisory {id} published"),
            public: true,
            message_id: None,
        });
        let adv = publication::advisory_for(&published, &timeline, ctx.config, &id, ctx.now);
        if adv.summary.as_deref().is_none_or(|s| s.trim().is_empty()) {
            return fail("set `#summary <one line>` first: it is the advisory's title");
        }
        let warnings = advisory::problems(&adv);
        let markdown = advisory::to_markdown(&adv);
        let osv = advisory::to_osv_json(&adv);
        let summary = adv.summary.clone().unwrap_or_default();
        let attachments = vec![
            OutAttachment {
                filename: format!("{id}.json"),
                content_type: "application/json".into(),
                bytes: std::sync::Arc::new(osv.into_bytes()),
            },
            OutAttachment {
                filename: format!("{id}.md"),
                content_type: "text/markdown; charset=utf-8".into(),
                bytes: std::sync::Arc::new(markdown.clone().into_bytes()),
            },
        ];
        let mut sent_to = Vec::new();
        if let Some(list) = ctx.config.publish.announce.clone() {
            match ctx.templates.render(&templates::Announce {
                advisory_id: id.clone(),
                summary: summary.clone(),
                markdown: markdown.clone(),
            }) {
                Ok(r) => {
                    self.outgoing.push(
                        Outgoing::new(
                            Purpose::Announce,
                            Some(self.case.id.clone()),
                            vec![list.clone()],
                            r,
                        )
                        .attach(attachments.clone()),
                    );
                    sent_to.push(list);
                }
                Err(e) => return fail(format!("the announce template failed: {e}")),
            }
        }
        if let Some(reporter) = self.case.reporter.clone() {
            match ctx.templates.render(&templates::Published {
                case_id: self.case.id.to_string(),
                advisory_id: id.clone(),
                summary: summary.clone(),
                markdown,
                reporter_name: self.case.reporter_name.clone(),
                desk_name: ctx.config.desk.name.clone(),
            }) {
                Ok(r) => {
                    let parent = self
                        .facts
                        .reporter_last_message
                        .clone()
                        .unwrap_or_else(|| self.case.root_message_id.clone());
                    self.outgoing.push(
                        Outgoing::new(
                            Purpose::PublishedNotice,
                            Some(self.case.id.clone()),
                            vec![reporter.clone()],
                            r,
                        )
                        .reply_to(ctx.plus_address(&self.case.id))
                        .threaded((
                            Some(parent.clone()),
                            vec![self.case.root_message_id.clone(), parent],
                        ))
                        .attach(attachments),
                    );
                    sent_to.push(format!("the reporter ({reporter})"));
                }
                Err(e) => return fail(format!("the published template failed: {e}")),
            }
        }
        self.case = published;
        let note =
            if override_embargo && self.case.embargo_end.is_some_and(|end| self.today() < end) {
                " before the end of the embargo (#publish now)"
            } else {
                ""
            };
        self.events.push(
            NewEvent::new(
                EventKind::Published,
                self.actor,
                format!("advisory {id} published{note}"),
            )
            .public(),
        );
        let to = if sent_to.is_empty() {
            "nobody (no announce list, no reporter)".into()
        } else {
            sent_to.join(" and ")
        };
        let mut result = format!("published as {id}{note}; announcement sent to {to}");
        for w in warnings {
            result.push_str(&format!("\n    note: {w}"));
        }
        ok(result)
    }
}
