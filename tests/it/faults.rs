//! The faults a real deployment meets, on the real mail stack: a silent network (the
//! fault proxy blackholes IMAP during IDLE and in the middle of a backlog's download, SMTP
//! in the middle of DATA), a refused SMTP
//! login fixed without a restart, a loop that dies, a mail whose processing keeps
//! failing, and (with SECDESK_CRASH_STORM=1, as scripts/test.sh sets) a storm of SIGKILLs.
//!
//! The configs use timeouts of a few seconds, so no test waits long.

use crate::support::desk::{
    Daemon, RunningDesk, append_reports, load, send_report, starttls_stack_config, tally,
    wait_first_sync,
};
use crate::support::mailstack::MailStack;
use crate::support::proxy::{Mode, Proxy};
use crate::world::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

/// A plain-text config against `stack` (the proxy reads the protocol), with short
/// timeouts: IMAP commands 2 s, IDLE renewed every 3 s, SMTP steps 2 s.
fn fault_config(
    stack: &MailStack,
    dir: &Path,
    imap_port: u16,
    smtp_port: u16,
) -> (String, PathBuf) {
    // Backlogs of hundreds of reporters, each acknowledged: no desk-wide ack limit.
    let (text, db) = starttls_stack_config(stack, dir, NO_DESK_ACK_LIMIT);
    let text = text
        .replace("tls = \"starttls\"", "tls = \"none\"")
        .replace(
            &format!("port = {}", stack.imap_port),
            &format!("port = {imap_port}\ntimeout = \"2s\"\nidle_renew = \"3s\""),
        )
        .replace(
            &format!("port = {}", stack.smtp_port),
            &format!("port = {smtp_port}\ntimeout = \"2s\""),
        );
    (text, db)
}

/// Waits until `n` raw mails are processed (filed, or set aside); panics with `what`
/// after 90 s. The database may not exist yet when it starts.
fn wait_processed(db: &Path, n: i64, what: &str) {
    wait_until(Duration::from_secs(90), what, || {
        crate::support::desk::count(
            db,
            "SELECT COUNT(*) FROM raw_mail WHERE state = 'processed'",
        ) == Ok(n)
    });
}

/// Polls `done` (every 20 ms) until it holds; panics with `what` after `limit`.
fn wait_until(limit: Duration, what: &str, done: impl FnMut() -> bool) -> Duration {
    wait_or(limit, done, || what.to_string())
}

/// Polls `done` (every 20 ms) until it holds; after `limit`, panics with what `explain`
/// says then.
fn wait_or(
    limit: Duration,
    mut done: impl FnMut() -> bool,
    explain: impl FnOnce() -> String,
) -> Duration {
    let started = Instant::now();
    while !done() {
        if started.elapsed() >= limit {
            panic!("after {limit:?}: {}", explain());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

/// Waits (at most `limit`) for `desk` to exit; panics with `what` and its log if not.
fn exit_of(desk: &mut Daemon, limit: Duration, log: &Path, what: &str) -> ExitStatus {
    let mut status = None;
    wait_or(
        limit,
        || {
            status = desk.0.try_wait().unwrap();
            status.is_some()
        },
        || {
            format!(
                "{what}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            )
        },
    );
    status.unwrap()
}

/// Mails filed plus mails sent.
fn progress(db: &Path) -> i64 {
    tally(db, "SELECT COUNT(*) FROM raw_mail WHERE state != 'pending'")
        + tally(db, "SELECT COUNT(*) FROM outbox WHERE state = 'sent'")
}

/// Message-ID → number of copies, of every mail in `user`'s INBOX.
fn copies(stack: &MailStack, user: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for m in stack.fetch_all(user) {
        *out.entry(header(&m, "Message-ID").unwrap_or_default())
            .or_insert(0) += 1;
    }
    out
}

#[test]
fn imap_blackholed_during_idle_is_noticed_and_mail_delivered_meanwhile_is_acknowledged() {
    let stack = MailStack::start();
    let imap = Proxy::start(stack.imap_port);
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = fault_config(&stack, dir.path(), imap.port, stack.smtp_port);
    let _desk = RunningDesk::start(load(&text));
    assert_eq!(imap.accepted(), 1);

    // The desk is idling on its one connection: the network goes silent.
    imap.blackhole();
    let silent_at = Instant::now();
    send_report(
        &stack,
        "meanwhile@reporter.test",
        "Sent while the network was silent",
        "x",
    );
    // It notices (IDLE renewed after 3 s, DONE unanswered after 2 s) and connects again.
    let noticed = wait_until(
        Duration::from_secs(20),
        "the desk never reconnected",
        || imap.accepted() >= 2,
    );
    // Expected after timeout + idle_renew (5 s); how long it took is said, not asserted
    // (the wait above bounds it: without the timeout the connection is never given up).
    eprintln!("the silent IMAP connection was given up after {noticed:?}");
    assert_eq!(tally(&db, "SELECT COUNT(*) FROM outbox"), 0);

    imap.pass();
    let acks = stack.wait_for(RITA, 1, WAIT);
    assert_header(&acks[0], "In-Reply-To", "<meanwhile@reporter.test>");
    eprintln!(
        "acknowledged {:?} after the network went silent",
        silent_at.elapsed()
    );
}

#[test]
fn smtp_blackholed_in_the_middle_of_data_sends_once_when_it_heals() {
    let stack = MailStack::start();
    let smtp = Proxy::start(stack.smtp_port);
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = fault_config(&stack, dir.path(), stack.imap_port, smtp.port);
    // The first mail's data goes silent after its headers began: no final dot reaches
    // Postfix, no answer reaches the desk. The connections after it pass.
    smtp.set(Mode::BlackholeAfter(b"\r\nMessage-ID: ".to_vec()));
    let _desk = RunningDesk::start(load(&text));
    send_report(
        &stack,
        "mid-data@reporter.test",
        "Sent across a silent SMTP",
        "x",
    );
    wait_until(WAIT, "the outbox never emptied", || {
        tally(&db, "SELECT COUNT(*) FROM outbox") == 3
            && tally(&db, "SELECT COUNT(*) FROM outbox WHERE state = 'sent'") == 3
    });
    assert!(
        smtp.accepted() >= 2,
        "the silent connection was given up and a new one made"
    );
    let retried = tally(&db, "SELECT COUNT(*) FROM outbox WHERE attempts > 1");
    assert_eq!(
        retried, 1,
        "exactly the mail caught in the silence was retried"
    );
    for who in [RITA, ALICE, BOB] {
        stack.wait_for(who, 1, WAIT);
        let got = copies(&stack, who);
        eprintln!("{who}: {got:?}");
        assert_eq!(got.len(), 1, "{who} got {got:?}");
        assert!(
            got.values().all(|&n| n <= 2),
            "a second copy only with the same Message-ID: {got:?}"
        );
    }
    assert_eq!(
        tally(&db, "SELECT COUNT(*) FROM outbox WHERE state = 'failed'"),
        0
    );
}

#[test]
fn a_refused_smtp_login_fails_nothing_is_named_by_check_and_heals_without_a_restart() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = starttls_stack_config(&stack, dir.path(), "");
    let pass_file = dir.path().join("smtp-password");
    std::fs::write(&pass_file, "rotated-on-the-server-first\n").unwrap();
    let text = text.replacen(
        &format!("port = {}", stack.smtp_port),
        &format!(
            "port = {}\ntimeout = \"2s\"\nusername = \"{DESK}\"\npassword_file = \"{}\"",
            stack.smtp_port,
            pass_file.display()
        ),
        1,
    );
    let cfg_path = dir.path().join("config.toml");
    std::fs::write(&cfg_path, &text).unwrap();
    let _desk = RunningDesk::start(load(&text));
    send_report(
        &stack,
        "refused@reporter.test",
        "While the password was wrong",
        "x",
    );
    wait_until(WAIT, "the report was never filed", || {
        tally(&db, "SELECT COUNT(*) FROM outbox") == 3
    });
    wait_until(WAIT, "the desk never tried to log in", || {
        stack.log_tail(200).contains("authentication failed")
    });

    // `secdesk check` names the problem and the key to look at.
    let check = Command::new(env!("CARGO_BIN_EXE_secdesk"))
        .args(["check", "--config", cfg_path.to_str().unwrap()])
        .env("TEST_IMAP_PASSWORD", "secret")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&check.stdout);
    eprintln!("{said}");
    assert_eq!(check.status.code(), Some(2), "{said}");
    let smtp_line = said
        .lines()
        .find(|l| l.starts_with("FAIL smtp"))
        .unwrap_or_else(|| panic!("no failed smtp check in:\n{said}"));
    assert!(
        smtp_line.contains("smtp.username / smtp.password_file") && smtp_line.contains("535"),
        "{smtp_line}"
    );

    // Nothing was marked failed or even attempted, and the case says nothing went wrong.
    assert_eq!(
        tally(&db, "SELECT COUNT(*) FROM outbox WHERE state = 'failed'"),
        0
    );
    assert_eq!(
        tally(&db, "SELECT COUNT(*) FROM outbox WHERE attempts > 0"),
        0
    );
    assert_eq!(
        tally(
            &db,
            "SELECT COUNT(*) FROM events WHERE kind = 'delivery-failed'"
        ),
        0
    );

    // The password file is corrected; the running desk reads it at its next login.
    std::fs::write(&pass_file, format!("{}\n", stack.password)).unwrap();
    wait_until(WAIT, "the mail never went out", || {
        tally(&db, "SELECT COUNT(*) FROM outbox WHERE state = 'sent'") == 3
    });
    for who in [RITA, ALICE, BOB] {
        stack.wait_for(who, 1, WAIT);
        let got = copies(&stack, who);
        assert_eq!(
            got.values().copied().collect::<Vec<_>>(),
            [1],
            "{who}: {got:?}"
        );
    }
}

/// The daemon started on the config `text` written in `dir`, under a stand-in for
/// systemd (its `NOTIFY_SOCKET`): what the desk tells systemd, and the process.
fn daemon_told_to_systemd(dir: &Path, text: &str) -> (Systemd, Daemon) {
    let cfg = dir.join("config.toml");
    std::fs::write(&cfg, text).unwrap();
    let systemd = Systemd::listen(dir);
    let socket = systemd.path.to_str().unwrap().to_owned();
    let desk = Daemon::start(&cfg, &dir.join("run.log"), &[("NOTIFY_SOCKET", &socket)]);
    (systemd, desk)
}

/// What the desk tells systemd: a datagram socket standing in for `NOTIFY_SOCKET`.
struct Systemd {
    socket: std::os::unix::net::UnixDatagram,
    pub path: PathBuf,
    said: Vec<String>,
}

impl Systemd {
    fn listen(dir: &Path) -> Systemd {
        let path = dir.join("notify.sock");
        let socket = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        Systemd {
            socket,
            path,
            said: Vec::new(),
        }
    }

    /// Reads what arrives until `done(everything so far)` or `limit`; every line said.
    fn until(&mut self, limit: Duration, done: impl Fn(&[String]) -> bool) -> &[String] {
        let started = Instant::now();
        let mut buf = [0u8; 4096];
        while !done(&self.said) && started.elapsed() < limit {
            if let Ok(n) = self.socket.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                self.said.extend(text.lines().map(str::to_owned));
            }
        }
        &self.said
    }
}

#[test]
fn a_loop_that_dies_ends_the_process_with_an_error() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = fault_config(&stack, dir.path(), stack.imap_port, stack.smtp_port);
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, text).unwrap();
    let log = dir.path().join("run.log");
    let mut systemd = Systemd::listen(dir.path());
    let socket = systemd.path.to_str().unwrap().to_owned();
    let mut desk = Daemon::start(
        &cfg,
        &log,
        &[
            ("SECDESK_FAILPOINTS", "ingest-dies"),
            ("NOTIFY_SOCKET", &socket),
            ("WATCHDOG_USEC", "400000"),
        ],
    );
    wait_first_sync(&db).unwrap();
    let started = Instant::now();
    let what = "the desk kept running with a dead ingest loop";
    let status = exit_of(&mut desk, Duration::from_secs(10), &log, what);
    let said = std::fs::read_to_string(&log).unwrap_or_default();
    eprintln!("exited with {status} after {:?}", started.elapsed());
    assert!(!status.success(), "{said}");
    assert!(said.contains("the ingest loop ended"), "{said}");
    // systemd heard which loop died, and no watchdog ping came after it.
    let told = systemd.until(Duration::from_secs(2), |l| {
        l.iter().any(|l| l == "STOPPING=1")
    });
    let died = told
        .iter()
        .position(|l| l == "STATUS=the ingest loop ended; stopping")
        .unwrap_or_else(|| panic!("{told:?}"));
    eprintln!("systemd was told: {told:?}");
    assert!(!told[died..].iter().any(|l| l == "WATCHDOG=1"), "{told:?}");
}

