//! Deadlines turned into mail: reminder rows that have come due are re-checked against
//! the case, rendered, queued and marked sent in one transaction; the weekly digest is
//! one more row of the same kind.
//!
//! Invariants: the logic is [`run_due`], a function of the store and an instant that
//! tests call directly; the loop around it only decides how long to sleep. A reminder is
//! claimed (`pending` → `sent`) in the same transaction that queues its mail, so a
//! restart, a crash or a second desk on the same file never sends it twice; one whose
//! moment passed while the desk was down is sent when it runs again, marked late.

use crate::desk::case::{Case, DESK_ACTOR, EventKind, NewEvent};
use crate::desk::deadlines::{self, CaseTimes, DeadlineKind, ReminderKind};
use crate::desk::spam;
use crate::outgoing::templates::{self, Rendered};
use crate::outgoing::{Outgoing, Purpose};
use crate::publish::report;
use crate::service::process::Desk;
use crate::store::{self, PlannedRow, ReminderRow, Store, Tx};
use crate::types::{CaseId, CaseStatus, normalize_address};
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, BTreeSet};

/// A reminder sent more than this after its moment is marked late.
pub const LATE_AFTER: Duration = Duration::minutes(15);

/// What `run_due` did with one reminder row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fired {
    Sent {
        scope: String,
        kind: String,
        late: bool,
    },
    /// The case moved on (answered, closed, embargo moved): dropped unsent.
    Stale { scope: String, kind: String },
    /// Another transaction (another desk) got it first.
    Taken,
    /// The row could not be read or processed: cancelled, logged, on its case.
    SetAside { id: i64 },
}

/// Sends every reminder due at `now`, then makes sure the next digest is planned.
///
/// One bad row never stops the others: a row that cannot be read, or whose case data
/// cannot be, is logged, set aside (cancelled, with an event on its case) and skipped;
/// a database error on one row is logged and that row is tried again on the next pass.
pub fn run_due(desk: &Desk, store: &mut Store, now: DateTime<Utc>) -> store::Result<Vec<Fired>> {
    run_due_while(desk, store, now, &|| true)
}

/// [`run_due`], asking `go_on` before each reminder and before the pushes: the daemon's
/// says whether stop was asked (and ticks the loop's beat). After a long outage hundreds
/// of reminders are due at once, each its own transaction; a stop waited for them all,
/// past systemd's stop timeout. What is left waits for the next pass.
pub fn run_due_while(
    desk: &Desk,
    store: &mut Store,
    now: DateTime<Utc>,
    go_on: &dyn Fn() -> bool,
) -> store::Result<Vec<Fired>> {
    let due = store.read(|tx| tx.due_reminders(now))?;
    let mut fired = Vec::new();
    for r in due {
        if !go_on() {
            return Ok(fired);
        }
        let r = match r {
            Ok(r) => r,
            Err(bad) => {
                // Set aside, or tried again next pass (no progress: the pass pauses).
                if set_aside(store, bad.id, &bad.scope, &bad.why, now) {
                    fired.push(Fired::SetAside { id: bad.id });
                }
                continue;
            }
        };
        match fire_one(desk, store, &r, now) {
            Ok(Some(f)) => fired.push(f),
            // A day without suspect mail sends no summary, and reports nothing either.
            Ok(None) => {}
            Err(e @ store::StoreError::Corrupt(_)) => {
                if set_aside(store, r.id, &r.scope, &e.to_string(), now) {
                    fired.push(Fired::SetAside { id: r.id });
                }
            }
            Err(e) => {
                tracing::error!(id = r.id, case = %r.scope, kind = %r.kind, error = %e, "a reminder could not be processed; the others go on, it is retried later");
            }
        }
    }
    // Every desk's in one transaction: with many desks, one commit instead of two each.
    store.write(|tx| {
        for d in desk.all() {
            ensure_digest(d, tx, now)?;
            ensure_spam_summary(d, tx, now)?;
        }
        Ok(())
    })?;
    if !go_on() {
        return Ok(fired);
    }
    // Published advisories whose branch still has to reach the repository's origin.
    for p in crate::service::advisory_repo::push_due(desk, store, now)? {
        tracing::info!(push = ?p, "advisory branch push");
    }
    Ok(fired)
}

