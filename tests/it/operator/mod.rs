//! What an operator does with the `secdesk` binary, run as a subprocess: `check` against
//! a real Postfix + Dovecot, `run` stopped with SIGTERM in the middle of a backlog,
//! `import` of archives, `backup` while the desk writes, the systemd unit, and the OSV
//! output against the official schema: one file per suite (`check.rs`, `sigterm.rs`,
//! `import.rs`, `backup.rs`, `beside.rs`, `catchup.rs`, `systemd.rs`, `osv.rs`), the helpers they share here.
//!
//! Every wait polls something observable (the SQLite file, a mailbox, the process) and
//! gives up at a hard deadline, saying what it saw.

use crate::support::desk::{assert_filed_once_each, count, must_count, open_ro, stack_config};
use crate::support::mailstack::MailStack;
use crate::world::*;
use secdesk::store::Store;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

mod backup;
mod beside;
mod catchup;
mod check;
mod import;
mod osv;
pub(crate) use osv::validate_osv;
mod sigterm;
mod systemd;

const SECDESK: &str = env!("CARGO_BIN_EXE_secdesk");

/// How long a whole backlog may take to be filed or answered before a test calls it a
/// hang: only a bound, never a speed (a loaded 2-core machine files and sends slowly).
const BACKLOG_BUDGET: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// `secdesk --config CONFIG`, with an environment that holds the test's IMAP password and
/// nothing from the caller that would change behaviour (systemd sockets, credentials).
fn secdesk_cmd(config: &Path) -> Command {
    let mut c = Command::new(SECDESK);
    c.arg("--config")
        .arg(config)
        .env("TEST_IMAP_PASSWORD", "secret")
        .env("SECDESK_LOG", "info")
        .env_remove("SECDESK_CONFIG")
        .env_remove("CREDENTIALS_DIRECTORY")
        .env_remove("JOURNAL_STREAM")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .stdin(Stdio::null());
    c
}

