//! A minimal iCalendar (RFC 5545) writer for `secdesk calendar`: one VCALENDAR of
//! VEVENTs (deadlines and reminders) that calendar clients can subscribe to or import.
//!
//! It owns which events the open cases' deadlines become ([`deadline_events`]) and the
//! text format: CRLF line endings, TEXT escaping, and folding at 75 octets without
//! splitting a UTF-8 character. Times are written in UTC (`...Z`) so that no
//! VTIMEZONE block is needed. Pure: no I/O, no clock reads (DTSTAMP is a parameter), never
//! panics; events come out in the order given.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::desk::calendar::Calendar;
use crate::desk::case::Case;
use crate::desk::deadlines;

/// How long each event lasts in the client's view: a deadline is a moment, but a zero-length
/// event is hard to see, so each one gets a short slot.
pub const EVENT_DURATION: &str = "PT30M";

/// One calendar entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Globally unique and stable across exports, so clients update rather than duplicate.
    pub uid: String,
    pub start: DateTime<Utc>,
    pub summary: String,
    pub description: String,
}

/// An open case and its first-answer deadline, when one is owed and is the next deadline.
#[derive(Debug, Clone, Copy)]
pub struct CaseDeadlines<'a> {
    pub case: &'a Case,
    pub first_answer: Option<DateTime<Utc>>,
    /// When the advisory of a fixed case is due.
    pub publication: Option<DateTime<Utc>>,
    /// The calendar of the case's desk: its embargo ends at midnight there.
    pub cal: &'a Calendar,
}

/// A `#remind` reminder still to come.
#[derive(Debug, Clone, Copy)]
pub struct Reminder<'a> {
    pub id: i64,
    pub due: DateTime<Utc>,
    /// The case it is about.
    pub scope: &'a str,
    pub note: &'a str,
}

/// Every deadline of the open cases, as calendar events, by time then uid: the first
/// answer owed, a fixed case's advisory, the embargo end, and the `#remind` reminders. `host` makes uids unique.
pub fn deadline_events(
    cases: &[CaseDeadlines<'_>],
    reminders: &[Reminder<'_>],
    host: &str,
) -> Vec<Event> {
    let mut events = Vec::new();
    for CaseDeadlines {
        case: c,
        first_answer,
        publication,
        cal,
    } in cases
    {
        if let Some(t) = *first_answer {
            events.push(Event {
                uid: format!("{}-first-answer@{host}", c.id.plus_tag()),
                start: t,
                summary: format!(
                    "[{}] {} due: {}",
                    c.id,
                    deadlines::DeadlineKind::FirstAnswer.label(),
                    c.subject
                ),
                description: format!(
                    "The reporter of {} must hear from a person by {}.",
                    c.id,
                    cal.format_instant(t)
                ),
            });
        }
        if let Some(t) = *publication {
            events.push(Event {
                uid: format!("{}-publication@{host}", c.id.plus_tag()),
                start: t,
                summary: format!(
                    "[{}] {} due: {}",
                    c.id,
                    deadlines::DeadlineKind::Publication.label(),
                    c.subject
                ),
                description: format!(
                    "{} is fixed: its advisory is due by {}.",
                    c.id,
                    cal.format_instant(t)
                ),
            });
        }
        if let Some(end) = c.embargo_end {
            let t = deadlines::embargo_end_instant(cal, end);
            events.push(Event {
                uid: format!("{}-embargo@{host}", c.id.plus_tag()),
                start: t,
                summary: format!("[{}] embargo ends: {}", c.id, c.subject),
                description: format!(
                    "The embargo of {} ends on {}. Status: {}.",
                    c.id,
                    cal.format_date(end),
                    c.status
                ),
            });
        }
    }
    for r in reminders {
        events.push(Event {
            uid: format!("reminder-{}@{host}", r.id),
            start: r.due,
            summary: format!("[{}] {}", r.scope, r.note),
            description: format!("Reminder for {}: {}", r.scope, r.note),
        });
    }
    events.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.uid.cmp(&b.uid)));
    events
}

/// The whole calendar as text, ready to serve as `text/calendar`. `prodid_name` names the
/// producer (e.g. the project) in PRODID; `stamp` is the DTSTAMP of every event.
pub fn write_calendar(prodid_name: &str, stamp: DateTime<Utc>, events: &[Event]) -> String {
    let mut out = String::new();
    let stamp = utc_stamp(stamp);
    line(&mut out, "BEGIN:VCALENDAR");
    line(&mut out, "VERSION:2.0");
    line(
        &mut out,
        &format!("PRODID:-//{}//secdesk//EN", escape_text(prodid_name)),
    );
    line(&mut out, "CALSCALE:GREGORIAN");
    line(&mut out, "METHOD:PUBLISH");
    for e in events {
        line(&mut out, "BEGIN:VEVENT");
        line(&mut out, &format!("UID:{}", escape_text(&e.uid)));
        line(&mut out, &format!("DTSTAMP:{stamp}"));
        line(&mut out, &format!("DTSTART:{}", utc_stamp(e.start)));
        line(&mut out, &format!("DURATION:{EVENT_DURATION}"));
        line(&mut out, &format!("SUMMARY:{}", escape_text(&e.summary)));
        line(
            &mut out,
            &format!("DESCRIPTION:{}", escape_text(&e.description)),
        );
        line(&mut out, "END:VEVENT");
    }
    line(&mut out, "END:VCALENDAR");
    out
}