/// Re-plans the reminders of every open case by its desk's configuration as it is now;
/// the daemon does it at each start. A reminder is sent only while the deadline it was
/// planned for is still the case's: after a change of time zone (or of the policy's
/// offsets) every pending one would otherwise be dropped as stale when due. Reminders
/// already sent are never planned again, and `#remind` ones are kept. Returns how many
/// cases were re-planned.
///
/// Only the cases planned for before are ([`store::Listing::Planned`]): mail
/// filed from the past plans no reminder, and a restart must not plan them either (an
/// imported archive's open threads would each remind the team, daily, of a first
/// response owed for years). Live mail or a command on such a case plans it.
pub fn replan_open_cases(
    desk: &Desk,
    store: &mut Store,
    now: DateTime<Utc>,
) -> store::Result<usize> {
    store.write(|tx| {
        let open = tx.planned_cases()?;
        for s in &open {
            desk.view(&s.desk).replan(tx, &s.case, now)?;
        }
        Ok(open.len())
    })
}

/// Team mail queued before a restart for an address no longer on the team of the desk
/// that sends it (a member who left, a list replaced) is not sent to it: one who has
/// left the team hears nothing more of its cases, whatever waited in the outbox (SMTP
/// down, say) when the configuration changed. A notice, reminder or digest left with
/// nobody goes to the team as it is now; a transcript (its author's alone) goes to
/// nobody. Noted on each case. Returns how many rows changed.
pub fn withdraw_mail_of_those_who_left(
    desk: &Desk,
    store: &mut Store,
    now: DateTime<Utc>,
) -> store::Result<usize> {
    store.write(|tx| {
        let rows = tx.recent_team_mail()?;
        // Who already has a copy of each mail (a notice is one row per member).
        // (Keyed by sender too: two desks' digests may be queued in the same instant.)
        type Copies<'r> =
            BTreeMap<(&'r Option<CaseId>, &'r str, &'r str, &'r str), BTreeSet<String>>;
        let mut copies: Copies<'_> = BTreeMap::new();
        for r in &rows {
            copies
                .entry((&r.case, &r.purpose, &r.envelope_from, &r.created))
                .or_default()
                .extend(r.recipients.iter().map(|a| normalize_address(a)));
        }
        let mut changed = 0;
        for row in rows.iter().filter(|r| r.pending) {
            // The desk that sent it, by its address exactly; a desk's address changed or
            // the desk removed, the desk that has its case now (the top level's for a
            // removed desk's). Mail of no case from an address no desk has now (a desk's
            // digest, its address changed) cannot be told whose it was: it keeps those
            // still on a team, and goes to no other team.
            let team = match desk.config.desk_sending_as(&row.envelope_from) {
                Some(sender) => Some(&sender.team),
                None => match &row.case {
                    Some(case) => Some(&desk.view_of_case(tx, case)?.config.team),
                    None => None,
                },
            };
            let (kept, gone): (Vec<String>, Vec<String>) =
                row.recipients.iter().cloned().partition(|a| match team {
                    Some(team) => team.is_team_address(a),
                    None => desk.config.all_desks().any(|d| d.team.is_team_address(a)),
                });
            if gone.is_empty() {
                continue;
            }
            changed += 1;
            let gone = gone.join(", ");
            let detail = if !kept.is_empty() {
                tx.readdress(row.id, &kept)?;
                format!("team mail to {gone} not sent to them: no longer on the team")
            } else if row.purpose == Purpose::Transcript.as_str() {
                tx.mark_failed(row.id, &format!("not sent: {gone} no longer on the team"))?;
                format!("a transcript to {gone} not sent: no longer on the team")
            } else if let Some(team) = team {
                // To the team as it is now, but to none who has a copy of their own.
                let has = copies.get(&(
                    &row.case,
                    row.purpose.as_str(),
                    row.envelope_from.as_str(),
                    row.created.as_str(),
                ));
                let instead: Vec<String> = team
                    .recipients()
                    .into_iter()
                    .filter(|a| !has.is_some_and(|h| h.contains(&normalize_address(a))))
                    .collect();
                if instead.is_empty() {
                    tx.mark_failed(row.id, &format!("not sent: {gone} no longer on the team"))?;
                    format!("team mail to {gone} not sent: no longer on the team")
                } else {
                    tx.readdress(row.id, &instead)?;
                    format!(
                        "team mail to {gone} sent to {} instead: {gone} no longer on the team",
                        instead.join(", ")
                    )
                }
            } else {
                tx.mark_failed(
                    row.id,
                    &format!("not sent: {gone} on no team, and its desk has another address now"),
                )?;
                format!("team mail to {gone} not sent: on no team")
            };
            tracing::info!(case = ?row.case, "{detail}");
            if let Some(case) = &row.case {
                let event = NewEvent::new(EventKind::DeliveryFailed, DESK_ACTOR, detail);
                tx.insert_event(case, now, &event, None)?;
            }
        }
        Ok(changed)
    })
}

