//! `secdesk case <id>`: one case's summary and timeline.

use super::{Output, case_id, load, open_existing};
use crate::config::SecretSources;
use crate::publish::report;
use anyhow::{Result, bail};
use std::path::Path;
use std::process::ExitCode;

pub fn run(config: &Path, id: &str, out: &mut Output) -> Result<ExitCode> {
    let config = load(config, &SecretSources::not_needed())?;
    let id = case_id(id)?;
    let mut store = open_existing(&config)?;
    let (case, events) = store.read(|tx| Ok((tx.load_case(&id)?, tx.events(&id)?)))?;
    let Some(case) = case else {
        bail!("there is no case {id}")
    };
    out.print(&report::case_text(&case, &events, &config.calendar));
    Ok(ExitCode::SUCCESS)
}