/// Runs a one-shot subcommand to completion.
fn run_cli(config: &Path, args: &[&str]) -> Output {
    let mut c = secdesk_cmd(config);
    c.args(args);
    c.output()
        .unwrap_or_else(|e| panic!("running {SECDESK} {args:?}: {e}"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn all_output(o: &Output) -> String {
    format!(
        "status: {}\n--- stdout ---\n{}--- stderr ---\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `text` with `from` (which must occur exactly once) replaced by `to`.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "expected {from:?} exactly once in the config:\n{text}"
    );
    text.replacen(from, to, 1)
}

fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}

const DONE_SQL: &str = "SELECT COUNT(*) FROM raw_mail WHERE state != 'pending'";
/// The backlog's mails (Message-IDs `backlog-N@…`) that are done.
const BACKLOG_DONE_SQL: &str =
    "SELECT COUNT(*) FROM raw_mail WHERE state != 'pending' AND message_id LIKE 'backlog-%'";

/// `secdesk run` as a child process, its stderr in a file; killed (SIGKILL, by pid) if a
/// test fails while it runs.
struct Daemon {
    child: Option<Child>,
    log: PathBuf,
}

impl Daemon {
    fn start(config: &Path, log: PathBuf) -> Daemon {
        let err = fs::File::create(&log).unwrap();
        let child = secdesk_cmd(config)
            .arg("run")
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {SECDESK} run: {e}"));
        Daemon {
            child: Some(child),
            log,
        }
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics (with the log) if the desk has exited.
    fn assert_running(&mut self) {
        let child = self.child.as_mut().expect("the desk was stopped already");
        if let Some(status) = child.try_wait().unwrap() {
            self.child = None;
            panic!(
                "secdesk run exited early ({status}); its log:\n{}",
                self.log_text()
            );
        }
    }

    /// Waits for a database condition while checking that the desk still runs.
    fn wait_db<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut probe: impl FnMut() -> Result<T, String>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            self.assert_running();
            match probe() {
                Ok(v) => return v,
                Err(seen) if Instant::now() >= deadline => panic!(
                    "waited {timeout:?} for {what}; last saw: {seen}\nthe desk's log:\n{}",
                    self.log_text()
                ),
                // Polling the SQLite file the desk writes, bounded by the deadline.
                Err(_) => thread::sleep(Duration::from_millis(3)),
            }
        }
    }

    /// Waits (at most 15 s) until exactly `n` mails are processed.
    fn wait_processed(&mut self, what: &str, db: &Path, n: i64) {
        self.wait_db(what, Duration::from_secs(15), || {
            match count(db, DONE_SQL)? {
                k if k == n => Ok(()),
                k => Err(format!("{k}/{n} processed")),
            }
        });
    }

    /// Sends SIGTERM; the desk must exit successfully within 20 s (`what` names the run).
    fn stop_cleanly(&mut self, what: &str) {
        let status = self.sigterm(Duration::from_secs(20));
        assert!(
            status.success(),
            "{what} exit: {status}\n{}",
            self.log_text()
        );
    }

    /// Sends SIGTERM and waits (at most `within`) for the exit status.
    fn sigterm(&mut self, within: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("the desk was stopped already");
        let pid = child.id().to_string();
        let kill = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap_or_else(|e| panic!("running kill: {e}"));
        assert!(kill.success(), "kill -TERM {pid} failed: {kill}");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            if Instant::now() >= deadline {
                panic!(
                    "secdesk (pid {pid}) still runs {within:?} after SIGTERM; its log:\n{}",
                    self.log_text()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            eprintln!("secdesk run was killed; its log:\n{}", self.log_text());
        }
    }
}

/// How many reports the backlog suites put in the mailbox: four and a half batches of
/// the ingest's 100, so that one is filed while the next waits, stored, and after the
/// first commit hundreds still wait: the desk is stopped in between on a slow machine
/// too (with two batches, the second was filed a few milliseconds after the first).
const BACKLOG: usize = 450;

/// A report from `r{i}@reporter.test` (CRLF, as IMAP wants it).
fn backlog_report(i: usize) -> String {
    format!(
        "From: Reporter {i} <r{i}@reporter.test>\r\nTo: {DESK}\r\nSubject: Crash number {i} in the parser\r\nMessage-ID: <backlog-{i}@reporter.test>\r\nDate: Mon, 23 Nov 2026 06:00:00 +0100\r\n\r\nInput number {i} crashes the parser.\r\n"
    )
}

/// Runs the desk once on a mailbox holding only a team member's command naming no case
/// (kept raw, filed on no case, answered by no one), so that what arrives afterwards is
/// live mail: mail already in a mailbox the first time the desk opens it is filed as
/// history, never answered. (Mail from the desk's own address would open a case: it is
/// never swallowed.)
fn prime(stack: &MailStack, cfg: &Path, db: &Path, dir: &Path) {
    append_all(
        stack,
        &[format!(
            "From: {ALICE}\r\nTo: {DESK}\r\nSubject: test primer\r\nMessage-ID: <primer@example.org>\r\nDate: Mon, 23 Nov 2026 06:00:00 +0100\r\n\r\n#show\r\n"
        )],
    );
    let mut desk = Daemon::start(cfg, dir.join("primer.log"));
    desk.wait_processed("the primer processed", db, 1);
    desk.stop_cleanly("primer run");
    assert_eq!(
        must_count(db, "SELECT COUNT(*) FROM cases"),
        0,
        "the primer opened a case"
    );
    assert_eq!(
        must_count(db, "SELECT COUNT(*) FROM outbox"),
        0,
        "the primer was answered"
    );
}

/// A desk configured against a fresh stack and primed, with the backlog's reports
/// waiting in its inbox as live mail.
struct Backlogged {
    stack: MailStack,
    dir: tempfile::TempDir,
    db: PathBuf,
    cfg: PathBuf,
}

fn backlogged() -> Backlogged {
    let primed = primed();
    let mails: Vec<String> = (0..BACKLOG).map(backlog_report).collect();
    append_all(&primed.stack, &mails);
    primed
}

/// A desk configured against a fresh stack and primed, its inbox empty.
fn primed() -> Backlogged {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("desk.db");
    let cfg = write_config(
        dir.path(),
        "desk.toml",
        &stack_config(&stack, &db, NO_DESK_ACK_LIMIT),
    );
    prime(&stack, &cfg, &db, dir.path());
    Backlogged {
        stack,
        dir,
        db,
        cfg,
    }
}

/// Puts `mails` into the desk's INBOX over one IMAP session.
fn append_all(stack: &MailStack, mails: &[String]) {
    let mut imap = stack.imap(DESK);
    for m in mails {
        imap.append("INBOX", m.as_bytes());
    }
    imap.logout();
}