/// Plans the next daily spam summary if none is pending (and the config asks for one).
/// Its row's UNIQUE (scope, kind, due) key makes it one summary per day, whatever the
/// restarts.
pub fn ensure_spam_summary(desk: &Desk, tx: &Tx<'_>, now: DateTime<Utc>) -> store::Result<()> {
    let cal = &desk.config.calendar;
    let schedule = desk
        .config
        .spam
        .summary
        .map(|at| move |after| deadlines::next_daily_at(cal, at, after));
    ensure_recurring(
        tx,
        (
            &desk.spam_scope(),
            ReminderKind::SpamSummary,
            Duration::days(1),
        ),
        schedule
            .as_ref()
            .map(|f| f as &dyn Fn(DateTime<Utc>) -> DateTime<Utc>),
        now,
    )
}

/// Keeps one pending row of a recurring job (the digest, the spam summary) in `scope`:
/// planned at its `schedule`'s next moment after now when none is pending, or every row
/// cancelled when the config turned the job off (`schedule` is `None`). A row still to
/// come at another moment (the configured moment or time zone changed) is planned again
/// on the new schedule: it went out once more at the old moment first. One overdue (the
/// desk was down) fires late. When the change skipped one (the new schedule's next more
/// than one and a half `period`s after the last one sent), it goes out now, late: a
/// digest due at 09:00 in Paris, the zone changed to Tokyo at 08:00 Paris, was dropped,
/// and the next planned a week on. One within half a `period` after the last one sent
/// waits for the new schedule's following moment; a moment already sent (the wall clock
/// stepped back over it) is not planned again.
fn ensure_recurring(
    tx: &Tx<'_>,
    (scope, kind, period): (&str, ReminderKind, Duration),
    schedule: Option<&dyn Fn(DateTime<Utc>) -> DateTime<Utc>>,
    now: DateTime<Utc>,
) -> store::Result<()> {
    let Some(next_after) = schedule else {
        return tx.cancel_reminders(scope);
    };
    let rows = tx.reminders_of(scope)?;
    let mut due = next_after(now);
    // A wall clock stepped back over a moment already sent does not plan it again: the
    // next one is due. (Each step is strictly later; there are as many as rows at most.)
    for _ in 0..rows.len() {
        if !rows
            .iter()
            .any(|r| r.state == store::ReminderState::Sent && r.due == due)
        {
            break;
        }
        due = next_after(due);
    }
    let (mut pending, mut moved) = (false, false);
    for r in rows {
        if r.state != store::ReminderState::Pending {
            continue;
        }
        if r.due <= now || r.due == due {
            pending = true;
        } else {
            tx.drop_reminder(r.id)?;
            moved = true;
        }
    }
    // Half a period more than a period since the last one sent: the change skipped one.
    // (A moment moved by hours within the period is no skip.) Less than half a period
    // since it: the change would send the period's twice (a zone moved west after
    // Monday's digest went out), so the next is the new schedule's after that.
    if moved && let Some(last) = tx.last_sent_due(scope, &kind.as_str(), now)? {
        if due - last > period + period / 2 {
            due = now;
        } else if due - last < period / 2 {
            due = next_after(last + period / 2);
        }
    }
    if !pending {
        tx.plan_reminder(
            scope,
            &PlannedRow {
                kind,
                due,
                deadline: due,
                note: String::new(),
            },
        )?;
    }
    Ok(())
}

/// How a sent spam summary notes the last event it could see.
const SUMMARY_SAW: &str = "events through ";

