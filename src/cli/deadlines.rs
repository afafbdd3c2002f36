//! `secdesk deadlines`: the coming reminders and the deadlines they are about.

use super::{Output, desk, open_existing};
use crate::clock::Clock;
use crate::publish::report;
use anyhow::Result;
use std::path::Path;
use std::process::ExitCode;

pub fn run(config: &Path, clock: &dyn Clock, out: &mut Output) -> Result<ExitCode> {
    let d = desk(config)?;
    let mut store = open_existing(&d.config)?;
    let pending = store.read(|tx| tx.pending_reminders())?;
    let cal = &d.config.calendar;
    let rows: Vec<Vec<String>> = pending
        .iter()
        .map(|r| {
            vec![
                cal.format_instant(r.due),
                r.scope.replace('*', "(team)"),
                r.kind.clone(),
                cal.format_instant(r.deadline),
                r.note.clone(),
            ]
        })
        .collect();
    out.line(&format!(
        "Times in {}; now {}.\n",
        cal.tz().name(),
        cal.format_instant(clock.now())
    ));
    out.print(&report::table(
        &["REMINDER DUE", "CASE", "KIND", "DEADLINE", "NOTE"],
        &rows,
    ));
    Ok(ExitCode::SUCCESS)
}
