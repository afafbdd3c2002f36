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

pub fn run(config: &Path, which: Which, out: &mut Output) -> Result<ExitCode> {
    let config = load(config, &SecretSources::not_needed())?;
    let mut store = open_existing(&config)?;
    let cases = store.read(|tx| match which {
        Which::Spam => tx.spam_cases(),
        Which::All => tx.list_cases(false),
        Which::Open => tx.list_cases(true),
    })?;
    let cal = &config.calendar;
    let rows: Vec<Vec<String>> = cases
        .iter()
        .map(|s| {
            vec![
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
            ]
        })
        .collect();
    out.print(&report::table(
        &[
            "CASE",
            "STATUS",
            "RESPONDER",
            "SEVERITY",
            "OPENED",
            "MAILS",
            "REPORTER",
            "SUBJECT",
        ],
        &rows,
    ));
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
