//! `secdesk calendar`: every deadline of the open cases as an iCalendar file.

use super::{desk, open_existing};
use crate::clock::Clock;
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
    let cal = &d.config.calendar;
    let host = &d.config.desk.hostname;
    let mut events = Vec::new();
    for s in &cases {
        let c = &s.case;
        if let Some((t, what)) =
            scheduler::next_deadline(d, c).filter(|(_, w)| *w == "first answer")
        {
            events.push(ical::Event {
                uid: format!("{}-first-answer@{host}", c.id.plus_tag()),
                start: t,
                summary: format!("[{}] {what} due: {}", c.id, c.subject),
                description: format!(
                    "The reporter of {} must hear from a person by {}.",
                    c.id,
                    cal.format_instant(t)
                ),
            });
        }
        if let Some(end) = c.embargo_end {
            let t = crate::desk::deadlines::embargo_end_instant(cal, end);
            events.push(ical::Event {
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
    for r in reminders.iter().filter(|r| r.kind == "one-off") {
        events.push(ical::Event {
            uid: format!("reminder-{}@{host}", r.id),
            start: r.due,
            summary: format!("[{}] {}", r.scope, r.note),
            description: format!("Reminder for {}: {}", r.scope, r.note),
        });
    }
    events.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.uid.cmp(&b.uid)));
    Ok(events)
}
