//! `secdesk import`: brings an existing archive of security@ mail (an mbox file or a
//! Maildir) in as cases, threaded exactly as live mail is, sending nothing.
//!
//! Invariant: importing never sends mail and never plans reminders: the archive is the
//! past. Each message is stored raw and processed in one transaction, so an interrupted
//! import can simply be run again (messages already on file are recognised by
//! Message-ID).

use crate::clock::Clock;
use crate::mail;
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
    #[error(
        "{0} does not start with a `From ` line, so it is no mbox file: a single mail? Put it in the new/ folder of a Maildir (a directory with cur/ and new/) and import that"
    )]
    NotMbox(PathBuf),
    #[error(
        "message {seq} of {path} could not be filed: {source}; the {done} before it are on file, and running the import again goes on from it"
    )]
    Message {
        seq: u32,
        done: usize,
        path: PathBuf,
        #[source]
        source: store::StoreError,
    },
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub messages: usize,
    pub cases_opened: usize,
    pub duplicates: usize,
    /// Files of a Maildir listed but gone when read (a mail client or server renamed
    /// them, marking them read): filed by running the import again.
    pub vanished: usize,
    /// The Maildir++ folders (`.Archive`) beside the Maildir read, not imported, with
    /// how many files each holds.
    pub folders_left: Vec<(String, usize)>,
}

/// The messages of an mbox, read one at a time from `input` (mboxo and mboxrd: `>From `
/// lines are unescaped). Holds one message in memory, never the file.
pub struct MboxReader<R> {
    input: R,
    /// The message being read; `None` before the first `From ` line.
    current: Option<Vec<u8>>,
    previous_blank: bool,
    line: Vec<u8>,
    /// A separator met right under a line of text: one only if a header follows it.
    held: Option<Vec<u8>>,
    done: bool,
}

impl<R: std::io::BufRead> MboxReader<R> {
    pub fn new(input: R) -> MboxReader<R> {
        MboxReader {
            input,
            current: None,
            previous_blank: true,
            line: Vec::new(),
            held: None,
            done: false,
        }
    }

