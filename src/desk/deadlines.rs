//! Pure planning of a case's reminders: given the team calendar, the policy and what is
//! known of a case (when it was reported, first answered, its embargo end), which reminders
//! are due next and about which deadline. The store persists what `plan` returns and the
//! scheduler asks `next_repeat` after sending a repeating one.
//!
//! Never does I/O, never reads the clock (`after` / `sent_due` are the "now"), never panics.
//! Instants are UTC; the calendar decides what "09:00 local" and "a working day" mean.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};

use crate::desk::calendar::{Calendar, parse_duration_days};

/// Which deadline an open case is waiting for (`scheduler::next_deadline`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineKind {
    /// The reporter must hear from a person.
    FirstAnswer,
    /// The embargo ends.
    EmbargoEnd,
    /// A fixed case's advisory is due: the end of the release's working day.
    Publication,
}

impl DeadlineKind {
    /// How the digest and the calendar name it.
    pub fn label(self) -> &'static str {
        match self {
            DeadlineKind::FirstAnswer => "first answer",
            DeadlineKind::EmbargoEnd => "embargo end",
            DeadlineKind::Publication => "publication",
        }
    }
}

/// What a reminder is about. Its text form (`as_str`) is what the store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReminderKind {
    /// Nobody has answered the reporter yet: at the deadline, then each working day.
    FirstResponse,
    /// `offset_days` calendar days before the embargo end (0 = on the end date).
    Embargo { offset_days: u32 },
    /// The embargo is over and the case is neither published nor closed: daily.
    EmbargoOverdue,
    /// `#fixed` (the fixed release is out) and not published by the end of that working
    /// day: then at each working-day start until published or closed.
    FixedUnpublished,
    /// A `#remind` command.
    OneOff,
    /// The weekly digest.
    Digest,
    /// The daily summary of suspect mail.
    SpamSummary,
}

impl ReminderKind {
    /// `first-response`, `embargo-14d`, `embargo-0d`, `embargo-overdue`, `one-off`, `digest`.
    pub fn as_str(&self) -> String {
        match self {
            ReminderKind::FirstResponse => "first-response".to_string(),
            ReminderKind::Embargo { offset_days } => format!("embargo-{offset_days}d"),
            ReminderKind::EmbargoOverdue => "embargo-overdue".to_string(),
            ReminderKind::FixedUnpublished => "fixed-unpublished".to_string(),
            ReminderKind::OneOff => "one-off".to_string(),
            ReminderKind::Digest => "digest".to_string(),
            ReminderKind::SpamSummary => "spam-summary".to_string(),
        }
    }

    /// The inverse of [`ReminderKind::as_str`]; exact text only.
    pub fn parse(s: &str) -> Option<ReminderKind> {
        match s {
            "first-response" => Some(ReminderKind::FirstResponse),
            "embargo-overdue" => Some(ReminderKind::EmbargoOverdue),
            "fixed-unpublished" => Some(ReminderKind::FixedUnpublished),
            "one-off" => Some(ReminderKind::OneOff),
            "digest" => Some(ReminderKind::Digest),
            "spam-summary" => Some(ReminderKind::SpamSummary),
            _ => {
                let n = s.strip_prefix("embargo-")?.strip_suffix('d')?;
                // Digits only: `u32::from_str` would also take "+7".
                if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                Some(ReminderKind::Embargo {
                    offset_days: n.parse().ok()?,
                })
            }
        }
    }

    /// Whether a sent reminder of this kind is followed by another ([`next_repeat`]).
    pub fn repeats(&self) -> bool {
        matches!(
            self,
            ReminderKind::FirstResponse
                | ReminderKind::EmbargoOverdue
                | ReminderKind::FixedUnpublished
        )
    }
}

impl fmt::Display for ReminderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

/// One reminder to send at `due`, about the deadline `deadline`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub kind: ReminderKind,
    pub due: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
}

/// What planning needs to know of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseTimes {
    pub reported_at: DateTime<Utc>,
    /// The first message a team member sent to the reporter, if any.
    pub first_reply_at: Option<DateTime<Utc>>,
    /// The local date from which the embargo is over.
    pub embargo_end: Option<NaiveDate>,
    /// False once published or closed.
    pub open: bool,
    /// When `#fixed` said the fixed release is out, while the case waits to be published.
    pub fixed_at: Option<DateTime<Utc>>,
}

