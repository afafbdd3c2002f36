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
    run_desk(config, output, clock, None)
}

/// `secdesk calendar [--desk NAME]`: only that desk's deadlines, in its calendar.
pub fn run_desk(
    config: &Path,
    output: &Path,
    clock: &dyn Clock,
    desk_name: Option<&str>,
) -> Result<ExitCode> {
    let top = desk(config)?;
    let only = super::desk_named(&top.config, desk_name)?.map(|c| c.desk.key.clone());
    let d = match &only {
        Some(key) => top.view(key),
        None => &top,
    };
    let mut store = open_existing(&d.config)?;
    let events = calendar_events(d, &mut store, only.is_some())?;
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
fn calendar_events(d: &Desk, store: &mut Store, only: bool) -> Result<Vec<ical::Event>> {
    let mut cases = store.read(|tx| tx.list_cases(true))?;
    let mut reminders = store.read(|tx| tx.pending_reminders())?;
    if only {
        let mine = store.read(|tx| tx.case_ids_of_desk(d.key()))?;
        cases.retain(|s| mine.contains(&s.case.id.to_string()));
        reminders.retain(|r| mine.contains(&r.scope));
    }
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
