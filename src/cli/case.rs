//! `secdesk case <id>`: one case's summary and timeline, as its desk sees it (its time
//! zone; its name where several desks share the database).

use super::{Output, case_of_desk};
use crate::publish::report;
use anyhow::Result;
use std::path::Path;
use std::process::ExitCode;

pub fn run(config: &Path, id: &str, out: &mut Output) -> Result<ExitCode> {
    let (top, case, events, key) = case_of_desk(config, id, out)?;
    let d = top.view(&key);
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