/// A first start on a mailbox with a backlog tells systemd how far it got and asks for
/// more time, so a long first sync is never killed by the start timeout.
#[test]
fn a_long_first_sync_keeps_systemd_informed() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = fault_config(&stack, dir.path(), stack.imap_port, stack.smtp_port);
    append_reports(&stack, 240, "old", "Old", None);
    let (mut systemd, _desk) = daemon_told_to_systemd(dir.path(), &text);
    let told = systemd
        .until(WAIT, |l| l.iter().any(|l| l == "READY=1"))
        .to_vec();
    let ready = told
        .iter()
        .position(|l| l == "READY=1")
        .unwrap_or_else(|| panic!("never ready: {told:?}"));
    let before = &told[..ready];
    assert!(
        before.iter().any(|l| l.starts_with("EXTEND_TIMEOUT_USEC=")),
        "{before:?}"
    );
    for progress in [
        "STATUS=catching up with the inbox: 100 of 240 mails filed",
        "STATUS=catching up with the inbox: 200 of 240 mails filed",
        "STATUS=catching up with the inbox: 240 of 240 mails filed",
    ] {
        assert!(
            before.iter().any(|l| l == progress),
            "{progress} in {before:?}"
        );
    }
    assert_eq!(tally(&db, "SELECT COUNT(*) FROM cases"), 240);
}

/// A first start whose IMAP server is silent (dropped packets at boot) asks systemd for
/// the time its connection may take before it tries: it asked only once a try had
/// failed, after `imap.timeout`, and a long timeout outlived the start's two minutes, so
/// systemd killed the start and the next the same way. So does the listing of a large
/// mailbox, which may take several timeouts.
#[test]
fn a_first_start_asks_systemd_for_its_connections_time_before_it_tries() {
    let stack = MailStack::start();
    let imap = Proxy::start(stack.imap_port);
    imap.blackhole();
    let dir = tempfile::tempdir().unwrap();
    let (text, _db) = fault_config(&stack, dir.path(), imap.port, stack.smtp_port);
    let text = text.replace(
        "timeout = \"2s\"\nidle_renew",
        "timeout = \"60s\"\nidle_renew",
    );
    let (mut systemd, _desk) = daemon_told_to_systemd(dir.path(), &text);
    // The connection's steps, each a minute (not a migration's half hour).
    let enough = |l: &String| {
        l.strip_prefix("EXTEND_TIMEOUT_USEC=")
            .and_then(|n| n.parse::<u64>().ok())
            .is_some_and(|us| (5 * 60_000_000..30 * 60_000_000).contains(&us))
    };
    let told = systemd
        .until(Duration::from_secs(20), |l| l.iter().any(enough))
        .to_vec();
    assert!(told.iter().any(enough), "{told:?}");
}

/// A mail already in the mailbox at the first start (history: filed without a word)
/// that keeps failing is set aside all the same, and the team told: the failure is the
/// desk's, and the mail may be a report nobody has read. (It was set aside in silence.)
#[test]
fn a_history_mail_that_keeps_failing_is_set_aside_and_told() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = fault_config(&stack, dir.path(), stack.imap_port, stack.smtp_port);
    let poison = report("old-poison@reporter.test", "Old poison", "x").replace(
        "Subject: Old poison\r\n",
        "Subject: Old poison\r\nX-Secdesk-Failpoint: poison\r\n",
    );
    stack.append(DESK, poison.as_bytes());
    let _desk = RunningDesk::start_unsynced(load(&text));
    wait_until(WAIT, "the old mail was never set aside", || {
        crate::support::desk::count(
            &db,
            "SELECT COUNT(*) FROM cases WHERE subject = '(could not be processed)'",
        ) == Ok(1)
    });
    let team = stack.wait_for(ALICE, 1, WAIT);
    let subject = header(&team[0], "Subject").unwrap_or_default();
    assert!(subject.contains("a mail could not be read"), "{subject}");
    assert!(
        stack.fetch_all(RITA).is_empty(),
        "its sender is not answered"
    );
}

#[test]
fn a_mail_that_keeps_failing_is_set_aside_and_the_next_one_is_processed() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = fault_config(&stack, dir.path(), stack.imap_port, stack.smtp_port);
    let _desk = RunningDesk::start(load(&text));
    let poison = report("poison@reporter.test", "Poison", "x").replace(
        "Subject: Poison\r\n",
        "Subject: Poison\r\nX-Secdesk-Failpoint: poison\r\n",
    );
    stack.send(RITA, &[DESK], poison.as_bytes());
    stack.send(
        "other@reporter.test",
        &[DESK],
        report("behind@reporter.test", "Behind the poison", "x")
            .replace(RITA, "other@reporter.test")
            .as_bytes(),
    );
    // The mail behind it is answered at once.
    let acks = stack.wait_for("other@reporter.test", 1, WAIT);
    assert!(
        header(&acks[0], "Subject")
            .unwrap()
            .ends_with("Behind the poison")
    );
    // The poison is tried three times, then set aside: raw, on a case of its own, the
    // team told once; its sender is not answered.
    wait_until(WAIT, "the poison mail was never set aside", || {
        tally(
            &db,
            "SELECT COUNT(*) FROM cases WHERE subject = '(could not be processed)'",
        ) == 1
    });
    assert_eq!(
        tally(&db, "SELECT COUNT(*) FROM raw_mail WHERE state = 'pending'"),
        0
    );
    assert_eq!(
        tally(
            &db,
            "SELECT attempts FROM raw_mail WHERE message_id = 'poison@reporter.test'"
        ),
        4,
        "three failed attempts, then the one that set it aside"
    );
    let alerts = stack.wait_for(ALICE, 2, WAIT);
    let about: Vec<String> = alerts
        .iter()
        .map(|m| header(m, "Subject").unwrap())
        .collect();
    assert_eq!(
        about
            .iter()
            .filter(|s| s.contains("could not be read"))
            .count(),
        1,
        "{about:?}"
    );
    assert!(
        stack.fetch_all(RITA).is_empty(),
        "the poison's sender was not answered"
    );
}

/// A config file against `stack` in `dir`, and a first run on the empty mailbox, so that
/// mail sent after it is live.
fn primed_daemon_config(stack: &MailStack, dir: &Path) -> (PathBuf, PathBuf) {
    let (text, db) = fault_config(stack, dir, stack.imap_port, stack.smtp_port);
    let cfg = dir.join("config.toml");
    std::fs::write(&cfg, text).unwrap();
    let priming = Daemon::start(&cfg, &dir.join("run0.log"), &[]);
    wait_first_sync(&db).unwrap();
    drop(priming);
    (cfg, db)
}

/// A report that asks its processing for the failpoint `what`.
fn failpoint_report(id: &str, subject: &str, what: &str) -> String {
    report(id, subject, "x").replace(
        &format!("Subject: {subject}\r\n"),
        &format!("Subject: {subject}\r\nX-Secdesk-Failpoint: {what}\r\n"),
    )
}

/// Waits until `desk` has set a mail aside, then checks that it answers the next report
/// and still runs; returns its log.
fn set_aside_while_the_desk_runs_on(
    stack: &MailStack,
    db: &Path,
    desk: &mut Daemon,
    log: &Path,
) -> String {
    wait_until(WAIT, "the mail was never set aside", || {
        tally(
            db,
            "SELECT COUNT(*) FROM cases WHERE subject = '(could not be processed)'",
        ) == 1
    });
    send_report(stack, "after@reporter.test", "After the set-aside", "x");
    let acks = stack.wait_for(RITA, 1, WAIT);
    assert_header(&acks[0], "In-Reply-To", "<after@reporter.test>");
    let said = std::fs::read_to_string(log).unwrap_or_default();
    assert!(
        desk.0.try_wait().unwrap().is_none(),
        "the desk died with a child:\n{said}"
    );
    said
}

/// A report that kills the process filing it (as a mail that swells the desk until the
/// OOM killer comes would) takes the desk down once, in the batch it arrived in. After
/// that it is filed in a child process: the child dies, the desk lives on, counts the
/// attempt, and sets the mail aside after the third.
#[test]
fn a_mail_that_kills_the_desk_takes_it_down_once_then_is_set_aside() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let (cfg, db) = primed_daemon_config(&stack, dir.path());
    let crash = failpoint_report("crash@reporter.test", "Crash", "crash");
    stack.send(RITA, &[DESK], crash.as_bytes());

    // The first attempt is made in the desk's own batch: the desk dies with it.
    let first_log = dir.path().join("run1.log");
    let mut first = Daemon::start(&cfg, &first_log, &[]);
    let what = "the crash mail did not kill the desk";
    let status = exit_of(&mut first, WAIT, &first_log, what);
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "{status}"
    );

    // Restarted (as systemd would), it files the mail in children, and survives them.
    let log = dir.path().join("run2.log");
    let mut desk = Daemon::start(&cfg, &log, &[]);
    let said = set_aside_while_the_desk_runs_on(&stack, &db, &mut desk, &log);
    assert_eq!(
        tally(
            &db,
            "SELECT attempts FROM raw_mail WHERE message_id = 'crash@reporter.test'"
        ),
        3,
        "the batch that took the desk down, then two children"
    );
    assert_eq!(
        said.lines()
            .filter(|l| l.contains("could not be processed") && l.contains("killed by signal 9"))
            .count(),
        2,
        "each child's death is logged with its cause:\n{said}"
    );
    let alerts = stack.wait_for(ALICE, 2, WAIT);
    assert_eq!(
        alerts
            .iter()
            .filter(|m| header(m, "Subject").unwrap().contains("could not be read"))
            .count(),
        1
    );
}

/// The process ids written to the stall failpoint's `<gate>.entered` so far.
fn stalled_in(gate: &Path) -> Vec<u32> {
    std::fs::read_to_string(gate.with_extension("entered"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect()
}

/// Whether process `pid` still runs (a zombie, dead but not yet reaped by whoever
/// inherited it, does not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    })
}

/// A desk whose inbox holds one report that the `stall` failpoint holds in filing until
/// the gate file exists: the config, the database and the gate.
struct Stalling {
    cfg: PathBuf,
    db: PathBuf,
    gate: PathBuf,
}

impl Stalling {
    fn new(stack: &MailStack, dir: &Path) -> Stalling {
        let (cfg, db) = primed_daemon_config(stack, dir);
        let stall = failpoint_report("stall@reporter.test", "Slow to file", "stall");
        stack.send(RITA, &[DESK], stall.as_bytes());
        Stalling {
            cfg,
            db,
            gate: dir.join("gate"),
        }
    }

    /// The desk, with the failpoint's gate.
    fn start(&self, log: &Path) -> Daemon {
        self.start_with(log, &[])
    }

    /// The desk, with the failpoint's gate and `env`.
    fn start_with(&self, log: &Path, env: &[(&str, &str)]) -> Daemon {
        let mut all = vec![("SECDESK_STALL_GATE", self.gate.to_str().unwrap())];
        all.extend_from_slice(env);
        Daemon::start(&self.cfg, log, &all)
    }

    /// Starts the desk and waits until the report is held for the `n`th time.
    fn start_until_held(&self, log: &Path, n: usize) -> Daemon {
        let desk = self.start(log);
        let what = format!("filing number {n} never began (was the mail set aside?)");
        wait_until(WAIT, &what, || stalled_in(&self.gate).len() == n);
        desk
    }

    /// A first desk killed while its batch holds the report (which makes it suspect),
    /// then a second desk whose child holds it: the second desk, its log, the child.
    fn held_by_a_child(&self, dir: &Path) -> (Daemon, PathBuf, u32) {
        let mut first = self.start_until_held(&dir.join("run1.log"), 1);
        first.0.kill().unwrap();
        first.0.wait().unwrap();
        let log = dir.join("run2.log");
        let desk = self.start_until_held(&log, 2);
        let child = stalled_in(&self.gate)[1];
        assert_ne!(child, desk.0.id());
        (desk, log, child)
    }
}

/// A report in flight each time the desk is killed (the operator restarting it, the
/// watchdog, the OOM killer called by another process) is not blamed for it: it is filed
/// and answered when the desk next runs, however many kills it was in flight at.
#[test]
fn a_report_in_flight_at_repeated_kills_is_still_answered() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let stalling = Stalling::new(&stack, dir.path());
    let (gate, db) = (&stalling.gate, &stalling.db);

    const KILLS: usize = 4;
    let mut filed_by = Vec::new();
    for k in 1..=KILLS {
        let log = dir.path().join(format!("run{k}.log"));
        let mut desk = stalling.start_until_held(&log, k);
        desk.0.kill().unwrap();
        desk.0.wait().unwrap();
        let holder = stalled_in(gate)[k - 1];
        filed_by.push((desk.0.id(), holder));
        // Whoever held the mail is gone with the desk.
        wait_until(WAIT, "a child outlived the desk", || !alive(holder));
    }
    assert_eq!(
        tally(db, "SELECT COUNT(*) FROM cases"),
        0,
        "nothing was filed or set aside while the mail was held"
    );

    std::fs::write(gate, "").unwrap();
    let _desk = stalling.start(&dir.path().join("last.log"));
    let acks = stack.wait_for(RITA, 1, WAIT);
    assert_header(&acks[0], "In-Reply-To", "<stall@reporter.test>");
    assert_eq!(
        tally(
            db,
            "SELECT attempts FROM raw_mail WHERE message_id = 'stall@reporter.test'"
        ),
        1,
        "only the batch cut by the first kill counted an attempt"
    );
    assert_eq!(
        tally(
            db,
            "SELECT COUNT(*) FROM cases WHERE subject = '(could not be processed)'",
        ),
        0
    );
    // The first run had the mail in its batch; the later ones, suspecting it, gave it
    // to a child.
    let (desk, holder) = filed_by[0];
    assert_eq!(holder, desk);
    for (k, (desk, holder)) in filed_by.iter().enumerate().skip(1) {
        assert_ne!(holder, desk, "run {} filed the suspect mail itself", k + 1);
    }
}