/// The summary of the suspect mail filed since the previous summary (or the day before
/// its moment): claimed, queued and the next one planned in one transaction. A day
/// without suspect mail sends nothing.
fn fire_spam_summary(
    (top, desk): (&Desk, &Desk),
    tx: &Tx<'_>,
    r: &ReminderRow,
    now: DateTime<Utc>,
    late: bool,
) -> store::Result<Option<Fired>> {
    if desk.config.spam.summary.is_none() {
        // Turned off since it was planned.
        tx.drop_reminder(r.id)?;
        return Ok(None);
    }
    let configured: Vec<String> = top.all().map(|d| d.key().to_string()).collect();
    let since = tx
        .last_sent_due(&desk.spam_scope(), &r.kind, r.due)?
        .unwrap_or(r.due - Duration::days(1));
    // The events the last summary could see: one committed after it but stamped before
    // its moment (a filing begun just before) is this one's.
    let seen = tx
        .last_sent_note(&desk.spam_scope(), &r.kind, r.due)?
        .and_then(|n| n.strip_prefix(SUMMARY_SAW)?.parse::<i64>().ok());
    let through = tx.max_event_id()?;
    let (total, rows) = tx.quarantined_between(
        (since, r.due, seen),
        (desk.key(), &configured),
        spam::SUMMARY_MAX_ROWS,
    )?;
    let fired = match spam::summary(&desk.ctx(now), total, &rows, since) {
        None => {
            tx.drop_reminder(r.id)?;
            None
        }
        Some(rendered) => {
            if !tx.claim_reminder(r.id, now, late)? {
                return Ok(Some(Fired::Taken));
            }
            tx.set_reminder_note(r.id, &format!("{SUMMARY_SAW}{through}"))?;
            desk.enqueue(
                tx,
                &Outgoing::new(
                    Purpose::Digest,
                    None,
                    desk.config.team.recipients(),
                    rendered,
                ),
                now,
            )?;
            Some(Fired::Sent {
                scope: r.scope.clone(),
                kind: r.kind.clone(),
                late,
            })
        }
    };
    if let Some(at) = desk.config.spam.summary {
        let due = deadlines::next_daily_at(&desk.config.calendar, at, now.max(r.due));
        tx.plan_reminder(
            &desk.spam_scope(),
            &PlannedRow {
                kind: ReminderKind::SpamSummary,
                due,
                deadline: due,
                note: String::new(),
            },
        )?;
    }
    Ok(fired)
}

/// Cancels the reminder row `id` that cannot be processed, and says so on its case;
/// whether that could be written.
fn set_aside(store: &mut Store, id: i64, scope: &str, why: &str, now: DateTime<Utc>) -> bool {
    tracing::error!(id, case = %scope, error = %why, "a reminder row cannot be processed; set aside, the others go on");
    let done = store.write(|tx| {
        tx.drop_reminder(id)?;
        if let Some(case) = CaseId::parse(scope)
            && crate::mail::threading::ThreadIndex::case_exists(tx, &case)?
        {
            tx.insert_event(
                &case,
                now,
                &NewEvent::new(
                    EventKind::DeliveryFailed,
                    DESK_ACTOR,
                    format!("a reminder could not be processed and was set aside: {why}"),
                ),
                None,
            )?;
        }
        Ok(())
    });
    if let Err(e) = &done {
        tracing::error!(id, error = %e, "the reminder could not be set aside either");
    }
    done.is_ok()
}

/// Plans the next digest if none is pending (and the config asks for one).
pub fn ensure_digest(desk: &Desk, tx: &Tx<'_>, now: DateTime<Utc>) -> store::Result<()> {
    let cal = &desk.config.calendar;
    let schedule = desk
        .config
        .policy
        .digest
        .map(|weekly| move |after| weekly.next_after(cal, after));
    ensure_recurring(
        tx,
        (
            &desk.digest_scope(),
            ReminderKind::Digest,
            Duration::days(7),
        ),
        schedule
            .as_ref()
            .map(|f| f as &dyn Fn(DateTime<Utc>) -> DateTime<Utc>),
        now,
    )
}

/// `desks`: the top level, and the desk whose business the reminder is.
/// Fires the due reminder `r`, as a pass listed it, in a transaction of its own.
pub fn fire_one(
    desk: &Desk,
    store: &mut Store,
    r: &ReminderRow,
    now: DateTime<Utc>,
) -> store::Result<Option<Fired>> {
    store.write(|tx| {
        // As it is now: its case may have moved (a new id) or moved on since the pass
        // listed it. Gone or no longer due, another write took care of it.
        let Some(r) = tx.pending_reminder(r.id)? else {
            return Ok(Some(Fired::Taken));
        };
        if r.due > now {
            return Ok(Some(Fired::Taken));
        }
        // Each reminder is the business of its desk (its case's, or the desk of a digest
        // or summary): that desk's team, calendar and addresses.
        fire((desk, desk.view_of_scope(tx, &r.scope)?), tx, &r, now)
    })
}