/// `20261223T160000Z` (RFC 5545 DATE-TIME, UTC form; sub-seconds dropped).
fn utc_stamp(t: DateTime<Utc>) -> String {
    let mut s = String::new();
    // `write!` reports instead of panicking; the format string is fixed and valid.
    let _ = write!(s, "{}", t.format("%Y%m%dT%H%M%SZ"));
    s
}

/// RFC 5545 §3.3.11 TEXT escaping. Any line break (CRLF, LF, CR) becomes `\n`; other
/// control characters are dropped because TEXT may not contain them (tab excepted).
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends one content line, folded (RFC 5545 §3.1): at most 75 octets per physical line
/// excluding the CRLF, continuation lines starting with one space (which counts), and never
/// inside a multi-byte UTF-8 character.
fn line(out: &mut String, content: &str) {
    const MAX: usize = 75;
    let mut width = 0usize;
    for c in content.chars() {
        let len = c.len_utf8();
        if width + len > MAX {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {

    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn small_calendar_exact_text() {
        let events = [
            Event {
                uid: "SEC-2026-0007-first-response@secdesk".to_string(),
                start: utc("2026-12-23T16:00:00Z"),
                summary: "SEC-2026-0007: first response due".to_string(),
                description: "Wed 23 Dec 2026, 17:00 CET (Europe/Paris)".to_string(),
            },
            Event {
                uid: "SEC-2026-0007-embargo-0d@secdesk".to_string(),
                start: utc("2027-03-01T08:00:00.5Z"),
                summary: "Embargo ends".to_string(),
                description: String::new(),
            },
        ];
        let expected = "BEGIN:VCALENDAR\r\n\
VERSION:2.0\r\n\
PRODID:-//Example Project//secdesk//EN\r\n\
CALSCALE:GREGORIAN\r\n\
METHOD:PUBLISH\r\n\
BEGIN:VEVENT\r\n\
UID:SEC-2026-0007-first-response@secdesk\r\n\
DTSTAMP:20261220T101500Z\r\n\
DTSTART:20261223T160000Z\r\n\
DURATION:PT30M\r\n\
SUMMARY:SEC-2026-0007: first response due\r\n\
DESCRIPTION:Wed 23 Dec 2026\\, 17:00 CET (Europe/Paris)\r\n\
END:VEVENT\r\n\
BEGIN:VEVENT\r\n\
UID:SEC-2026-0007-embargo-0d@secdesk\r\n\
DTSTAMP:20261220T101500Z\r\n\
DTSTART:20270301T080000Z\r\n\
DURATION:PT30M\r\n\
SUMMARY:Embargo ends\r\n\
DESCRIPTION:\r\n\
END:VEVENT\r\n\
END:VCALENDAR\r\n";
        assert_eq!(
            write_calendar("Example Project", utc("2026-12-20T10:15:00Z"), &events),
            expected
        );
        assert_eq!(
            write_calendar("P", utc("2026-12-20T10:15:00Z"), &[]),
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//P//secdesk//EN\r\nCALSCALE:GREGORIAN\r\nMETHOD:PUBLISH\r\nEND:VCALENDAR\r\n"
        );
    }

    #[test]
    fn escaping() {
        let check =
            |input: &str, expected: &str| assert_eq!(escape_text(input), expected, "{input:?}");
        check("a,b;c\\d", "a\\,b\\;c\\\\d");
        check(
            "line1\nline2\r\nline3\rline4",
            "line1\\nline2\\nline3\\nline4",
        );
        check("tab\there\u{7}bell", "tab\therebell");
        check("café ☕", "café ☕");
        check("", "");
    }

    #[test]
    fn folding_never_splits_characters() {
        // 12 ASCII octets of "SUMMARY:" + "é" (2 octets) * 40 = 88 octets.
        let summary = "é".repeat(40);
        let text = write_calendar(
            "P",
            utc("2026-12-20T10:15:00Z"),
            &[Event {
                uid: "u".to_string(),
                start: utc("2026-12-20T10:15:00Z"),
                summary: summary.clone(),
                description: "x".repeat(160),
            }],
        );
        // "SUMMARY:" is 8 octets; 33 "é" make 74, a 34th would make 76 > 75.
        let first = format!("SUMMARY:{}", "é".repeat(33));
        let second = format!(" {}", "é".repeat(7));
        assert!(
            text.contains(&format!("\r\n{first}\r\n{second}\r\n")),
            "{text}"
        );
        // DESCRIPTION: 12 + 63 = 75 octets, then " " + 74, then " " + 23.
        let d = format!(
            "\r\nDESCRIPTION:{}\r\n {}\r\n {}\r\nEND:VEVENT",
            "x".repeat(63),
            "x".repeat(74),
            "x".repeat(23)
        );
        assert!(text.contains(&d), "{text}");
        for physical in text.split("\r\n") {
            assert!(physical.len() <= 75, "{physical:?}");
            assert!(!physical.contains('\n') && !physical.contains('\r'));
        }
        // Unfolding (remove CRLF + space) gives the logical lines back.
        let unfolded = text.replace("\r\n ", "");
        assert!(unfolded.contains(&format!("\r\nSUMMARY:{summary}\r\n")));
        // A 4-octet character right at the edge moves whole to the next line.
        let mut out = String::new();
        line(&mut out, &format!("{}🔒", "a".repeat(73)));
        assert_eq!(out, format!("{}\r\n 🔒\r\n", "a".repeat(73)));
        let mut out = String::new();
        line(&mut out, &"a".repeat(75));
        assert_eq!(out, format!("{}\r\n", "a".repeat(75)));
    }
}
