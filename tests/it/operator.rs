//! What an operator does with the `secdesk` binary, run as a subprocess: `check` against
//! a real Postfix + Dovecot, `run` stopped with SIGTERM in the middle of a backlog,
//! `import` of archives, `backup` while the desk writes, the systemd unit, and the OSV
//! output against the official schema.
//!
//! Every wait polls something observable (the SQLite file, a mailbox, the process) and
//! gives up at a hard deadline, saying what it saw.

use crate::support::mailstack::MailStack;
use crate::world::*;
use rusqlite::{Connection, OpenFlags};
use secdesk::store::Store;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const SECDESK: &str = env!("CARGO_BIN_EXE_secdesk");

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

/// The test config against `stack`, plain text on loopback, database `db`.
fn stack_config(stack: &MailStack, db: &Path, extra: &str) -> String {
    config_text(
        db.to_str().unwrap(),
        stack.imap_port,
        stack.smtp_port,
        extra,
    )
}

/// A read-only look at the database (as an operator's sqlite3 would take).
fn open_ro(db: &Path) -> Result<Connection, String> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("cannot open {}: {e}", db.display()))?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    Ok(conn)
}

/// One integer from the database, or what went wrong (no file, no table yet, …).
fn count(db: &Path, sql: &str) -> Result<i64, String> {
    open_ro(db)?
        .query_row(sql, [], |r| r.get(0))
        .map_err(|e| format!("{sql}: {e}"))
}

fn must_count(db: &Path, sql: &str) -> i64 {
    count(db, sql).unwrap_or_else(|e| panic!("{e}"))
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
    desk.wait_db(
        "the primer processed",
        Duration::from_secs(15),
        || match count(db, DONE_SQL)? {
            1 => Ok(()),
            k => Err(format!("{k} processed")),
        },
    );
    let status = desk.sigterm(Duration::from_secs(20));
    assert!(
        status.success(),
        "primer run exit: {status}\n{}",
        desk.log_text()
    );
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

/// Puts `mails` into the desk's INBOX over one IMAP session.
fn append_all(stack: &MailStack, mails: &[String]) {
    let mut imap = stack.imap(DESK);
    for m in mails {
        imap.append("INBOX", m.as_bytes());
    }
    imap.logout();
}

// ---------------------------------------------------------------------------------------
// 1. secdesk check
// ---------------------------------------------------------------------------------------

/// The FAIL lines of a `check` report.
fn fail_lines(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.starts_with("FAIL")).collect()
}