fn fire(
    (top, desk): (&Desk, &Desk),
    tx: &Tx<'_>,
    r: &ReminderRow,
    now: DateTime<Utc>,
) -> store::Result<Option<Fired>> {
    // The digest or daily summary of a desk that has left the configuration: its cases
    // are the top level's now, and in the top level's own (no second one to its team).
    let own_scope = if r.kind == ReminderKind::Digest.as_str() {
        Some(desk.digest_scope())
    } else if r.kind == ReminderKind::SpamSummary.as_str() {
        Some(desk.spam_scope())
    } else {
        None
    };
    if own_scope.is_some_and(|own| own != r.scope) {
        return drop_stale(tx, r).map(Some);
    }
    if r.kind == ReminderKind::SpamSummary.as_str() {
        return fire_spam_summary((top, desk), tx, r, now, now - r.due > LATE_AFTER);
    }
    fire_reminder((top, desk), tx, r, now).map(Some)
}

fn fire_reminder(
    (top, desk): (&Desk, &Desk),
    tx: &Tx<'_>,
    r: &ReminderRow,
    now: DateTime<Utc>,
) -> store::Result<Fired> {
    let late = now - r.due > LATE_AFTER;
    let Some(kind) = ReminderKind::parse(&r.kind) else {
        tracing::warn!(kind = %r.kind, "unknown reminder kind in the database; dropped");
        return drop_stale(tx, r);
    };
    if kind == ReminderKind::Digest {
        return fire_digest((top, desk), tx, r, now, late);
    }

    let Some(case) = CaseId::parse(&r.scope)
        .map(|id| tx.load_case(&id))
        .transpose()?
        .flatten()
    else {
        return drop_stale(tx, r);
    };
    if !still_relevant(desk, &case, kind, r) || overtaken(desk, &case, kind, now) {
        return drop_stale(tx, r);
    }
    if !tx.claim_reminder(r.id, now, late)? {
        return Ok(Fired::Taken);
    }
    send_case_reminder(desk, tx, &case, kind, r, now, late)?;
    plan_next_repeat(desk, tx, (r, &case), kind, now)?;
    Ok(Fired::Sent {
        scope: r.scope.clone(),
        kind: r.kind.clone(),
        late,
    })
}

/// A reminder that no longer applies (unknown kind, case gone, closed or moved on)
/// is dropped unsent.
fn drop_stale(tx: &Tx<'_>, r: &ReminderRow) -> store::Result<Fired> {
    tx.drop_reminder(r.id)?;
    Ok(Fired::Stale {
        scope: r.scope.clone(),
        kind: r.kind.clone(),
    })
}

/// The weekly digest: sent to the team, then planned for the next week.
fn fire_digest(
    (top, desk): (&Desk, &Desk),
    tx: &Tx<'_>,
    r: &ReminderRow,
    now: DateTime<Utc>,
    late: bool,
) -> store::Result<Fired> {
    if desk.config.policy.digest.is_none() {
        // Turned off since it was planned (the desk was down at its moment).
        return drop_stale(tx, r);
    }
    if !tx.claim_reminder(r.id, now, late)? {
        return Ok(Fired::Taken);
    }
    send_digest((top, desk), tx, now)?;
    if let Some(weekly) = desk.config.policy.digest {
        let due = weekly.next_after(&desk.config.calendar, now.max(r.due));
        tx.plan_reminder(
            &desk.digest_scope(),
            &PlannedRow {
                kind: ReminderKind::Digest,
                due,
                deadline: due,
                note: String::new(),
            },
        )?;
    }
    Ok(Fired::Sent {
        scope: r.scope.clone(),
        kind: r.kind.clone(),
        late,
    })
}

/// Whether an embargo reminder missed while the desk was down is overtaken: the embargo
/// is over (the overdue reminder speaks), or a nearer reminder is due as well and says
/// the days left better. Of the 14-, 7- and 1-day reminders missed until three days
/// before the end, only the 7-day one goes, saying "in 3 days".
fn overtaken(desk: &Desk, case: &Case, kind: ReminderKind, now: DateTime<Utc>) -> bool {
    let (ReminderKind::Embargo { offset_days }, Some(end)) = (kind, case.embargo_end) else {
        return false;
    };
    let left = (end - desk.config.calendar.local_date(now)).num_days();
    let offset = i64::from(offset_days);
    left < offset
        && (left < 0
            || desk
                .config
                .policy
                .embargo_reminders
                .iter()
                .map(|&m| i64::from(m))
                .any(|m| m < offset && m >= left))
}

