//! The team calendar: which local days are working days, when working hours start and
//! end, and how local wall-clock times map to UTC instants. Also the small parsers for the
//! `[calendar]` configuration (weekdays, working hours, "Mon 09:00", "14 days", ...) and the
//! human formatting of instants ("Wed 23 Dec 2026, 17:00 CET (Europe/Paris)").
//!
//! Everything here is pure: no I/O, no clock reads (the current time is always a
//! parameter), no panics on any input. Instants go in and out as `DateTime<Utc>`; the time
//! zone is only used to decide local dates/hours and to format text a person reads.
//! DST rule: a local time in a spring-forward gap moves forward to the first valid instant;
//! an ambiguous local time (fall-back overlap) takes the earlier instant.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use chrono::{
    DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone,
    Utc, Weekday,
};
use chrono_tz::Tz;

/// The working hours used when the configuration does not say.
pub const DEFAULT_WORKING_HOURS: &str = "09:00-17:00";

/// Why a calendar configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("the calendar has no working day")]
    NoWorkingDay,
    #[error("working hours must start before they end (got {}-{})", .start.format("%H:%M"), .end.format("%H:%M"))]
    EmptyWorkingHours { start: NaiveTime, end: NaiveTime },
}

/// The team calendar. Built once from the configuration; all queries are pure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    tz: Tz,
    /// Bit `n` set = the weekday with `num_days_from_monday() == n` is a working day.
    /// A bit mask rather than a set: `Weekday` is not `Ord`, and counting days over long
    /// ranges needs the number of working weekdays per week.
    working_mask: u8,
    holidays: BTreeSet<NaiveDate>,
    work_start: NaiveTime,
    work_end: NaiveTime,
}

fn weekday_bit(w: Weekday) -> u8 {
    1u8 << w.num_days_from_monday()
}

impl Calendar {
    /// Fails when no weekday is a working day (every search for "the next working day"
    /// would be endless) or when working hours are empty or reversed.
    pub fn new(
        tz: Tz,
        working_days: &[Weekday],
        holidays: impl IntoIterator<Item = NaiveDate>,
        work_start: NaiveTime,
        work_end: NaiveTime,
    ) -> Result<Calendar, CalendarError> {
        let working_mask = working_days.iter().fold(0u8, |m, w| m | weekday_bit(*w));
        if working_mask == 0 {
            return Err(CalendarError::NoWorkingDay);
        }
        if work_start >= work_end {
            return Err(CalendarError::EmptyWorkingHours {
                start: work_start,
                end: work_end,
            });
        }
        Ok(Calendar {
            tz,
            working_mask,
            holidays: holidays.into_iter().collect(),
            work_start,
            work_end,
        })
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }

    pub fn work_start(&self) -> NaiveTime {
        self.work_start
    }

    pub fn work_end(&self) -> NaiveTime {
        self.work_end
    }

    fn is_working_weekday(&self, w: Weekday) -> bool {
        self.working_mask & weekday_bit(w) != 0
    }

