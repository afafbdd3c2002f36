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
use crate::text::{Layout, escape_controls};
use crate::types::CaseId;
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// What a subcommand prints, collected and then shown by [`finish`]: everything passes
/// through [`escape_controls`], so text from mail (subjects, names, notes) cannot drive
/// the terminal.
#[derive(Debug, Default)]
pub struct Output {
    stdout: String,
    stderr: String,
}

impl Output {
    /// Text for stdout, as is (it carries its own line ends).
    pub fn print(&mut self, text: &str) {
        self.stdout.push_str(text);
    }

    /// A line for stdout.
    pub fn line(&mut self, text: &str) {
        self.stdout.push_str(text);
        self.stdout.push('\n');
    }

    /// A line for stderr.
    pub fn note(&mut self, text: &str) {
        self.stderr.push_str(text);
        self.stderr.push('\n');
    }
}

/// Shows what the subcommand printed and its error, if any, and gives the exit code.
/// A reader that went away (`secdesk cases | head`) ends the output quietly: status 0,
/// nothing on stderr.
pub fn finish(out: Output, result: Result<ExitCode>) -> ExitCode {
    let shown = std::io::stdout()
        .lock()
        .write_all(escape_controls(&out.stdout, Layout::Lines).as_bytes())
        .and_then(|()| std::io::stdout().lock().flush());
    let mut stderr = std::io::stderr().lock();
    let mut tell = |text: &str| {
        // Nothing more can be done when stderr is gone too.
        let _ = stderr.write_all(escape_controls(text, Layout::Lines).as_bytes());
    };
    tell(&out.stderr);
    match (shown, result) {
        (Err(e), _) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        (Err(e), _) => {
            tell(&format!("secdesk: cannot write the output: {e}\n"));
            ExitCode::FAILURE
        }
        (Ok(()), Ok(code)) => code,
        (Ok(()), Err(e)) => {
            tell(&format!("secdesk: {e:#}\n"));
            ExitCode::FAILURE
        }
    }
}

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

/// The desk `--desk NAME` names (the top level when none is named) and its key when one
/// is named: only that desk's cases, digest and summary are then shown.
pub(crate) fn desk_view<'a>(
    top: &'a Desk,
    name: Option<&str>,
) -> Result<(&'a Desk, Option<String>)> {
    let only = desk_named(&top.config, name)?.map(|c| c.desk.key.clone());
    let d = match &only {
        Some(key) => top.view(key),
        None => top,
    };
    Ok((d, only))
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