/// A mail that hangs the process filing it (here: held until a gate that never opens)
/// is ended at the child's time limit, counted, and set aside after the third attempt,
/// while the desk runs on and answers the next report.
#[test]
fn a_mail_that_hangs_its_child_is_ended_at_the_limit_and_set_aside() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let stalling = Stalling::new(&stack, dir.path());
    let mut first = stalling.start_until_held(&dir.path().join("run1.log"), 1);
    first.0.kill().unwrap();
    first.0.wait().unwrap();

    let log = dir.path().join("run2.log");
    let mut desk = stalling.start_with(&log, &[("SECDESK_CHILD_LIMIT_MS", "1500")]);
    let said = set_aside_while_the_desk_runs_on(&stack, &stalling.db, &mut desk, &log);
    assert_eq!(
        said.lines()
            .filter(
                |l| l.contains("could not be processed") && l.contains("took longer than 1s 500ms")
            )
            .count(),
        2,
        "each child ended at the limit is logged with its cause:\n{said}"
    );
    assert_eq!(
        tally(&stalling.db, "SELECT MAX(attempts) FROM raw_mail"),
        3,
        "the batch the first desk was killed in, then two children ended at the limit"
    );
    // The children held the mail, one after the other; none is left.
    let held = stalled_in(&stalling.gate);
    assert_eq!(held.len(), 3, "{held:?}");
    for pid in held {
        wait_until(WAIT, "a child outlived its limit", || !alive(pid));
    }
}

/// A desk asked to stop while a child files a suspect mail (systemd's SIGTERM reaches
/// both; the child ignores it) ends the child and stops at once, counting nothing
/// against the mail.
#[test]
fn a_stop_while_a_child_files_a_mail_is_prompt_and_counts_nothing() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let stalling = Stalling::new(&stack, dir.path());
    let (mut desk, log, child) = stalling.held_by_a_child(dir.path());
    let db = &stalling.db;
    let term = |pids: &[u32]| {
        let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
        let status = Command::new("kill").arg("-TERM").args(pids).status();
        assert!(status.unwrap().success());
    };
    // A SIGTERM to the child alone leaves it working: stopping is its desk's to decide.
    term(&[child]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(child), "the child died of a SIGTERM");
    // Then both, as systemd stops the unit.
    term(&[child, desk.0.id()]);
    let stopping = Instant::now();
    let what = "the desk did not stop while its child held a mail (it gives the work in hand 20 s)";
    let status = exit_of(&mut desk, Duration::from_secs(10), &log, what);
    eprintln!("stopped in {:?}", stopping.elapsed());
    assert!(status.success(), "{status}");
    wait_until(WAIT, "the child outlived the desk", || !alive(child));
    assert_eq!(
        tally(db, "SELECT attempts FROM raw_mail WHERE state = 'pending'"),
        1,
        "the stop counted an attempt against the mail"
    );
    assert_eq!(tally(db, "SELECT COUNT(*) FROM cases"), 0);
}

/// A configuration file edited while the desk runs (here: to name a copy of the
/// database) is not the one its children file under: a child that sees the file changed
/// leaves the mail to the desk, which files it under the configuration it runs with.
#[test]
fn a_child_files_nothing_under_a_configuration_edited_since_the_start() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let stalling = Stalling::new(&stack, dir.path());
    let (_desk, log, child) = stalling.held_by_a_child(dir.path());
    let (cfg, db, gate) = (&stalling.cfg, &stalling.db, &stalling.gate);
    // While the child holds the mail: the file is edited to name a copy of the database,
    // the gate opens, and the child is killed (counted against the mail: the desk cannot
    // tell it from a mail that made the child swell). The next child reads the edit.
    let copy = dir.path().join("copy.db");
    for suffix in ["", "-wal"] {
        let from = PathBuf::from(format!("{}{suffix}", db.display()));
        if from.exists() {
            std::fs::copy(&from, format!("{}{suffix}", copy.display())).unwrap();
        }
    }
    let text = std::fs::read_to_string(cfg).unwrap();
    let edited = text.replace(db.to_str().unwrap(), copy.to_str().unwrap());
    assert_ne!(text, edited);
    std::fs::write(cfg, edited).unwrap();
    let killed = Command::new("kill")
        .args(["-KILL", &child.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // The gate opens once the child is gone (the desk waits a second before the next).
    wait_until(WAIT, "the killed child lived on", || !alive(child));
    std::fs::write(gate, "").unwrap();

    let acks = stack.wait_for(RITA, 1, WAIT);
    assert_header(&acks[0], "In-Reply-To", "<stall@reporter.test>");
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(
        said.contains("changed since the desk started"),
        "the child said why it left the mail:\n{said}"
    );
    assert_eq!(
        tally(&copy, "SELECT COUNT(*) FROM cases"),
        0,
        "a child filed into the database the edit names"
    );
    assert_eq!(
        tally(
            db,
            "SELECT attempts FROM raw_mail WHERE message_id = 'stall@reporter.test'"
        ),
        3,
        "the batch, the killed child, and the desk's own attempt"
    );
}

/// 1,000 reports, the desk SIGKILLed at 20 moments spread across filing and sending and
/// restarted each time. Long: runs when SECDESK_CRASH_STORM=1 (scripts/test.sh sets it).
#[test]
fn a_crash_storm_loses_nothing_and_answers_nothing_twice() {
    if std::env::var_os("SECDESK_CRASH_STORM").is_none() {
        eprintln!("skipped: set SECDESK_CRASH_STORM=1 to run the crash storm");
        return;
    }
    const N: usize = 1000;
    const KILLS: usize = 20;
    let started = Instant::now();
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = fault_config(&stack, dir.path(), stack.imap_port, stack.smtp_port);
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, text).unwrap();
    // A first run on the empty mailbox, so the reports below are live mail.
    let priming = Daemon::start(&cfg, &dir.path().join("run0.log"), &[]);
    wait_first_sync(&db).unwrap();
    drop(priming);
    append_reports(&stack, N, "storm", "Report", Some("s"));

    // Progress: mails filed plus mails sent (one ack and two team notices each).
    let total = (N * 4) as i64;
    for k in 1..=KILLS {
        let at = total * k as i64 / (KILLS as i64 + 1);
        let log = dir.path().join(format!("run{k}.log"));
        let mut desk = Daemon::start(&cfg, &log, &[]);
        wait_until(
            Duration::from_secs(120),
            &format!("kill {k}: no progress to {at}"),
            || progress(&db) >= at,
        );
        desk.0.kill().unwrap(); // SIGKILL: no chance to finish anything
        desk.0.wait().unwrap();
        eprintln!("kill {k} at progress {} of {total}", progress(&db));
    }
    let last_log = dir.path().join("last.log");
    let _last = Daemon::start(&cfg, &last_log, &[]);
    let settled = || {
        tally(&db, "SELECT COUNT(*) FROM raw_mail WHERE state = 'pending'") == 0
            && tally(&db, "SELECT COUNT(*) FROM outbox WHERE state != 'sent'") == 0
            && tally(&db, "SELECT COUNT(*) FROM outbox") == total - N as i64
    };
    wait_or(Duration::from_secs(180), settled, || {
        format!(
            "the storm's mail never settled:\n{}",
            storm_state(&db, &last_log)
        )
    });
    assert_eq!(tally(&db, "SELECT COUNT(*) FROM cases"), N as i64);
    assert_eq!(
        tally(&db, "SELECT COUNT(*) FROM outbox WHERE purpose = 'ack'"),
        N as i64
    );
    let mut twice = 0;
    for i in 0..N {
        let got = copies(&stack, &format!("s{i}@reporter.test"));
        assert_eq!(got.len(), 1, "reporter {i}: {got:?}");
        twice += got.values().filter(|&&n| n > 1).count();
    }
    let team: BTreeSet<String> = copies(&stack, ALICE).into_keys().collect();
    assert_eq!(team.len(), N, "the team heard of every report");
    let store = secdesk::store::Store::open(&db).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    // A kill counts against the mails of the batch it cut, once: after it they are filed
    // in a child, where a kill of the desk counts against no mail.
    assert_eq!(
        tally(&db, "SELECT MAX(attempts) FROM raw_mail"),
        1,
        "kills were counted against a mail more than once"
    );
    eprintln!(
        "crash storm: {N} reports, {KILLS} kills, {twice} acknowledgements delivered twice with the same Message-ID, at most {} attempts at filing a mail and {} at sending one, {:?}",
        tally(&db, "SELECT MAX(attempts) FROM raw_mail"),
        tally(&db, "SELECT MAX(attempts) FROM outbox"),
        started.elapsed()
    );
}