/// The days an embargo has left, as a reminder says them.
fn days_left(left: i64) -> String {
    match left {
        ..=0 => "today".into(),
        1 => "tomorrow".into(),
        n => format!("in {n} days"),
    }
}

/// Whether a case reminder still applies: the case is open and the deadline it was
/// planned for is still the case's (first response, embargo end, fixed but unpublished).
fn still_relevant(desk: &Desk, case: &Case, kind: ReminderKind, r: &ReminderRow) -> bool {
    let cal = &desk.config.calendar;
    // The end date the row names, when it names one: its deadline instant is the
    // midnight of the zone it was planned in, which `calendar.timezone` may have changed.
    let embargo_matches = match deadlines::embargo_of_note(&r.note) {
        Some(end) => case.embargo_end == Some(end),
        None => case
            .embargo_end
            .is_some_and(|d| deadlines::embargo_end_instant(cal, d) == r.deadline),
    };
    case.is_open()
        && match kind {
            ReminderKind::FirstResponse => case.first_reply_at.is_none() && case.reporter.is_some(),
            ReminderKind::Embargo { .. } | ReminderKind::EmbargoOverdue => embargo_matches,
            // The `#fixed` its note names, where it names one: its deadline is the end
            // of a working day by a calendar that may have changed since.
            ReminderKind::FixedUnpublished => {
                case.status == CaseStatus::Fixed
                    && case
                        .fixed_at
                        .is_some_and(|f| match deadlines::fixed_of_note(&r.note) {
                            // Written to the second.
                            Some(noted) => (noted - f).abs() < Duration::seconds(1),
                            None => deadlines::fixed_publication_deadline(cal, f) == r.deadline,
                        })
            }
            ReminderKind::OneOff | ReminderKind::Digest | ReminderKind::SpamSummary => true,
        }
}

/// Mail a case reminder to the assignee (or the team) and note it on the case; when
/// it cannot be written, note that and alert the team instead.
fn send_case_reminder(
    desk: &Desk,
    tx: &Tx<'_>,
    case: &Case,
    kind: ReminderKind,
    r: &ReminderRow,
    now: DateTime<Utc>,
    late: bool,
) -> store::Result<()> {
    let rendered = render(desk, case, &kind, r, now, late);
    // The responder while they are on the case's team; one who has left it hears
    // nothing more of the case, and the team hears of it instead.
    let to = match &case.assignee {
        Some(a) if desk.config.team.is_member(a) => vec![a.clone()],
        _ => desk.config.team.recipients(),
    };
    match rendered {
        Ok(rendered) => {
            let out = Outgoing::new(
                Purpose::Reminder,
                Some(case.id.clone()),
                to.clone(),
                rendered,
            )
            .reply_to(desk.config.desk.plus_address(&case.id.plus_tag()))
            .threaded((None, vec![case.root_message_id.clone()]));
            desk.enqueue(tx, &out, now)?;
            let detail = format!(
                "{} reminder sent to {}{}",
                r.kind,
                to.join(", "),
                if late {
                    " (late: the desk was not running when it was due)"
                } else {
                    ""
                }
            );
            tx.insert_event(
                &case.id,
                now,
                &NewEvent::new(EventKind::Reminder, DESK_ACTOR, detail),
                None,
            )?;
        }
        Err(e) => {
            let ev = NewEvent::new(
                EventKind::DeliveryFailed,
                DESK_ACTOR,
                format!("could not write the {} reminder: {e}", r.kind),
            );
            tx.insert_event(&case.id, now, &ev, None)?;
            let what = format!("{} reminder", r.kind);
            let alert = crate::desk::plain_alert(&desk.ctx(now), Some(&case.id), &what, &e);
            desk.enqueue(tx, &alert, now)?;
        }
    }
    Ok(())
}

/// Plan the next occurrence of a repeating reminder.
fn plan_next_repeat(
    desk: &Desk,
    tx: &Tx<'_>,
    (r, case): (&ReminderRow, &Case),
    kind: ReminderKind,
    now: DateTime<Utc>,
) -> store::Result<()> {
    let cal = &desk.config.calendar;
    // After a long outage, skip the occurrences already past instead of sending a burst
    // of them.
    if let Some(mut next) = deadlines::next_repeat(cal, &kind, r.due) {
        for _ in 0..400 {
            if next > now {
                break;
            }
            match deadlines::next_repeat(cal, &kind, next) {
                Some(n) => next = n,
                None => break,
            }
        }
        // The note the re-planning writes for the case now, not the row's own: a row
        // from an older version, noted otherwise, would make a second chain beside the
        // one re-planned at the start (the same moment, another note), each reminder
        // sent twice a day.
        let note = match (&kind, case.embargo_end, case.fixed_at) {
            (ReminderKind::EmbargoOverdue, Some(end), _) => deadlines::embargo_note(end),
            (ReminderKind::FixedUnpublished, _, Some(fixed)) => deadlines::fixed_note(fixed),
            _ => r.note.clone(),
        };
        tx.plan_reminder(
            &r.scope,
            &PlannedRow {
                kind,
                due: next,
                deadline: r.deadline,
                note,
            },
        )?;
    }
    Ok(())
}

