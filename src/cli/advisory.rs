//! `secdesk advisory <id>`: the case's advisory as it would be published, for review;
//! its problems on stderr.

use super::{Output, case_id, desk, open_existing};
use crate::clock::Clock;
use crate::publish::{advisory, publication};
use anyhow::{Result, bail};
use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Osv,
    Markdown,
}

pub fn run(
    config: &Path,
    id: &str,
    format: Format,
    clock: &dyn Clock,
    out: &mut Output,
) -> Result<ExitCode> {
    let d = desk(config)?;
    let id = case_id(id)?;
    let mut store = open_existing(&d.config)?;
    let (case, events) = store.read(|tx| Ok((tx.load_case(&id)?, tx.events(&id)?)))?;
    let Some(case) = case else {
        bail!("there is no case {id}")
    };
    let adv_id = publication::draft_id(&case, &d.config);
    let adv = publication::advisory_for(&case, &events, &d.config, &adv_id, clock.now());
    for p in advisory::problems(&adv) {
        out.note(&format!("note: {p}"));
    }
    match format {
        Format::Osv => out.print(&advisory::to_osv_json(&adv)),
        Format::Markdown => out.print(&advisory::to_markdown(&adv)),
    }
    Ok(ExitCode::SUCCESS)
}