    /// A configured working weekday that is not a holiday.
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        self.is_working_weekday(d.weekday()) && !self.holidays.contains(&d)
    }

    /// Upper bound on consecutive non-working days: at least one weekday in seven works,
    /// and each holiday takes away at most one working day, after which the next is up to
    /// a week later (a team working Mondays only loses a week to a Monday holiday). Bounds
    /// every search loop.
    fn search_limit(&self) -> usize {
        self.holidays
            .len()
            .saturating_add(1)
            .saturating_mul(7)
            .saturating_add(1)
    }

    /// The first working day strictly after `d`; `None` only at the end of chrono's range.
    fn next_working_date(&self, d: NaiveDate) -> Option<NaiveDate> {
        let mut cur = d;
        for _ in 0..self.search_limit() {
            cur = cur.succ_opt()?;
            if self.is_working_day(cur) {
                return Some(cur);
            }
        }
        None
    }

    /// The date on the team's wall calendar at instant `t`.
    pub fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        // Only at the very ends of chrono's range is there no local date; the UTC one is
        // then the nearest answer.
        self.local_naive(t)
            .map_or_else(|| t.naive_utc().date(), |n| n.date())
    }

    /// The wall-clock time at `t`. Not `with_timezone(..).naive_local()`: that panics when
    /// the offset pushes an extreme instant out of chrono's range.
    fn local_naive(&self, t: DateTime<Utc>) -> Option<NaiveDateTime> {
        let offset = self.tz.offset_from_utc_datetime(&t.naive_utc()).fix();
        t.naive_utc().checked_add_offset(offset)
    }

    /// The instant the team's clocks show `t` on day `d`, with the DST rules of this module.
    pub fn at_local(&self, d: NaiveDate, t: NaiveTime) -> DateTime<Utc> {
        let naive = d.and_time(t);
        match self.tz.from_local_datetime(&naive) {
            LocalResult::Single(x) => x.with_timezone(&Utc),
            LocalResult::Ambiguous(a, b) => a.with_timezone(&Utc).min(b.with_timezone(&Utc)),
            LocalResult::None => self.first_instant_at_or_after(naive),
        }
    }

    /// For a local time inside a gap: the earliest instant whose local time is >= `naive`,
    /// i.e. the end of the gap. Found by bisection over whole seconds because gaps are not
    /// always one hour (Lord Howe: 30 min, Samoa 2011: a whole day) and tz transitions
    /// happen on whole seconds. ±26 h brackets every UTC offset that exists.
    fn first_instant_at_or_after(&self, naive: NaiveDateTime) -> DateTime<Utc> {
        const SPAN: i64 = 26 * 3600;
        let base = naive.and_utc().timestamp();
        let reached = |secs: i64| -> bool {
            match DateTime::<Utc>::from_timestamp(secs, 0) {
                Some(u) => self.local_naive(u).is_none_or(|l| l >= naive),
                None => secs > base,
            }
        };
        let mut lo = base.saturating_sub(SPAN);
        let mut hi = base.saturating_add(SPAN);
        while hi.saturating_sub(lo) > 1 {
            let mid = lo + (hi - lo) / 2;
            if reached(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        DateTime::<Utc>::from_timestamp(hi, 0).unwrap_or_else(|| naive.and_utc())
    }

    /// The first-response deadline: the end of working hours on the `n`-th working day after
    /// the local date of `t` (that date never counts, whatever the hour). With `n == 0` the
    /// deadline is the end of the first working day on or after the local date of `t`.
    pub fn working_days_after(&self, t: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        let mut d = self.local_date(t);
        if n == 0 {
            if !self.is_working_day(d) {
                match self.next_working_date(d) {
                    Some(x) => d = x,
                    None => return DateTime::<Utc>::MAX_UTC,
                }
            }
        } else {
            for _ in 0..n {
                match self.next_working_date(d) {
                    Some(x) => d = x,
                    None => return DateTime::<Utc>::MAX_UTC,
                }
            }
        }
        self.at_local(d, self.work_end)
    }

    /// The start of working hours of a working day, strictly after `after`.
    pub fn next_working_day_start(&self, after: DateTime<Utc>) -> DateTime<Utc> {
        let days = self.search_limit().saturating_add(2);
        self.next_local_time(after, self.work_start, days, |d| self.is_working_day(d))
    }

    /// The first instant strictly after `after` at local time `at` on a day `day_ok`
    /// accepts, among `days` days; the end of time when there is none.
    pub fn next_local_time(
        &self,
        after: DateTime<Utc>,
        at: NaiveTime,
        days: usize,
        day_ok: impl Fn(NaiveDate) -> bool,
    ) -> DateTime<Utc> {
        // Start one day early: near a DST change or a gap around midnight the start of the
        // previous local day can still be the answer's neighbour; checking it costs nothing.
        let today = self.local_date(after);
        let mut d = today.pred_opt().unwrap_or(today);
        for _ in 0..days {
            if day_ok(d) {
                let s = self.at_local(d, at);
                if s > after {
                    return s;
                }
            }
            match d.succ_opt() {
                Some(x) => d = x,
                None => break,
            }
        }
        DateTime::<Utc>::MAX_UTC
    }

    /// Inside working hours (start inclusive, end exclusive) of a working day.
    pub fn is_working_time(&self, t: DateTime<Utc>) -> bool {
        let d = self.local_date(t);
        self.is_working_day(d)
            && self.at_local(d, self.work_start) <= t
            && t < self.at_local(d, self.work_end)
    }

    /// Whole working days waited between `from` and `to`: working days after the local date
    /// of `from` whose working hours have ended by `to`. Chosen so that
    /// `working_days_between(t, working_days_after(t, n)) == n` and it is smaller before.
    pub fn working_days_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> u32 {
        if to <= from {
            return 0;
        }
        let Some(first) = self.local_date(from).succ_opt() else {
            return 0;
        };
        let mut last = self.local_date(to);
        if self.at_local(last, self.work_end) > to {
            match last.pred_opt() {
                Some(x) => last = x,
                None => return 0,
            }
        }
        if last < first {
            return 0;
        }
        u32::try_from(self.count_working_days(first, last)).unwrap_or(u32::MAX)
    }

    /// Working days in `first..=last` (first <= last), by arithmetic so that long ranges
    /// cost nothing: whole weeks, the remainder days, minus holidays on working weekdays.
    fn count_working_days(&self, first: NaiveDate, last: NaiveDate) -> u64 {
        let total = u64::try_from((last - first).num_days())
            .unwrap_or(0)
            .saturating_add(1);
        let per_week = u64::from(self.working_mask.count_ones());
        let mut count = (total / 7).saturating_mul(per_week);
        // The remainder days start on the same weekday as `first`.
        let mut w = first.weekday();
        for _ in 0..total % 7 {
            if self.is_working_weekday(w) {
                count += 1;
            }
            w = w.succ();
        }
        let off = self
            .holidays
            .range(first..=last)
            .filter(|h| self.is_working_weekday(h.weekday()))
            .count();
        count.saturating_sub(u64::try_from(off).unwrap_or(u64::MAX))
    }

    /// `Wed 23 Dec 2026, 17:00 CET (Europe/Paris)`: what every reminder shows, so nobody
    /// has to guess the zone of a deadline.
    pub fn format_instant(&self, t: DateTime<Utc>) -> String {
        let local = t.with_timezone(&self.tz);
        let mut s = String::new();
        // `write!` into a String reports a formatting error instead of panicking like
        // `to_string()` would; the format strings are fixed and valid anyway.
        let _ = write!(
            s,
            "{} ({})",
            local.format("%a %-d %b %Y, %H:%M %Z"),
            self.tz.name()
        );
        s
    }

    /// `Wednesday 23 December 2026`.
    pub fn format_date(&self, d: NaiveDate) -> String {
        let mut s = String::new();
        let _ = write!(s, "{}", d.format("%A %-d %B %Y"));
        s
    }
}

/// `"Mon"`, `"monday"`, `"TUE"`... (three-letter abbreviation or full English name).
pub fn parse_weekday(s: &str) -> Option<Weekday> {
    const NAMES: [(&str, &str, Weekday); 7] = [
        ("mon", "monday", Weekday::Mon),
        ("tue", "tuesday", Weekday::Tue),
        ("wed", "wednesday", Weekday::Wed),
        ("thu", "thursday", Weekday::Thu),
        ("fri", "friday", Weekday::Fri),
        ("sat", "saturday", Weekday::Sat),
        ("sun", "sunday", Weekday::Sun),
    ];
    let s = s.trim().to_ascii_lowercase();
    NAMES
        .iter()
        .find(|(short, long, _)| s == *short || s == *long)
        .map(|(_, _, w)| *w)
}

/// `"09:00"` or `"9:00"` (24-hour clock, minutes required).
pub fn parse_time(s: &str) -> Option<NaiveTime> {
    let (h, m) = s.trim().split_once(':')?;
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    if !(digits(h) && h.len() <= 2 && digits(m) && m.len() == 2) {
        return None;
    }
    NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}

/// `"09:00-17:00"` (spaces around `-` allowed). `None` when malformed or when the start is
/// not before the end, since such hours would make an empty working day.
pub fn parse_working_hours(s: &str) -> Option<(NaiveTime, NaiveTime)> {
    let (a, b) = s.split_once('-')?;
    let (start, end) = (parse_time(a)?, parse_time(b)?);
    (start < end).then_some((start, end))
}

/// `"2026-12-25"`: the holiday and `#remind` date syntax.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    // chrono accepts e.g. "2026-1-5"; configuration dates are written in full.
    if s.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// An IANA time zone name such as `Europe/Paris`.
pub fn parse_timezone(s: &str) -> Option<Tz> {
    s.trim().parse::<Tz>().ok()
}

/// A weekly moment in team-local time, e.g. the digest's `"Mon 09:00"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeeklyAt {
    pub day: Weekday,
    pub time: NaiveTime,
}

