//! `secdesk import`: brings an existing archive of security@ mail (an mbox file or a
//! Maildir) in as cases, threaded exactly as live mail is, sending nothing.
//!
//! Invariant: importing never sends mail and never plans reminders: the archive is the
//! past. Each message is stored raw and processed in one transaction, so an interrupted
//! import can simply be run again (messages already on file are recognised by
//! Message-ID).

use crate::clock::Clock;
use crate::mail::{self, Parsed};
use crate::service::process::{Delivery, Desk, Processed};
use crate::store::{self, Store};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} is neither an mbox file nor a Maildir (a directory with cur/ and new/)")]
    NotAnArchive(PathBuf),
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub messages: usize,
    pub cases_opened: usize,
    pub duplicates: usize,
}

/// Splits an mbox file into messages (mboxo and mboxrd: `>From ` lines are unescaped).
pub fn split_mbox(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    let mut previous_blank = true;
    for line in data.split_inclusive(|b| *b == b'\n') {
        if line.starts_with(b"From ") && previous_blank {
            if let Some(m) = current.take() {
                out.push(trim_separator(m));
            }
            current = Some(Vec::new());
            previous_blank = false;
            continue;
        }
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        previous_blank = body.is_empty();
        if let Some(m) = current.as_mut() {
            // mboxrd: ">From " and ">>From " lose one ">".
            let unescaped = match line.iter().position(|b| *b != b'>') {
                Some(n)
                    if n > 0 && line.get(n..).is_some_and(|rest| rest.starts_with(b"From ")) =>
                {
                    line.get(1..).unwrap_or(line)
                }
                _ => line,
            };
            m.extend_from_slice(unescaped);
        }
    }
    if let Some(m) = current.take() {
        out.push(trim_separator(m));
    }
    out.into_iter().filter(|m| !m.is_empty()).collect()
}

/// The blank line before the next `From ` belongs to the mbox, not the message.
fn trim_separator(mut m: Vec<u8>) -> Vec<u8> {
    if m.ends_with(b"\r\n\r\n") {
        m.truncate(m.len() - 2);
    } else if m.ends_with(b"\n\n") {
        m.truncate(m.len() - 1);
    }
    m
}

fn read(path: &Path) -> Result<Vec<u8>, ImportError> {
    std::fs::read(path).map_err(|source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The messages of an archive, oldest first as far as the archive tells.
pub fn read_archive(path: &Path) -> Result<Vec<Vec<u8>>, ImportError> {
    if path.is_file() {
        return Ok(split_mbox(&read(path)?));
    }
    if path.join("cur").is_dir() || path.join("new").is_dir() {
        let mut files: Vec<PathBuf> = Vec::new();
        for sub in ["cur", "new"] {
            let dir = path.join(sub);
            if !dir.is_dir() {
                continue;
            }
            let entries = std::fs::read_dir(&dir).map_err(|source| ImportError::Read {
                path: dir.clone(),
                source,
            })?;
            for e in entries {
                let e = e.map_err(|source| ImportError::Read {
                    path: dir.clone(),
                    source,
                })?;
                if e.path().is_file() {
                    files.push(e.path());
                }
            }
        }
        // Maildir names start with the delivery time, so name order is arrival order.
        files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
        return files.iter().map(|f| read(f)).collect();
    }
    Err(ImportError::NotAnArchive(path.to_path_buf()))
}

/// Imports every message of the archive at `path`.
pub fn import(
    desk: &Desk,
    store: &mut Store,
    path: &Path,
    clock: &dyn Clock,
) -> Result<ImportReport, ImportError> {
    let messages = read_archive(path)?;
    let source = path.display().to_string();
    let mut report = ImportReport::default();
    for (i, bytes) in messages.iter().enumerate() {
        // The mail's own date, so the case history shows when things happened.
        let when = match mail::parse(bytes) {
            Parsed::Mail(m) => m
                .date
                .filter(|d| *d <= clock.now())
                .unwrap_or_else(|| clock.now()),
            Parsed::Unreadable { .. } => clock.now(),
        };
        let seq = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let outcome =
            store.write(
                |tx| match tx.insert_imported(&source, seq, bytes, clock.now())? {
                    Some(raw_id) => {
                        desk.process_in_with(tx, Some(raw_id), bytes, when, Delivery::Suppress)
                    }
                    None => Ok(Processed::AlreadyDone),
                },
            )?;
        report.messages += 1;
        match outcome {
            Processed::Filed { opened: true, .. } => report.cases_opened += 1,
            Processed::Duplicate(_) | Processed::AlreadyDone => report.duplicates += 1,
            _ => {}
        }
    }
    Ok(report)
}

/// `secdesk import <path>`: imports the archive and says what it did.
pub fn run(
    config: &Path,
    path: &Path,
    clock: &dyn Clock,
    out: &mut super::Output,
) -> anyhow::Result<std::process::ExitCode> {
    let d = super::desk(config)?;
    let mut store = Store::open(&d.config.desk.database)?;
    let r = import(&d, &mut store, path, clock)?;
    out.line(&format!(
        "{} message{} read from {}: {} new case{}, {} already on file. Nothing was sent.",
        r.messages,
        if r.messages == 1 { "" } else { "s" },
        path.display(),
        r.cases_opened,
        if r.cases_opened == 1 { "" } else { "s" },
        r.duplicates
    ));
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbox_split_and_unescape() {
        let mbox = b"From a@b Mon Nov 23 10:00:00 2026\nSubject: one\n\nhello\n>From the start\n\nFrom c@d Mon Nov 23 11:00:00 2026\nSubject: two\n\n>From here on it is text\nFrom mid-paragraph stays\n";
        let msgs = split_mbox(mbox);
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0], b"Subject: one\n\nhello\nFrom the start\n".to_vec());
        assert_eq!(
            msgs[1],
            b"Subject: two\n\nFrom here on it is text\nFrom mid-paragraph stays\n".to_vec()
        );
        assert!(split_mbox(b"").is_empty());
        assert!(split_mbox(b"not an mbox\n").is_empty());
    }
}