/// A good config passes, over plain text on loopback and over STARTTLS verified against
/// the stack's CA; without that CA the same STARTTLS config fails on TLS, so the
/// verification is real. `check` creates no database.
#[test]
fn check_passes_a_good_config_plain_and_over_verified_starttls() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("desk.db");
    let plain = stack_config(&stack, &db, "");

    let cfg = write_config(dir.path(), "plain.toml", &plain);
    let o = run_cli(&cfg, &["check"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{}", all_output(&o));
    assert!(
        out.ends_with("\nAll checks passed.\n"),
        "{}",
        all_output(&o)
    );
    assert_eq!(fail_lines(&out), Vec::<&str>::new());
    for expected in [
        format!("ok   config    {} is valid", cfg.display()),
        "ok   templates all render (built-in)".to_string(),
        format!(
            "ok   imap      logged in to 127.0.0.1:{} as {DESK}",
            stack.imap_port
        ),
        "ok   imap      mailbox INBOX has 0 messages".to_string(),
        format!("ok   smtp      127.0.0.1:{} accepts us", stack.smtp_port),
    ] {
        assert!(
            out.lines().any(|l| l == expected),
            "no line {expected:?} in:\n{out}"
        );
    }
    assert!(!db.exists(), "check created {}", db.display());

    // STARTTLS on both, verified against the stack's CA.
    let ca = stack.ca_file.display().to_string();
    let starttls = |with_ca: bool| -> String {
        let tls = |port: u16| {
            let ca_line = if with_ca {
                format!("\nca_file = \"{ca}\"")
            } else {
                String::new()
            };
            (
                format!("port = {port}\ntls = \"none\""),
                format!("port = {port}\ntls = \"starttls\"{ca_line}"),
            )
        };
        let (a, b) = tls(stack.imap_port);
        let (c, d) = tls(stack.smtp_port);
        edit(&edit(&plain, &a, &b), &c, &d)
    };
    let cfg = write_config(dir.path(), "starttls.toml", &starttls(true));
    let o = run_cli(&cfg, &["check"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{}", all_output(&o));
    assert!(
        out.ends_with("\nAll checks passed.\n"),
        "{}",
        all_output(&o)
    );
    assert!(
        out.contains(&format!(
            "ok   imap      logged in to 127.0.0.1:{} as {DESK}",
            stack.imap_port
        )),
        "{out}"
    );

    // Negative control: the same, trusting only the system roots, must fail on TLS.
    let cfg = write_config(dir.path(), "untrusted.toml", &starttls(false));
    let o = run_cli(&cfg, &["check"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(2), "{}", all_output(&o));
    let fails = fail_lines(&out);
    assert!(
        fails
            .iter()
            .any(|l| l.starts_with("FAIL imap ") && l.ends_with("(check imap.tls / imap.ca_file)")),
        "an unknown CA was accepted for IMAP:\n{out}"
    );
    assert!(
        fails.iter().any(|l| l.starts_with("FAIL smtp ")),
        "an unknown CA was accepted for SMTP:\n{out}"
    );
    assert!(!db.exists(), "check created {}", db.display());
}

/// Each operator mistake fails the check with exactly one FAIL line that names the key
/// to fix; the exit status is 2.
#[test]
fn check_names_the_key_behind_each_failure() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("desk.db");
    let good = stack_config(&stack, &db, "");

    // `check` with `text` fails exactly once, on a `topic` line containing every needle.
    let expect_one_fail = |name: &str, text: &str, topic: &str, needles: &[&str]| {
        let cfg = write_config(dir.path(), name, text);
        let o = run_cli(&cfg, &["check"]);
        let out = stdout(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", all_output(&o));
        assert!(
            out.ends_with("\n1 check failed.\n"),
            "{name}: {}",
            all_output(&o)
        );
        let fails = fail_lines(&out);
        assert_eq!(fails.len(), 1, "{name}: {out}");
        let line = fails[0];
        eprintln!("{name}: {line}");
        assert!(
            line.starts_with(&format!("FAIL {topic:<9} ")),
            "{name}: {line}"
        );
        for needle in needles {
            assert!(line.contains(needle), "{name}: no {needle:?} in {line:?}");
        }
        assert!(!db.exists(), "{name}: check created {}", db.display());
    };

    // A password file with the wrong password.
    let pw = dir.path().join("imap-password");
    fs::write(&pw, "wrong\n").unwrap();
    let text = edit(
        &good,
        "password_env = \"TEST_IMAP_PASSWORD\"",
        &format!("password_file = \"{}\"", pw.display()),
    );
    expect_one_fail(
        "wrong-password.toml",
        &text,
        "imap",
        &[
            &format!("IMAP login as {DESK} refused"),
            "(check imap.username / imap.password_file)",
        ],
    );

    // Nothing listens on the IMAP port.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let text = edit(
        &good,
        &format!("port = {}\n", stack.imap_port),
        &format!("port = {closed}\n"),
    );
    expect_one_fail(
        "closed-port.toml",
        &text,
        "imap",
        &[
            &format!("cannot connect to 127.0.0.1:{closed}"),
            "(check imap.host / imap.port)",
        ],
    );

    // A mailbox that does not exist.
    let text = edit(
        &good,
        "poll_interval = \"1s\"",
        "poll_interval = \"1s\"\nmailbox = \"NoSuchBox\"",
    );
    expect_one_fail(
        "no-mailbox.toml",
        &text,
        "imap",
        &["mailbox NoSuchBox: ", "(imap.mailbox)"],
    );

    // A template override using a variable the ack template does not have.
    let templates = dir.path().join("templates");
    fs::create_dir(&templates).unwrap();
    fs::write(
        templates.join("ack.txt"),
        "Subject: Thanks for your report\n\nDear {{ reporter_nickname }},\nwe got it.\n",
    )
    .unwrap();
    let db_line = format!("database = \"{}\"", db.display());
    let text = edit(
        &good,
        &db_line,
        &format!("{db_line}\ntemplates = \"{}\"", templates.display()),
    );
    expect_one_fail(
        "bad-template.toml",
        &text,
        "templates",
        &["template ack: line 3: ", "`reporter_nickname` is undefined"],
    );
}

/// Several configuration mistakes at once are all listed, each under its key, and
/// nothing is tried against the servers.
#[test]
fn check_lists_every_config_error_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("desk.db");
    // Ports nobody listens on: a broken config must not get as far as connecting.
    let text = config_text(
        db.to_str().unwrap(),
        1,
        2,
        "[policy]\ndigest = \"every other blue moon\"\n",
    );
    let text = edit(
        &text,
        "timezone = \"Europe/Paris\"",
        "timezone = \"Mars/Olympus_Mons\"",
    );
    let text = edit(&text, "[imap]\nhost = \"127.0.0.1\"\n", "[imap]\n");
    let cfg = write_config(dir.path(), "broken.toml", &text);
    let o = run_cli(&cfg, &["check"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(2), "{}", all_output(&o));
    let fails = fail_lines(&out);
    for key in [
        "calendar.timezone: ",
        "policy.digest: ",
        "imap.host: is required",
    ] {
        assert!(
            fails
                .iter()
                .any(|l| l.starts_with(&format!("FAIL config    {key}"))),
            "{key} is not listed:\n{out}"
        );
    }
    assert!(
        fails.iter().any(|l| l.contains("Mars/Olympus_Mons")),
        "the bad timezone is not quoted:\n{out}"
    );
    assert!(
        fails.iter().any(|l| l.contains("every other blue moon")),
        "the bad digest is not quoted:\n{out}"
    );
    assert_eq!(fails.len(), 3, "{out}");
    assert!(out.ends_with("\n3 checks failed.\n"), "{out}");
    assert!(
        !out.lines()
            .any(|l| matches!(l.split_whitespace().nth(1), Some("imap" | "smtp"))),
        "a broken config was tried against the servers:\n{out}"
    );
    assert!(!db.exists(), "check created {}", db.display());
}

// ---------------------------------------------------------------------------------------
// 2. SIGTERM during a backlog
// ---------------------------------------------------------------------------------------

const BACKLOG: usize = 100;

/// The Message-ID of a raw mail, without angle brackets.
fn message_id(raw: &[u8]) -> String {
    header(raw, "Message-ID")
        .unwrap_or_default()
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}

/// SIGTERM in the middle of a backlog: the desk exits 0 within 20 s, and after a restart
/// every mail is processed exactly once, one case each, and each reporter gets exactly
/// one acknowledgement (one Message-ID, even if SMTP delivered it twice).
#[test]
fn sigterm_during_a_backlog_loses_nothing() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("desk.db");
    let cfg = write_config(dir.path(), "desk.toml", &stack_config(&stack, &db, ""));
    prime(&stack, &cfg, &db, dir.path());
    let mails: Vec<String> = (0..BACKLOG).map(backlog_report).collect();
    append_all(&stack, &mails);
    let n = BACKLOG as i64;

    let mut desk = Daemon::start(&cfg, dir.path().join("run-1.log"));
    let what = "some, but not all, of the backlog processed";
    let seen = desk.wait_db(what, Duration::from_secs(15), || {
        match count(&db, BACKLOG_DONE_SQL) {
            Ok(k) if k >= n => {
                panic!("all {k} mails were done before the SIGTERM: enlarge the backlog")
            }
            Ok(k) if k > 0 => Ok(k),
            Ok(k) => Err(format!("{k} processed")),
            Err(e) => Err(e),
        }
    });
    let status = desk.sigterm(Duration::from_secs(20));
    let log1 = desk.log_text();
    assert!(
        status.success(),
        "exit after SIGTERM: {status}; log:\n{log1}"
    );
    assert!(
        log1.contains("SIGTERM received") && log1.contains("stopped"),
        "{log1}"
    );
    let after_first = must_count(&db, BACKLOG_DONE_SQL);
    eprintln!("backlog: {seen} processed at SIGTERM, {after_first} when the desk had stopped");
    assert!(
        after_first >= seen && after_first < n,
        "after the first run {after_first} of {n} were processed (at SIGTERM: {seen}); \
         the restart would prove nothing\n{log1}"
    );
    assert_eq!(
        must_count(&db, "SELECT COUNT(*) FROM cases"),
        must_count(
            &db,
            "SELECT COUNT(*) FROM raw_mail WHERE state = 'processed' AND message_id LIKE 'backlog-%'"
        ),
        "cases and processed mails disagree after the SIGTERM"
    );

    let mut desk = Daemon::start(&cfg, dir.path().join("run-2.log"));
    desk.wait_db(
        "the whole backlog processed and the outbox drained",
        Duration::from_secs(30),
        || {
            let done = count(&db, BACKLOG_DONE_SQL)?;
            // Outgoing rows are written with the mail that caused them: read them after.
            let waiting = count(&db, "SELECT COUNT(*) FROM outbox WHERE state != 'sent'")?;
            if done == n && waiting == 0 {
                Ok(())
            } else {
                Err(format!("{done}/{n} processed, {waiting} outgoing not sent"))
            }
        },
    );
    let status = desk.sigterm(Duration::from_secs(20));
    assert!(
        status.success(),
        "second exit: {status}\n{}",
        desk.log_text()
    );

    // The database: one raw row per mail, each processed once into one case.
    assert_eq!(must_count(&db, "SELECT COUNT(*) FROM raw_mail"), n + 1);
    assert_eq!(
        must_count(
            &db,
            "SELECT COUNT(*) FROM raw_mail WHERE state = 'processed' AND message_id LIKE 'backlog-%'"
        ),
        n
    );
    assert_eq!(
        must_count(
            &db,
            "SELECT COUNT(DISTINCT message_id) FROM raw_mail WHERE message_id LIKE 'backlog-%'"
        ),
        n
    );
    assert_eq!(must_count(&db, "SELECT COUNT(*) FROM cases"), n);
    assert_eq!(
        must_count(&db, "SELECT COUNT(DISTINCT reporter) FROM cases"),
        n
    );
    assert_eq!(
        must_count(
            &db,
            "SELECT COUNT(*) FROM raw_mail r WHERE r.message_id LIKE 'backlog-%' AND (SELECT COUNT(*) FROM messages m WHERE m.raw_id = r.id) != 1"
        ),
        0,
        "a raw mail was filed other than exactly once"
    );
    assert_eq!(
        must_count(&db, "SELECT COUNT(*) FROM messages WHERE direction = 'in'"),
        n
    );
    assert_eq!(
        must_count(&db, "SELECT COUNT(*) FROM outbox WHERE purpose = 'ack'"),
        n
    );
    assert_eq!(
        must_count(
            &db,
            "SELECT COUNT(DISTINCT primary_rcpt) FROM outbox WHERE purpose = 'ack'"
        ),
        n
    );

    // The ack Message-ID queued for each reporter.
    let queued: BTreeMap<String, String> = {
        let conn = open_ro(&db).unwrap();
        let mut stmt = conn
            .prepare("SELECT primary_rcpt, message_id FROM outbox WHERE purpose = 'ack'")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .unwrap()
            .map(|r| {
                let (rcpt, id) = r.unwrap();
                (rcpt, id.trim_matches(['<', '>']).to_string())
            })
            .collect()
    };
    // The mailboxes: every reporter holds acks with one Message-ID, the queued one.
    for i in 0..BACKLOG {
        let who = format!("r{i}@reporter.test");
        let got = stack.wait_for(&who, 1, Duration::from_secs(10));
        let ids: BTreeSet<String> = got.iter().map(|m| message_id(m)).collect();
        assert_eq!(
            ids.len(),
            1,
            "{who} received {} mails with {} different Message-IDs: {ids:?}",
            got.len(),
            ids.len()
        );
        assert_eq!(
            ids.first(),
            queued.get(&who),
            "{who} received an ack that is not the queued one"
        );
    }
}

/// SIGTERM while the mailer works through a full outbox: the desk stops after the mail
/// in hand, as daemon.rs promises ("shutdown is observed only between units of work
/// (between two mails, two sends, …)"), not after every due mail of the pass (up to 100,
/// each allowed a 30 s SMTP timeout: far beyond the 20 s stop budget and systemd's
/// TimeoutStopSec=30s when the server is slow).
#[test]
fn sigterm_stops_the_mailer_between_two_sends() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("desk.db");
    let cfg = write_config(dir.path(), "desk.toml", &stack_config(&stack, &db, ""));
    prime(&stack, &cfg, &db, dir.path());
    let mails: Vec<String> = (0..BACKLOG).map(backlog_report).collect();
    append_all(&stack, &mails);
    let n = BACKLOG as i64;
    let sent_sql = "SELECT COUNT(*) FROM outbox WHERE state = 'sent'";

    let mut desk = Daemon::start(&cfg, dir.path().join("run.log"));
    // Every report processed (three mails queued each: the ack, one notice per member) …
    let sent_at_done = desk.wait_db("the backlog processed", Duration::from_secs(15), || match (
        count(&db, BACKLOG_DONE_SQL)?,
        count(&db, sent_sql)?,
    ) {
        (done, sent) if done == n => Ok(sent),
        (done, sent) => Err(format!("{done}/{n} processed, {sent} sent")),
    });
    // … and ten more sends, so the pass in progress is one that began with every
    // remaining mail due (a pass takes up to 100).
    let sent_before = desk.wait_db("ten more sends", Duration::from_secs(15), || {
        match count(&db, sent_sql)? {
            sent if sent >= sent_at_done + 10 => Ok(sent),
            sent => Err(format!(
                "{sent} sent ({sent_at_done} when processing ended)"
            )),
        }
    });
    assert!(
        sent_before <= n,
        "a third of the outbox ({sent_before} of {} mails) was sent before SIGTERM",
        3 * n
    );
    let asked = Instant::now();
    let status = desk.sigterm(Duration::from_secs(20));
    let took = asked.elapsed();
    let sent_after = must_count(&db, sent_sql);
    assert!(
        status.success(),
        "exit after SIGTERM: {status}\n{}",
        desk.log_text()
    );
    eprintln!(
        "SIGTERM with {sent_before} of {} mails sent: exit after {took:?}, {sent_after} sent by then",
        3 * n
    );
    // From the desk's own account: once it says it is stopping, at most the mail already
    // in flight leaves. (Counting from the test's side would also count the mails sent
    // while `kill` was starting, a few milliseconds at ~4 ms a mail.)
    let log = desk.log_text();
    let after_stop = log
        .lines()
        .skip_while(|l| !l.contains("stopping: finishing the work in hand"))
        .filter(|l| l.contains("mail sent"))
        .count();
    assert!(
        log.contains("stopping: finishing the work in hand"),
        "no stop in the log:\n{log}"
    );
    assert!(
        after_stop <= 1,
        "after SIGTERM the desk sent {after_stop} more mails ({sent_before} → {sent_after} sent, \
         {took:?} to stop): the mailer does not observe shutdown between sends\n{log}"
    );
    // Nothing lost: what was not sent waits, due, for the next start.
    assert_eq!(
        must_count(&db, "SELECT COUNT(*) FROM outbox WHERE state = 'pending'"),
        3 * n - sent_after
    );
}

// ---------------------------------------------------------------------------------------
// 3. secdesk import
// ---------------------------------------------------------------------------------------

/// The archive: two reports, a threaded reply, a mail carrying only the case tag, a
/// duplicate of the second report, an auto-reply. LF line ends, as files on disk have.
fn archive() -> Vec<String> {
    vec![
        "From: Rita Reporter <rita@reporter.test>\nTo: security@example.org\nSubject: Heap overflow in the parser\nMessage-ID: <imp-1@reporter.test>\nDate: Mon, 16 Nov 2026 10:00:00 +0100\n\nA crafted input overflows a heap buffer.\n".to_string(),
        "From: Sam Finder <sam@finder.test>\nTo: security@example.org\nSubject: XSS in the admin panel\nMessage-ID: <imp-2@finder.test>\nDate: Mon, 16 Nov 2026 11:00:00 +0100\n\nThe name field is not escaped.\n".to_string(),
        "From: Rita Reporter <rita@reporter.test>\nTo: security@example.org\nSubject: Re: Heap overflow in the parser\nMessage-ID: <imp-3@reporter.test>\nIn-Reply-To: <imp-1@reporter.test>\nReferences: <imp-1@reporter.test>\nDate: Tue, 17 Nov 2026 09:00:00 +0100\n\nHere is a smaller reproducer.\n".to_string(),
        "From: Mia Maintainer <mia@upstream.test>\nTo: security@example.org\nSubject: [SEC-2026-0001] patch for the parser\nMessage-ID: <imp-4@upstream.test>\nDate: Wed, 18 Nov 2026 09:00:00 +0100\n\nThe attached patch fixes it.\n".to_string(),
        "Received: from relay2.finder.test by mx.example.org; Mon, 16 Nov 2026 11:05:00 +0100\nFrom: Sam Finder <sam@finder.test>\nTo: security@example.org\nSubject: XSS in the admin panel\nMessage-ID: <imp-2@finder.test>\nDate: Mon, 16 Nov 2026 11:00:00 +0100\n\nThe name field is not escaped.\n".to_string(),
        "From: Sam Finder <sam@finder.test>\nTo: security@example.org\nSubject: Out of office: XSS in the admin panel\nMessage-ID: <imp-6@finder.test>\nIn-Reply-To: <imp-2@finder.test>\nAuto-Submitted: auto-replied\nDate: Thu, 19 Nov 2026 09:00:00 +0100\n\nI am away until December.\n".to_string(),
    ]
}

/// The cases of a database: id, status, reporter, subject, mails that came in.
fn case_rows(db: &Path) -> Vec<String> {
    let mut store = Store::open(db).unwrap();
    let cases = store.read(|tx| tx.list_cases(false)).unwrap();
    drop(store);
    cases
        .iter()
        .map(|s| {
            let id = s.case.id.to_string();
            let incoming = must_count(
                db,
                &format!(
                    "SELECT COUNT(*) FROM messages WHERE case_id = '{id}' AND direction = 'in'"
                ),
            );
            format!(
                "{id} {} {} in:{incoming} | {}",
                s.case.status,
                s.case.reporter.as_deref().unwrap_or("-"),
                s.case.subject
            )
        })
        .collect()
}

fn import_into(dir: &Path, name: &str, archive: &Path) -> (PathBuf, PathBuf, Output) {
    let db = dir.join(format!("{name}.db"));
    // Ports nobody listens on: importing must not need (or use) the servers.
    let cfg = write_config(
        dir,
        &format!("{name}.toml"),
        &config_text(db.to_str().unwrap(), 1, 2, ""),
    );
    let o = run_cli(&cfg, &["import", archive.to_str().unwrap()]);
    (db, cfg, o)
}

/// Importing an mbox file and a Maildir builds the same cases, threaded the same way, as
/// the live desk does from the same mails; the import sends nothing and plans no
/// reminders, and importing again adds nothing.
#[test]
fn import_of_mbox_and_maildir_matches_live_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let mails = archive();
    let expected = vec![
        "SEC-2026-0001 new rita@reporter.test in:3 | Heap overflow in the parser".to_string(),
        "SEC-2026-0002 new sam@finder.test in:2 | XSS in the admin panel".to_string(),
    ];

    // The mbox: "From " separator lines, a blank line between messages.
    let mbox = dir.path().join("security.mbox");
    let mut text = String::new();
    for m in &mails {
        text.push_str("From archive@example.org Mon Nov 16 10:00:00 2026\n");
        text.push_str(m);
        text.push('\n');
    }
    fs::write(&mbox, text).unwrap();
    // The Maildir: the first three read (cur/), the rest unread (new/); names in
    // delivery order.
    let maildir = dir.path().join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    for (i, m) in mails.iter().enumerate() {
        let name = if i < 3 {
            format!("cur/17633000{i:02}.M{i}P1.desk:2,S")
        } else {
            format!("new/17633000{i:02}.M{i}P1.desk")
        };
        fs::write(maildir.join(name), m).unwrap();
    }

    let mut listings = Vec::new();
    for (name, archive) in [("mbox", &mbox), ("maildir", &maildir)] {
        let (db, cfg, o) = import_into(dir.path(), name, archive);
        assert!(o.status.success(), "import {name}: {}", all_output(&o));
        assert_eq!(
            stdout(&o),
            format!(
                "6 messages read from {}: 2 new cases, 1 already on file. Nothing was sent.\n",
                archive.display()
            ),
            "import {name}"
        );
        assert_eq!(case_rows(&db), expected, "cases from the {name} import");
        assert_eq!(
            must_count(&db, "SELECT COUNT(*) FROM outbox"),
            0,
            "the {name} import queued mail"
        );
        assert_eq!(
            must_count(
                &db,
                "SELECT COUNT(*) FROM reminders WHERE state = 'pending'"
            ),
            0,
            "the {name} import planned reminders"
        );
        assert_eq!(
            must_count(
                &db,
                "SELECT COUNT(*) FROM raw_mail WHERE state = 'duplicate'"
            ),
            1
        );
        let o = run_cli(&cfg, &["cases", "--all"]);
        assert!(o.status.success(), "cases {name}: {}", all_output(&o));
        listings.push(stdout(&o));

        // Again: everything is recognised, nothing changes.
        let o = run_cli(&cfg, &["import", archive.to_str().unwrap()]);
        assert!(o.status.success(), "re-import {name}: {}", all_output(&o));
        assert_eq!(
            stdout(&o),
            format!(
                "6 messages read from {}: 0 new cases, 6 already on file. Nothing was sent.\n",
                archive.display()
            ),
            "re-import {name}"
        );
        assert_eq!(case_rows(&db), expected, "cases after re-importing {name}");
        assert_eq!(must_count(&db, "SELECT COUNT(*) FROM raw_mail"), 6);
    }
    assert_eq!(
        listings[0], listings[1],
        "`secdesk cases --all` differs between the mbox and the Maildir import"
    );
    assert!(
        listings[0].contains("SEC-2026-0001") && listings[0].contains("SEC-2026-0002"),
        "{}",
        listings[0]
    );

    // Live: the same mails in the desk's INBOX, read by the running desk.
    let stack = MailStack::start();
    let db = dir.path().join("live.db");
    let cfg = write_config(dir.path(), "live.toml", &stack_config(&stack, &db, ""));
    prime(&stack, &cfg, &db, dir.path());
    let crlf: Vec<String> = mails.iter().map(|m| m.replace('\n', "\r\n")).collect();
    append_all(&stack, &crlf);
    let mut desk = Daemon::start(&cfg, dir.path().join("live.log"));
    desk.wait_db(
        "the primer and all six mails processed",
        Duration::from_secs(15),
        || match count(&db, DONE_SQL)? {
            7 => Ok(()),
            k => Err(format!("{k}/7 processed")),
        },
    );
    let status = desk.sigterm(Duration::from_secs(20));
    assert!(
        status.success(),
        "live desk exit: {status}\n{}",
        desk.log_text()
    );
    assert_eq!(case_rows(&db), expected, "cases from live ingest");
    // It was live: both reporters were acknowledged (the import answered no one).
    assert_eq!(
        must_count(
            &db,
            "SELECT COUNT(*) FROM outbox WHERE purpose = 'ack' AND primary_rcpt IN ('rita@reporter.test', 'sam@finder.test')"
        ),
        2,
        "the live desk did not acknowledge the two reports"
    );
}

