//! `secdesk deadlines`: the coming reminders and the deadlines they are about.

use super::{Output, desk, open_existing};
use crate::clock::Clock;
use crate::publish::report;
use anyhow::Result;
use std::path::Path;
use std::process::ExitCode;

/// `secdesk deadlines [--desk NAME]`: only that desk's reminders (its cases', its digest
/// and spam summary), in its time zone.
pub fn run(
    config: &Path,
    clock: &dyn Clock,
    desk_name: Option<&str>,
    out: &mut Output,
) -> Result<ExitCode> {
    let top = desk(config)?;
    let (d, only) = super::desk_view(&top, desk_name)?;
    let mut store = open_existing(&d.config)?;
    let pending = store.read(|tx| {
        let pending = tx.pending_reminders()?;
        let Some(key) = &only else {
            return Ok(pending);
        };
        // The desk whose team the reminder goes to, as the scheduler decides it: a desk
        // taken out of the configuration leaves its cases to the top level.
        let mut mine = Vec::new();
        for r in pending {
            if top.view_of_scope(tx, &r.scope)?.key() == key {
                mine.push(r);
            }
        }
        Ok(mine)
    })?;
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