/// `"Mon 09:00"`, `"monday 9:00"`. `"none"` is not a moment: see [`parse_digest`].
pub fn parse_weekly(s: &str) -> Option<WeeklyAt> {
    let mut parts = s.split_whitespace();
    let day = parse_weekday(parts.next()?)?;
    let time = parse_time(parts.next()?)?;
    if parts.next().is_some() {
        return None;
    }
    Some(WeeklyAt { day, time })
}

/// The `digest` setting: `Some(None)` for `"none"` (digest disabled), `Some(Some(w))` for a
/// weekly moment, `None` when it is neither.
pub fn parse_digest(s: &str) -> Option<Option<WeeklyAt>> {
    if s.trim().eq_ignore_ascii_case("none") {
        return Some(None);
    }
    parse_weekly(s).map(Some)
}

impl WeeklyAt {
    /// The next occurrence strictly after `t`, in the calendar's zone. Holidays and working
    /// days do not matter: the digest is a weekly rhythm, not a working-day one.
    pub fn next_after(&self, cal: &Calendar, t: DateTime<Utc>) -> DateTime<Utc> {
        cal.next_local_time(t, self.time, 16, |d| d.weekday() == self.day)
    }
}

/// Splits `"14 days"` / `"14d"` into the number and the lower-cased unit.
fn split_count(s: &str) -> Option<(u32, String)> {
    let s = s.trim();
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(end);
    if num.is_empty() {
        return None;
    }
    Some((num.parse().ok()?, unit.trim().to_ascii_lowercase()))
}