/// What an unsettled storm left: the rows that are not done, and the last run's log.
fn storm_state(db: &Path, log: &Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut out = String::new();
    for sql in [
        "SELECT 'raw_mail', state, COUNT(*), MAX(COALESCE(last_error, '')) FROM raw_mail GROUP BY state",
        "SELECT 'outbox', purpose || '/' || state, COUNT(*), MAX(COALESCE(last_error, '')) FROM outbox GROUP BY purpose, state",
        "SELECT 'outbox not sent', id || ' ' || purpose || ' ' || primary_rcpt || ' next ' || next_attempt_at || ' attempts ' || attempts, 1, COALESCE(last_error, '') FROM outbox WHERE state != 'sent' LIMIT 20",
    ] {
        let mut stmt = conn.prepare(sql).unwrap();
        let rows = stmt
            .query_map([], |r| {
                Ok(format!(
                    "{} {}: {} {}",
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?
                ))
            })
            .unwrap();
        for row in rows {
            out.push_str(&row.unwrap());
            out.push('\n');
        }
    }
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    out.push_str("--- last run's log, last 40 lines ---\n");
    for line in &lines[lines.len().saturating_sub(40)..] {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Team commands read from the past (history, an import of the team's archive) on a
/// live case give back nothing to send: `#notspam` queued again the acknowledgement the
/// spam state withdrew, and `#reopen` gave back the reminders the close withdrew.
#[test]
fn team_commands_from_the_past_give_back_no_mail_or_reminder() {
    use secdesk::store::Arrival;
    let mut w = World::new();
    w.deliver(&report("live@reporter.test", "A live report", "x"));
    let tagged = "Re: [SEC-2026-0001] A live report";
    w.deliver(&team_mail(
        ALICE,
        "t1@example.org",
        None,
        tagged,
        None,
        "#spam",
    ));
    assert!(pending_of(&mut w, "ack").is_empty());
    w.deliver_as(
        90,
        team_mail(ALICE, "old1@example.org", None, tagged, None, "#notspam").as_bytes(),
        Arrival::History,
    );
    assert!(
        pending_of(&mut w, "ack").is_empty(),
        "an acknowledgement queued again"
    );
    // The command ran: the case is out of the spam state.
    assert_ne!(
        w.case("SEC-2026-0001").status,
        secdesk::types::CaseStatus::Spam
    );

    // A reminder queued, then withdrawn by a close; a `#reopen` read from the past.
    let mut w = World::with(paris(2026, 11, 23, 10, 0), "");
    let notice = w.open_case("Heap overflow");
    w.command(BOB, "a1@example.org", &notice, "#assign me\r\n");
    w.new_mail();
    w.clock.set(paris(2026, 11, 26, 17, 0));
    assert_eq!(w.run_due().len(), 1, "the first-response reminder");
    w.command(BOB, "c1@example.org", &notice, "#close\r\n");
    w.clock.set(paris(2026, 11, 26, 17, 5));
    w.deliver_as(
        91,
        team_mail(
            ALICE,
            "old2@example.org",
            Some(&notice),
            "Re: [SEC-2026-0001] Heap overflow",
            None,
            "#reopen",
        )
        .as_bytes(),
        Arrival::History,
    );
    assert!(w.case("SEC-2026-0001").is_open());
    let case_reminders: Vec<_> = w
        .store
        .read(|tx| tx.pending_reminders())
        .unwrap()
        .into_iter()
        .filter(|r| r.scope == "SEC-2026-0001")
        .collect();
    assert_eq!(case_reminders, vec![]);
    let events = w.events("SEC-2026-0001");
    assert!(
        !events.iter().any(|e| e.detail.contains("planned again")),
        "{events:?}"
    );
}

fn pending_of(w: &mut World, purpose: &str) -> Vec<secdesk::store::OutboxRow> {
    w.store
        .read(|tx| tx.outbox_all())
        .unwrap()
        .into_iter()
        .filter(|r| r.state.as_str() == "pending" && r.purpose.as_str() == purpose)
        .collect()
}

/// A case filed from the past (history, an import) has no deadline of the desk's in the
/// digest or the calendar: every old thread of an imported archive was listed each week
/// with its first answer years overdue, and given a calendar event for it.
#[test]
fn a_case_filed_from_the_past_shows_no_deadline_in_the_digest_or_calendar() {
    use secdesk::store::Arrival;
    let mut w = World::new();
    w.deliver_as(
        100,
        report("old@reporter.test", "An old report", "x").as_bytes(),
        Arrival::History,
    );
    w.deliver(&report("new@reporter.test", "A new report", "x"));
    w.run_due();
    w.new_mail();
    w.clock.set(paris(2026, 11, 30, 9, 0));
    w.run_due();
    let mail = w.new_mail();
    let digest = body(&first(&mail, "digest").bytes);
    let line = |case: &str| {
        digest
            .lines()
            .find(|l| l.starts_with(case))
            .unwrap_or_else(|| panic!("{case} not listed: {digest}"))
            .to_string()
    };
    assert!(line("SEC-2026-0002").contains("first answer"), "{digest}");
    assert!(!line("SEC-2026-0001").contains("first answer"), "{digest}");
    let cfg = w.config_file("");
    let ics = cfg.with_file_name("deadlines.ics");
    let (ok, _, err) = secdesk(&cfg, &["calendar", "--output", ics.to_str().unwrap()]);
    assert!(ok, "{err}");
    let ics = std::fs::read_to_string(&ics).unwrap();
    assert!(ics.contains("[SEC-2026-0002] first answer due"), "{ics}");
    assert!(!ics.contains("SEC-2026-0001"), "{ics}");
}

#[test]
fn history_plans_no_reminder_and_claims_no_acknowledgement() {
    use secdesk::desk::case::EventKind;
    use secdesk::store::Arrival;
    let mut w = World::new();
    w.deliver_as(
        1,
        report("old@reporter.test", "An old report", "x").as_bytes(),
        Arrival::History,
    );
    w.deliver_as(
        2,
        team_mail(
            ALICE,
            "old-team@example.org",
            Some("old@reporter.test"),
            "Re: An old report",
            None,
            "#remind +3d ping upstream",
        )
        .as_bytes(),
        Arrival::History,
    );
    let case: secdesk::types::CaseId = "SEC-2026-0001".parse().unwrap();
    let events = w.store.read(|tx| tx.events(&case)).unwrap();
    let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
    assert!(!kinds.contains(&EventKind::Acknowledged), "{events:#?}");
    assert!(kinds.contains(&EventKind::AckSuppressed), "{events:#?}");
    assert_eq!(w.store.read(|tx| tx.pending_reminders()).unwrap(), vec![]);
    assert_eq!(w.store.read(|tx| tx.outbox_all()).unwrap().len(), 0);
    // The daemon re-plans the open cases at each start: history stays without reminders
    // (an imported archive would otherwise remind the team of every old thread, daily).
    let now = w.clock_now();
    secdesk::service::scheduler::replan_open_cases(&w.desk, &mut w.store, now).unwrap();
    assert_eq!(w.store.read(|tx| tx.pending_reminders()).unwrap(), vec![]);
    // Live mail on the old case makes it the present's: from then on it is planned for,
    // and re-planned at the next start.
    let follow_up = report("again@reporter.test", "Re: An old report", "Still there?")
        .replace("\r\n\r\n", "\r\nIn-Reply-To: <old@reporter.test>\r\n\r\n");
    w.deliver_as(3, follow_up.as_bytes(), Arrival::Live);
    let planned = w.store.read(|tx| tx.pending_reminders()).unwrap();
    assert!(!planned.is_empty(), "live mail planned nothing");
    secdesk::service::scheduler::replan_open_cases(&w.desk, &mut w.store, now).unwrap();
    assert_eq!(w.store.read(|tx| tx.pending_reminders()).unwrap(), planned);
}

/// The reporter's thanks fails to render (an override that breaks only on real data):
/// `#publish` changes nothing and sends nothing — not even the announcement rendered
/// before it — and the failure is on the case and in the member's transcript.
#[test]
fn publish_renders_everything_before_queueing_anything() {
    use secdesk::types::CaseStatus;
    let mut w = World::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("published.txt"),
        "Subject: Published {{ advisory_id }}\n\n\
         {% if advisory_id != \"OSEC-2026-03\" %}{{ no_such_function() }}{% endif %}\n",
    )
    .unwrap();
    let templates = secdesk::outgoing::templates::Templates::load(Some(dir.path())).unwrap();
    assert!(
        templates.check().is_ok(),
        "the start-up check cannot see it"
    );
    w.desk = secdesk::service::process::Desk::new(w.desk.config.clone(), templates);
    let notice = w.open_case("Heap overflow in the parser");
    w.new_mail();
    w.command(
        ALICE,
        "p1@example.org",
        &notice,
        "#summary Heap overflow in the parser\r\n#package parser\r\n#affected < 1.2.0\r\n#publish now\r\n",
    );
    let out = w.new_mail();
    let purposes: Vec<&str> = out.iter().map(|r| r.purpose.as_str()).collect();
    assert!(!purposes.contains(&"announce"), "{purposes:?}");
    assert!(!purposes.contains(&"published-notice"), "{purposes:?}");
    assert_ne!(w.case("SEC-2026-0001").status, CaseStatus::Published);
    let t = body(&first(&out, "transcript").bytes);
    assert!(t.contains("the published template failed"), "{t}");
}

/// A team notice whose override breaks only on real data is not dropped: the case says
/// so and the team gets a plain alert that needs no template.
#[test]
fn a_template_failure_is_recorded_and_told_to_the_team() {
    use secdesk::desk::case::EventKind;
    let mut w = World::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("team-new-case.txt"),
        "Subject: [{{ case_id }}] new\n\n\
         {% if case_id != \"SEC-2026-0007\" %}{{ no_such_function() }}{% endif %}\n",
    )
    .unwrap();
    let templates = secdesk::outgoing::templates::Templates::load(Some(dir.path())).unwrap();
    assert!(templates.check().is_ok());
    w.desk = secdesk::service::process::Desk::new(w.desk.config.clone(), templates);
    w.deliver(&report("t1@reporter.test", "Heap overflow", "x"));
    let out = w.new_mail();
    let alerts: Vec<String> = out
        .iter()
        .filter(|r| r.purpose.as_str() == "team-notice")
        .map(|r| header(&r.bytes, "Subject").unwrap_or_default())
        .collect();
    assert_eq!(
        alerts,
        [
            "[SEC-2026-0001] the desk could not write the team notice",
            "[SEC-2026-0001] the desk could not write the team notice"
        ],
        "one copy per member"
    );
    assert!(out.iter().any(|r| r.purpose.as_str() == "ack"));
    let events = w.events("SEC-2026-0001");
    assert!(
        events
            .iter()
            .any(|e| e.kind == EventKind::DeliveryFailed && e.detail.contains("team notice")),
        "{events:#?}"
    );
}

/// Dovecot and Postfix restarted in the middle of a backlog, and every connection reset
/// later on, through a slow network: every report filed once, answered once.
#[test]
fn servers_restarted_and_connections_reset_under_load_lose_nothing() {
    const N: usize = 60;
    let mut stack = MailStack::start();
    let imap = Proxy::start(stack.imap_port);
    let smtp = Proxy::start(stack.smtp_port);
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = fault_config(&stack, dir.path(), imap.port, smtp.port);
    let _desk = RunningDesk::start(load(&text));
    imap.set(Mode::Delay(Duration::from_millis(2)));
    smtp.set(Mode::Delay(Duration::from_millis(2)));
    append_reports(&stack, N, "load", "Load", Some("l"));
    wait_until(WAIT, "no progress before the restart", || {
        progress(&db) >= 30
    });
    stack.restart();
    eprintln!("servers restarted at progress {}", progress(&db));
    wait_until(WAIT, "no progress before the reset", || {
        progress(&db) >= 120
    });
    imap.reset();
    smtp.reset();
    eprintln!("connections reset at progress {}", progress(&db));
    wait_until(
        Duration::from_secs(120),
        "the backlog never settled",
        || {
            tally(&db, "SELECT COUNT(*) FROM raw_mail WHERE state = 'pending'") == 0
                && tally(&db, "SELECT COUNT(*) FROM outbox") == (N * 3) as i64
                && tally(&db, "SELECT COUNT(*) FROM outbox WHERE state = 'sent'") == (N * 3) as i64
        },
    );
    stack.flush_queue();
    assert_eq!(tally(&db, "SELECT COUNT(*) FROM cases"), N as i64);
    let mut twice = 0;
    for i in 0..N {
        let who = format!("l{i}@reporter.test");
        stack.wait_for(&who, 1, WAIT);
        let got = copies(&stack, &who);
        assert_eq!(got.len(), 1, "{who}: {got:?}");
        twice += got.values().filter(|&&n| n > 1).count();
    }
    stack.wait_for(ALICE, N, WAIT);
    assert_eq!(
        copies(&stack, ALICE).len(),
        N,
        "the team heard of every report"
    );
    eprintln!(
        "{N} reports through a restart and a reset; {twice} delivered twice (same Message-ID)"
    );
}

/// Issue 12: the IMAP connection goes silent in the middle of a backlog, while one batch
/// is stored (its bytes committed, an attempt counted for each mail) and not yet filed.
/// The pass ends on the timeout; that batch gets its attempts back (the failure was the
/// server's, not its mails'), and the next pass files every report once, each at its
/// first attempt.
#[test]
fn a_backlog_cut_off_mid_download_gives_back_the_batch_stored_and_files_it_once() {
    // Four batches of 100 (each report is a few hundred bytes).
    const N: usize = 400;
    let stack = MailStack::start();
    let imap = Proxy::start(stack.imap_port);
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = fault_config(&stack, dir.path(), imap.port, stack.smtp_port);
    // The desk reads the empty inbox once: what comes after is live mail, UIDs 1 to N.
    drop(RunningDesk::start(load(&text)));
    append_reports(&stack, N, "cut", "Cut", Some("c"));
    // The third batch's download goes silent (batches of 100: it starts at UID 201; with
    // another batch size the marker never shows and the test fails on the reconnection
    // count): by then the first is being filed and the second is stored, waiting to be
    // filed after it.
    imap.set(Mode::BlackholeAfter(b"UID FETCH 201,".to_vec()));
    let connections = imap.accepted();
    let _desk = RunningDesk::start_unsynced(load(&text));
    filed_once_each_at_first_attempt(&db, N, "the download went silent");
    let reconnected = imap.accepted() - connections;
    assert!(
        reconnected >= 2,
        "the silent download did not end the pass ({reconnected} connection(s) made)"
    );
    eprintln!("{N} reports filed once across a silent download ({reconnected} connections)");
}

/// The first start on a mailbox full of mail is cut off mid-download (the network goes
/// silent in the third batch). What was there at the first start is history however
/// many passes it takes: the pass after the cut files the rest as history too, without
/// an acknowledgement or a notice. (The cursor the first batches left made the rest
/// look like new mail: each of those old reporters was acknowledged.) Mail that arrives
/// after the first start is live.
#[test]
fn a_first_start_cut_off_mid_download_still_files_the_old_mail_as_history() {
    const N: usize = 250; // three batches of 100, the third cut off
    let stack = MailStack::start();
    let imap = Proxy::start(stack.imap_port);
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = fault_config(&stack, dir.path(), imap.port, stack.smtp_port);
    append_reports(&stack, N, "old", "Old", Some("o"));
    imap.set(Mode::BlackholeAfter(b"UID FETCH 201,".to_vec()));
    let connections = imap.accepted();
    let _desk = RunningDesk::start_unsynced(load(&text));
    wait_processed(&db, N as i64, "the old mail was never all filed");
    assert!(
        imap.accepted() - connections >= 2,
        "the download was not cut off (batches of 100 start the third at UID 201)"
    );
    assert_eq!(
        tally(&db, "SELECT COUNT(*) FROM raw_mail WHERE history = 1"),
        N as i64
    );
    assert_eq!(
        tally(&db, "SELECT COUNT(*) FROM outbox"),
        0,
        "old mail was answered as new"
    );
    send_report(&stack, "new@reporter.test", "A new report", "x");
    let acks = stack.wait_for(RITA, 1, WAIT);
    assert_header(&acks[0], "In-Reply-To", "<new@reporter.test>");
}

/// The database refuses the raw bytes of a backlog's third batch (as a full disk would),
/// while the second is stored and parsed, waiting to be filed: the pass ends, that batch
/// gets its attempts back (the failure was the database's, not its mails'), and once the
/// database takes writes again every report is filed once, each at its first attempt.
#[test]
fn a_database_refusing_a_batch_gives_back_the_batch_stored_and_files_it_once() {
    const N: usize = 400; // four batches of 100
    let stack = MailStack::start();
    let imap = Proxy::start(stack.imap_port);
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = fault_config(&stack, dir.path(), imap.port, stack.smtp_port);
    drop(RunningDesk::start(load(&text)));
    append_reports(&stack, N, "full", "Full", Some("f"));
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER disk_full BEFORE INSERT ON raw_mail WHEN NEW.uid = 201
         BEGIN SELECT RAISE(ABORT, 'the disk is full'); END;",
    )
    .unwrap();
    let connections = imap.accepted();
    let _desk = RunningDesk::start_unsynced(load(&text));
    // Refused at least once: the pass ended, and the desk connected again.
    wait_until(Duration::from_secs(60), "the pass never failed", || {
        imap.accepted() - connections >= 2
    });
    assert_eq!(
        tally(&db, "SELECT COUNT(*) FROM raw_mail WHERE uid >= 201"),
        0,
        "the refused batch was stored after all"
    );
    conn.execute_batch("DROP TRIGGER disk_full").unwrap();
    filed_once_each_at_first_attempt(&db, N, "the database refused the next");
}

/// A report the server lists but will not hand over (Dovecot cannot read its file, and
/// hands over the rest with a `NO`): the team is told, on a case of its own, and the
/// reports around it are filed and answered. (It was passed over in silence: the
/// cursor moved past it, and it stayed in the mailbox, never filed, never told.)
#[test]
fn a_mail_the_server_keeps_back_is_told_to_the_team() {
    unreadable_uid_2_stood_for("no-after");
}

