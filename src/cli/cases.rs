//! `secdesk cases`: the cases (open ones by default) as a table.

use super::{Output, load, open_existing};
use crate::config::SecretSources;
use crate::publish::report;
use anyhow::Result;
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
pub fn run(config: &Path, which: Which, desk: Option<&str>, out: &mut Output) -> Result<ExitCode> {
    let config = load(config, &SecretSources::not_needed())?;
    let only = super::desk_named(&config, desk)?;
    let mut store = open_existing(&config)?;
    let (cases, desks) = store.read(|tx| {
        let cases = match which {
            Which::Spam => tx.spam_cases(),
            Which::All => tx.list_cases(false),
            Which::Open => tx.list_cases(true),
        }?;
        let mut desks = std::collections::BTreeMap::new();
        for d in config.all_desks() {
            for id in tx.case_ids_of_desk(&d.desk.key)? {
                desks.insert(id, d.desk_label().to_string());
            }
        }
        Ok((cases, desks))
    })?;
    let desk_of = |s: &crate::store::CaseSummary| -> String {
        desks
            .get(&s.case.id.to_string())
            .cloned()
            .unwrap_or_else(|| crate::config::TOP_DESK.to_string())
    };
    let cases: Vec<_> = match only {
        Some(d) => cases
            .into_iter()
            .filter(|s| desk_of(s) == d.desk_label())
            .collect(),
        None => cases,
    };
    let show_desk = only.is_none() && !config.desks.is_empty();
    let config = only.unwrap_or(&config);
    let cal = &config.calendar;
    let rows: Vec<Vec<String>> = cases
        .iter()
        .map(|s| {
            let mut row = vec![
                s.case.id.to_string(),
                s.case.status.to_string(),
                s.case.assignee.clone().unwrap_or_else(|| "-".into()),
                s.case
                    .severity
                    .map(|x| x.to_string())
                    .unwrap_or_else(|| "-".into()),
                s.case
                    .opened_at
                    .with_timezone(&cal.tz())
                    .format("%Y-%m-%d")
                    .to_string(),
                s.messages.to_string(),
                s.case.reporter.clone().unwrap_or_else(|| "-".into()),
                s.case.subject.clone(),
            ];
            if show_desk {
                row.insert(1, desk_of(s));
            }
            row
        })
        .collect();
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
    out.print(&report::table(&headers, &rows));
    if cases.is_empty() {
        let kind = match which {
            Which::Open => "open ",
            Which::All => "",
            Which::Spam => "spam ",
        };
        out.line(&format!("(no {kind}cases)"));
    }
    Ok(ExitCode::SUCCESS)
}