/// Calendar days: `"14 days"`, `"1 day"`, `"0 days"`, `"2 weeks"`, short `"14d"`, `"2w"`.
/// The unit is required: a bare number is ambiguous in a config file.
pub fn parse_duration_days(s: &str) -> Option<u32> {
    let (n, unit) = split_count(s)?;
    match unit.as_str() {
        "d" | "day" | "days" => Some(n),
        "w" | "week" | "weeks" => n.checked_mul(7),
        _ => None,
    }
}

/// `"3 working days"`, `"1 working day"`. The word "working" is required so that nobody
/// confuses the first-response delay with calendar days.
pub fn parse_working_days(s: &str) -> Option<u32> {
    let (n, rest) = split_count(s)?;
    let mut words = rest.split_whitespace();
    let ok = words.next() == Some("working")
        && matches!(words.next(), Some("day" | "days"))
        && words.next().is_none();
    ok.then_some(n)
}

/// The date of a `#remind` command: an absolute `2027-01-10`, or `+3d` / `+2w` / `+3 days`
/// counted in calendar days from `today` (the team-local date the command was read).
pub fn parse_remind_date(spec: &str, today: NaiveDate) -> Option<NaiveDate> {
    let spec = spec.trim();
    match spec.strip_prefix('+') {
        Some(rel) => today.checked_add_days(Days::new(u64::from(parse_duration_days(rel)?))),
        None => parse_date(spec),
    }
}

#[cfg(test)]
pub(crate) mod tests {

    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn hm(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const WEEK: [Weekday; 5] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
    ];

    /// Paris, Mon–Fri, 09:00–17:00; holidays around Christmas/New Year and Easter Monday
    /// 2027 (which is the day after the March 2027 DST change). Also `deadlines`' calendar.
    pub(crate) fn paris() -> Calendar {
        Calendar::new(
            chrono_tz::Europe::Paris,
            &WEEK,
            [
                "2026-12-24",
                "2026-12-25",
                "2026-12-31",
                "2027-01-01",
                "2027-03-29",
            ]
            .map(date),
            hm("09:00"),
            hm("17:00"),
        )
        .unwrap()
    }

    /// A team that works Mondays only, with a holiday on a Monday: the next working day
    /// is two weeks away, past what the search used to look at (it answered "never", and
    /// the first-response reminder was planned for the end of time).
    #[test]
    fn one_working_day_a_week_and_a_holiday_on_it() {
        let cal = Calendar::new(
            chrono_tz::Europe::Paris,
            &[Weekday::Mon],
            [date("2026-12-28")],
            hm("09:00"),
            hm("17:00"),
        )
        .unwrap();
        assert_eq!(
            cal.working_days_after(utc("2026-12-21T09:00:00Z"), 1),
            utc("2027-01-04T16:00:00Z")
        );
    }