// ---------------------------------------------------------------------------------------
// 4. secdesk backup
// ---------------------------------------------------------------------------------------

/// A backup taken while the desk works through a backlog is a sound, consistent database,
/// readable by its owner alone; a second backup to the same name is refused and leaves
/// the first untouched.
#[test]
fn backup_while_the_desk_writes_is_sound_and_private() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("desk.db");
    let cfg = write_config(dir.path(), "desk.toml", &stack_config(&stack, &db, ""));
    // Live mail, so the desk also writes the outbox as it sends.
    prime(&stack, &cfg, &db, dir.path());
    let mails: Vec<String> = (0..BACKLOG).map(backlog_report).collect();
    append_all(&stack, &mails);
    let n = BACKLOG as i64;

    let mut desk = Daemon::start(&cfg, dir.path().join("run.log"));
    let before = desk.wait_db(
        "the desk busy with its backlog",
        Duration::from_secs(15),
        || match count(&db, BACKLOG_DONE_SQL) {
            Ok(k) if k >= n => panic!("the backlog was done before the backup could start"),
            Ok(k) if k > 0 => Ok(k),
            Ok(k) => Err(format!("{k} processed")),
            Err(e) => Err(e),
        },
    );
    let backup = dir.path().join("backup.db");
    let o = run_cli(&cfg, &["backup", backup.to_str().unwrap()]);
    let after = must_count(&db, BACKLOG_DONE_SQL);
    eprintln!("backup taken while the desk went from {before} to {after} of {n} mails");
    assert!(o.status.success(), "backup: {}", all_output(&o));
    assert_eq!(
        stdout(&o),
        format!("backup written to {} (mode 0600)\n", backup.display())
    );
    desk.assert_running();

    let mode = fs::metadata(&backup).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "backup mode {mode:o}");
    let bytes = fs::read(&backup).unwrap();

    // A second backup to the same name is refused, the first left as it was.
    let o = run_cli(&cfg, &["backup", backup.to_str().unwrap()]);
    assert!(
        !o.status.success(),
        "a second backup overwrote the first: {}",
        all_output(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("already exists"),
        "{}",
        all_output(&o)
    );
    assert_eq!(
        fs::read(&backup).unwrap(),
        bytes,
        "the refused backup changed the file"
    );

    let status = desk.sigterm(Duration::from_secs(20));
    assert!(status.success(), "desk exit: {status}\n{}", desk.log_text());

    // Sound, and a consistent snapshot: each processed report is on exactly one case
    // message, opened one case and queued one acknowledgement.
    let store = Store::open(&backup).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    drop(store);
    let total = must_count(&backup, "SELECT COUNT(*) FROM raw_mail");
    let processed = must_count(&backup, BACKLOG_DONE_SQL);
    assert!(
        total > 0 && processed >= before && processed <= n,
        "backup holds {processed} processed of {total} raw mails (desk had {before} before)"
    );
    assert_eq!(
        must_count(
            &backup,
            "SELECT COUNT(*) FROM raw_mail r WHERE state = 'processed' AND r.message_id LIKE 'backlog-%' AND (SELECT COUNT(*) FROM messages m WHERE m.raw_id = r.id) != 1"
        ),
        0,
        "the backup has processed mail that is not on a case"
    );
    assert_eq!(
        must_count(&backup, "SELECT COUNT(*) FROM cases"),
        processed,
        "the backup's cases and processed mails disagree"
    );
    assert_eq!(
        must_count(&backup, "SELECT COUNT(*) FROM outbox WHERE purpose = 'ack'"),
        processed,
        "the backup's acknowledgements and processed reports disagree"
    );
}