    /// Adds the line just read to the message being read (unescaped).
    fn push_line(&mut self) {
        let line = self.line.as_slice();
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        self.previous_blank = body.is_empty();
        if let Some(m) = self.current.as_mut() {
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

    /// The next message, `None` at the end of the file.
    pub fn next_message(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        while !self.done {
            self.line.clear();
            if self.input.read_until(b'\n', &mut self.line)? == 0 {
                self.done = true;
                break;
            }
            let line = self.line.as_slice();
            // A separator held under a line of text: it was one if a header follows it
            // (a writer that left the blank line out still meant two messages), else
            // text (an unescaped sample of an mbox, pasted in a report).
            if let Some(held) = self.held.take() {
                if looks_like_header(line) {
                    let finished = self.current.replace(Vec::new());
                    if let Some(m) = finished.map(trim_separator).filter(|m| !m.is_empty()) {
                        self.push_line();
                        return Ok(Some(m));
                    }
                } else if let Some(m) = self.current.as_mut() {
                    m.extend_from_slice(&held);
                }
            }
            let line = self.line.as_slice();
            // The first `From ` line opens the file; after that, only a well-formed one
            // (a sender, then a date) separates messages.
            if is_separator(line) && !self.previous_blank && self.current.is_some() {
                self.held = Some(line.to_vec());
                self.previous_blank = false;
                continue;
            }
            let opens = self.current.is_none() || is_separator(line);
            if line.starts_with(b"From ") && self.previous_blank && opens {
                let finished = self.current.replace(Vec::new());
                self.previous_blank = false;
                if let Some(m) = finished.map(trim_separator).filter(|m| !m.is_empty()) {
                    return Ok(Some(m));
                }
                continue;
            }
            self.push_line();
        }
        // A separator held at the end of the file was text.
        if let (Some(held), Some(m)) = (self.held.take(), self.current.as_mut()) {
            m.extend_from_slice(&held);
        }
        Ok(self
            .current
            .take()
            .map(trim_separator)
            .filter(|m| !m.is_empty()))
    }
}

/// Whether `line` starts like a header field: a name of printable characters, then a
/// colon.
fn looks_like_header(line: &[u8]) -> bool {
    let name_end = line.iter().position(|b| *b == b':');
    name_end.is_some_and(|end| {
        end > 0
            && line
                .get(..end)
                .is_some_and(|n| n.iter().all(|b| b.is_ascii_graphic()))
    })
}

/// Whether `line` is an mbox separator as mbox writers make it: `From <sender> <date>`,
/// the date `Www Mmm dd hh:mm[:ss] [zone] yyyy` (the sender may hold spaces: Mailman's
/// archives write `user at example.org`). A body line that merely starts with "From "
/// after a blank line, left unescaped (Mailman 2's archives do), is text: taken for a
/// separator, it was lost and split its report in two.
fn is_separator(line: &[u8]) -> bool {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let Some(rest) = line.strip_prefix(b"From ") else {
        return false;
    };
    let text = String::from_utf8_lossy(rest);
    let words: Vec<&str> = text.split_whitespace().collect();
    let Some(day) = words
        .windows(2)
        .skip(1)
        .position(|w| matches!(w, [d, m] if DAYS.contains(d) && MONTHS.contains(m)))
        .map(|i| i + 1)
    else {
        return false;
    };
    let after = words.get(day + 2..).unwrap_or_default();
    let is_time = |w: &&str| {
        let parts: Vec<&str> = w.split(':').collect();
        (2..=3).contains(&parts.len())
            && parts
                .iter()
                .all(|p| (1..=2).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
    };
    let is_year = |w: &&str| w.len() == 4 && w.bytes().all(|b| b.is_ascii_digit());
    after.iter().any(is_time) && after.iter().any(is_year)
}

/// Splits an mbox held in memory into messages (see [`MboxReader`]).
pub fn split_mbox(data: &[u8]) -> Vec<Vec<u8>> {
    let mut reader = MboxReader::new(data);
    let mut out = Vec::new();
    // Reading from a slice cannot fail.
    while let Ok(Some(m)) = reader.next_message() {
        out.push(m);
    }
    out
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

/// An archive opened for reading, message by message, oldest first as far as the
/// archive tells. Only the current message is in memory (and, for a Maildir, the list
/// of its file names).
pub enum Archive {
    Mbox {
        path: PathBuf,
        reader: MboxReader<std::io::BufReader<std::fs::File>>,
    },
    Maildir {
        files: std::vec::IntoIter<PathBuf>,
        /// Files listed but gone when read (see [`ImportReport::vanished`]).
        vanished: usize,
        /// The Maildir++ folders beside it, not read, with their files.
        folders: Vec<(String, usize)>,
    },
}

impl Archive {
    pub fn open(path: &Path) -> Result<Archive, ImportError> {
        if path.is_file() {
            let read = |source| ImportError::Read {
                path: path.to_path_buf(),
                source,
            };
            let mut file = std::fs::File::open(path).map_err(read)?;
            // An mbox starts with its first message's `From ` line; anything else (a
            // single .eml) would be read as no message at all.
            let mut head = [0u8; 5];
            let n = std::io::Read::read(&mut file, &mut head).map_err(read)?;
            if n > 0 && head.get(..n) != b"From ".get(..n) {
                return Err(ImportError::NotMbox(path.to_path_buf()));
            }
            std::io::Seek::rewind(&mut file).map_err(read)?;
            return Ok(Archive::Mbox {
                path: path.to_path_buf(),
                reader: MboxReader::new(std::io::BufReader::with_capacity(1 << 16, file)),
            });
        }
        if path.join("cur").is_dir() || path.join("new").is_dir() {
            let mut files = maildir_files(path)?;
            // Maildir names start with the delivery time, so name order is arrival order.
            files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
            return Ok(Archive::Maildir {
                files: files.into_iter(),
                vanished: 0,
                folders: maildir_folders(path)?,
            });
        }
        Err(ImportError::NotAnArchive(path.to_path_buf()))
    }

    /// What the archive held that was not read: files gone when read, and Maildir++
    /// folders (see [`ImportReport`]).
    fn left_out(&self) -> (usize, Vec<(String, usize)>) {
        match self {
            Archive::Mbox { .. } => (0, Vec::new()),
            Archive::Maildir {
                vanished, folders, ..
            } => (*vanished, folders.clone()),
        }
    }

    /// The next message, `None` after the last.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, ImportError> {
        match self {
            Archive::Mbox { path, reader } => {
                reader.next_message().map_err(|source| ImportError::Read {
                    path: path.clone(),
                    source,
                })
            }
            Archive::Maildir {
                files, vanished, ..
            } => {
                for f in files.by_ref() {
                    match std::fs::read(&f) {
                        Ok(bytes) => return Ok(Some(bytes)),
                        // Renamed since it was listed (its flags changed, or new/ to
                        // cur/): the next run files it, and knows what is on file.
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => *vanished += 1,
                        Err(source) => return Err(ImportError::Read { path: f, source }),
                    }
                }
                Ok(None)
            }
        }
    }
}

/// The files of a Maildir's `cur/` and `new/`.
fn maildir_files(root: &Path) -> Result<Vec<PathBuf>, ImportError> {
    let mut files = Vec::new();
    for sub in ["cur", "new"] {
        let dir = root.join(sub);
        if !dir.is_dir() {
            continue;
        }
        files.extend(entries(&dir)?.into_iter().filter(|p| p.is_file()));
    }
    Ok(files)
}

/// The Maildir++ folders inside a Maildir (`.Archive`, `.Sent`: directories whose name
/// starts with a dot and that hold a `cur/`), with how many files each holds, by name.
fn maildir_folders(root: &Path) -> Result<Vec<(String, usize)>, ImportError> {
    let mut out = Vec::new();
    for dir in entries(root)? {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        if let Some(name) = name.filter(|n| n.starts_with('.') && dir.join("cur").is_dir()) {
            out.push((name, maildir_files(&dir)?.len()));
        }
    }
    out.sort();
    Ok(out)
}

/// The entries of a directory.
fn entries(dir: &Path) -> Result<Vec<PathBuf>, ImportError> {
    let fail = |source| ImportError::Read {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::read_dir(dir)
        .map_err(fail)?
        .map(|e| e.map(|e| e.path()).map_err(fail))
        .collect()
}

/// The messages of an archive, all in memory (for small archives and tests; `import`
/// streams).
pub fn read_archive(path: &Path) -> Result<Vec<Vec<u8>>, ImportError> {
    let mut archive = Archive::open(path)?;
    let mut out = Vec::new();
    while let Some(m) = archive.next_message()? {
        out.push(m);
    }
    Ok(out)
}

/// Header fields a mail store writes into its own files (mbox and Maildir exports), which
/// IMAP never shows: the flags, the UID, the length.
const STORE_FIELDS: [&str; 10] = [
    "status",
    "x-status",
    "x-keywords",
    "x-uid",
    "x-imap",
    "x-imapbase",
    "content-length",
    "x-mozilla-status",
    "x-mozilla-status2",
    "x-mozilla-keys",
];

/// A message as IMAP hands it over: its lines ending in CRLF, without the fields its
/// mail store wrote for itself ([`STORE_FIELDS`], in the top header block). So a mail
/// the desk read live is recognised in an export of the same mailbox, even one with no
/// Message-ID (whose id is made from the bytes). One pass over the bytes.
pub fn as_delivered(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 32);
    let (mut in_header, mut skipping) = (true, false);
    let mut lines = raw.split(|b| *b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let last = lines.peek().is_none();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if in_header {
            if line.is_empty() {
                in_header = false;
            } else if matches!(line.first(), Some(b' ' | b'\t')) {
                if skipping {
                    continue;
                }
            } else {
                let name = line.split(|b| *b == b':').next().unwrap_or(line);
                let name = String::from_utf8_lossy(name).trim().to_ascii_lowercase();
                skipping = STORE_FIELDS.contains(&name.as_str());
                if skipping {
                    continue;
                }
            }
        }
        out.extend_from_slice(line);
        if !last {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

/// How many messages one import transaction carries (each in its own savepoint).
const IMPORT_BATCH: usize = 200;

/// How many bytes of mail one import batch holds, at most (a larger message is a batch
/// of its own): 200 mails with large attachments must not sit in memory together, nor
/// be filed in one long transaction beside a running desk.
const IMPORT_BATCH_BYTES: usize = 8 << 20;

/// The next messages of `archive`, numbered from `seq` on: at most [`IMPORT_BATCH`]
/// of them, ending with the one that brings it to [`IMPORT_BATCH_BYTES`].
fn next_batch(archive: &mut Archive, seq: &mut u32) -> Result<Vec<(u32, Vec<u8>)>, ImportError> {
    let mut batch = Vec::new();
    let mut bytes = 0usize;
    while batch.len() < IMPORT_BATCH && bytes < IMPORT_BATCH_BYTES {
        let Some(message) = archive.next_message()? else {
            break;
        };
        *seq = seq.saturating_add(1);
        bytes = bytes.saturating_add(message.len());
        batch.push((*seq, message));
    }
    Ok(batch)
}

/// Imports every message of the archive at `path`, streaming it: messages are read,
/// stored and processed [`IMPORT_BATCH`] at a time, one transaction per batch and one
/// savepoint per message, so each message is still all-or-nothing and memory does not
/// grow with the archive.
pub fn import(
    desk: &Desk,
    store: &mut Store,
    path: &Path,
    clock: &dyn Clock,
) -> Result<ImportReport, ImportError> {
    let mut archive = Archive::open(path)?;
    let source = path.display().to_string();
    let mut report = ImportReport::default();
    let mut seq: u32 = 0;
    loop {
        let batch = next_batch(&mut archive, &mut seq)?;
        if batch.is_empty() {
            break;
        }
        // Parsed before the write transaction opens, as live mail is.
        let batch: Vec<(u32, Vec<u8>, mail::Parsed)> = batch
            .into_iter()
            .map(|(seq, bytes)| {
                let bytes = as_delivered(&bytes);
                let parsed = mail::parse(&bytes);
                (seq, bytes, parsed)
            })
            .collect();
        let now = clock.now();
        let (outcomes, failed) = store.write(|tx| {
            let mut outcomes = Vec::with_capacity(batch.len());
            for (seq, bytes, parsed) in batch {
                // The mail's own date, so the case history shows when things happened.
                let when = match &parsed {
                    mail::Parsed::Mail(m) => m.date.filter(|d| *d <= now).unwrap_or(now),
                    _ => now,
                };
                let one = (seq, bytes.as_slice(), parsed);
                match tx.savepoint(|tx| import_one(desk, tx, &source, one, (when, now))) {
                    Ok(p) => outcomes.push(p),
                    // The mail itself cannot be processed (it made the processing fail or
                    // panic, and would at every run): filed raw and set aside, as the
                    // daemon sets aside such mail, and the import goes on.
                    Err(store::StoreError::Corrupt(reason)) => {
                        outcomes.push(tx.savepoint(|tx| {
                            set_aside(desk, tx, (&source, seq, &bytes), &reason, clock)
                        })?);
                    }
                    // Committed up to here; this one and the rest are not.
                    Err(e) => return Ok((outcomes, Some((seq, e)))),
                }
            }
            Ok((outcomes, None))
        })?;
        for outcome in outcomes {
            report.messages += 1;
            match outcome {
                Processed::Filed { opened: true, .. } => report.cases_opened += 1,
                Processed::Duplicate(_) | Processed::AlreadyDone => report.duplicates += 1,
                _ => {}
            }
        }
        if let Some((seq, source)) = failed {
            return Err(ImportError::Message {
                seq,
                done: report.messages,
                path: path.to_path_buf(),
                source,
            });
        }
    }
    (report.vanished, report.folders_left) = archive.left_out();
    Ok(report)
}

/// Stores and processes one archived message inside `tx`. A panic while processing it
/// is the mail's doing: it comes back as [`store::StoreError::Corrupt`], saying so.
fn import_one(
    desk: &Desk,
    tx: &store::Tx<'_>,
    source: &str,
    (seq, bytes, parsed): (u32, &[u8], mail::Parsed),
    (when, now): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>),
) -> store::Result<Processed> {
    match tx.insert_imported(source, seq, bytes, now)? {
        Some(raw_id) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            desk.process_parsed(tx, Some(raw_id), bytes, parsed, when, Delivery::Suppress)
        }))
        .unwrap_or_else(|_| {
            Err(store::StoreError::Corrupt(
                "processing it panicked".to_string(),
            ))
        }),
        None => Ok(Processed::AlreadyDone),
    }
}

/// Files message `seq` of the archive raw, set aside on a case of its own with `reason`
/// (nobody told: an import sends nothing; the case waits in `secdesk cases`).
fn set_aside(
    desk: &Desk,
    tx: &store::Tx<'_>,
    (source, seq, bytes): (&str, u32, &[u8]),
    reason: &str,
    clock: &dyn Clock,
) -> store::Result<Processed> {
    match tx.insert_imported(source, seq, bytes, clock.now())? {
        Some(raw_id) => {
            let reason = format!("importing it failed: {reason}");
            desk.file_aside(tx, raw_id, bytes, &reason, clock.now(), Delivery::Suppress)
        }
        None => Ok(Processed::AlreadyDone),
    }
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
    if r.vanished > 0 {
        out.line(&format!(
            "{} file{} went or changed name while the import ran (a mail client marking mail read?): run the same import again to file {} (what is on file is recognised).",
            r.vanished,
            if r.vanished == 1 { "" } else { "s" },
            if r.vanished == 1 { "it" } else { "them" },
        ));
    }
    for (folder, files) in &r.folders_left {
        out.line(&format!(
            "not imported: the folder {folder} ({files} file{}); import each folder on its own: secdesk import {}",
            if *files == 1 { "" } else { "s" },
            path.join(folder).display()
        ));
    }
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Maildir's Maildir++ folders are named as not imported (they were skipped without
    /// a word: the team's `.Archive` of handled reports stayed out, unknown to the
    /// operator); a file listed but gone when read (a client marking mail read renames
    /// it) is counted and the import goes on (it stopped with an error, and the batch
    /// read so far was not filed).
    #[test]
    fn a_maildir_names_its_folders_and_goes_on_past_a_file_gone() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for sub in ["cur", "new", ".Archive/cur", ".Archive/new", ".Archive/tmp"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        for (n, file) in [
            "cur/1.a:2,S",
            "cur/2.b:2,S",
            "new/3.c",
            ".Archive/cur/4.d:2,S",
        ]
        .into_iter()
        .enumerate()
        {
            std::fs::write(root.join(file), format!("Subject: {n}\r\n\r\nx\r\n")).unwrap();
        }
        let mut archive = Archive::open(root).unwrap();
        std::fs::rename(root.join("cur/2.b:2,S"), root.join("cur/2.b:2,RS")).unwrap();
        let mut read = Vec::new();
        while let Some(m) = archive.next_message().unwrap() {
            read.push(String::from_utf8(m).unwrap());
        }
        assert_eq!(read.len(), 2, "{read:?}");
        assert_eq!(archive.left_out(), (1, vec![(".Archive".to_string(), 1)]));
    }

    #[test]
    fn a_message_is_read_as_imap_hands_it_over() {
        for (stored, delivered) in [
            // CRLF already, with nothing to drop: the same bytes.
            ("A: 1\r\n\r\nbody\r\n", "A: 1\r\n\r\nbody\r\n"),
            ("A: 1\n\nbody\nmore", "A: 1\r\n\r\nbody\r\nmore"),
            // The store's fields go, folded lines and all; the same names in the body stay.
            (
                "Status: RO\nA: 1\nX-Keywords: one\n two\nX-UID: 7\ncontent-length: 3\n\nStatus: body\n",
                "A: 1\r\n\r\nStatus: body\r\n",
            ),
            ("", ""),
        ] {
            assert_eq!(
                String::from_utf8(as_delivered(stored.as_bytes())).unwrap(),
                delivered,
                "{stored:?}"
            );
        }
    }

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

    /// A batch of an import ends at a byte budget as well as a count: 200 mails with
    /// large attachments never sit in memory, or in one transaction, together. (A batch
    /// was 200 mails whatever their size: gigabytes.)
    #[test]
    fn an_import_batch_ends_at_its_byte_budget() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("new")).unwrap();
        let big = "x".repeat(3 << 20);
        for n in 0..5 {
            let mail = format!("Subject: {n}\r\n\r\n{big}\r\n");
            std::fs::write(dir.path().join(format!("new/{n}")), mail).unwrap();
        }
        let mut archive = Archive::open(dir.path()).unwrap();
        let mut seq = 0;
        let mut sizes = Vec::new();
        loop {
            let batch = next_batch(&mut archive, &mut seq).unwrap();
            if batch.is_empty() {
                break;
            }
            sizes.push(batch.len());
        }
        assert_eq!((sizes, seq), (vec![3, 2], 5));
        let many = "From a@b Mon Nov 23 10:00:00 2026\nSubject: s\n\nx\n\n".repeat(300);
        let path = dir.path().join("many.mbox");
        std::fs::write(&path, many).unwrap();
        let mut archive = Archive::open(&path).unwrap();
        let mut seq = 0;
        assert_eq!(
            next_batch(&mut archive, &mut seq).unwrap().len(),
            IMPORT_BATCH
        );
    }