/// Three reports, UID 2's file unreadable to a Dovecot whose `imap_fetch_failure` is
/// `mode`: all three are on cases (the second stood for by the desk's notice), the
/// cursor past them, and the team told.
fn unreadable_uid_2_stood_for(mode: &str) {
    let stack = MailStack::start_with_fetch_failure(mode);
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = fault_config(&stack, dir.path(), stack.imap_port, stack.smtp_port);
    drop(RunningDesk::start(load(&text)));
    append_reports(&stack, 3, "kb", "Kept back", Some("k"));
    stack.make_unreadable(DESK, 2);
    let _desk = RunningDesk::start_unsynced(load(&text));
    wait_processed(
        &db,
        3,
        "the mail the server would not hand over was never stood for",
    );
    assert_eq!(tally(&db, "SELECT COUNT(*) FROM cases"), 3);
    assert_eq!(tally(&db, "SELECT MAX(last_uid) FROM imap_cursor"), 3);
    uid_2_stood_for_and_told(&db, &stack);
}

/// Of three reports, the two readable ones are answered, nobody for the third (UID 2,
/// which the server would not hand over), and the team is told of it.
fn uid_2_stood_for_and_told(db: &Path, stack: &MailStack) {
    assert_eq!(
        tally(db, "SELECT COUNT(*) FROM outbox WHERE purpose = 'ack'"),
        2,
        "the two readable reports are answered, and nobody for the third"
    );
    let team = stack.wait_for(ALICE, 3, WAIT);
    let subjects: Vec<String> = team.iter().filter_map(|m| header(m, "Subject")).collect();
    assert!(
        subjects
            .iter()
            .any(|s| s.contains("would not hand over: UID 2 in INBOX")),
        "{subjects:#?}"
    );
}

/// The same with Dovecot's default, which drops the connection at a message file it
/// cannot read: the mail before it is filed at once, and the mail behind it is not held
/// back for good. After the server has stopped at that mail `PASS_OVER_AFTER` times in a
/// row, a mail of the desk's own stands in its place, the team is told, and the report
/// behind it is filed and answered. (The desk kept trying at that mail, pass after pass,
/// and every report behind it waited unanswered.)
#[test]
fn a_mail_the_server_drops_the_connection_at_holds_back_no_report_for_good() {
    use secdesk::service::ingest::PASS_OVER_AFTER;
    let stack = MailStack::start();
    let imap = Proxy::start(stack.imap_port);
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = fault_config(&stack, dir.path(), imap.port, stack.smtp_port);
    drop(RunningDesk::start(load(&text)));
    append_reports(&stack, 3, "dc", "Dropped", Some("d"));
    stack.make_unreadable(DESK, 2);
    let connections = imap.accepted();
    let _desk = RunningDesk::start_unsynced(load(&text));
    wait_processed(&db, 1, "the first report was never filed");
    wait_processed(
        &db,
        3,
        "the report behind the mail the server drops the connection at waits for good",
    );
    assert!(
        imap.accepted() > connections + PASS_OVER_AFTER as usize,
        "passed over before the server had stopped at it {PASS_OVER_AFTER} times"
    );
    assert_eq!(tally(&db, "SELECT MAX(last_uid) FROM imap_cursor"), 3);
    uid_2_stood_for_and_told(&db, &stack);
}

/// A mail the server refuses once (`NO`: a message file briefly unreadable, a store's
/// hiccup) and hands over when asked again is filed with its batch. (It was downloaded
/// the second time and dropped, and the cursor passed it with the mail behind it: a
/// report lost without a word.)
#[test]
fn a_mail_the_server_hands_over_at_the_second_asking_is_filed() {
    let stack = MailStack::start_with_fetch_failure("no-after");
    let imap = Proxy::start(stack.imap_port);
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = fault_config(&stack, dir.path(), imap.port, stack.smtp_port);
    drop(RunningDesk::start(load(&text)));
    append_reports(&stack, 3, "sa", "Second asking", Some("s"));
    stack.make_unreadable(DESK, 2);
    // The desk asks which of the mails refused the server still lists before it asks
    // for them again: held there while the file becomes readable.
    let listed = b"(UID)\r\n";
    let asked = imap.watch(listed);
    imap.set(Mode::HoldOn(listed.to_vec()));
    let _desk = RunningDesk::start_unsynced(load(&text));
    wait_until(WAIT, "the desk never asked again", || imap.sent(asked) > 0);
    stack.make_readable(DESK, 2);
    imap.pass();
    wait_processed(
        &db,
        3,
        "the mail handed over at the second asking was never filed",
    );
    assert_eq!(
        tally(&db, "SELECT COUNT(*) FROM outbox WHERE purpose = 'ack'"),
        3,
        "every report is answered, the second one too"
    );
}

/// Dovecot's `disconnect-after` hands over every other mail of the batch, then drops
/// the connection: the mail behind the one it stopped at is not stored before it, so
/// the cursor does not pass it; after `PASS_OVER_AFTER` stops there, a mail of the
/// desk's own stands in its place and the team is told. (The mail behind it was stored,
/// the cursor moved past the one never handed over, and that report was lost.)
#[test]
fn a_server_handing_over_the_mail_behind_a_broken_one_loses_nothing() {
    unreadable_uid_2_stood_for("disconnect-after");
}

/// The same at the first start, the mail already there being history (filed without a
/// word): the notice standing for the mail the server would not hand over is told to the
/// team all the same; the old reports around it are filed unanswered, as history is.
/// (The notice was filed as history too, and nobody heard of the mail.)
#[test]
fn a_history_mail_the_server_will_not_hand_over_is_told_to_the_team() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = fault_config(&stack, dir.path(), stack.imap_port, stack.smtp_port);
    append_reports(&stack, 3, "hk", "Old kept back", Some("h"));
    stack.make_unreadable(DESK, 2);
    let _desk = RunningDesk::start_unsynced(load(&text));
    wait_processed(
        &db,
        3,
        "the mail the server would not hand over was never stood for",
    );
    let team = stack.wait_for(ALICE, 1, WAIT);
    let subject = header(&team[0], "Subject").unwrap_or_default();
    assert!(
        subject.contains("would not hand over: UID 2 in INBOX"),
        "{subject}"
    );
    assert_eq!(
        tally(&db, "SELECT COUNT(*) FROM outbox WHERE purpose = 'ack'"),
        0,
        "history is not answered"
    );
    assert_eq!(
        tally(
            &db,
            "SELECT COUNT(*) FROM outbox WHERE purpose = 'team-notice'"
        ),
        2,
        "the notice alone, to each member"
    );
}

/// A server that will not list the sizes of the mail waiting (one that must open a
/// message file to tell its size, and cannot): the mail is listed by UID alone and
/// filed. (The refused listing passed for an empty one: nothing was ever filed.)
#[test]
fn a_server_refusing_to_list_sizes_still_has_its_mail_filed() {
    filed_with_sizes_unlisted(Mode::RefuseCommand(b"RFC822.SIZE".to_vec()));
}

/// The same with a server that drops the connection instead (Dovecot's default at a
/// message file it cannot read): the next pass lists the mail by UID alone. (Every pass
/// ended at the listing, for good, and nobody was told.)
#[test]
fn a_server_dropping_the_connection_at_the_size_listing_still_has_its_mail_filed() {
    filed_with_sizes_unlisted(Mode::CloseOn(b"RFC822.SIZE".to_vec()));
}

/// Three reports, the server listing no size the way `mode` says: all are filed and
/// answered.
fn filed_with_sizes_unlisted(mode: Mode) {
    let stack = MailStack::start();
    let imap = Proxy::start(stack.imap_port);
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = fault_config(&stack, dir.path(), imap.port, stack.smtp_port);
    drop(RunningDesk::start(load(&text)));
    append_reports(&stack, 3, "ns", "No sizes", Some("z"));
    imap.set(mode);
    let _desk = RunningDesk::start_unsynced(load(&text));
    wait_processed(&db, 3, "the mail was never filed");
    assert_eq!(
        tally(&db, "SELECT COUNT(*) FROM outbox WHERE purpose = 'ack'"),
        3
    );
}

/// A server that refuses flags (`NO` to every `UID STORE`) during a backlog: the backlog
/// is filed in one pass all the same, and the flags are tried again at its end. (Each
/// refusal ended the pass, so the backlog went one batch per reconnection, with the
/// backoff growing between them.)
#[test]
fn a_server_refusing_flags_does_not_slow_a_backlog() {
    const N: usize = 600; // six batches of 100
    let stack = MailStack::start();
    let imap = Proxy::start(stack.imap_port);
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = fault_config(&stack, dir.path(), imap.port, stack.smtp_port);
    drop(RunningDesk::start(load(&text)));
    append_reports(&stack, N, "nf", "No flags", Some("n"));
    imap.set(Mode::RefuseCommand(b"UID STORE".to_vec()));
    let connections = imap.accepted();
    let _desk = RunningDesk::start_unsynced(load(&text));
    wait_processed(&db, N as i64, "the backlog was never filed");
    let reconnected = imap.accepted() - connections - 1;
    assert!(
        reconnected <= 1,
        "{reconnected} reconnections while the backlog was filed: each refused flag ended the pass"
    );
    assert_eq!(
        tally(&db, "SELECT COUNT(*) FROM raw_mail WHERE flagged = 1"),
        0,
        "a mail held flagged though the server refused its UID STORE"
    );
}

/// A server that drops the connection at every `UID STORE` (a mailbox shared read-only,
/// a proxy that dislikes flags): each report is still filed and answered, the next as
/// well as the first, and once flags go through again, both are flagged, though no new
/// mail comes to start the pass that flags them.
#[test]
fn a_server_refusing_flags_never_keeps_the_next_report_from_being_filed() {
    let stack = MailStack::start();
    let imap = Proxy::start(stack.imap_port);
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = fault_config(&stack, dir.path(), imap.port, stack.smtp_port);
    let _desk = RunningDesk::start(load(&text));
    imap.set(Mode::CloseOn(b"UID STORE".to_vec()));
    send_report(&stack, "first@reporter.test", "First", "x");
    wait_until(
        Duration::from_secs(60),
        "the first report was never filed",
        || filed_and_answered(&db, 1),
    );
    let connections = imap.accepted();
    wait_until(Duration::from_secs(60), "the flag never failed", || {
        imap.accepted() > connections
    });
    send_report(&stack, "second@reporter.test", "Second", "x");
    wait_until(
        Duration::from_secs(60),
        "the second report was never filed",
        || filed_and_answered(&db, 2),
    );
    assert_eq!(
        tally(&db, "SELECT COUNT(*) FROM raw_mail WHERE flagged = 1"),
        0,
        "a mail held flagged though the server never answered its UID STORE"
    );
    imap.set(Mode::Pass);
    wait_until(
        Duration::from_secs(60),
        "never flagged once the server took flags",
        || tally(&db, "SELECT COUNT(*) FROM raw_mail WHERE flagged = 1") == 2,
    );
    assert_eq!(tally(&db, "SELECT COUNT(*) FROM cases"), 2);
}

/// A server that refuses every `UID STORE` with a NO, the connection kept (a read-only
/// or shared mailbox): the pass that filed a report ended in that refusal, so the desk
/// reconnected for every report, never idled, and at a start never said READY.
#[test]
fn a_server_refusing_flags_keeps_the_connection_and_idles() {
    let stack = MailStack::start();
    let imap = Proxy::start(stack.imap_port);
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = fault_config(&stack, dir.path(), imap.port, stack.smtp_port);
    let _desk = RunningDesk::start(load(&text));
    imap.set(Mode::RefuseCommand(b"UID STORE".to_vec()));
    let connections = imap.accepted();
    for (n, who) in ["first@reporter.test", "second@reporter.test"]
        .into_iter()
        .enumerate()
    {
        send_report(&stack, who, "Report", "x");
        wait_until(
            Duration::from_secs(60),
            "the report was never filed",
            || filed_and_answered(&db, n as i64 + 1),
        );
    }
    assert_eq!(
        imap.accepted(),
        connections,
        "the desk reconnected: a refused flag ended its pass"
    );
    assert_eq!(
        tally(&db, "SELECT COUNT(*) FROM raw_mail WHERE flagged = 1"),
        0
    );
}

