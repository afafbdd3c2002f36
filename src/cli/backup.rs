//! `secdesk backup <file>`: a consistent copy of the live database, mode 0600.

use super::{Output, load, open_existing};
use crate::config::SecretSources;
use crate::service::db::Db;
use anyhow::Result;
use std::path::Path;
use std::process::ExitCode;

pub fn run(config: &Path, file: &Path, out: &mut Output) -> Result<ExitCode> {
    let config = load(config, &SecretSources::not_needed())?;
    let db = Db::from_store(open_existing(&config)?);
    db.blocking(|s| s.backup_to(file))?;
    out.line(&format!("backup written to {} (mode 0600)", file.display()));
    Ok(ExitCode::SUCCESS)
}