fn render(
    desk: &Desk,
    case: &Case,
    kind: &ReminderKind,
    r: &ReminderRow,
    now: DateTime<Utc>,
    late: bool,
) -> Result<Rendered, templates::TemplateError> {
    let cal = &desk.config.calendar;
    let t = &desk.templates;
    let (case_id, subject) = (case.id.to_string(), case.subject.clone());
    // An embargo's end told as it is now (the row may have been planned in another zone).
    let deadline = match (kind, case.embargo_end) {
        (ReminderKind::Embargo { .. } | ReminderKind::EmbargoOverdue, Some(end)) => {
            deadlines::embargo_end_instant(cal, end)
        }
        _ => r.deadline,
    };
    let (deadline, due) = (cal.format_instant(deadline), cal.format_instant(r.due));
    match kind {
        ReminderKind::FirstResponse => t.render(&templates::ReminderFirstResponse {
            case_id,
            subject,
            deadline,
            waited: cal.working_days_between(case.opened_at, now),
            late,
            due,
            assignee: case.assignee.clone(),
        }),
        ReminderKind::Embargo { offset_days } => t.render(&templates::ReminderEmbargo {
            case_id,
            subject,
            deadline,
            // The days truly left: a reminder sent late says fewer than it was planned for.
            when: days_left(
                case.embargo_end
                    .map(|e| (e - cal.local_date(now)).num_days())
                    .map_or(i64::from(*offset_days), |left| {
                        left.min(i64::from(*offset_days))
                    }),
            ),
            late,
            due,
            status: case.status.to_string(),
            fixed_in: case.fixed_in.clone(),
            assignee: case.assignee.clone(),
        }),
        ReminderKind::EmbargoOverdue => t.render(&templates::ReminderEmbargoOverdue {
            case_id,
            subject,
            deadline,
            days_over: case
                .embargo_end
                .map(|e| (cal.local_date(now) - e).num_days().max(0) as u32)
                .unwrap_or(0),
            late,
            due,
            status: case.status.to_string(),
            assignee: case.assignee.clone(),
        }),
        ReminderKind::FixedUnpublished => t.render(&templates::ReminderFixedUnpublished {
            case_id,
            subject,
            deadline,
            fixed: case
                .fixed_at
                .map(|f| cal.format_instant(f))
                .unwrap_or_default(),
            fixed_in: case.fixed_in.clone(),
            late,
            due,
            assignee: case.assignee.clone(),
        }),
        ReminderKind::OneOff | ReminderKind::Digest | ReminderKind::SpamSummary => {
            t.render(&templates::ReminderOneOff {
                case_id,
                subject,
                deadline,
                note: r.note.clone(),
                late,
                due,
            })
        }
    }
}

/// The next deadline of an open case: the soonest of the first answer (while still
/// owed), the advisory of a fixed case and the embargo's end. A case filed from the past
/// (`present` false: history, an import; the desk plans it no reminder) has none the
/// desk keeps: an archive's old threads are not years overdue.
pub fn next_deadline(
    desk: &Desk,
    c: &Case,
    present: bool,
) -> Option<(DateTime<Utc>, DeadlineKind)> {
    if !present {
        return None;
    }
    let cal = &desk.config.calendar;
    let first = first_answer_due(desk, c).map(|t| (t, DeadlineKind::FirstAnswer));
    let publication = publication_due(desk, c).map(|t| (t, DeadlineKind::Publication));
    let embargo = c.embargo_end.map(|d| {
        (
            deadlines::embargo_end_instant(cal, d),
            DeadlineKind::EmbargoEnd,
        )
    });
    // The first of the soonest: an earlier kind wins a tie.
    [first, publication, embargo]
        .into_iter()
        .flatten()
        .reduce(|a, b| if b.0 < a.0 { b } else { a })
}