/// A server that keeps no custom keywords refuses the desk's `$SecdeskDone`: the desk
/// marks its mail `\Seen` instead, once, and files nothing twice after a restart.
#[test]
fn a_server_refusing_keywords_has_the_mail_marked_seen_instead() {
    let stack = MailStack::start();
    let imap = Proxy::start(stack.imap_port);
    imap.set(Mode::RefuseCommand(b"$SecdeskDone".to_vec()));
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = fault_config(&stack, dir.path(), imap.port, stack.smtp_port);
    let desk = RunningDesk::start(load(&text));
    send_report(&stack, "first@reporter.test", "First", "x");
    send_report(&stack, "second@reporter.test", "Second", "x");
    wait_until(
        Duration::from_secs(60),
        "the reports were never filed",
        || filed_and_answered(&db, 2),
    );
    wait_until(Duration::from_secs(60), "never flagged", || {
        tally(&db, "SELECT COUNT(*) FROM raw_mail WHERE flagged = 1") == 2
    });
    let search = |what: &str| {
        let mut session = stack.imap(DESK);
        session.select("INBOX");
        let found = session.ok(&format!("UID SEARCH {what}"));
        session.logout();
        found
            .iter()
            .filter_map(|u| u.text.strip_prefix("* SEARCH"))
            .flat_map(|rest| {
                rest.split_whitespace()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .count()
    };
    assert_eq!(
        search("SEEN"),
        2,
        "both mails are marked seen on the server"
    );
    assert_eq!(search("KEYWORD $SecdeskDone"), 0, "the keyword was refused");
    drop(desk);
    let _desk = RunningDesk::start(load(&text));
    send_report(&stack, "third@reporter.test", "Third", "x");
    wait_until(
        Duration::from_secs(60),
        "the third report was never filed",
        || filed_and_answered(&db, 3),
    );
    assert_eq!(tally(&db, "SELECT COUNT(*) FROM cases"), 3);
    assert_eq!(
        tally(&db, "SELECT COUNT(*) FROM raw_mail"),
        3,
        "nothing fetched twice"
    );
}

/// Whether `n` mails are filed and `n` acknowledgements queued.
fn filed_and_answered(db: &Path, n: i64) -> bool {
    tally(
        db,
        "SELECT COUNT(*) FROM raw_mail WHERE state = 'processed'",
    ) == n
        && tally(db, "SELECT COUNT(*) FROM outbox WHERE purpose = 'ack'") == n
}

/// Waits until all `n` reports of a backlog are filed and acknowledged, then checks each
/// is on one case and none was tried twice: the batch stored and waiting when `cause`
/// got its attempts back.
fn filed_once_each_at_first_attempt(db: &Path, n: usize, cause: &str) {
    wait_until(
        Duration::from_secs(60),
        "the backlog was never filed",
        || filed_and_answered(db, n as i64),
    );
    assert_eq!(tally(db, "SELECT COUNT(*) FROM cases"), n as i64);
    let twice = tally(db, "SELECT COUNT(*) FROM raw_mail WHERE attempts > 1");
    assert_eq!(
        twice, 0,
        "{twice} reports counted a second attempt: the batch stored when {cause} kept the \
         attempts the pass had counted"
    );
}

/// An SMTP server that hangs up at once: the desk retries with growing backoff (1 s,
/// 2 s, 4 s …), not in a tight loop, and touches no mail.
#[test]
fn an_smtp_server_that_hangs_up_is_retried_with_growing_backoff() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let stack = MailStack::start();
    let hangs_up = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hangs_up.local_addr().unwrap().port();
    let tries = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&tries);
    std::thread::spawn(move || {
        for conn in hangs_up.incoming() {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(conn);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = fault_config(&stack, dir.path(), stack.imap_port, port);
    let _desk = RunningDesk::start(load(&text));
    send_report(&stack, "hangup@reporter.test", "Nobody answers", "x");
    wait_until(WAIT, "the desk never tried", || {
        tries.load(Ordering::SeqCst) >= 1
    });
    // Watched for 4 s: tries at about 0, 1 and 3 s; a tight loop would make dozens.
    at_most_while_watched(4, Duration::from_secs(4), || tries.load(Ordering::SeqCst));
    assert_eq!(
        tally(&db, "SELECT COUNT(*) FROM outbox WHERE attempts > 0"),
        0
    );
    assert_eq!(
        tally(&db, "SELECT COUNT(*) FROM outbox WHERE state = 'pending'"),
        3
    );
}

/// The IMAP password was rotated on the server before the file: the desk keeps trying,
/// and logs in as soon as the file is corrected, without a restart.
#[test]
fn a_corrected_imap_password_file_is_read_at_the_next_login() {
    let stack = MailStack::start();
    let imap = Proxy::start(stack.imap_port);
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = fault_config(&stack, dir.path(), imap.port, stack.smtp_port);
    let pass_file = dir.path().join("imap-password");
    std::fs::write(&pass_file, "the-old-one\n").unwrap();
    let text = text.replace(
        "password_env = \"TEST_IMAP_PASSWORD\"",
        &format!("password_file = \"{}\"", pass_file.display()),
    );
    let _desk = RunningDesk::start_unsynced(load(&text));
    wait_until(WAIT, "the desk did not try twice", || imap.accepted() >= 2);
    assert_eq!(
        tally(&db, "SELECT COUNT(*) FROM imap_cursor"),
        0,
        "never logged in"
    );
    std::fs::write(&pass_file, format!("{}\n", stack.password)).unwrap();
    wait_first_sync(&db).unwrap();
}

/// The database refuses the mailer's writes (a full disk, a lock held by another
/// program): the mailer backs off as it does for a server that is away, instead of
/// logging in to the SMTP server again every 50 ms.
#[test]
fn a_database_refusing_the_mailers_writes_is_retried_with_growing_backoff() {
    use std::sync::atomic::Ordering;
    let stack = MailStack::start();
    let (port, tries) = fake_smtp(|_| "250 ok");
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = fault_config(&stack, dir.path(), stack.imap_port, port);
    // Claiming a row to send counts its attempt: that write fails.
    drop(secdesk::store::Store::open(&db).unwrap());
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse_claims BEFORE UPDATE OF attempts ON outbox
             BEGIN SELECT RAISE(ABORT, 'database or disk is full (test)'); END;",
        )
        .unwrap();
    let _desk = RunningDesk::start(load(&text));
    send_report(&stack, "refused@reporter.test", "The disk is full", "x");
    wait_until(WAIT, "the mailer never tried", || {
        tries.load(Ordering::SeqCst) >= 1
    });
    // Watched for 4 s: tries at about 0, 1 and 3 s; a tight loop would make dozens.
    at_most_while_watched(4, Duration::from_secs(4), || tries.load(Ordering::SeqCst));
    assert_eq!(
        tally(
            &db,
            "SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND attempts = 0"
        ),
        3,
        "every mail waits, no attempt counted"
    );
}

/// The database refuses to record that mail went out (a full disk, a lock held past the
/// busy timeout) while the next is on the wire: the mailer dropped what it knew it had
/// sent, and the mail on the wire with it, and sent them all again half a minute later,
/// a second acknowledgement to the reporter and notices twice to the team. It sees the
/// mail on the wire through, and records what became of each once the database takes
/// it again.
#[test]
fn a_refused_record_of_sent_mail_sends_nothing_twice() {
    let stack = MailStack::start();
    let (port, sent) = counting_smtp();
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = fault_config(&stack, dir.path(), stack.imap_port, port);
    drop(secdesk::store::Store::open(&db).unwrap());
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE hold (x);
         INSERT INTO hold VALUES (1);
         CREATE TRIGGER refuse_records BEFORE UPDATE OF state ON outbox
         WHEN EXISTS (SELECT 1 FROM hold)
         BEGIN SELECT RAISE(ABORT, 'database or disk is full (test)'); END;",
    )
    .unwrap();
    let _desk = RunningDesk::start(load(&text));
    send_report(&stack, "twice@reporter.test", "Sent once", "x");
    // The second mail delivered: the first one's record was tried meanwhile, refused.
    wait_until(WAIT, "two mails never went out", || {
        sent.lock().unwrap().len() >= 2
    });
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn.execute("DELETE FROM hold", []).unwrap();
    wait_until(WAIT, "the mail was never all recorded as sent", || {
        tally(&db, "SELECT COUNT(*) FROM outbox WHERE state = 'sent'") == 3
    });
    let ids = sent.lock().unwrap().clone();
    let once: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), once.len(), "a mail sent twice: {ids:?}");
    assert_eq!(ids.len(), 3, "{ids:?}");
}

/// A relay whose filters take longer than the desk's timeout to answer the data's final
/// dot (a milter scanning an archive; Postfix allows it five minutes) has the mail as
/// soon as it answers: the desk waits longer for that answer when it sends the mail again.
/// (Each try gave up at the timeout and went again, every member getting a copy at each
/// try, for ever.)
#[test]
fn a_relay_slow_to_answer_the_data_gets_each_mail_at_most_twice() {
    let stack = MailStack::start();
    // Twice the desk's timeout (2 s).
    let (port, sent) = counting_smtp_answering_after(Duration::from_secs(4));
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = fault_config(&stack, dir.path(), stack.imap_port, port);
    let _desk = RunningDesk::start(load(&text));
    send_report(&stack, "slow@reporter.test", "Slow filters", "x");
    wait_until(WAIT, "the mail was never all recorded as sent", || {
        tally(&db, "SELECT COUNT(*) FROM outbox") == 3
            && tally(&db, "SELECT COUNT(*) FROM outbox WHERE state = 'sent'") == 3
    });
    let ids = sent.lock().unwrap().clone();
    let mut copies = std::collections::BTreeMap::<&String, usize>::new();
    for id in &ids {
        *copies.entry(id).or_default() += 1;
    }
    assert_eq!(copies.len(), 3, "{ids:?}");
    assert!(copies.values().all(|&n| n <= 2), "{ids:?}");
}

/// An SMTP server on loopback that takes every mail, and lists the Message-ID of each
/// mail it took, in order.
fn counting_smtp() -> (u16, Arc<std::sync::Mutex<Vec<String>>>) {
    counting_smtp_answering_after(Duration::ZERO)
}

/// [`counting_smtp`], answering the data's final dot after `delay` (the mail listed as
/// the dot arrives: a relay has it from then on).
fn counting_smtp_answering_after(delay: Duration) -> (u16, Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let sent = Arc::new(std::sync::Mutex::new(Vec::new()));
    let listed = Arc::clone(&sent);
    std::thread::spawn(move || {
        for conn in server.incoming().flatten() {
            let listed = Arc::clone(&listed);
            std::thread::spawn(move || {
                let mut out = conn.try_clone().unwrap();
                let _ = out.write_all(b"220 fake ESMTP\r\n");
                let (mut data, mut id) = (false, String::new());
                for line in BufReader::new(conn).lines() {
                    let Ok(line) = line else { break };
                    let upper = line.to_ascii_uppercase();
                    let reply = if data {
                        if let Some(v) = line
                            .split_once(':')
                            .filter(|(n, _)| n.eq_ignore_ascii_case("message-id"))
                        {
                            id = v.1.trim().to_string();
                        }
                        if line != "." {
                            continue;
                        }
                        data = false;
                        listed.lock().unwrap().push(std::mem::take(&mut id));
                        std::thread::sleep(delay);
                        "250 queued"
                    } else if upper.starts_with("QUIT") {
                        "221 bye"
                    } else if upper.starts_with("DATA") {
                        data = true;
                        "354 go on"
                    } else {
                        "250 ok"
                    };
                    if out.write_all(format!("{reply}\r\n").as_bytes()).is_err() {
                        break;
                    }
                }
            });
        }
    });
    (port, sent)
}

/// A relay that keeps deferring the acknowledgement (`454 Relay access denied`: Postfix's
/// answer to an outside address from a client it does not trust) while it takes the
/// team's mail: after ten tries, about three hours, the case says so and the team hears
/// it once, while the desk goes on trying. (It was retried hourly for ever, and nobody
/// was told that the reporter had heard nothing.)
#[test]
fn an_acknowledgement_the_relay_keeps_deferring_is_told_to_the_team_once() {
    fn defer_rita(line: &str) -> &'static str {
        let upper = line.to_ascii_uppercase();
        match upper.starts_with("RCPT TO") && upper.contains("RITA@") {
            true => "454 4.7.1 <rita@reporter.test>: Relay access denied",
            false => "250 ok",
        }
    }
    let (port, _) = fake_smtp(defer_rita);
    let mut w = World::new();
    w.deliver(&report("r1@reporter.test", "Deferred", "x"));
    let mut told = Vec::new();
    for (pass, mail) in flush_hourly(&mut w, port, 14).into_iter().enumerate() {
        let alerts: Vec<String> = mail
            .iter()
            .filter(|r| r.purpose.as_str() == "team-notice")
            .map(|r| {
                format!(
                    "{}: {}",
                    pass + 1,
                    header(&r.bytes, "Subject").unwrap_or_default()
                )
            })
            .collect();
        told.extend(alerts);
    }
    // The notices of the report went at the first pass; the alert, to each member, once.
    let alerts: Vec<&String> = told.iter().filter(|s| s.contains("Attention")).collect();
    assert_eq!(alerts.len(), 2, "{told:#?}");
    assert!(
        alerts
            .iter()
            .all(|s| s.ends_with("the acknowledgement to rita@reporter.test is not delivered yet")),
        "{told:#?}"
    );
    let events = w.events("SEC-2026-0001");
    assert!(
        events
            .iter()
            .any(|e| e.detail.contains("not delivered yet")
                && e.detail.contains("Relay access denied")),
        "{events:?}"
    );
    let ack = w.first_queued("ack");
    assert_eq!(
        ack.state,
        secdesk::store::OutboxState::Pending,
        "still tried"
    );
}

/// A reminder the relay keeps deferring (a copy to each member) is noted on its case at
/// the tenth try, but no alert goes: each copy told every member, N² alerts the relay
/// defers just the same.
#[test]
fn a_reminder_the_relay_keeps_deferring_is_noted_without_alerts() {
    fn defer_all(line: &str) -> &'static str {
        match line.to_ascii_uppercase().starts_with("RCPT TO") {
            true => "452 4.3.1 Insufficient system storage",
            false => "250 ok",
        }
    }
    let (port, _) = fake_smtp(defer_all);
    let mut w = World::new();
    let notice = w.open_case("Deferred");
    w.command(
        ALICE,
        "a1@example.org",
        &notice,
        "#remind +1d ping upstream\r\n",
    );
    w.clock.advance(chrono::Duration::days(2));
    w.run_due();
    // All but the reminder went.
    let now = w.clock_now();
    for r in w.store.read(|tx| tx.outbox_all()).unwrap() {
        if r.purpose.as_str() != "reminder" {
            w.store.write(|tx| tx.mark_sent(r.id, now)).unwrap();
        }
    }
    w.new_mail();
    let out: Vec<secdesk::store::OutboxRow> = flush_hourly(&mut w, port, 12).concat();
    assert!(out.is_empty(), "{}", summarize(&out));
    let events = w.events("SEC-2026-0001");
    assert!(
        events
            .iter()
            .any(|e| e.detail.contains("reminder mail") && e.detail.contains("not delivered yet")),
        "{events:?}"
    );
}

