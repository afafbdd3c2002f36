//! `secdesk cases`: the cases (open ones by default) as a table.

use super::{Output, load, open_existing};
use crate::config::SecretSources;
use crate::publish::report;
use anyhow::Result;
use std::path::Path;
use std::process::ExitCode;

pub fn run(config: &Path, all: bool, out: &mut Output) -> Result<ExitCode> {
    let config = load(config, &SecretSources::not_needed())?;
    let mut store = open_existing(&config)?;
    let cases = store.read(|tx| tx.list_cases(!all))?;
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
        out.line(&format!("(no {}cases)", if all { "" } else { "open " }));
    }
    Ok(ExitCode::SUCCESS)
}