    fn new_york() -> Calendar {
        Calendar::new(
            chrono_tz::America::New_York,
            &WEEK,
            ["2026-11-26", "2026-12-25"].map(date),
            hm("09:00"),
            hm("17:00"),
        )
        .unwrap()
    }

    #[test]
    fn new_rejects_bad_configs() {
        let tz = chrono_tz::Europe::Paris;
        assert_eq!(
            Calendar::new(tz, &[], [], hm("09:00"), hm("17:00")),
            Err(CalendarError::NoWorkingDay)
        );
        let err = Calendar::new(tz, &WEEK, [], hm("17:00"), hm("09:00")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "working hours must start before they end (got 17:00-09:00)"
        );
        assert!(Calendar::new(tz, &WEEK, [], hm("09:00"), hm("09:00")).is_err());
        let one = Calendar::new(tz, &[Weekday::Sun], [], hm("00:00"), hm("23:59")).unwrap();
        assert!(one.is_working_day(date("2026-12-20")));
        assert!(!one.is_working_day(date("2026-12-21")));
    }

    #[test]
    fn first_response_deadlines() {
        let check = |cal: &Calendar, report: &str, n: u32, expected: &str| {
            assert_eq!(
                cal.working_days_after(utc(report), n),
                utc(expected),
                "{} report {report} + {n}",
                cal.tz().name()
            );
        };
        let p = paris();
        // Friday 15:00 CET: Mon(1) Tue(2) Wed(3), 17:00 CET.
        check(&p, "2026-12-18T14:00:00Z", 3, "2026-12-23T16:00:00Z");
        // Saturday: the weekend counts for nothing.
        check(&p, "2026-12-19T09:00:00Z", 3, "2026-12-23T16:00:00Z");
        // Monday after hours: the report day never counts.
        check(&p, "2026-12-14T19:00:00Z", 3, "2026-12-17T16:00:00Z");
        // Monday before hours: same.
        check(&p, "2026-12-14T06:00:00Z", 3, "2026-12-17T16:00:00Z");
        // Christmas: Wed(1), 24+25 off, Mon 28(2), Tue 29(3).
        check(&p, "2026-12-22T10:00:00Z", 3, "2026-12-29T16:00:00Z");
        // New Year: Wed 30(1), 31 + 1 off, Mon 4(2), Tue 5(3).
        check(&p, "2026-12-29T10:00:00Z", 3, "2027-01-05T16:00:00Z");
        // 00:30 CET Tuesday is still Monday in UTC: the local date (Tuesday) counts.
        check(&p, "2026-12-14T23:30:00Z", 3, "2026-12-18T16:00:00Z");
        // Friday before Easter Monday (holiday) and the March DST change: Tue(1) Wed(2)
        // Thu 1 Apr(3), 17:00 CEST.
        check(&p, "2027-03-26T09:00:00Z", 3, "2027-04-01T15:00:00Z");
        // March 2026 change (29 Mar): Fri 12:00 CET → Wed 1 Apr 17:00 CEST.
        check(&p, "2026-03-27T11:00:00Z", 3, "2026-04-01T15:00:00Z");
        // October 2026 change (25 Oct): Fri 12:00 CEST → Wed 28 Oct 17:00 CET.
        check(&p, "2026-10-23T10:00:00Z", 3, "2026-10-28T16:00:00Z");
        // n = 1 and n = 0.
        check(&p, "2026-12-18T14:00:00Z", 1, "2026-12-21T16:00:00Z");
        check(&p, "2026-12-19T09:00:00Z", 0, "2026-12-21T16:00:00Z");
        check(&p, "2026-12-22T10:00:00Z", 0, "2026-12-22T16:00:00Z");
        check(&p, "2026-12-24T10:00:00Z", 0, "2026-12-28T16:00:00Z");

        let ny = new_york();
        // Thursday 23:30 EST is Friday 04:30 UTC: local Thursday counts, so Fri(1) Mon(2)
        // Tue(3) 17:00 EST (using the UTC date would give Wednesday).
        check(&ny, "2026-12-18T04:30:00Z", 3, "2026-12-22T22:00:00Z");
        // Thanksgiving (Thu 26 Nov): Wed 25 report → Fri(1) Mon(2) Tue(3).
        check(&ny, "2026-11-25T15:00:00Z", 3, "2026-12-01T22:00:00Z");
        // March 2027 change (14 Mar): Fri 09:00 EST → Wed 17 17:00 EDT.
        check(&ny, "2027-03-12T14:00:00Z", 3, "2027-03-17T21:00:00Z");
        // November 2026 change (1 Nov): Fri 16:00 EDT → Wed 4 17:00 EST.
        check(&ny, "2026-10-30T20:00:00Z", 3, "2026-11-04T22:00:00Z");
    }