// ---------------------------------------------------------------------------------------
// 5. The systemd unit
// ---------------------------------------------------------------------------------------

fn systemd_analyze(args: &[&str]) -> Output {
    Command::new("systemd-analyze")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run systemd-analyze ({e}): install Debian's `systemd` package \
                 (apt-get install systemd) to test the unit"
            )
        })
}

/// The unit verifies cleanly and its exposure score stays at most 2.0.
#[test]
fn systemd_unit_verifies_and_is_hardened() {
    let dir = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/secdesk.service");
    let text = fs::read_to_string(&source).unwrap();
    assert!(
        text.contains("ExecStart=/usr/local/bin/secdesk run"),
        "{text}"
    );
    let unit = dir.path().join("secdesk.service");
    fs::write(&unit, text.replace("/usr/local/bin/secdesk", SECDESK)).unwrap();
    let unit_arg = unit.to_str().unwrap();

    let o = systemd_analyze(&["verify", unit_arg]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "systemd-analyze verify: {}",
        all_output(&o)
    );
    assert!(
        !err.contains("secdesk.service"),
        "systemd-analyze verify complains about the unit:\n{err}"
    );

    let o = systemd_analyze(&["security", "--offline=true", unit_arg]);
    assert!(
        o.status.success(),
        "systemd-analyze security: {}",
        all_output(&o)
    );
    let out = stdout(&o);
    let line = out
        .lines()
        .find(|l| l.contains("Overall exposure level for secdesk.service:"))
        .unwrap_or_else(|| panic!("no overall exposure level in:\n{out}"));
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the exposure level in {line:?}"));
    eprintln!("secdesk.service overall exposure level: {score}");
    assert!(score <= 2.0, "exposure level {score} > 2.0: {line}");
}

