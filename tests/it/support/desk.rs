//! The desk against a mail stack, as the end-to-end and operator tests drive it: its
//! configuration, the desk in-process or as the real binary, and a read-only look at
//! its database.

use crate::support::mailstack::MailStack;
use crate::world::{ALICE, DESK, RITA, config_text, report, secrets, team_mail};
use rusqlite::{Connection, OpenFlags};
use secdesk::clock::{Clock, SystemClock};
use secdesk::config::Config;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// The test config against `stack`, plain text on loopback, database `db`. No weekly
/// digest unless `extra` sets one: the binary runs on the wall clock, and a test running
/// across Monday 09:00 would find one more mail in every member's mailbox.
pub fn stack_config(stack: &MailStack, db: &Path, extra: &str) -> String {
    let extra = if extra.contains("digest") {
        extra.to_string()
    } else {
        with_policy(extra, "digest = \"none\"")
    };
    config_text(
        db.to_str().unwrap(),
        stack.imap_port,
        stack.smtp_port,
        &extra,
    )
}

/// `extra` with `line` in its `[policy]` table (one is added if it has none).
pub fn with_policy(extra: &str, line: &str) -> String {
    match extra.find("[policy]\n") {
        Some(at) => {
            let (head, tail) = extra.split_at(at + "[policy]\n".len());
            format!("{head}{line}\n{tail}")
        }
        None => format!("{extra}\n[policy]\n{line}\n"),
    }
}

/// A config for the desk against `stack`, over STARTTLS with the stack's CA; the database
/// is `desk.db` in `dir`.
pub fn starttls_stack_config(stack: &MailStack, dir: &Path, extra: &str) -> (String, PathBuf) {
    let db = dir.join("desk.db");
    let text = stack_config(stack, &db, extra)
        .replace("host = \"127.0.0.1\"", "host = \"localhost\"")
        .replace(
            "tls = \"none\"",
            &format!(
                "tls = \"starttls\"\nca_file = \"{}\"",
                stack.ca_file.display()
            ),
        );
    (text, db)
}

/// Sends Rita's report (`id`, `subject`, `text`) to the desk through the stack's SMTP.
pub fn send_report(stack: &MailStack, id: &str, subject: &str, text: &str) {
    stack.send(RITA, &[DESK], report(id, subject, text).as_bytes());
}

/// Sends Alice's mail to the desk through the stack's SMTP: `text` (with `#` commands)
/// under Message-ID `id`, in reply to `parent` if any, stamped as the team's own
/// receiving server stamps it.
pub fn send_alice(stack: &MailStack, id: &str, parent: Option<&str>, subject: &str, text: &str) {
    let mail = team_mail(ALICE, id, parent, subject, None, text);
    stack.send(ALICE, &[DESK], mail.as_bytes());
}

/// Puts `n` reports straight into the desk's INBOX (no SMTP, nothing awaited): report
/// `i` has Message-ID `{tag}{i}@reporter.test` and subject `{subject} {i}`, and comes
/// from `{sender}{i}@reporter.test` (a sender of its own), or from Rita without one.
pub fn append_reports(stack: &MailStack, n: usize, tag: &str, subject: &str, sender: Option<&str>) {
    let mut imap = stack.imap(DESK);
    for i in 0..n {
        let mail = report(
            &format!("{tag}{i}@reporter.test"),
            &format!("{subject} {i}"),
            "x",
        );
        let mail = match sender {
            Some(s) => mail.replace(RITA, &format!("{s}{i}@reporter.test")),
            None => mail,
        };
        imap.append("INBOX", mail.as_bytes());
    }
}

/// A read-only look at the database (as an operator's sqlite3 would take).
pub fn open_ro(db: &Path) -> Result<Connection, String> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("cannot open {}: {e}", db.display()))?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    Ok(conn)
}

/// One integer from the database, or what went wrong (no file, no table yet, …).
pub fn count(db: &Path, sql: &str) -> Result<i64, String> {
    open_ro(db)?
        .query_row(sql, [], |r| r.get(0))
        .map_err(|e| format!("{sql}: {e}"))
}

pub fn must_count(db: &Path, sql: &str) -> i64 {
    count(db, sql).unwrap_or_else(|e| panic!("{e}"))
}

/// `n` reports filed once each: `n` cases, `n` incoming messages, `n` acknowledgements.
pub fn assert_filed_once_each(db: &Path, n: i64) {
    for sql in [
        "SELECT COUNT(*) FROM cases",
        "SELECT COUNT(*) FROM messages WHERE direction = 'in'",
        "SELECT COUNT(*) FROM outbox WHERE purpose = 'ack'",
    ] {
        assert_eq!(must_count(db, sql), n, "{sql}");
    }
}

