//! Plain-text views of cases for people: the summary and timeline of one case (`#show`,
//! `secdesk case`), the list of cases (`secdesk cases`), and the digest table.
//!
//! Invariant: pure; times are shown in the team's time zone, in a stable order.

use crate::desk::calendar::Calendar;
use crate::desk::case::{Case, CreditChoice, Event};
use crate::text::{Layout, escape_controls};

/// Every value shown here may come from mail: see [`escape_controls`].
fn one_line(text: &str) -> String {
    escape_controls(text, Layout::OneLine)
}

fn field(out: &mut String, name: &str, value: impl AsRef<str>) {
    out.push_str(&format!("{name:<13}{}\n", one_line(value.as_ref())));
}

/// The summary of a case followed by its timeline, its times in `cal`; `desk` names the
/// case's desk where several share the database.
pub fn case_text(c: &Case, timeline: &[Event], cal: &Calendar, desk: Option<&str>) -> String {
    let mut out = format!("{}: {}\n\n", c.id, one_line(&c.subject));
    if let Some(desk) = desk {
        field(&mut out, "Desk:", desk);
    }
    let reporter = match (&c.reporter, &c.reporter_name) {
        (Some(a), Some(n)) => format!("{n} <{a}>"),
        (Some(a), None) => a.clone(),
        (None, _) => "(none: opened by the team, or by automatic mail)".into(),
    };
    field(&mut out, "Status:", c.status.as_str());
    field(&mut out, "Reporter:", reporter);
    field(&mut out, "Opened:", cal.format_instant(c.opened_at));
    field(
        &mut out,
        "Responder:",
        c.assignee.as_deref().unwrap_or("nobody"),
    );
    field(
        &mut out,
        "Severity:",
        c.severity
            .map(|s| s.to_string())
            .unwrap_or_else(|| "-".into()),
    );
    if let (Some(v), Some(s)) = (&c.cvss_vector, c.cvss_score) {
        field(&mut out, "CVSS:", format!("{s:.1} {v}"));
    }
    let cve = match (c.cves.is_empty(), c.cve_requested) {
        (false, _) => c.cves.join(", "),
        (true, true) => "requested".into(),
        (true, false) => "-".into(),
    };
    field(&mut out, "CVE:", cve);
    if !c.cwes.is_empty() {
        field(
            &mut out,
            "CWE:",
            c.cwes
                .iter()
                .map(|n| format!("CWE-{n}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    field(
        &mut out,
        "Embargo:",
        c.embargo_end
            .map(|d| cal.format_date(d))
            .unwrap_or_else(|| "none".into()),
    );
    if let Some(p) = &c.package {
        field(&mut out, "Package:", p);
    }
    if let Some(a) = &c.affected {
        field(&mut out, "Affected:", a);
    }
    if let Some(f) = &c.fixed_in {
        field(&mut out, "Fixed in:", f);
    }
    if let Some(s) = &c.summary {
        field(&mut out, "Summary:", s);
    }
    let credit = match &c.credit {
        CreditChoice::Unknown => "not decided".to_string(),
        CreditChoice::Name(n) => n.clone(),
        CreditChoice::Anonymous => "anonymous".into(),
    };
    field(&mut out, "Credit:", credit);
    if !c.upstream.is_empty() {
        field(&mut out, "Forwarded:", c.upstream.join(", "));
    }
    field(
        &mut out,
        "Answered:",
        c.first_reply_at
            .map(|t| format!("first reply {}", cal.format_instant(t)))
            .unwrap_or_else(|| "not yet".into()),
    );
    if let Some(id) = &c.advisory_id {
        field(&mut out, "Advisory:", id);
    }
    if let Some(r) = &c.close_reason {
        field(&mut out, "Closed:", r);
    }
    out.push_str("\nTimeline:\n");
    for e in timeline {
        let local = e.at.with_timezone(&cal.tz());
        out.push_str(&format!(
            "  {}  {:<15} {:<28} {}\n",
            local.format("%Y-%m-%d %H:%M"),
            e.kind.as_str(),
            one_line(&e.actor),
            one_line(&e.detail)
        ));
    }
    out
}

/// Pads a table of text cells into aligned columns; each cell is shown on one line with
/// its control characters escaped.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| one_line(cell)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = table_line(&widths, header);
    for row in rows {
        out.push_str(&table_line(&widths, &row));
    }
    out
}

/// The widest a column but the last is: a mail's From address has no length limit, and
/// one of 100,000 characters padded every row of `secdesk cases` to it.
pub const MAX_COLUMN: usize = 60;

/// One line of a table whose column widths are known before its rows (a listing that
/// streams): each cell but the last padded to its width, on one line, escaped. A cell
/// wider than its column pushes the rest of its line to the right; one wider than
/// [`MAX_COLUMN`] is cut there, with `…` (`secdesk case` shows it whole).
pub fn table_line(widths: &[usize], cells: &[impl AsRef<str>]) -> String {
    let mut s = String::new();
    for (i, cell) in cells.iter().enumerate() {
        let mut cell = one_line(cell.as_ref());
        let w = widths.get(i).copied().unwrap_or(0).min(MAX_COLUMN);
        if i + 1 == cells.len() {
            s.push_str(&cell);
        } else {
            if cell.chars().count() > MAX_COLUMN {
                cell = cell.chars().take(MAX_COLUMN - 1).collect::<String>() + "…";
            }
            s.push_str(&format!("{cell:<w$}  "));
        }
    }
    s.trim_end().to_string() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cell of 100,000 characters (a hostile From address) is cut at `MAX_COLUMN`, and
    /// the columns after it stay in place.
    #[test]
    fn a_cell_is_never_wider_than_max_column() {
        let long = format!("{}@attacker.test", "a".repeat(100_000));
        let line = table_line(&[4, 100_015, 10], &["SEC", long.as_str(), "subject"]);
        assert_eq!(
            line.chars().count(),
            4 + 2 + MAX_COLUMN + 2 + "subject".len() + 1
        );
        assert!(line.contains("a…  subject"), "{line}");
        let short = table_line(&[4, 12, 10], &["SEC", "r@x.test", "subject"]);
        assert_eq!(short, "SEC   r@x.test      subject\n");
    }
}