/// `w`'s outbox flushed through the relay on `port`, `passes` times an hour apart (on a
/// clock of its own, from `w`'s); the mail each pass found queued, in order.
fn flush_hourly(w: &mut World, port: u16, passes: usize) -> Vec<Vec<secdesk::store::OutboxRow>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut smtp = w.desk.config.smtp.clone();
    smtp.port = port;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = secdesk::service::db::Db::open(&w.desk.config.desk.database).unwrap();
    let mailer = secdesk::service::mailer::Mailer::new(&smtp, "example.org").unwrap();
    let desk = crate::support::pass::service_desk(&w.desk.config);
    let clock = secdesk::clock::ManualClock::new(w.clock_now());
    (0..passes)
        .map(|_| {
            crate::support::pass::flush(&rt, &mailer, &db, &desk, &clock);
            clock.advance(chrono::Duration::hours(1));
            w.new_mail()
        })
        .collect()
}

/// An SMTP server on loopback that greets, answers each command line with
/// `answer(line)` (QUIT with 221) and the data's final dot with `answer(".")`, and counts
/// its connections.
fn fake_smtp(answer: fn(&str) -> &'static str) -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let tries = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&tries);
    std::thread::spawn(move || {
        for conn in server.incoming().flatten() {
            counted.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut out = conn.try_clone().unwrap();
                let _ = out.write_all(b"220 fake ESMTP\r\n");
                let mut data = false;
                for line in BufReader::new(conn).lines() {
                    let Ok(line) = line else { break };
                    let upper = line.to_ascii_uppercase();
                    let reply = if data {
                        if line != "." {
                            continue;
                        }
                        data = false;
                        // The answer to the data: `answer(".")`.
                        answer(".").to_string()
                    } else if upper.starts_with("QUIT") {
                        "221 bye".to_string()
                    } else if upper.starts_with("DATA") {
                        data = true;
                        "354 go on".to_string()
                    } else {
                        answer(&line).to_string()
                    };
                    if out.write_all(format!("{reply}\r\n").as_bytes()).is_err() {
                        break;
                    }
                }
            });
        }
    });
    (port, tries)
}

/// The real binary, sending through a [`fake_smtp`] that answers with `answer` and
/// telling a systemd socket its state, once it has read the inbox: its database, the
/// socket's listener and the process.
fn daemon_with_fake_smtp(
    stack: &MailStack,
    dir: &Path,
    answer: fn(&str) -> &'static str,
) -> (PathBuf, Systemd, Daemon) {
    let (port, _) = fake_smtp(answer);
    let (text, db) = fault_config(stack, dir, stack.imap_port, port);
    let (systemd, desk) = daemon_told_to_systemd(dir, &text);
    wait_first_sync(&db).unwrap();
    (db, systemd, desk)
}

/// A server that wants a login the config does not give (a password set without
/// `smtp.username`, say) answers `530` to every sender: that is no verdict on the mail,
/// which waits, instead of each one failing for good. Like a refused login, it counts no
/// attempt (each mail's retries grew to an hour apart, so mail waited that long after the
/// config was mended), and `secdesk check` names it (it connected, logged in and said all
/// was well: the server says it only to a sender).
#[test]
fn a_server_that_wants_a_login_first_fails_no_mail() {
    let stack = MailStack::start();
    let (port, tries) = fake_smtp(|line| {
        if line.to_ascii_uppercase().starts_with("MAIL FROM") {
            "530 5.7.0 Authentication required"
        } else {
            "250 ok"
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = fault_config(&stack, dir.path(), stack.imap_port, port);
    let desk = RunningDesk::start(load(&text));
    send_report(&stack, "login@reporter.test", "Log in first", "x");
    wait_until(WAIT, "the report was never filed", || {
        tally(&db, "SELECT COUNT(*) FROM outbox") == 3
    });
    // Every mail was answered `530`; then the desk stops (giving back what it held).
    wait_every_mail_tried(&db);
    assert!(tries.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    drop(desk);
    assert_eq!(
        tally(&db, "SELECT COUNT(*) FROM outbox WHERE state = 'failed'"),
        0
    );
    assert_eq!(
        tally(&db, "SELECT COUNT(*) FROM outbox WHERE attempts > 0"),
        0,
        "no attempt counted"
    );
    let smtp_line = check_fails_smtp(dir.path(), &text);
    assert!(
        smtp_line.contains("wants a login first") && smtp_line.contains("smtp.username"),
        "{smtp_line}"
    );
}

/// `secdesk check` on `text`, written into `dir`: its `FAIL smtp` line. The test fails
/// without one, or if `check` exits 0 all the same.
fn check_fails_smtp(dir: &Path, text: &str) -> String {
    let cfg_path = dir.join("config.toml");
    std::fs::write(&cfg_path, text).unwrap();
    let check = Command::new(env!("CARGO_BIN_EXE_secdesk"))
        .args(["check", "--config", cfg_path.to_str().unwrap()])
        .env("TEST_IMAP_PASSWORD", "secret")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&check.stdout);
    let line = said
        .lines()
        .find(|l| l.starts_with("FAIL smtp"))
        .unwrap_or_else(|| panic!("no failed smtp check in:\n{said}"));
    assert_ne!(check.status.code(), Some(0), "{said}");
    line.to_string()
}

/// A login that works but may not send as the desk (an account rotated to one without
/// the desk's address: `553 … not owned by user`) refuses every mail, at `MAIL FROM` or,
/// as Postfix does by default (smtpd_delay_reject), at the first `RCPT TO`: that is the
/// configuration, not the mail. Every mail waits, no attempt counted. (Each was failed
/// for good, the acknowledgements with them, and the team's alerts, refused the same
/// way, never came.) Exchange Online says it only after the data (`SendAsDenied`), and
/// is heard the same way.
#[test]
fn a_relay_refusing_the_desk_as_a_sender_fails_no_mail() {
    fn at_mail_from(line: &str) -> &'static str {
        match line.to_ascii_uppercase().starts_with("MAIL FROM") {
            true => {
                "553 5.7.1 <security@example.org>: Sender address rejected: not owned by user desk"
            }
            false => "250 ok",
        }
    }
    fn at_rcpt_to(line: &str) -> &'static str {
        match line.to_ascii_uppercase().starts_with("RCPT TO") {
            true => {
                "553 5.7.1 <security@example.org>: Sender address rejected: not owned by user desk"
            }
            false => "250 ok",
        }
    }
    fn after_the_data(line: &str) -> &'static str {
        match line {
            "." => {
                "554 5.2.252 SendAsDenied; security@example.org not allowed to send as security@example.org; STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied"
            }
            _ => "250 ok",
        }
    }
    let stack = MailStack::start();
    let answers = [
        at_mail_from as fn(&str) -> &'static str,
        at_rcpt_to,
        after_the_data,
    ];
    for (n, answer) in answers.into_iter().enumerate() {
        let (port, tries) = fake_smtp(answer);
        let dir = tempfile::tempdir().unwrap();
        let (text, db) = fault_config(&stack, dir.path(), stack.imap_port, port);
        let desk = RunningDesk::start(load(&text));
        send_report(
            &stack,
            &format!("sender{n}@reporter.test"),
            "Sender refused",
            "x",
        );
        wait_until(WAIT, "the report was never filed", || {
            tally(&db, "SELECT COUNT(*) FROM outbox") >= 3
        });
        wait_every_mail_tried(&db);
        assert!(tries.load(std::sync::atomic::Ordering::SeqCst) >= 1);
        drop(desk);
        let failed = tally(&db, "SELECT COUNT(*) FROM outbox WHERE state = 'failed'");
        assert_eq!(failed, 0, "refused at step {n}");
        let tried = tally(&db, "SELECT COUNT(*) FROM outbox WHERE attempts > 0");
        assert_eq!(tried, 0, "no attempt counted at step {n}");
        assert_eq!(
            tally(&db, "SELECT COUNT(*) FROM outbox"),
            3,
            "no alert queued"
        );
        // `secdesk check` names the refusal wherever the relay says it before the data
        // (it sends none).
        if n == 2 {
            continue;
        }
        let smtp_line = check_fails_smtp(dir.path(), &text);
        assert!(
            smtp_line.contains("refuses security@example.org")
                && smtp_line.contains("desk.address"),
            "{smtp_line}"
        );
    }
}

/// Waits until every queued mail was tried once and its outcome written: none is left
/// pending at the instant it was queued, nor claimed (an attempt counted) and not yet
/// settled. A mail given back to wait has a later instant and no attempt; one failed is
/// no longer pending. (A second pass would come only after the wait, a minute on.)
fn wait_every_mail_tried(db: &Path) {
    wait_until(WAIT, "the mailer never tried every mail", || {
        tally(db, "SELECT COUNT(*) FROM outbox") >= 3
            && tally(
                db,
                "SELECT COUNT(*) FROM outbox WHERE state = 'pending'
                   AND (next_attempt_at <= created_at OR attempts > 0)",
            ) == 0
    });
}

/// Mail queued as an address no desk has any more (`desk.address` changed with mail
/// waiting) and refused as a sender fails, and the team hears of it from the desk's
/// address now: it would wait for nothing.
#[test]
fn mail_queued_as_an_old_desk_address_and_refused_fails_and_is_told() {
    fn old_refused(line: &str) -> &'static str {
        let upper = line.to_ascii_uppercase();
        match upper.starts_with("MAIL FROM") && upper.contains("<SECURITY@EXAMPLE.ORG>") {
            true => {
                "553 5.7.1 <security@example.org>: Sender address rejected: not owned by user desk"
            }
            false => "250 ok",
        }
    }
    let stack = MailStack::start();
    let (port, _tries) = fake_smtp(old_refused);
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = fault_config(&stack, dir.path(), stack.imap_port, port);
    let desk = RunningDesk::start(load(&text));
    send_report(&stack, "old@reporter.test", "Old address", "x");
    wait_until(WAIT, "the report was never filed", || {
        tally(&db, "SELECT COUNT(*) FROM outbox") >= 3
    });
    drop(desk);
    // The operator gives the desk a new address; the three mails queued stay as written.
    let renamed = text.replacen(
        &format!("address = \"{DESK}\""),
        "address = \"security2@example.org\"",
        1,
    );
    assert_ne!(renamed, text);
    // Two minutes on: the mail given back to wait a minute is due again.
    use secdesk::clock::Clock;
    let later = secdesk::clock::SystemClock.now() + chrono::Duration::minutes(2);
    let clock = Arc::new(secdesk::clock::ManualClock::new(later));
    let _desk = RunningDesk::start_with_clock(load(&renamed), clock);
    wait_until(WAIT, "the old mail never failed", || {
        tally(
            &db,
            "SELECT COUNT(*) FROM outbox WHERE state = 'failed' AND purpose = 'ack'",
        ) == 1
    });
    wait_until(WAIT, "the team was never told", || {
        tally(
            &db,
            "SELECT COUNT(*) FROM outbox WHERE envelope_from = 'security2@example.org' AND purpose = 'team-notice'",
        ) >= 1
    });
}

/// A relay that refuses the desk as a sender only when the mail asks for SMTPUTF8 (an
/// acknowledgement to `zoë@…`) refuses that mail, not the desk: it fails for good and
/// the team hears of it, while the team's notices of the same report go. Taken for a
/// refusal of the desk's address, it would wait, a minute at a time, for ever.
#[test]
fn a_sender_refused_only_with_smtputf8_fails_that_mail_alone() {
    fn utf8_refused(line: &str) -> &'static str {
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            "250-fake\r\n250-SMTPUTF8\r\n250 8BITMIME"
        } else if upper.starts_with("MAIL FROM") && upper.contains("SMTPUTF8") {
            "553 5.7.1 <security@example.org>: Sender address rejected: no SMTPUTF8 here"
        } else {
            "250 ok"
        }
    }
    let stack = MailStack::start();
    let (port, _tries) = fake_smtp(utf8_refused);
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = fault_config(&stack, dir.path(), stack.imap_port, port);
    let desk = RunningDesk::start(load(&text));
    let mail = crate::world::report("zoe@reporter.test", "From far away", "x").replace(
        &format!("Rita Reporter <{RITA}>"),
        "Zoë <zoë@reporter.test>",
    );
    stack.imap(DESK).append("INBOX", mail.as_bytes());
    wait_until(WAIT, "the acknowledgement never failed", || {
        tally(
            &db,
            "SELECT COUNT(*) FROM outbox WHERE state = 'failed' AND purpose = 'ack'",
        ) == 1
    });
    wait_until(WAIT, "the team's notices never went", || {
        tally(
            &db,
            "SELECT COUNT(*) FROM outbox WHERE state = 'sent' AND purpose <> 'ack'",
        ) >= 2
    });
    drop(desk);
    let error: String = crate::support::desk::open_ro(&db)
        .unwrap()
        .query_row(
            "SELECT last_error FROM outbox WHERE purpose = 'ack'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(error.contains("no SMTPUTF8 here"), "{error}");
}

