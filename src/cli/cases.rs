//! `secdesk cases`: the cases (open ones by default) as a table.

use super::{Output, load, open_existing};
use crate::config::{SecretSources, TOP_DESK};
use crate::publish::report;
use crate::store::Listing;
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

/// Which cases `secdesk cases` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The open ones (the default).
    Open,
    /// Every case, closed and spam included.
    All,
    /// Only the cases in the spam state (`--spam`).
    Spam,
}

/// `secdesk cases [--desk NAME]`: only that desk's cases, in its time zone; without
/// `--desk` every desk's, with a DESK column when there are several.
///
/// The table streams: its column widths are read first (one pass over the listing's
/// index), then the cases a page at a time ([`crate::store::CASE_PAGE`]), so `cases
/// --all` on a large database neither waits for its last case nor holds them all, nor
/// holds a transaction open while its reader is slow.
pub fn run(config: &Path, which: Which, desk: Option<&str>, out: &mut Output) -> Result<ExitCode> {
    let config = load(config, &SecretSources::not_needed())?;
    let only = super::desk_named(&config, desk)?;
    // Each desk's label by its key; a case whose desk left the config is the top level's.
    let labels: BTreeMap<&str, &str> = config
        .all_desks()
        .map(|d| (d.desk.key.as_str(), d.desk_label()))
        .collect();
    let label_of = |key: &str| labels.get(key).copied().unwrap_or(TOP_DESK);
    let show_desk = only.is_none() && !config.desks.is_empty();
    let listing = match which {
        Which::Open => Listing::Open,
        Which::All => Listing::All,
        Which::Spam => Listing::Spam,
    };
    let shown = only.unwrap_or(&config);
    let tz = shown.calendar.tz();

    let mut headers = vec![
        "CASE",
        "STATUS",
        "RESPONDER",
        "SEVERITY",
        "OPENED",
        "MAILS",
        "REPORTER",
        "SUBJECT",
    ];
    if show_desk {
        headers.insert(1, "DESK");
    }
    let mut store = open_existing(&config)?;
    let widths = store.read(|tx| {
        let [id, status, assignee, severity, reporter] = tx.case_list_widths(listing)?;
        // OPENED is a date; MAILS is as wide as its header (a wider count shifts its line).
        let mut widths = vec![id, status, assignee, severity, 10, 0, reporter, 0];
        if show_desk {
            widths.insert(
                1,
                labels
                    .values()
                    .map(|l| l.chars().count())
                    .max()
                    .unwrap_or(0),
            );
        }
        for (w, h) in widths.iter_mut().zip(&headers) {
            *w = (*w).max(h.chars().count());
        }
        Ok(widths)
    })?;
    let mut rows = 0usize;
    let mut stopped = out
        .stream(&report::table_line(&widths, &headers))
        .is_break();
    // A page at a time, each read in a transaction of its own and written after it
    // ends: a reader who pauses (`cases --all | less`) holds no snapshot of the
    // database, which would keep the daemon's checkpoints from emptying its log.
    let mut after = None;
    while !stopped {
        let page = store.read(|tx| tx.case_page(listing, after))?;
        let Some((_, last)) = page.last() else {
            break;
        };
        after = Some(*last);
        for (s, _) in page {
            let desk = label_of(&s.desk);
            if only.is_some_and(|d| d.desk_label() != desk) {
                continue;
            }
            rows += 1;
            let mut row = vec![
                s.case.id.to_string(),
                s.case.status.to_string(),
                s.case.assignee.unwrap_or_else(|| "-".into()),
                s.case
                    .severity
                    .map(|x| x.to_string())
                    .unwrap_or_else(|| "-".into()),
                s.case
                    .opened_at
                    .with_timezone(&tz)
                    .format("%Y-%m-%d")
                    .to_string(),
                s.messages.to_string(),
                s.case.reporter.unwrap_or_else(|| "-".into()),
                s.case.subject,
            ];
            if show_desk {
                row.insert(1, desk.to_string());
            }
            if out.stream(&report::table_line(&widths, &row)).is_break() {
                stopped = true;
                break;
            }
        }
    }
    if rows == 0 {
        let kind = match which {
            Which::Open => "open ",
            Which::All => "",
            Which::Spam => "spam ",
        };
        out.line(&format!("(no {kind}cases)"));
    }
    Ok(ExitCode::SUCCESS)
}
