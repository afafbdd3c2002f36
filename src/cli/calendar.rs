//! `secdesk calendar`: every deadline of the open cases as an iCalendar file.

use super::{desk, open_existing};
use crate::clock::Clock;
use crate::desk::deadlines::{DeadlineKind, ReminderKind};
use crate::publish::ical;
use crate::service::process::Desk;
use crate::service::scheduler;
use crate::store::Store;
use anyhow::{Context, Result};
use std::path::Path;
use std::process::ExitCode;

pub fn run(config: &Path, output: &Path, clock: &dyn Clock) -> Result<ExitCode> {
    let d = desk(config)?;
    let mut store = open_existing(&d.config)?;
    let events = calendar_events(&d, &mut store)?;
    let text = ical::write_calendar(&d.config.desk.name, clock.now(), &events);
    std::fs::write(output, text).with_context(|| format!("writing {}", output.display()))?;
    println!(
        "{} deadline{} written to {}",
        events.len(),
        if events.len() == 1 { "" } else { "s" },
        output.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Every deadline of the open cases, as calendar events.
fn calendar_events(d: &Desk, store: &mut Store) -> Result<Vec<ical::Event>> {
    let cases = store.read(|tx| tx.list_cases(true))?;
    let reminders = store.read(|tx| tx.pending_reminders())?;
    let deadlines: Vec<ical::CaseDeadlines<'_>> = cases
        .iter()
        .map(|s| ical::CaseDeadlines {
            case: &s.case,
            first_answer: scheduler::next_deadline(d, &s.case)
                .filter(|(_, kind)| *kind == DeadlineKind::FirstAnswer)
                .map(|(t, _)| t),
        })
        .collect();
    let one_offs: Vec<ical::Reminder<'_>> = reminders
        .iter()
        .filter(|r| ReminderKind::parse(&r.kind) == Some(ReminderKind::OneOff))
        .map(|r| ical::Reminder {
            id: r.id,
            due: r.due,
            scope: &r.scope,
            note: &r.note,
        })
        .collect();
    Ok(ical::deadline_events(
        &deadlines,
        &one_offs,
        &d.config.calendar,
        &d.config.desk.hostname,
    ))
}