/// `must_count`, but 0 while the database file is not there yet (a desk starting).
pub fn tally(db: &Path, sql: &str) -> i64 {
    if !db.exists() {
        return 0;
    }
    must_count(db, sql)
}

/// Polls `probe` until it succeeds, for at most `timeout`. Its error says what it saw
/// instead: a count still too low, or a query error, which is never read as 0 (early on,
/// before the desk has created its database, errors are expected). When time runs out,
/// the last one is returned with what was awaited.
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match probe() {
            Ok(v) => return Ok(v),
            Err(seen) if std::time::Instant::now() >= deadline => {
                return Err(format!("waited {timeout:?} for {what}; last saw: {seen}"));
            }
            // Polling a file another process writes, bounded by the deadline.
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// How long the desk may take to open the mailbox the first time.
const FIRST_SYNC: Duration = Duration::from_secs(20);

/// Waits until the desk has opened the mailbox once (its cursor exists): from then on,
/// new mail is live. Mail already there at the first start is filed as history.
pub fn wait_first_sync(db: &Path) -> Result<(), String> {
    wait_until("the desk to open the mailbox", FIRST_SYNC, || match count(
        db,
        "SELECT COUNT(*) FROM imap_cursor",
    )? {
        0 => Err("no IMAP cursor yet".into()),
        _ => Ok(()),
    })
}

/// The config `text`, with the test secrets; panics with the problems it has.
pub fn load(text: &str) -> Config {
    Config::from_toml(text, &secrets()).unwrap_or_else(|p| panic!("{p:?}"))
}

/// The desk running in-process on its own runtime, stopped on drop.
pub struct RunningDesk {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl RunningDesk {
    /// Starts the desk on the system clock and waits until it has read the inbox once.
    pub fn start(config: Config) -> RunningDesk {
        RunningDesk::start_with_clock(config, Arc::new(SystemClock))
    }

    /// The desk against `stack` over STARTTLS (the test config plus `extra`), its
    /// database `desk.db` in `dir`, started and synced once; with that database's path.
    pub fn against(stack: &MailStack, dir: &Path, extra: &str) -> (RunningDesk, PathBuf) {
        let (text, db) = starttls_stack_config(stack, dir, extra);
        (RunningDesk::start(load(&text)), db)
    }

    /// Starts the desk on `clock` and waits until it has read the inbox once.
    pub fn start_with_clock(config: Config, clock: Arc<dyn Clock>) -> RunningDesk {
        let db = config.desk.database.clone();
        let desk = RunningDesk::spawn(config, clock);
        wait_first_sync(&db).unwrap();
        desk
    }

    /// Starts the desk without waiting for it to read the inbox.
    pub fn start_unsynced(config: Config) -> RunningDesk {
        RunningDesk::spawn(config, Arc::new(SystemClock))
    }

    fn spawn(mut config: Config, clock: Arc<dyn Clock>) -> RunningDesk {
        // No weekly digest: on the wall clock, a test running across Monday 09:00 would
        // find one more mail in every member's mailbox. (The digest's own tests drive it.)
        config.policy.digest = None;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(secdesk::service::daemon::run(config, clock, None, async {
                let _ = rx.await;
            }))
        });
        RunningDesk {
            stop: Some(tx),
            thread: Some(thread),
        }
    }
}

impl RunningDesk {
    /// Stops the desk; what it returned, an error if it had stopped before it was asked
    /// to (a desk that died mid-test must not pass for one that ran on).
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.stop_now()
    }

    fn stop_now(&mut self) -> anyhow::Result<()> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        let died = thread.is_finished();
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let ended = match thread.join() {
            Ok(ended) => ended,
            Err(panic) => {
                let why = (panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                Err(anyhow::anyhow!("the desk's thread panicked: {why}"))
            }
        };
        match (died, ended) {
            (_, Err(e)) => Err(e.context("the desk stopped with an error")),
            (true, Ok(())) => Err(anyhow::anyhow!("the desk stopped before it was asked to")),
            (false, Ok(())) => Ok(()),
        }
    }
}

impl Drop for RunningDesk {
    /// Stops the desk; one that failed or died on its own fails the test (unless the test
    /// is already failing: then it is only said).
    fn drop(&mut self) {
        let stopped = self.stop_now();
        if let Err(e) = stopped {
            if std::thread::panicking() {
                eprintln!("{e:#}");
            } else {
                panic!("{e:#}");
            }
        }
    }
}

/// Runs the real binary (with `env` added); killed on drop.
pub struct Daemon(pub Child);

impl Daemon {
    pub fn start(config: &Path, log: &Path, env: &[(&str, &str)]) -> Daemon {
        let log = std::fs::File::create(log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_secdesk"))
            .args(["run", "--config", config.to_str().unwrap()])
            .env("TEST_IMAP_PASSWORD", "secret")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        Daemon(child)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