    /// A body line starting with "From " after a blank line, left unescaped (Mailman 2's
    /// archives), stays in its message; separators as mbox writers make them still
    /// separate. (The line was taken for a separator: lost, and the rest of the report
    /// made a mail without headers, on a case of its own.)
    #[test]
    fn only_a_from_line_with_a_date_separates() {
        let mbox = b"From a@b Mon Nov 23 10:00:00 2026\nSubject: one\n\nSteps below.\n\nFrom the attached file, run ./parser poc.bin\nat 10:00 in 2026\n\nFrom user at example.org  Tue Nov 24 09:05:00 2026\nSubject: two\n\nx\n\nFrom - Wed Nov 25 01:02 +0100 2026\nSubject: three\n\ny\n";
        let msgs = split_mbox(mbox);
        assert_eq!(msgs.len(), 3, "{msgs:?}");
        assert_eq!(
            msgs[0],
            b"Subject: one\n\nSteps below.\n\nFrom the attached file, run ./parser poc.bin\nat 10:00 in 2026\n".to_vec()
        );
        assert_eq!(msgs[2], b"Subject: three\n\ny\n".to_vec());
        // A separator right under a message's last line, no blank line between: two
        // messages (they were one, the second report inside the first).
        let tight = b"From a@b Mon Nov 23 10:00:00 2026\nSubject: first\n\nno blank line after it\nFrom b@c Mon Nov 23 11:00:00 2026\nSubject: RCE\n\ndetails\n";
        let msgs = split_mbox(tight);
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert_eq!(msgs[1], b"Subject: RCE\n\ndetails\n".to_vec());
        // Under a line of text and over no header, such a line is text (a sample pasted
        // in a report, unescaped by an mboxcl2 writer).
        let pasted = b"From a@b Mon Nov 23 10:00:00 2026\nSubject: parser\n\nit crashes on:\nFrom x@y Mon Nov 23 09:00:00 2026\n\x00\x01 garbage\nend\n";
        let msgs = split_mbox(pasted);
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        assert!(msgs[0].ends_with(
            b"it crashes on:\nFrom x@y Mon Nov 23 09:00:00 2026\n\x00\x01 garbage\nend\n"
        ));
        // Nor is it lost at the end of the file.
        let last = b"From a@b Mon Nov 23 10:00:00 2026\nSubject: s\n\ntext\nFrom x@y Mon Nov 23 09:00:00 2026\n";
        let msgs = split_mbox(last);
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        assert!(
            msgs[0].ends_with(b"text\nFrom x@y Mon Nov 23 09:00:00 2026\n"),
            "{msgs:?}"
        );
        for line in [
            "From the start of 10:00 2026",
            "From Mon Nov 23 10:00:00 2026",
            "From a@b Mon Nov 23 2026",
        ] {
            assert!(!is_separator(line.as_bytes()), "{line}");
        }
    }
}
