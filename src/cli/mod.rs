//! One file per `secdesk` subcommand: what it reads, what it prints. The binary
//! (`main.rs`) parses arguments and dispatches here; the helpers below are what several
//! subcommands share.

pub mod advisory;
pub mod backup;
pub mod calendar;
pub mod case;
pub mod cases;
pub mod check;
pub mod deadlines;
pub mod import;
pub mod logging;
pub mod run;

use crate::config::{Config, SecretSources};
use crate::service::daemon;
use crate::service::process::Desk;
use crate::store::Store;
use crate::types::CaseId;
use anyhow::{Context, Result, bail};
use std::path::Path;

pub(crate) fn load(path: &Path, secrets: &SecretSources) -> Result<Config> {
    Config::load(path, secrets).map_err(|e| anyhow::anyhow!("{e}"))
}

pub(crate) fn desk(path: &Path) -> Result<Desk> {
    let config = load(path, &SecretSources::not_needed())?;
    let templates = daemon::load_templates(&config)?;
    Ok(Desk::new(config, templates))
}

/// The desk `--desk NAME` names (`main` for the top level); an unknown name is an
/// error naming the desks there are.
pub(crate) fn desk_named<'a>(config: &'a Config, name: Option<&str>) -> Result<Option<&'a Config>> {
    let Some(name) = name else {
        return Ok(None);
    };
    match config.desk_named(name) {
        Some(d) if !name.is_empty() => Ok(Some(d)),
        _ => bail!(
            "there is no desk named `{name}`; the desks are: {}",
            config.desk_labels().join(", ")
        ),
    }
}

pub(crate) fn open_existing(config: &Config) -> Result<Store> {
    let path = &config.desk.database;
    if !path.exists() {
        bail!(
            "there is no database at {} yet (desk.database): start the desk once, or import an archive",
            path.display()
        );
    }
    Store::open(path).with_context(|| format!("opening {}", path.display()))
}

pub(crate) fn case_id(text: &str) -> Result<CaseId> {
    CaseId::parse(text)
        .with_context(|| format!("`{text}` is not a case id (expected e.g. SEC-2026-0007)"))
}