// ---------------------------------------------------------------------------------------
// 6. OSV against the official schema
// ---------------------------------------------------------------------------------------

/// Validates `instance` against the OSV schema with Python's jsonschema: `Ok` or the
/// validator's complaint. Panics when the validator itself cannot run.
fn validate_osv(instance: &Path) -> Result<(), String> {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/osv-schema.json");
    let o = Command::new("python3")
        .args([
            "-c",
            "import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))",
        ])
        .arg(instance)
        .arg(&schema)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}): it is needed to validate OSV"));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        !err.contains("No module named 'jsonschema'"),
        "python3 has no jsonschema: python3 -m pip install jsonschema\n{err}"
    );
    if o.status.success() {
        Ok(())
    } else {
        assert!(
            err.contains("jsonschema.exceptions.ValidationError"),
            "the validator failed for another reason:\n{err}"
        );
        Err(err)
    }
}

/// A case filled in by the team renders an OSV record the official schema accepts; a
/// record without `id` is rejected, so the check can fail.
#[test]
fn osv_output_validates_against_the_official_schema() {
    let mut w = World::new();
    w.deliver(&report(
        "osv-1@reporter.test",
        "Heap overflow in the parser",
        "The parser overflows.",
    ));
    let notice = w.take("team-notice").message_id.to_string();
    let commands = "#valid\r\n\
        #summary Heap overflow in the parser\r\n\
        #package example-parser\r\n\
        #affected < 1.4.2\r\n\
        #fixed-in 1.4.2\r\n\
        #cve CVE-2026-12345\r\n\
        #cvss CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\r\n\
        #reference fix https://example.org/fix\r\n\
        #credit Rita\r\n\
        #details\r\n\
        A crafted input overflows a heap buffer in the parser.\r\n";
    w.deliver(&team_mail(
        ALICE,
        "osv-2@example.org",
        Some(&notice),
        "Re: [SEC-2026-0001] Heap overflow in the parser",
        None,
        commands,
    ));
    let case = w.case("SEC-2026-0001");
    let events = w.store.read(|tx| tx.events(&case.id)).unwrap();
    let id = secdesk::publish::publication::draft_id(&case, &w.desk.config);
    let adv = secdesk::publish::publication::advisory_for(
        &case,
        &events,
        &w.desk.config,
        &id,
        w.clock_now(),
    );
    let json = secdesk::publish::advisory::to_osv_json(&adv);

    // What the team set is in the record (so the schema check sees a full one).
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["id"], "OSEC-DRAFT-SEC-2026-0001", "{json}");
    assert_eq!(
        v["aliases"],
        serde_json::json!(["CVE-2026-12345"]),
        "{json}"
    );
    assert_eq!(v["summary"], "Heap overflow in the parser", "{json}");
    assert_eq!(
        v["affected"][0]["package"]["name"], "example-parser",
        "{json}"
    );
    assert_eq!(v["affected"][0]["package"]["ecosystem"], "opam", "{json}");
    assert_eq!(
        v["affected"][0]["ranges"][0]["events"],
        serde_json::json!([{"introduced": "0"}, {"fixed": "1.4.2"}]),
        "{json}"
    );
    assert_eq!(
        v["severity"],
        serde_json::json!([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]),
        "{json}"
    );
    assert_eq!(
        v["references"],
        serde_json::json!([{"type": "FIX", "url": "https://example.org/fix"}]),
        "{json}"
    );
    assert_eq!(
        v["credits"],
        serde_json::json!([{"name": "Rita", "type": "REPORTER"}]),
        "{json}"
    );
    assert!(
        v["details"]
            .as_str()
            .is_some_and(|d| d.contains("A crafted input overflows a heap buffer in the parser.")),
        "{json}"
    );

    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("osv.json");
    fs::write(&good, &json).unwrap();
    if let Err(e) = validate_osv(&good) {
        panic!("the OSV record does not validate:\n{e}\n{json}");
    }

    // Negative control: the same record without its id must be rejected.
    let mut broken = v.clone();
    broken.as_object_mut().unwrap().remove("id");
    let bad = dir.path().join("broken.json");
    fs::write(&bad, serde_json::to_string_pretty(&broken).unwrap()).unwrap();
    match validate_osv(&bad) {
        Ok(()) => panic!("a record without `id` passed the schema: the check proves nothing"),
        Err(e) => assert!(e.contains("'id' is a required property"), "{e}"),
    }
}