    #[test]
    fn at_local_dst_rules() {
        let check = |tz: Tz, d: &str, t: &str, expected: &str| {
            let cal = Calendar::new(tz, &WEEK, [], hm("09:00"), hm("17:00")).unwrap();
            assert_eq!(
                cal.at_local(date(d), hm(t)),
                utc(expected),
                "{} {d} {t}",
                tz.name()
            );
        };
        use chrono_tz::{America, Australia, Europe, Pacific};
        check(Europe::Paris, "2026-12-23", "17:00", "2026-12-23T16:00:00Z");
        check(Europe::Paris, "2026-07-01", "09:00", "2026-07-01T07:00:00Z");
        // Gap (28 Mar 2027, 02:00→03:00): forward to 03:00 CEST.
        check(Europe::Paris, "2027-03-28", "01:59", "2027-03-28T00:59:00Z");
        check(Europe::Paris, "2027-03-28", "02:00", "2027-03-28T01:00:00Z");
        check(Europe::Paris, "2027-03-28", "02:30", "2027-03-28T01:00:00Z");
        check(Europe::Paris, "2027-03-28", "03:00", "2027-03-28T01:00:00Z");
        check(Europe::Paris, "2027-03-28", "03:01", "2027-03-28T01:01:00Z");
        // Overlap (25 Oct 2026, 03:00→02:00): the earlier instant, 02:30 CEST.
        check(Europe::Paris, "2026-10-25", "02:30", "2026-10-25T00:30:00Z");
        check(Europe::Paris, "2026-10-25", "03:00", "2026-10-25T02:00:00Z");
        // New York: gap 14 Mar 2027 02:00→03:00 EDT; overlap 1 Nov 2026 01:00–02:00.
        check(
            America::New_York,
            "2027-03-14",
            "02:30",
            "2027-03-14T07:00:00Z",
        );
        check(
            America::New_York,
            "2026-11-01",
            "01:30",
            "2026-11-01T05:30:00Z",
        );
        // Lord Howe: 30-minute gap 4 Oct 2026 02:00→02:30 (+10:30 → +11).
        check(
            Australia::Lord_Howe,
            "2026-10-04",
            "02:15",
            "2026-10-03T15:30:00Z",
        );
        // Samoa skipped 30 Dec 2011 entirely: first valid instant is 31 Dec 00:00 +14.
        check(Pacific::Apia, "2011-12-30", "09:00", "2011-12-30T10:00:00Z");
    }

    #[test]
    fn next_working_day_starts() {
        let check = |cal: &Calendar, after: &str, expected: &str| {
            assert_eq!(
                cal.next_working_day_start(utc(after)),
                utc(expected),
                "after {after}"
            );
        };
        let p = paris();
        check(&p, "2026-12-18T16:00:00Z", "2026-12-21T08:00:00Z"); // Fri 17:00 → Mon
        check(&p, "2026-12-21T07:59:00Z", "2026-12-21T08:00:00Z"); // same morning
        check(&p, "2026-12-21T08:00:00Z", "2026-12-22T08:00:00Z"); // strictly after
        check(&p, "2026-12-23T11:00:00Z", "2026-12-28T08:00:00Z"); // over Christmas
        check(&p, "2026-12-20T23:30:00Z", "2026-12-21T08:00:00Z"); // 00:30 local Monday
        check(&p, "2027-03-27T10:00:00Z", "2027-03-30T07:00:00Z"); // DST + Easter Monday
        check(&new_york(), "2026-11-25T22:00:00Z", "2026-11-27T14:00:00Z"); // Thanksgiving
    }

    #[test]
    fn working_time() {
        let p = paris();
        let check =
            |t: &str, expected: bool| assert_eq!(p.is_working_time(utc(t)), expected, "{t}");
        check("2026-12-21T08:00:00Z", true); // Mon 09:00
        check("2026-12-21T07:59:59Z", false);
        check("2026-12-21T15:59:59Z", true);
        check("2026-12-21T16:00:00Z", false); // 17:00: end is exclusive
        check("2026-12-19T10:00:00Z", false); // Saturday
        check("2026-12-24T10:00:00Z", false); // holiday
        check("2027-03-30T07:00:00Z", true); // 09:00 CEST
        check("2027-03-30T15:30:00Z", false); // 17:30 CEST
    }