/// A relay refusing mail to a member of the team (a mailbox or list renamed on the
/// server) fails `secdesk check`, naming the address and the keys: every notice,
/// reminder and alert to it failed for good, while `check` said all was well.
#[test]
fn check_asks_the_relay_about_the_team_too() {
    fn no_alice(line: &str) -> &'static str {
        let upper = line.to_ascii_uppercase();
        match upper.starts_with("RCPT TO") && upper.contains("ALICE@") {
            true => "550 5.1.1 <alice@example.org>: Recipient address rejected: User unknown",
            false => "250 ok",
        }
    }
    let stack = MailStack::start();
    let (port, _tries) = fake_smtp(no_alice);
    let dir = tempfile::tempdir().unwrap();
    let (text, _db) = fault_config(&stack, dir.path(), stack.imap_port, port);
    let smtp_line = check_fails_smtp(dir.path(), &text);
    assert!(
        smtp_line.contains("alice@example.org") && smtp_line.contains("team.members"),
        "{smtp_line}"
    );
    // A relay wanting a login to take mail for a member is the login's to mend.
    fn login_for_bob(line: &str) -> &'static str {
        let upper = line.to_ascii_uppercase();
        match upper.starts_with("RCPT TO") && upper.contains("BOB@") {
            true => "530 5.7.0 Authentication required",
            false => "250 ok",
        }
    }
    let (port, _tries) = fake_smtp(login_for_bob);
    let dir = tempfile::tempdir().unwrap();
    let (text, _db) = fault_config(&stack, dir.path(), stack.imap_port, port);
    let smtp_line = check_fails_smtp(dir.path(), &text);
    assert!(
        smtp_line.contains("wants a login first") && smtp_line.contains("smtp.username"),
        "{smtp_line}"
    );
}

/// `secdesk check` asks the relay about every desk's address: each desk sends as itself,
/// and a relay letting the login send as some addresses only refused another desk's
/// mail, all of it, while `check` said all was well.
#[test]
fn check_asks_the_relay_about_every_desks_address() {
    let stack = MailStack::start();
    let smtp = Proxy::start(stack.smtp_port);
    let dir = tempfile::tempdir().unwrap();
    let (text, _db) = fault_config(&stack, dir.path(), stack.imap_port, smtp.port);
    let text = format!(
        "{text}\n[desks.cohttp]\naddress = \"security+cohttp@example.org\"\ncase_prefix = \"COHTTP\"\n[desks.cohttp.team]\nmembers = [\"carol@example.org\"]\n"
    );
    let cfg_path = dir.path().join("config.toml");
    std::fs::write(&cfg_path, &text).unwrap();
    smtp.set(Mode::RefuseCommand(b"security+cohttp@".to_vec()));
    let check = Command::new(env!("CARGO_BIN_EXE_secdesk"))
        .args(["check", "--config", cfg_path.to_str().unwrap()])
        .env("TEST_IMAP_PASSWORD", "secret")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(2), "{said}");
    let smtp_line = said
        .lines()
        .find(|l| l.starts_with("FAIL smtp"))
        .unwrap_or_else(|| panic!("no failed smtp check in:\n{said}"));
    assert!(smtp_line.contains("desks.cohttp.address"), "{smtp_line}");
}

/// A relay that takes the team's mail without a login but wants one for outside
/// recipients (it answers `530` at their `RCPT`): the acknowledgements wait, and the
/// team's notices go. (Each pass used to end at the first `530`, and acknowledgements
/// come first: with a few of them, no notice went out for minutes.)
#[test]
fn a_server_wanting_a_login_for_some_recipients_still_takes_the_others() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let (db, mut systemd, _desk) = daemon_with_fake_smtp(&stack, dir.path(), |line| {
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("RCPT TO") && upper.contains("@REPORTER.TEST") {
            "530 5.7.0 Authentication required"
        } else {
            "250 ok"
        }
    });
    // Six reports: eighteen mails, one connection's worth (more would open more lanes,
    // and the other lanes took the notices).
    append_reports(&stack, 6, "l", "Outside", Some("out"));
    wait_until(
        Duration::from_secs(20),
        "the team's notices did not all go",
        || {
            tally(
                &db,
                "SELECT COUNT(*) FROM outbox WHERE purpose = 'team-notice' AND state = 'sent'",
            ) == 12
        },
    );
    assert_eq!(
        tally(
            &db,
            "SELECT COUNT(*) FROM outbox WHERE purpose = 'ack' AND state != 'pending'"
        ),
        0,
        "the acknowledgements wait"
    );
    // And the desk says so, though other mail goes: the acknowledgements would wait in
    // silence for as long as the config stays as it is.
    // (Within the minute before the acknowledgements are tried again.)
    let told = systemd.until(Duration::from_secs(20), |l| {
        l.iter().any(|l| l.contains("some mail waits"))
    });
    assert!(
        told.iter().any(|l| l.starts_with("STATUS=SMTP:")
            && l.contains("smtp.username")
            && l.contains("some mail waits")),
        "{told:?}"
    );
}

/// A relay deferring every mail (`452 Insufficient system storage`) sends nothing, and
/// the desk says so in systemd's status until mail goes again: it said all was well,
/// with only a warning per mail in the journal.
#[test]
fn a_relay_deferring_every_mail_is_shown_in_the_status() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let (db, mut systemd, _desk) = daemon_with_fake_smtp(&stack, dir.path(), |line| {
        if line.to_ascii_uppercase().starts_with("MAIL FROM") {
            "452 4.3.1 Insufficient system storage"
        } else {
            "250 ok"
        }
    });
    append_reports(&stack, 1, "d", "Deferred", Some("def"));
    let told = systemd.until(Duration::from_secs(20), |l| {
        l.iter().any(|l| l.contains("deferred"))
    });
    assert!(
        told.iter().any(|l| l.starts_with("STATUS=SMTP:")
            && l.contains("452")
            && l.contains("mail waits")),
        "{told:?}"
    );
    assert_eq!(
        tally(&db, "SELECT COUNT(*) FROM outbox WHERE state = 'sent'"),
        0
    );
}

/// A server (or a middlebox) that drops the connection at every IDLE: the desk logs in
/// again with a growing backoff, not every second forever (a sync that worked reset the
/// backoff, and the next IDLE failed at once).
#[test]
fn an_imap_server_that_drops_every_idle_is_retried_with_growing_backoff() {
    let stack = MailStack::start();
    let proxy = Proxy::start(stack.imap_port);
    let dir = tempfile::tempdir().unwrap();
    let (text, _db) = fault_config(&stack, dir.path(), proxy.port, stack.smtp_port);
    let _desk = RunningDesk::start(load(&text));
    let before = proxy.accepted();
    proxy.set(Mode::CloseOn(b"IDLE\r\n".to_vec()));
    // The IDLE under way is renewed within 3 s (idle_renew), and dropped.
    wait_until(WAIT, "the desk never came back", || {
        proxy.accepted() > before
    });
    // Watched for 10 s: logins at about 0, 1, 3 and 7 s; one a second would make ten.
    let first = proxy.accepted();
    at_most_while_watched(4, Duration::from_secs(10), || proxy.accepted() - first);
}

/// Dovecot tells an idling client that it is still there (every 2 minutes by default;
/// every second here). The desk renews its IDLE every `idle_renew` all the same: its wait
/// used to start over at each such line, so on a quiet inbox it never ended, the ingest
/// stopped ticking and the watchdog took a working desk for a stuck one (with the
/// shipped unit and Dovecot's defaults, after 11 minutes, again and again).
#[test]
fn idle_is_renewed_on_time_while_the_server_keeps_saying_it_is_there() {
    let stack = MailStack::start_with_idle_notify("1 secs");
    let proxy = Proxy::start(stack.imap_port);
    let dir = tempfile::tempdir().unwrap();
    let (text, _db) = fault_config(&stack, dir.path(), proxy.port, stack.smtp_port);
    let idles = proxy.watch(b" IDLE\r\n");
    let _desk = RunningDesk::start(load(&text));
    wait_until(WAIT, "the desk never began to idle", || {
        proxy.sent(idles) > 0
    });
    let before = proxy.accepted();
    // The next IDLE (the renewal, due within idle_renew = 3 s) ends the connection, and
    // the desk logs in again.
    proxy.set(Mode::CloseOn(b"IDLE\r\n".to_vec()));
    let renewed = wait_until(
        Duration::from_secs(10),
        "the IDLE was never renewed",
        || proxy.accepted() > before,
    );
    eprintln!("IDLE renewed, under a keep-alive a second, within {renewed:?}");
}

/// A stop while the desk idles ends the IDLE and logs out: it read the inbox once more
/// first (SELECT, the listing, a batch downloaded to be thrown away), on a slow server
/// past the stop's bound.
#[test]
fn a_stop_while_idling_reads_the_inbox_no_more() {
    let stack = MailStack::start();
    let proxy = Proxy::start(stack.imap_port);
    let dir = tempfile::tempdir().unwrap();
    let (text, _db) = fault_config(&stack, dir.path(), proxy.port, stack.smtp_port);
    let idles = proxy.watch(b" IDLE\r\n");
    let desk = RunningDesk::start(load(&text));
    wait_until(WAIT, "the desk never began to idle", || {
        proxy.sent(idles) > 0
    });
    let selects = proxy.watch(b" SELECT ");
    let logouts = proxy.watch(b" LOGOUT\r\n");
    desk.stop().unwrap();
    assert_eq!(proxy.sent(selects), 0, "the inbox was read again");
    assert_eq!(proxy.sent(logouts), 1, "the desk did not log out");
}

/// Watches `count` for `window`: it never goes past `most` (a backoff, not a tight loop).
fn at_most_while_watched(most: usize, window: Duration, count: impl Fn() -> usize) {
    let watched = Instant::now();
    while watched.elapsed() < window {
        let n = count();
        assert!(n <= most, "{n} connections in {:?}", watched.elapsed());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A due reminder the database will not let the desk write (a full disk, a file system
/// gone read-only) is tried again after a pause that grows, not every 50 ms with an
/// error line each time: the journal kept the errors that named the cause. A row that
/// cannot be read and cannot be set aside either is no progress. The pause is
/// at least 1 s, so three seconds hold a handful of tries at most (there were sixty a
/// second).
#[test]
fn a_reminder_that_cannot_be_written_is_retried_with_a_growing_pause() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let (cfg, db) = primed_daemon_config(&stack, dir.path());
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "INSERT INTO reminders (scope, kind, due_at, deadline_at)
           VALUES ('*spam', 'spam-summary', '2026-01-01T08:00:00.000Z', '2026-01-01T08:00:00.000Z');
         -- A row that cannot be read, which the refused write cannot set aside either.
         INSERT INTO reminders (scope, kind, due_at, deadline_at)
           VALUES ('SEC-2026-0001', 'first-response', '2026-01-01T09:00:00.000Z', 'x');
         CREATE TRIGGER refuse BEFORE UPDATE ON reminders
           BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END;",
    )
    .unwrap();
    drop(c);
    let log = dir.path().join("run.log");
    let mut desk = Daemon::start(&cfg, &log, &[]);
    let tries = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .matches("could not be processed")
            .count()
    };
    wait_until(WAIT, "the reminder was never tried", || tries() >= 1);
    let first = Instant::now();
    // The window measured, not an order awaited: how many tries fit in it.
    std::thread::sleep(Duration::from_secs(3));
    let n = tries();
    assert!(desk.0.try_wait().unwrap().is_none(), "the desk runs on");
    eprintln!("{n} tries in {:?}", first.elapsed());
    // A pass says so once for the reminder, and once more if its end fails too.
    assert!(
        n <= 8,
        "{n} lines in 3 s:\n{}",
        std::fs::read_to_string(&log).unwrap()
    );
}

/// The relay's CA file replaced on disk (its CA rotated, as the TLS error tells the
/// operator to fix) is read at the next connection: the mail that waited goes, with no
/// restart. (The mailer read it once at start, while IMAP and `secdesk check` read it
/// anew: check said all was well, and mail waited until someone thought of a restart.)
#[test]
fn a_replaced_smtp_ca_file_is_read_at_the_next_connection() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    // Another CA's certificate, in the file the SMTP side trusts for now.
    let smtp_ca = dir.path().join("smtp-ca.pem");
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args([
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=Some Other CA",
            "-keyout",
        ])
        .arg(dir.path().join("other.key"))
        .arg("-out")
        .arg(&smtp_ca)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let (text, _db) = starttls_stack_config(&stack, dir.path(), "");
    let smtp_at = text.find("[smtp]").unwrap();
    let (imap_part, smtp_part) = text.split_at(smtp_at);
    let ca = stack.ca_file.display().to_string();
    let text = format!(
        "{imap_part}{}",
        smtp_part.replacen(&ca, &smtp_ca.display().to_string(), 1)
    );
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, &text).unwrap();
    let log = dir.path().join("run.log");
    let _desk = Daemon::start(&cfg, &log, &[]);
    wait_first_sync(&dir.path().join("desk.db")).unwrap();
    send_report(&stack, "ca@reporter.test", "Rotated CA", "x");
    wait_until(WAIT, "the mailer never failed on the unknown CA", || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("smtp.ca_file")
    });
    std::fs::copy(&stack.ca_file, &smtp_ca).unwrap();
    let got = stack.wait_for(RITA, 1, WAIT);
    assert_eq!(
        got.len(),
        1,
        "the acknowledgement went once the CA was right"
    );
}
