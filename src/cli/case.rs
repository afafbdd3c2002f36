//! `secdesk case <id>`: one case's summary and timeline, as its desk sees it (its time
//! zone; its name where several desks share the database).

use super::{Output, case_id, desk, open_existing};
use crate::publish::report;
use anyhow::{Result, bail};
use std::path::Path;
use std::process::ExitCode;

pub fn run(config: &Path, id: &str, out: &mut Output) -> Result<ExitCode> {
    let top = desk(config)?;
    let id = case_id(id)?;
    let mut store = open_existing(&top.config)?;
    let (case, events, d) = store.read(|tx| {
        Ok((
            tx.load_case(&id)?,
            tx.events(&id)?,
            top.view_of_case(tx, &id)?,
        ))
    })?;
    let Some(case) = case else {
        bail!("there is no case {id}")
    };
    let label = format!("{} ({})", d.config.desk_label(), d.config.desk.name);
    let named = (!top.config.desks.is_empty()).then_some(label.as_str());
    out.print(&report::case_text(
        &case,
        &events,
        &d.config.calendar,
        named,
    ));
    Ok(ExitCode::SUCCESS)
}