    #[test]
    fn working_days_waited() {
        let p = paris();
        let check = |from: &str, to: &str, expected: u32| {
            assert_eq!(
                p.working_days_between(utc(from), utc(to)),
                expected,
                "{from} → {to}"
            );
        };
        check("2026-12-18T14:00:00Z", "2026-12-23T16:00:00Z", 3); // at the deadline
        check("2026-12-18T14:00:00Z", "2026-12-23T15:59:00Z", 2); // just before
        check("2026-12-18T14:00:00Z", "2026-12-21T16:00:00Z", 1);
        check("2026-12-18T14:00:00Z", "2026-12-18T20:00:00Z", 0);
        check("2026-12-18T14:00:00Z", "2026-12-01T00:00:00Z", 0); // backwards
        check("2026-12-22T10:00:00Z", "2026-12-29T16:00:00Z", 3); // Christmas
        check("2026-12-14T11:00:00Z", "2027-01-15T17:00:00Z", 20); // 24 minus 4 holidays

        // The arithmetic agrees with a day-by-day count, and with working_days_after.
        let from = utc("2026-12-10T10:00:00Z");
        for days in 0..120u64 {
            let to = from
                + chrono::Duration::days(i64::try_from(days).unwrap())
                + chrono::Duration::hours(7);
            let mut slow = 0;
            let mut d = p.local_date(from).succ_opt().unwrap();
            while d <= p.local_date(to) {
                if p.is_working_day(d) && p.at_local(d, p.work_end()) <= to {
                    slow += 1;
                }
                d = d.succ_opt().unwrap();
            }
            assert_eq!(p.working_days_between(from, to), slow, "to {to}");
        }
        for n in 1..40 {
            let deadline = p.working_days_after(from, n);
            assert_eq!(p.working_days_between(from, deadline), n, "n {n}");
            assert_eq!(
                p.working_days_between(from, deadline - chrono::Duration::seconds(1)),
                n - 1
            );
        }
    }

    #[test]
    fn formatting() {
        let p = paris();
        let check = |cal: &Calendar, t: &str, expected: &str| {
            assert_eq!(cal.format_instant(utc(t)), expected)
        };
        check(
            &p,
            "2026-12-23T16:00:00Z",
            "Wed 23 Dec 2026, 17:00 CET (Europe/Paris)",
        );
        check(
            &p,
            "2027-04-01T15:00:00Z",
            "Thu 1 Apr 2027, 17:00 CEST (Europe/Paris)",
        );
        check(
            &new_york(),
            "2026-12-22T22:00:00Z",
            "Tue 22 Dec 2026, 17:00 EST (America/New_York)",
        );
        assert_eq!(
            p.format_date(date("2026-12-23")),
            "Wednesday 23 December 2026"
        );
        assert_eq!(p.format_date(date("2027-03-01")), "Monday 1 March 2027");
    }

    #[test]
    fn digest_next_after() {
        let p = paris();
        let mon9 = parse_weekly("Mon 09:00").unwrap();
        let check = |w: WeeklyAt, after: &str, expected: &str| {
            assert_eq!(
                w.next_after(&p, utc(after)),
                utc(expected),
                "{w:?} after {after}"
            );
        };
        check(mon9, "2026-12-21T07:00:00Z", "2026-12-21T08:00:00Z"); // same day, before
        check(mon9, "2026-12-21T08:00:00Z", "2026-12-28T08:00:00Z"); // exactly: next week
        check(mon9, "2026-12-21T09:00:00Z", "2026-12-28T08:00:00Z"); // same day, after
        check(mon9, "2026-12-23T12:00:00Z", "2026-12-28T08:00:00Z");
        check(mon9, "2026-12-20T23:30:00Z", "2026-12-21T08:00:00Z"); // Mon 00:30 local
        check(mon9, "2027-03-27T12:00:00Z", "2027-03-29T07:00:00Z"); // over DST; holidays ignored
        let sun = WeeklyAt {
            day: Weekday::Sun,
            time: hm("02:30"),
        };
        check(sun, "2027-03-27T12:00:00Z", "2027-03-28T01:00:00Z"); // in the gap → 03:00 CEST
    }