/// The reminder policy from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Working days allowed for the first response (default 3).
    pub first_response_days: u32,
    /// Calendar days before the embargo end (default 14, 7, 1, 0).
    pub embargo_offsets: Vec<u32>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            first_response_days: 3,
            embargo_offsets: vec![14, 7, 1, 0],
        }
    }
}

impl Policy {
    /// Builds a policy from the config strings (`"3 working days"`, `["14 days", ...]`);
    /// `Err` names the first value that does not parse.
    pub fn from_config(first_response: &str, offsets: &[String]) -> Result<Policy, String> {
        let first_response_days = crate::desk::calendar::parse_working_days(first_response)
            .ok_or_else(|| {
                format!(
                    "`{first_response}` is not a number of working days (e.g. \"3 working days\")"
                )
            })?;
        let embargo_offsets = offsets
            .iter()
            .map(|o| {
                parse_duration_days(o)
                    .ok_or_else(|| format!("`{o}` is not a number of days (e.g. \"7 days\")"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Policy {
            first_response_days,
            embargo_offsets,
        })
    }
}

/// End of working hours on the `first_response_days`-th working day after the report's
/// local date (see [`Calendar::working_days_after`]).
pub fn first_response_deadline(cal: &Calendar, policy: &Policy, c: &CaseTimes) -> DateTime<Utc> {
    cal.working_days_after(c.reported_at, policy.first_response_days)
}

/// The embargo is over from 00:00 local of its end date.
pub fn embargo_end_instant(cal: &Calendar, d: NaiveDate) -> DateTime<Utc> {
    cal.at_local(d, NaiveTime::MIN)
}

/// The note an embargo reminder is planned with: the end date it is for. The row's
/// deadline is that date's midnight in the zone of the day it was planned, so after a
/// change of `calendar.timezone` only the date still tells whether the reminder is the
/// case's (see [`embargo_of_note`]).
pub fn embargo_note(end: NaiveDate) -> String {
    format!("embargo ends {end}")
}

/// The end date an embargo reminder's note names; `None` for a row planned before
/// reminders carried it (its deadline instant is all there is).
pub fn embargo_of_note(note: &str) -> Option<NaiveDate> {
    note.strip_prefix("embargo ends ")?.parse().ok()
}

/// The note of a fixed-but-unpublished reminder: the moment of the `#fixed` it is about,
/// so that the reminder stays the case's when the calendar that made its deadline
/// changes (a time zone, working hours at a restart).
pub fn fixed_note(fixed_at: DateTime<Utc>) -> String {
    format!(
        "fixed at {}",
        fixed_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

/// The `#fixed` moment a fixed-but-unpublished reminder's note names; `None` for a row
/// planned before reminders carried it.
pub fn fixed_of_note(note: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(note.strip_prefix("fixed at ")?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// When a one-off `#remind` for date `d` is due: the start of working hours that day
/// (even on a weekend: the person asked for that date).
pub fn one_off_due(cal: &Calendar, d: NaiveDate) -> DateTime<Utc> {
    cal.at_local(d, cal.work_start())
}

/// The first day start (work start, every calendar day) strictly after `after`, on or after
/// date `from`. Overdue embargoes are reminded daily, weekends included: embargoes don't wait.
fn next_daily_start(
    cal: &Calendar,
    from: NaiveDate,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let today = cal.local_date(after);
    let mut d = from.max(today.pred_opt().unwrap_or(today));
    // A few days at most: the start of day `today + 1` is always after `after`, except
    // across a very long gap; 4 is ample.
    for _ in 0..4 {
        let s = cal.at_local(d, cal.work_start());
        if s > after {
            return Some(s);
        }
        d = d.succ_opt()?;
    }
    None
}

/// Every reminder of the case due strictly after `after`: for the repeating kinds
/// (FirstResponse, EmbargoOverdue) only the next occurrence, for Embargo every remaining
/// offset. Nothing for a closed/published case; no FirstResponse once someone answered; no
/// embargo reminders without an embargo end. Sorted by `due` (ties: FirstResponse, then
/// embargo offsets from largest to smallest, then EmbargoOverdue). OneOff and Digest are not
/// case-planned: see [`one_off_due`] and `WeeklyAt::next_after`.
pub fn plan(cal: &Calendar, policy: &Policy, c: &CaseTimes, after: DateTime<Utc>) -> Vec<Planned> {
    let mut out = Vec::new();
    if !c.open {
        return out;
    }
    if c.first_reply_at.is_none() {
        let deadline = first_response_deadline(cal, policy, c);
        // First reminder at the deadline itself, then at each following working-day start.
        let due = if deadline > after {
            deadline
        } else {
            cal.next_working_day_start(after)
        };
        out.push(Planned {
            kind: ReminderKind::FirstResponse,
            due,
            deadline,
        });
    }
    if let Some(end) = c.embargo_end {
        let deadline = embargo_end_instant(cal, end);
        // Duplicated offsets in the config would give duplicate reminders: keep each once.
        let offsets: BTreeSet<u32> = policy.embargo_offsets.iter().copied().collect();
        for &offset_days in offsets.iter().rev() {
            let Some(day) = end.checked_sub_days(Days::new(u64::from(offset_days))) else {
                continue;
            };
            let due = cal.at_local(day, cal.work_start());
            if due > after {
                out.push(Planned {
                    kind: ReminderKind::Embargo { offset_days },
                    due,
                    deadline,
                });
            }
        }
        // Overdue reminders start the day after the end date: the end date itself is the
        // "0 days" reminder's.
        if let Some(first_day) = end.succ_opt()
            && let Some(due) = next_daily_start(cal, first_day, after)
        {
            out.push(Planned {
                kind: ReminderKind::EmbargoOverdue,
                due,
                deadline,
            });
        }
    }
    if let Some(fixed) = c.fixed_at {
        let deadline = fixed_publication_deadline(cal, fixed);
        let due = if deadline > after {
            deadline
        } else {
            cal.next_working_day_start(after)
        };
        out.push(Planned {
            kind: ReminderKind::FixedUnpublished,
            due,
            deadline,
        });
    }
    out.sort_by_key(|p| p.due);
    out
}

/// A fixed case should be published by the end of the working day of the release (or
/// the first working day after it).
pub fn fixed_publication_deadline(cal: &Calendar, fixed_at: DateTime<Utc>) -> DateTime<Utc> {
    cal.working_days_after(fixed_at, 0)
}

/// The next occurrence of a repeating reminder after one was due at `sent_due`:
/// FirstResponse at the next working-day start, EmbargoOverdue at the next day's start.
/// `None` for the one-shot kinds; the digest's next one comes from `WeeklyAt::next_after`.
pub fn next_repeat(
    cal: &Calendar,
    kind: &ReminderKind,
    sent_due: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    match kind {
        ReminderKind::FirstResponse | ReminderKind::FixedUnpublished => {
            Some(cal.next_working_day_start(sent_due))
        }
        ReminderKind::EmbargoOverdue => next_daily_start(cal, cal.local_date(sent_due), sent_due),
        ReminderKind::Embargo { .. }
        | ReminderKind::OneOff
        | ReminderKind::Digest
        | ReminderKind::SpamSummary => None,
    }
}

/// The next moment strictly after `after` at local time `at`, any day (the daily spam
/// summary: a daily rhythm, holidays and weekends included).
pub fn next_daily_at(cal: &Calendar, at: NaiveTime, after: DateTime<Utc>) -> DateTime<Utc> {
    cal.next_local_time(after, at, 4, |_| true)
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::desk::calendar::tests::paris;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn case() -> CaseTimes {
        CaseTimes {
            reported_at: utc("2026-12-18T14:00:00Z"), // Fri 15:00 CET
            first_reply_at: None,
            embargo_end: None,
            open: true,
            fixed_at: None,
        }
    }

    /// `(kind, due, deadline)` triples, easier to read in a table.
    fn plan_of(c: &CaseTimes, after: &str) -> Vec<(String, DateTime<Utc>, DateTime<Utc>)> {
        plan(&paris(), &Policy::default(), c, utc(after))
            .into_iter()
            .map(|p| (p.kind.as_str(), p.due, p.deadline))
            .collect()
    }

    fn row(kind: &str, due: &str, deadline: &str) -> (String, DateTime<Utc>, DateTime<Utc>) {
        (kind.to_string(), utc(due), utc(deadline))
    }

    #[test]
    fn new_report_plans_first_response() {
        let c = case();
        let fr = "2026-12-23T16:00:00Z"; // Wed 17:00 CET
        assert_eq!(
            plan_of(&c, "2026-12-18T14:00:00Z"),
            vec![row("first-response", fr, fr)]
        );
        assert_eq!(
            plan_of(&c, "2026-12-23T15:59:59Z"),
            vec![row("first-response", fr, fr)]
        );
        // Deadline passed: next working-day start (24, 25 are holidays).
        assert_eq!(
            plan_of(&c, "2026-12-23T16:00:00Z"),
            vec![row("first-response", "2026-12-28T08:00:00Z", fr)]
        );
        assert_eq!(
            plan_of(&c, "2026-12-28T08:00:00Z"),
            vec![row("first-response", "2026-12-29T08:00:00Z", fr)]
        );
        assert_eq!(
            first_response_deadline(
                &paris(),
                &Policy {
                    first_response_days: 1,
                    embargo_offsets: vec![]
                },
                &c
            ),
            utc("2026-12-21T16:00:00Z")
        );
    }

    #[test]
    fn answered_or_closed_cases() {
        let mut c = case();
        c.first_reply_at = Some(utc("2026-12-21T10:00:00Z"));
        assert_eq!(plan_of(&c, "2026-12-21T10:00:00Z"), vec![]);
        let mut closed = case();
        closed.embargo_end = Some(date("2027-03-01"));
        closed.open = false;
        assert_eq!(plan_of(&closed, "2026-12-18T14:00:00Z"), vec![]);
    }

    #[test]
    fn embargo_reminders() {
        let mut c = case();
        c.first_reply_at = Some(utc("2026-12-21T10:00:00Z"));
        c.embargo_end = Some(date("2027-03-01")); // Monday
        let end = "2027-02-28T23:00:00Z"; // 1 Mar 00:00 CET
        assert_eq!(embargo_end_instant(&paris(), date("2027-03-01")), utc(end));
        assert_eq!(
            plan_of(&c, "2026-12-21T10:00:00Z"),
            vec![
                row("embargo-14d", "2027-02-15T08:00:00Z", end),
                row("embargo-7d", "2027-02-22T08:00:00Z", end),
                row("embargo-1d", "2027-02-28T08:00:00Z", end), // a Sunday: intended
                row("embargo-0d", "2027-03-01T08:00:00Z", end),
                row("embargo-overdue", "2027-03-02T08:00:00Z", end),
            ]
        );
        // Exactly at the 7-day reminder: it is no longer "after".
        assert_eq!(
            plan_of(&c, "2027-02-22T08:00:00Z"),
            vec![
                row("embargo-1d", "2027-02-28T08:00:00Z", end),
                row("embargo-0d", "2027-03-01T08:00:00Z", end),
                row("embargo-overdue", "2027-03-02T08:00:00Z", end),
            ]
        );
        // Long after the end: only the next overdue one.
        assert_eq!(
            plan_of(&c, "2027-03-10T12:00:00Z"),
            vec![row("embargo-overdue", "2027-03-11T08:00:00Z", end)]
        );
        assert_eq!(
            plan_of(&c, "2027-03-10T07:00:00Z"),
            vec![row("embargo-overdue", "2027-03-10T08:00:00Z", end)]
        );

        // Embargo moved to Thu 1 Apr 2027: the reminders cross the 28 Mar DST change.
        c.embargo_end = Some(date("2027-04-01"));
        let end = "2027-03-31T22:00:00Z"; // 1 Apr 00:00 CEST
        assert_eq!(
            plan_of(&c, "2027-02-22T08:00:00Z"),
            vec![
                row("embargo-14d", "2027-03-18T08:00:00Z", end),
                row("embargo-7d", "2027-03-25T08:00:00Z", end),
                row("embargo-1d", "2027-03-31T07:00:00Z", end),
                row("embargo-0d", "2027-04-01T07:00:00Z", end),
                row("embargo-overdue", "2027-04-02T07:00:00Z", end),
            ]
        );
    }

    #[test]
    fn whole_life_of_an_unanswered_embargoed_case() {
        let mut c = case();
        c.embargo_end = Some(date("2027-01-04"));
        let fr = "2026-12-23T16:00:00Z";
        let end = "2027-01-03T23:00:00Z";
        assert_eq!(
            plan_of(&c, "2026-12-18T14:00:00Z"),
            vec![
                row("embargo-14d", "2026-12-21T08:00:00Z", end),
                row("first-response", fr, fr),
                row("embargo-7d", "2026-12-28T08:00:00Z", end),
                row("embargo-1d", "2027-01-03T08:00:00Z", end),
                row("embargo-0d", "2027-01-04T08:00:00Z", end),
                row("embargo-overdue", "2027-01-05T08:00:00Z", end),
            ]
        );
        // Ties keep a fixed order: first-response before embargo ones at the same instant.
        assert_eq!(
            plan_of(&c, "2026-12-27T12:00:00Z"),
            vec![
                row("first-response", "2026-12-28T08:00:00Z", fr),
                row("embargo-7d", "2026-12-28T08:00:00Z", end),
                row("embargo-1d", "2027-01-03T08:00:00Z", end),
                row("embargo-0d", "2027-01-04T08:00:00Z", end),
                row("embargo-overdue", "2027-01-05T08:00:00Z", end),
            ]
        );
        // Duplicate and unordered offsets: each reminder once.
        let policy = Policy {
            first_response_days: 3,
            embargo_offsets: vec![0, 7, 7, 0],
        };
        let kinds: Vec<String> = plan(&paris(), &policy, &c, utc("2026-12-18T14:00:00Z"))
            .iter()
            .map(|p| p.kind.as_str())
            .collect();
        assert_eq!(
            kinds,
            [
                "first-response",
                "embargo-7d",
                "embargo-0d",
                "embargo-overdue"
            ]
        );
    }

    #[test]
    fn repeats() {
        let cal = paris();
        let check = |kind: ReminderKind, sent: &str, expected: Option<&str>| {
            assert_eq!(
                next_repeat(&cal, &kind, utc(sent)),
                expected.map(utc),
                "{kind} {sent}"
            );
        };
        use ReminderKind::*;
        check(
            FirstResponse,
            "2026-12-23T16:00:00Z",
            Some("2026-12-28T08:00:00Z"),
        );
        check(
            FirstResponse,
            "2026-12-28T08:00:00Z",
            Some("2026-12-29T08:00:00Z"),
        );
        check(
            FirstResponse,
            "2027-03-26T08:00:00Z",
            Some("2027-03-30T07:00:00Z"),
        );
        check(
            EmbargoOverdue,
            "2027-03-02T08:00:00Z",
            Some("2027-03-03T08:00:00Z"),
        );
        check(
            EmbargoOverdue,
            "2027-03-27T08:00:00Z",
            Some("2027-03-28T07:00:00Z"),
        ); // Sat → Sun, DST
        check(
            EmbargoOverdue,
            "2026-12-24T08:00:00Z",
            Some("2026-12-25T08:00:00Z"),
        ); // holidays too
        check(Embargo { offset_days: 7 }, "2027-02-22T08:00:00Z", None);
        check(OneOff, "2027-02-22T08:00:00Z", None);
        check(Digest, "2027-02-22T08:00:00Z", None);
        assert!(FirstResponse.repeats() && EmbargoOverdue.repeats() && !Digest.repeats());
    }

    #[test]
    fn kind_text_round_trips() {
        use ReminderKind::*;
        for (kind, text) in [
            (FirstResponse, "first-response"),
            (Embargo { offset_days: 14 }, "embargo-14d"),
            (Embargo { offset_days: 0 }, "embargo-0d"),
            (EmbargoOverdue, "embargo-overdue"),
            (OneOff, "one-off"),
            (Digest, "digest"),
            (SpamSummary, "spam-summary"),
        ] {
            assert_eq!(kind.as_str(), text);
            assert_eq!(ReminderKind::parse(text), Some(kind));
        }
        for bad in [
            "",
            "embargo-",
            "embargo-d",
            "embargo-+7d",
            "embargo-7",
            "embargo-99999999999d",
            "First-Response",
            "embargo-overdued",
        ] {
            assert_eq!(ReminderKind::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn one_off_and_policy_config() {
        assert_eq!(
            one_off_due(&paris(), date("2027-01-10")),
            utc("2027-01-10T08:00:00Z")
        );
        let offsets: Vec<String> = ["14 days", "7 days", "1 day", "0 days"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            Policy::from_config("3 working days", &offsets),
            Ok(Policy::default())
        );
        assert!(Policy::from_config("3 days", &offsets).is_err());
        assert_eq!(
            Policy::from_config("2 working days", &["a week".to_string()]),
            Err("`a week` is not a number of days (e.g. \"7 days\")".to_string())
        );
    }
}
