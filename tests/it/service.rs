//! The daemon as systemd sees it, without systemd: a real `NOTIFY_SOCKET` datagram
//! socket receives READY (only once the inbox was reached and read), STATUS, WATCHDOG pings and
//! STOPPING, and SIGTERM ends the process with status 0.

use crate::support::desk::starttls_stack_config;
use crate::support::mailstack::MailStack;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Reads notifications until one starts with `prefix`; returns all seen so far.
fn until(sock: &UnixDatagram, prefix: &str, seen: &mut Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 4096];
    loop {
        assert!(
            Instant::now() < deadline,
            "no {prefix:?} within 20 s; got {seen:?}"
        );
        if let Ok(n) = sock.recv(&mut buf) {
            let text = String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).to_string();
            let hit = text.lines().any(|l| l.starts_with(prefix));
            seen.push(text);
            if hit {
                return;
            }
        }
    }
}

/// A desk that will not start says why under systemd on one line of error priority,
/// as its other errors are: the reason came as several lines at the unit's default
/// priority, and `journalctl -p warning` showed only systemd's "status=1/FAILURE".
#[test]
fn a_refused_start_is_one_error_line_in_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let text = crate::world::config_text(dir.path().join("d.db").to_str().unwrap(), 9, 9, "")
        .replace(
            "password_env = \"TEST_IMAP_PASSWORD\"",
            "password_env = \"NOPE\"",
        );
    assert!(text.contains("\"NOPE\""), "{text}");
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_secdesk"))
        .args(["run", "--config", cfg.to_str().unwrap()])
        .env_remove("NOPE")
        .env("JOURNAL_STREAM", "8:4242")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(lines.len(), 1, "{said}");
    assert!(
        lines[0].starts_with("<3>") && lines[0].contains("imap.password_env"),
        "{said}"
    );
}

#[test]
fn readiness_watchdog_and_a_clean_stop() {
    let mut stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let (text, _db) = starttls_stack_config(&stack, dir.path(), "");
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, text).unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();

    // The inbox is down at start: the desk says so, and is not ready.
    stack.stop_servers();
    let mut child = Command::new(env!("CARGO_BIN_EXE_secdesk"))
        .args(["run", "--config", cfg.to_str().unwrap()])
        .env("TEST_IMAP_PASSWORD", "secret")
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "1000000")
        // Under systemd, stderr is the journal.
        .env("JOURNAL_STREAM", "8:4242")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(dir.path().join("log")).unwrap(),
        ))
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    until(&sock, "STATUS=cannot reach the inbox", &mut seen);
    // In the journal: the reason on the line `journalctl` shows, and its priority.
    // (Only the bare message was shown; the error and the key to check were fields
    // of their own.)
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
    assert!(
        log.lines().any(|l| l.starts_with("<3>")
            && l.contains("cannot reach the inbox")
            && l.contains("error=")
            && l.contains("check=")),
        "{log}"
    );
    // ...and asks systemd to wait for the next try, not to time the start out.
    until(&sock, "EXTEND_TIMEOUT_USEC=", &mut seen);
    assert!(
        !seen.iter().any(|s| s.contains("READY=1")),
        "ready before the first login: {seen:?}"
    );

    // The inbox comes back: ready, then watchdog pings while it runs.
    stack.start_servers();
    until(&sock, "READY=1", &mut seen);
    until(&sock, "WATCHDOG=1", &mut seen);
    until(&sock, "WATCHDOG=1", &mut seen);

    // The inbox goes away and comes back with no new mail: STATUS= says it is watched
    // again (it kept the failure until the next mail came, hours on a quiet desk).
    stack.stop_servers();
    until(&sock, "STATUS=inbox: ", &mut seen);
    stack.start_servers();
    until(&sock, "STATUS=watching the inbox", &mut seen);

    // SIGHUP (the usual "reload"): said, and the desk goes on (it ended at once, and
    // systemd took that for a clean exit, restarting nothing).
    let status = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let log = dir.path().join("log");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("SIGHUP received")
    {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the desk ended at SIGHUP"
        );
        assert!(Instant::now() < deadline, "SIGHUP was never said");
        std::thread::sleep(Duration::from_millis(20));
    }
    until(&sock, "WATCHDOG=1", &mut seen);
    until(&sock, "WATCHDOG=1", &mut seen);
    assert!(
        child.try_wait().unwrap().is_none(),
        "the desk ended at SIGHUP"
    );

    // SIGTERM: STOPPING, then exit 0 within seconds.
    let stopped_at = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    until(&sock, "STOPPING=1", &mut seen);
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "still running 20 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        exit.success(),
        "exit status {exit:?}; log:\n{}",
        std::fs::read_to_string(dir.path().join("log")).unwrap_or_default()
    );
    eprintln!("stopped {:?} after SIGTERM", stopped_at.elapsed());
}

/// Even at `SECDESK_LOG=trace`, neither the IMAP login nor the SMTP AUTH (nor the mail
/// the libraries read and write) reaches the log; nor when the operator names a module
/// of those libraries (a more specific directive outranked the cap).
#[test]
fn passwords_never_reach_the_log() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = starttls_stack_config(&stack, dir.path(), "");
    // Log in to SMTP too, so lettre has an AUTH line to (not) log.
    let text = text.replace(
        &format!("[smtp]\nhost = \"localhost\"\nport = {}", stack.smtp_port),
        &format!("[smtp]\nhost = \"localhost\"\nport = {}\nusername = \"security@example.org\"\npassword_env = \"TEST_IMAP_PASSWORD\"", stack.smtp_port),
    );
    assert!(
        text.contains("username = \"security@example.org\"\npassword_env"),
        "{text}"
    );
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, text).unwrap();
    let log = dir.path().join("log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_secdesk"))
        .args(["run", "--config", cfg.to_str().unwrap()])
        .env("TEST_IMAP_PASSWORD", "secret")
        .env(
            "SECDESK_LOG",
            "trace,lettre::transport::smtp=trace,async_imap::client=trace",
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    crate::support::desk::wait_first_sync(&db).unwrap();
    stack.send(
        crate::world::RITA,
        &[crate::world::DESK],
        crate::world::report("r1@reporter.test", "Crash", "x").as_bytes(),
    );
    stack.wait_for(crate::world::RITA, 1, Duration::from_secs(20));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    // A TLS handshake field is called `extended_master_secret`: not ours.
    let text = std::fs::read_to_string(&log)
        .unwrap()
        .replace("master_secret", "master_…");
    assert!(
        text.contains("mail sent"),
        "the desk did send (so it logged in): {text}"
    );
    // base64("\0security@example.org\0secret"), what AUTH PLAIN would carry.
    for leak in ["secret", "AHNlY3VyaXR5QGV4YW1wbGUub3JnAHNlY3JldA"] {
        assert!(
            !text.contains(leak),
            "the log contains {leak:?}:\n{}",
            text.lines()
                .filter(|l| l.contains(leak))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