    #[test]
    fn parsers() {
        for (s, w) in [
            ("Mon", Some(Weekday::Mon)),
            ("monday", Some(Weekday::Mon)),
            (" SUN ", Some(Weekday::Sun)),
            ("Thursday", Some(Weekday::Thu)),
            ("mo", None),
            ("", None),
            ("Mondays", None),
        ] {
            assert_eq!(parse_weekday(s), w, "{s:?}");
        }
        for (s, r) in [
            ("09:00-17:00", Some((hm("09:00"), hm("17:00")))),
            ("9:30 - 18:00", Some((hm("09:30"), hm("18:00")))),
            ("17:00-09:00", None),
            ("09:00-09:00", None),
            ("09:00", None),
            ("24:00-25:00", None),
            ("09:0-17:00", None),
            ("0900-1700", None),
            ("", None),
        ] {
            assert_eq!(parse_working_hours(s), r, "{s:?}");
        }
        for (s, r) in [
            (
                "Mon 09:00",
                Some(WeeklyAt {
                    day: Weekday::Mon,
                    time: hm("09:00"),
                }),
            ),
            (
                "friday  16:30",
                Some(WeeklyAt {
                    day: Weekday::Fri,
                    time: hm("16:30"),
                }),
            ),
            ("Mon", None),
            ("09:00 Mon", None),
            ("Mon 09:00 extra", None),
            ("none", None),
        ] {
            assert_eq!(parse_weekly(s), r, "{s:?}");
        }
        assert_eq!(parse_digest("none"), Some(None));
        assert_eq!(parse_digest("NONE"), Some(None));
        assert_eq!(
            parse_digest("Tue 08:00"),
            Some(Some(WeeklyAt {
                day: Weekday::Tue,
                time: hm("08:00")
            }))
        );
        assert_eq!(parse_digest("sometimes"), None);
        for (s, r) in [
            ("14 days", Some(14)),
            ("1 day", Some(1)),
            ("0 days", Some(0)),
            ("2 weeks", Some(14)),
            ("1 week", Some(7)),
            ("3d", Some(3)),
            ("2w", Some(14)),
            (" 7 DAYS ", Some(7)),
            ("14", None),
            ("days", None),
            ("-1 days", None),
            ("1.5 days", None),
            ("3 months", None),
            ("99999999999 days", None),
            ("999999999 weeks", None),
        ] {
            assert_eq!(parse_duration_days(s), r, "{s:?}");
        }
        for (s, r) in [
            ("3 working days", Some(3)),
            ("1 working day", Some(1)),
            ("5  Working  Days", Some(5)),
            ("3 days", None),
            ("3", None),
            ("working days", None),
            ("3 working days later", None),
        ] {
            assert_eq!(parse_working_days(s), r, "{s:?}");
        }
        assert_eq!(parse_date("2026-12-25"), Some(date("2026-12-25")));
        for bad in ["2026-02-30", "2026-1-5", "25/12/2026", ""] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
        assert_eq!(
            parse_timezone("Europe/Paris"),
            Some(chrono_tz::Europe::Paris)
        );
        assert_eq!(parse_timezone("Mars/Olympus"), None);
        let today = date("2026-12-30");
        for (s, r) in [
            ("2027-01-10", Some(date("2027-01-10"))),
            ("+3d", Some(date("2027-01-02"))),
            ("+1 week", Some(date("2027-01-06"))),
            ("+0d", Some(today)),
            ("3d", None),
            ("+", None),
            ("tomorrow", None),
        ] {
            assert_eq!(parse_remind_date(s, today), r, "{s:?}");
        }
    }

    #[test]
    fn extreme_inputs_do_not_panic() {
        let p = paris();
        for t in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
            let _ = p.working_days_after(t, 3);
            let _ = p.next_working_day_start(t);
            let _ = p.is_working_time(t);
            let _ = p.format_instant(t);
            let _ = p.working_days_between(DateTime::<Utc>::MIN_UTC, t);
            let _ = parse_weekly("Mon 09:00").unwrap().next_after(&p, t);
        }
        let _ = p.at_local(NaiveDate::MAX, hm("23:59"));
        let _ = p.at_local(NaiveDate::MIN, hm("00:00"));
        assert_eq!(parse_remind_date("+4294967295d", NaiveDate::MAX), None);
    }
}