/// When a fixed case's advisory is due (the end of the release's working day, as the
/// reminder counts it), while it is fixed and not published.
pub fn publication_due(desk: &Desk, c: &Case) -> Option<DateTime<Utc>> {
    match (c.status, c.fixed_at) {
        (CaseStatus::Fixed, Some(fixed)) => Some(deadlines::fixed_publication_deadline(
            &desk.config.calendar,
            fixed,
        )),
        _ => None,
    }
}

/// When the reporter must hear from a person, while nobody has answered yet.
pub fn first_answer_due(desk: &Desk, c: &Case) -> Option<DateTime<Utc>> {
    (c.first_reply_at.is_none() && c.reporter.is_some()).then(|| {
        let times = CaseTimes {
            reported_at: c.opened_at,
            first_reply_at: None,
            embargo_end: c.embargo_end,
            open: true,
            fixed_at: None,
        };
        deadlines::first_response_deadline(&desk.config.calendar, &desk.policy(), &times)
    })
}

/// The most rows a digest's table lists: an imported archive's open threads by the
/// hundred thousand made a mail no relay takes. The rest are counted.
pub const DIGEST_MAX_ROWS: usize = 200;

/// The digest table of open cases, each with whether the desk plans it reminders (a
/// case of the present), those first; at most [`DIGEST_MAX_ROWS`], then a line counting
/// the others.
pub fn digest_table(desk: &Desk, cases: &[(Case, bool)], now: DateTime<Utc>) -> String {
    let cal = &desk.config.calendar;
    let ordered = cases
        .iter()
        .filter(|(_, present)| *present)
        .chain(cases.iter().filter(|(_, present)| !*present));
    let rows: Vec<Vec<String>> = ordered
        .take(DIGEST_MAX_ROWS)
        .map(|(c, present)| {
            let waiting_since = c.last_reply_at.unwrap_or(c.opened_at);
            vec![
                c.id.to_string(),
                c.assignee
                    .clone()
                    .map(|a| a.split('@').next().unwrap_or("").to_string())
                    .unwrap_or_else(|| "-".into()),
                c.status.to_string(),
                c.severity
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "-".into()),
                next_deadline(desk, c, *present)
                    .map(|(t, what)| {
                        format!(
                            "{} {}",
                            what.label(),
                            t.with_timezone(&cal.tz()).format("%Y-%m-%d %H:%M")
                        )
                    })
                    .unwrap_or_else(|| "-".into()),
                format!("{}d", (now - waiting_since).num_days().max(0)),
                c.subject.chars().take(40).collect(),
            ]
        })
        .collect();
    let mut table = report::table(
        &[
            "CASE",
            "OWNER",
            "STATUS",
            "SEVERITY",
            "NEXT DEADLINE",
            "WAITING",
            "SUBJECT",
        ],
        &rows,
    );
    let more = cases.len().saturating_sub(rows.len());
    if more > 0 {
        table.push_str(&format!(
            "... and {more} more open case{} (those filed from the past come last): `secdesk cases --open` lists them all.\n",
            if more == 1 { "" } else { "s" }
        ));
    }
    table
}

/// The open cases of `desk` (those of a desk the configuration no longer has are the top
/// level's, as their reminders and mail are).
fn send_digest((top, desk): (&Desk, &Desk), tx: &Tx<'_>, now: DateTime<Utc>) -> store::Result<()> {
    let present: BTreeSet<CaseId> = tx.planned_cases()?.into_iter().map(|s| s.case.id).collect();
    let cases: Vec<(Case, bool)> = tx
        .list_cases(true)?
        .into_iter()
        .filter(|s| top.view(&s.desk).key() == desk.key())
        .map(|s| {
            let planned = present.contains(&s.case.id);
            (s.case, planned)
        })
        .collect();
    let cal = &desk.config.calendar;
    let rendered = desk.templates.render(&templates::Digest {
        desk_name: desk.config.desk.name.clone(),
        today: cal.format_date(cal.local_date(now)),
        open_count: cases.len(),
        table: digest_table(desk, &cases, now),
        timezone: cal.tz().name().to_string(),
    });
    match rendered {
        Ok(r) => desk.enqueue(
            tx,
            &Outgoing::new(Purpose::Digest, None, desk.config.team.recipients(), r),
            now,
        ),
        Err(e) => {
            tracing::error!(error = %e, "the digest template failed; no digest this week");
            let alert = crate::desk::plain_alert(&desk.ctx(now), None, "weekly digest", &e);
            desk.enqueue(tx, &alert, now)
        }
    }
}
