//! `secdesk calendar`: every deadline of the open cases as an iCalendar file.

use super::{Output, desk, open_existing};
use crate::clock::Clock;
use crate::desk::deadlines::ReminderKind;
use crate::publish::ical;
use crate::service::process::Desk;
use crate::service::scheduler;
use crate::store::Store;
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::ExitCode;

/// `secdesk calendar [--desk NAME]`: only that desk's deadlines, in its calendar.
pub fn run(
    config: &Path,
    output: &Path,
    clock: &dyn Clock,
    desk_name: Option<&str>,
    out: &mut Output,
) -> Result<ExitCode> {
    let top = desk(config)?;
    let (d, only) = super::desk_view(&top, desk_name)?;
    let mut store = open_existing(&d.config)?;
    let events = calendar_events(&top, d, &mut store, only.is_some())?;
    let text = ical::write_calendar(&d.config.desk.name, clock.now(), &events);
    write_private(output, &text)?;
    out.line(&format!(
        "{} deadline{} written to {}",
        events.len(),
        if events.len() == 1 { "" } else { "s" },
        output.display()
    ));
    Ok(ExitCode::SUCCESS)
}

/// Writes a new file readable by its owner alone (the calendar holds confidential case
/// subjects, an advisory draft a bug under embargo). Like `secdesk backup`, an existing file or a symlink, even a dangling one,
/// is refused rather than overwritten or followed.
pub(super) fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if path.symlink_metadata().is_ok() {
        bail!("{} already exists; choose a new name", path.display());
    }
    let mut file = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// Every deadline of the open cases, as calendar events; with `only`, those of the desk
/// `d` of `top`, as the scheduler decides whose they are (a desk taken out of the
/// configuration leaves its cases to the top level).
fn calendar_events(
    top: &Desk,
    d: &Desk,
    store: &mut Store,
    only: bool,
) -> Result<Vec<ical::Event>> {
    let mut cases = store.read(|tx| tx.list_cases(true))?;
    // A case filed from the past (history, an import) has no deadline the desk keeps,
    // as in the digest: an archive's old threads are not years overdue.
    let present: std::collections::BTreeSet<_> = store
        .read(|tx| tx.planned_cases())?
        .into_iter()
        .map(|s| s.case.id)
        .collect();
    let mut reminders = store.read(|tx| tx.pending_reminders())?;
    if only {
        cases.retain(|s| top.view(&s.desk).key() == d.key());
        reminders = store.read(|tx| {
            let mut mine = Vec::new();
            for r in reminders {
                if top.view_of_scope(tx, &r.scope)?.key() == d.key() {
                    mine.push(r);
                }
            }
            Ok(mine)
        })?;
    }
    // Each case's deadlines by its own desk's calendar and policy.
    let deadlines: Vec<ical::CaseDeadlines<'_>> = cases
        .iter()
        .filter(|s| present.contains(&s.case.id))
        .map(|s| {
            let desk = d.view(&s.desk);
            ical::CaseDeadlines {
                case: &s.case,
                // Every deadline, the first answer's even when the embargo ends sooner.
                first_answer: scheduler::first_answer_due(desk, &s.case),
                publication: scheduler::publication_due(desk, &s.case),
                cal: &desk.config.calendar,
            }
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
        &d.config.desk.hostname,
    ))
}
