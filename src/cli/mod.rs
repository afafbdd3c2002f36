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
pub mod file_one;
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
use std::ops::ControlFlow;
use std::path::Path;
use std::process::ExitCode;

/// What a subcommand prints, collected and then shown by [`finish`]: everything passes
/// through [`escape_controls`], so text from mail (subjects, names, notes) cannot drive
/// the terminal.
#[derive(Debug, Default)]
pub struct Output {
    stdout: String,
    stderr: String,
    /// What stopped [`Output::stream`]'s writes (a closed pipe, a full disk): nothing more
    /// is written after it, and [`finish`] reports it as it would its own.
    stream_error: Option<std::io::Error>,
    sink: Sink,
}

/// Where stdout's text goes: the process's stdout, or (for tests) memory.
#[derive(Debug, Default)]
enum Sink {
    #[default]
    Stdout,
    #[cfg(test)]
    Memory(Vec<u8>),
}

impl Sink {
    /// Text for stdout, escaped, written and flushed.
    fn write(&mut self, text: &str) -> std::io::Result<()> {
        let text = escape_controls(text, Layout::Lines);
        match self {
            Sink::Stdout => {
                let mut stdout = std::io::stdout().lock();
                stdout
                    .write_all(text.as_bytes())
                    .and_then(|()| stdout.flush())
            }
            #[cfg(test)]
            Sink::Memory(v) => {
                v.extend_from_slice(text.as_bytes());
                Ok(())
            }
        }
    }
}

/// How much streamed text is held before it is written: a listing's memory stays
/// bounded, and its first lines are out after a few dozen rows.
const STREAM_CHUNK: usize = 8 * 1024;

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

    /// Text for stdout, as is (it carries its own line ends), written with what was
    /// printed before it as soon as a chunk is full: for listings too long to hold.
    /// `Break` when stdout takes no more (the reader went away): the caller stops reading.
    pub fn stream(&mut self, text: &str) -> ControlFlow<()> {
        if self.stream_error.is_some() {
            return ControlFlow::Break(());
        }
        self.print(text);
        if self.stdout.len() < STREAM_CHUNK {
            return ControlFlow::Continue(());
        }
        match self.sink.write(&self.stdout) {
            Ok(()) => {
                self.stdout.clear();
                ControlFlow::Continue(())
            }
            Err(e) => {
                self.stdout.clear();
                self.stream_error = Some(e);
                ControlFlow::Break(())
            }
        }
    }
}

/// Shows what the subcommand printed and its error, if any, and gives the exit code.
/// A reader that went away (`secdesk cases | head`) ends the output quietly: status 0,
/// nothing on stderr.
pub fn finish(mut out: Output, result: Result<ExitCode>) -> ExitCode {
    let shown = match out.stream_error {
        Some(e) => Err(e),
        None => out.sink.write(&out.stdout),
    };
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
        // Under systemd, stderr is the journal: one line of error priority, as the
        // desk's other errors are (several lines were several entries at the unit's
        // default priority, which `journalctl -p warning` does not show).
        (Ok(()), Err(e)) if std::env::var_os("JOURNAL_STREAM").is_some() => {
            let text = format!("{e:#}");
            let one: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            tell(&format!("<3>secdesk: {}\n", one.join(" ")));
            ExitCode::FAILURE
        }
        (Ok(()), Err(e)) => {
            tell(&format!("secdesk: {e:#}\n"));
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn load(path: &Path, secrets: &SecretSources) -> Result<Config> {
    load_with_digest(path, secrets).map(|(config, _)| config)
}

/// [`load`], with the SHA-256 of the bytes parsed ([`Config::load_with_digest`]).
pub(crate) fn load_with_digest(path: &Path, secrets: &SecretSources) -> Result<(Config, String)> {
    Config::load_with_digest(path, secrets).map_err(|e| anyhow::anyhow!("{e}"))
}

pub(crate) fn desk(path: &Path) -> Result<Desk> {
    desk_of(load(path, &SecretSources::not_needed())?)
}

/// The desk of a loaded configuration, its templates checked.
pub(crate) fn desk_of(config: Config) -> Result<Desk> {
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

/// The case `id` (as text) with its history and the key of its desk, from the database
/// of the desk at `config` (loaded, and returned: the case's desk is `top.view(key)`).
/// An id a `#move` left behind names the case it became, said on stderr: mail under
/// the old id still reaches that case, and the operator holding it is not told there
/// is no such case.
pub(crate) fn case_of_desk(
    config: &Path,
    id: &str,
    out: &mut Output,
) -> Result<(
    Desk,
    crate::desk::case::Case,
    Vec<crate::desk::case::Event>,
    String,
)> {
    let top = desk(config)?;
    let id = case_id(id)?;
    let mut store = open_existing(&top.config)?;
    let found = store.read(|tx| {
        let id = match tx.load_case(&id)? {
            Some(_) => id.clone(),
            None => match tx.case_alias(&id)? {
                Some(now) => now,
                None => return Ok(None),
            },
        };
        let Some(case) = tx.load_case(&id)? else {
            return Ok(None);
        };
        Ok(Some((
            case,
            tx.events(&id)?,
            top.view_of_case(tx, &id)?.key().to_string(),
        )))
    })?;
    let Some((case, events, key)) = found else {
        bail!("there is no case {id}")
    };
    if case.id != id {
        out.note(&format!(
            "{id} was moved to another desk: it is {} now",
            case.id
        ));
    }
    Ok((top, case, events, key))
}

pub(crate) fn open_existing(config: &Config) -> Result<Store> {
    let path = &config.desk.database;
    match path.try_exists() {
        Ok(true) => {}
        Ok(false) => bail!(
            "there is no database at {} yet (desk.database): start the desk once, or import an archive",
            path.display()
        ),
        // Not "no database": one this user may not see (the state directory is the
        // service user's alone).
        Err(e) => bail!(
            "cannot see {} (desk.database): {e}; run the command as the service user (sudo -u secdesk secdesk …)",
            path.display()
        ),
    }
    Store::open(path).with_context(|| format!("opening {}", path.display()))
}

pub(crate) fn case_id(text: &str) -> Result<CaseId> {
    CaseId::parse(text)
        .with_context(|| format!("`{text}` is not a case id (expected e.g. SEC-2026-0007)"))
}

#[cfg(test)]
mod tests {
    use super::{Output, STREAM_CHUNK, Sink};

    /// A streamed listing is written as it goes: what is held never grows past a chunk
    /// and a line, and the first lines are out long before the last is read.
    #[test]
    fn a_streamed_listing_holds_at_most_a_chunk() {
        let mut out = Output {
            sink: Sink::Memory(Vec::new()),
            ..Output::default()
        };
        let line = format!("{}\n", "x".repeat(99));
        for _ in 0..1000 {
            assert!(out.stream(&line).is_continue());
            assert!(
                out.stdout.len() < STREAM_CHUNK + line.len(),
                "{}",
                out.stdout.len()
            );
        }
        let Sink::Memory(written) = &out.sink else {
            unreachable!()
        };
        assert!(written.len() + out.stdout.len() == 1000 * line.len());
        assert!(written.len() > 1000 * line.len() - STREAM_CHUNK - line.len());
    }
}
