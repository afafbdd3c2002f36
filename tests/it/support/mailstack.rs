//! A private Postfix + Dovecot instance per test, on loopback ports
//! (`scripts/mailstack.sh`). Every address in every domain is a mailbox;
//! every user's password is [`MailStack::password`]. Plus addresses
//! (`security+sec-2026-0007@example.test`) land in the base address's INBOX.
//!
//! ```ignore
//! let stack = MailStack::start();
//! stack.send("reporter@example.test", &["security@example.test"], raw);
//! let inbox = stack.wait_for("security@example.test", 1, Duration::from_secs(10));
//! ```
//!
//! Needs root (the script installs Debian's packages on first use and runs
//! the daemons under their system users).

use std::collections::HashMap;
use std::fs;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use super::imap::Imap;
use super::smtp;

pub struct MailStack {
    /// The instance's directory (config, logs, queue, mail, TLS files).
    pub dir: PathBuf,
    /// Postfix, plain SMTP with STARTTLS offered.
    pub smtp_port: u16,
    /// Postfix, implicit TLS ("submissions"). Both Postfix ports offer SMTP
    /// AUTH (PLAIN, LOGIN) once TLS is up; loopback needs no AUTH to relay.
    pub smtps_port: u16,
    /// Dovecot, plain IMAP with STARTTLS offered.
    pub imap_port: u16,
    /// Dovecot, implicit TLS.
    pub imaps_port: u16,
    /// PEM of the CA that signed the servers' certificate (for `localhost`
    /// and 127.0.0.1).
    pub ca_file: PathBuf,
    /// Every user's IMAP (and SMTP AUTH) password.
    pub password: String,
    pub dovecot_pid: u32,
    pub postfix_pid: u32,
}

impl MailStack {
    /// Installs the packages (once per test process), then builds and starts
    /// a fresh instance in a new `/tmp/ms-XXXXXX`.
    pub fn start() -> MailStack {
        MailStack::start_with(&[])
    }

    /// Like [`start`](Self::start), with Sieve run at delivery (`MAILSTACK_SIEVE=1`):
    /// give users scripts with [`set_sieve`](Self::set_sieve).
    pub fn start_with_sieve() -> MailStack {
        MailStack::start_with(&[("MAILSTACK_SIEVE", "1")])
    }

    /// Like [`start`](Self::start), with Dovecot telling an idling client it is still
    /// there (`* OK Still here`) every `interval` (`MAILSTACK_IDLE_NOTIFY`, e.g. "1 secs").
    pub fn start_with_idle_notify(interval: &str) -> MailStack {
        MailStack::start_with(&[("MAILSTACK_IDLE_NOTIFY", interval)])
    }

    /// Like [`start`](Self::start), with Dovecot's `imap_fetch_failure` set to `mode`
    /// (`MAILSTACK_FETCH_FAILURE`, e.g. "no-after").
    pub fn start_with_fetch_failure(mode: &str) -> MailStack {
        MailStack::start_with(&[("MAILSTACK_FETCH_FAILURE", mode)])
    }

    /// Makes the message file of `user`'s INBOX mail `uid` unreadable to Dovecot (as a
    /// damaged disk or a wrong owner would): Dovecot lists it but cannot hand it over.
    pub fn make_unreadable(&self, user: &str, uid: u32) {
        self.set_message_mode(user, uid, 0o000);
    }

    /// Makes the message file of `user`'s INBOX mail `uid` readable again.
    pub fn make_readable(&self, user: &str, uid: u32) {
        self.set_message_mode(user, uid, 0o600);
    }

    fn set_message_mode(&self, user: &str, uid: u32, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        let maildir = self.dir.join("mail").join(user).join("Maildir");
        let list = fs::read_to_string(maildir.join("dovecot-uidlist")).unwrap();
        let base = list
            .lines()
            .find_map(|l| {
                let (id, rest) = l.split_once(' ')?;
                (id == uid.to_string()).then(|| rest.rsplit(':').next().unwrap_or("").to_string())
            })
            .unwrap_or_else(|| panic!("UID {uid} is not in {list}"));
        let base = base.split(':').next().unwrap().to_string();
        for sub in ["new", "cur"] {
            for e in fs::read_dir(maildir.join(sub)).unwrap() {
                let path = e.unwrap().path();
                if path
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&base)
                {
                    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
                    return;
                }
            }
        }
        panic!("no message file for UID {uid} ({base})");
    }

    fn start_with(env: &[(&str, &str)]) -> MailStack {
        install_once();
        let dir = fresh_dir();
        if let Err(e) = run_script(&["start"], Some(&dir), env) {
            // A failed start leaves no process behind, only its directory.
            let _ = fs::remove_dir_all(&dir);
            panic!("{e}");
        }
        let mut stack = MailStack {
            dir,
            smtp_port: 0,
            smtps_port: 0,
            imap_port: 0,
            imaps_port: 0,
            ca_file: PathBuf::new(),
            password: String::new(),
            dovecot_pid: 0,
            postfix_pid: 0,
        };
        stack.read_env();
        stack
    }

    /// Makes `script` the Sieve script run when mail is delivered to `user` (a stack
    /// started with [`start_with_sieve`](Self::start_with_sieve)).
    pub fn set_sieve(&self, user: &str, script: &str) {
        let home = self.dir.join("mail").join(user);
        fs::create_dir_all(&home).unwrap();
        let path = home.join(".dovecot.sieve");
        fs::write(&path, script).unwrap();
        // Dovecot delivers as the system user "mail" (uid and gid 8 on Debian) and
        // writes the compiled script beside it.
        for p in [&home, &path] {
            std::os::unix::fs::chown(p, Some(8), Some(8)).unwrap();
        }
    }

    // ---- SMTP ------------------------------------------------------------

    /// Sends `raw` over SMTP (port `smtp_port`), panicking with the server's
    /// reply if any step fails.
    pub fn send(&self, from: &str, to: &[&str], raw: &[u8]) {
        if let Err(e) = self.try_send(from, to, raw) {
            panic!("sending to {to:?}: {e}");
        }
    }

    /// Like [`send`](Self::send), returning the failing reply instead.
    pub fn try_send(&self, from: &str, to: &[&str], raw: &[u8]) -> Result<(), String> {
        smtp::send(self.smtp_port, from, to, raw)
    }

    /// Whether Postfix holds no mail: everything sent was delivered (or bounced).
    pub fn queue_is_empty(&self) -> bool {
        let out = std::process::Command::new("postqueue")
            .args(["-c", self.dir.join("postfix").to_str().unwrap(), "-j"])
            .output()
            .unwrap();
        assert!(out.status.success(), "postqueue: {out:?}");
        out.stdout.iter().all(u8::is_ascii_whitespace)
    }

    /// Asks Postfix to retry deferred mail now (`postqueue -f`).
    pub fn flush_queue(&self) {
        if let Err(e) = run_script(&["flush"], Some(&self.dir), &[]) {
            panic!("{e}");
        }
    }

    // ---- IMAP ------------------------------------------------------------

    /// A logged-in IMAP session as `user`, for anything the helpers below
    /// don't cover.
    pub fn imap(&self, user: &str) -> Imap {
        Imap::login_to(self.imap_port, user, &self.password)
    }

    /// Every message in `user`'s INBOX, raw, in UID order.
    pub fn fetch_all(&self, user: &str) -> Vec<Vec<u8>> {
        self.fetch_mailbox(user, "INBOX")
    }

    /// Every message in `user`'s `mailbox`, raw, in UID order.
    pub fn fetch_mailbox(&self, user: &str, mailbox: &str) -> Vec<Vec<u8>> {
        let mut imap = self.imap(user);
        imap.select(mailbox);
        let messages = imap.fetch_all().into_iter().map(|(_, raw)| raw).collect();
        imap.logout();
        messages
    }

    /// Polls `user`'s INBOX (NOOP on one IMAP session) until it holds at
    /// least `count` messages and returns them all; panics with what it saw
    /// once `timeout` has passed.
    pub fn wait_for(&self, user: &str, count: usize, timeout: Duration) -> Vec<Vec<u8>> {
        self.wait_for_in(user, "INBOX", count, timeout)
    }

    /// [`wait_for`](Self::wait_for) on another mailbox.
    pub fn wait_for_in(
        &self,
        user: &str,
        mailbox: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut imap = self.imap(user);
        let mut exists = imap.select(mailbox);
        while exists < count && Instant::now() < deadline {
            // Polling an external server (one NOOP round trip per poll),
            // bounded by the deadline above.
            thread::sleep(Duration::from_millis(10));
            if let Some(n) = imap.noop() {
                exists = n;
            }
        }
        let messages: Vec<Vec<u8>> = imap.fetch_all().into_iter().map(|(_, raw)| raw).collect();
        imap.logout();
        if messages.len() < count {
            let subjects: Vec<String> = messages.iter().map(|m| subject(m)).collect();
            panic!(
                "waited {timeout:?} for {count} message(s) in {user}'s {mailbox}, \
                 found {}: {subjects:?}\n{}",
                messages.len(),
                self.log_tail(15),
            );
        }
        messages
    }

    /// Puts `raw` straight into `user`'s INBOX (IMAP APPEND).
    pub fn append(&self, user: &str, raw: &[u8]) {
        self.append_to(user, "INBOX", raw);
    }

    /// Puts `raw` straight into `user`'s `mailbox` (IMAP APPEND).
    pub fn append_to(&self, user: &str, mailbox: &str, raw: &[u8]) {
        let mut imap = self.imap(user);
        imap.append(mailbox, raw);
        imap.logout();
    }

    /// Creates `mailbox` for `user` (hierarchy separator "/"). Sent, Trash,
    /// Junk and Archive exist already, with their special-use flags.
    pub fn create_mailbox(&self, user: &str, name: &str) {
        let mut imap = self.imap(user);
        imap.create(name);
        imap.logout();
    }

    /// True if a login as `user` with `password` succeeds.
    pub fn can_login(&self, user: &str, password: &str) -> bool {
        let mut imap = Imap::connect(self.imap_port);
        let ok = imap.login(user, password).is_ok();
        imap.logout();
        ok
    }

    // ---- lifecycle -------------------------------------------------------

    /// Stops both servers gracefully, keeping mail, queue and certificates,
    /// and starts them again on the same ports (new PIDs).
    pub fn restart(&mut self) {
        self.stop_servers();
        self.start_servers();
    }

    /// Stops both servers, keeping everything for [`start_servers`](Self::start_servers).
    /// Connections are refused until then.
    pub fn stop_servers(&self) {
        if let Err(e) = run_script(&["stop"], Some(&self.dir), &[("MAILSTACK_KEEP", "1")]) {
            panic!("{e}");
        }
    }

    /// Starts servers stopped by [`stop_servers`](Self::stop_servers) again.
    pub fn start_servers(&mut self) {
        if let Err(e) = run_script(&["start"], Some(&self.dir), &[]) {
            panic!("{e}");
        }
        self.read_env();
    }

    /// The masters' PIDs (each leads a process group holding its daemons).
    pub fn pids(&self) -> [u32; 2] {
        [self.dovecot_pid, self.postfix_pid]
    }

    /// The last `lines` lines of the Postfix and Dovecot logs.
    pub fn log_tail(&self, lines: usize) -> String {
        let mut out = String::new();
        for name in ["postfix.log", "dovecot.log"] {
            let path = self.dir.join("log").join(name);
            let text = fs::read_to_string(&path).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            let tail = &all[all.len().saturating_sub(lines)..];
            out.push_str(&format!(
                "--- {} ---\n{}\n",
                path.display(),
                tail.join("\n")
            ));
        }
        out
    }

    fn read_env(&mut self) {
        let path = self.dir.join("env");
        let text =
            fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let env: HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
        let get = |key: &str| -> &str {
            env.get(key)
                .copied()
                .unwrap_or_else(|| panic!("{key} missing from {}", path.display()))
        };
        let num = |key: &str| -> u32 {
            get(key)
                .parse()
                .unwrap_or_else(|e| panic!("{key} in {}: {e}", path.display()))
        };
        let port = |key: &str| -> u16 { u16::try_from(num(key)).unwrap() };
        self.smtp_port = port("SMTP_PORT");
        self.smtps_port = port("SMTPS_PORT");
        self.imap_port = port("IMAP_PORT");
        self.imaps_port = port("IMAPS_PORT");
        self.ca_file = PathBuf::from(get("CA_FILE"));
        self.password = get("MAIL_PASSWORD").to_owned();
        self.dovecot_pid = num("DOVECOT_PID");
        self.postfix_pid = num("POSTFIX_PID");
    }
}

impl Drop for MailStack {
    fn drop(&mut self) {
        if thread::panicking() {
            // Keep the evidence: stop gracefully, leave the directory.
            eprintln!(
                "mail stack kept in {} (test failed); log tails:\n{}",
                self.dir.display(),
                self.log_tail(30)
            );
            if let Err(e) = run_script(&["stop"], Some(&self.dir), &[("MAILSTACK_KEEP", "1")]) {
                eprintln!("{e}");
            }
        } else if let Err(e) = run_script(&["stop"], Some(&self.dir), &[]) {
            // Panicking in drop would abort; report instead.
            eprintln!("{e}");
        }
    }
}

/// True if process `pid` exists and is not a zombie (this machine's PID 1
/// reaps orphans only every few seconds, so a dead daemon can linger as one).
pub fn process_alive(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) S ppid ...": the state follows the last ')'.
    let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
    !matches!(state.and_then(|s| s.chars().next()), None | Some('Z'))
}

/// The live (non-zombie) processes of process group `pgid`.
pub fn process_group(pgid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // After "(comm)": state ppid pgrp ...
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .map(|(_, rest)| rest.split_whitespace().collect())
                .unwrap_or_default();
            fields.get(2) == Some(&pgid.to_string().as_str()) && fields.first() != Some(&"Z")
        })
        .collect()
}

/// The Subject header of `raw` (for diagnostics), or "".
pub fn subject(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    text.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("subject")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default()
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/mailstack.sh")
}

fn install_once() {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(e) = INSTALLED.get_or_init(|| run_script(&["install"], None, &[])) {
        panic!("{e}");
    }
}

/// Runs `mailstack.sh ARGS [DIR]`; `Err` has the command and its output.
/// (Capturing output is safe: the script gives the daemons their own files.)
fn run_script(args: &[&str], dir: Option<&Path>, env: &[(&str, &str)]) -> Result<(), String> {
    let mut command = Command::new("bash");
    command
        .arg(script())
        .args(args)
        .args(dir)
        .envs(env.iter().copied());
    let output = command
        .output()
        .map_err(|e| format!("running {command:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// A new, empty, world-searchable directory `/tmp/ms-XXXXXX` (short: the
/// daemons' unix socket paths live under it).
fn fresh_dir() -> PathBuf {
    for _ in 0..100 {
        // RandomState is seeded randomly: a random name without a crate.
        let seed = RandomState::new().build_hasher().finish();
        let dir = PathBuf::from(format!("/tmp/ms-{:06x}", seed & 0xFF_FFFF));
        if fs::create_dir(&dir).is_ok() {
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
            return dir;
        }
    }
    panic!("could not create a fresh /tmp/ms-XXXXXX");
}

/// A self-check of the stack and of these clients, for a test to call:
/// delivery to a plain and a plus address, dot-stuffing, APPEND and CREATE,
/// a fast wrong-password failure, and a clean stop.
pub fn smoke() {
    let stack = MailStack::start();
    let timeout = Duration::from_secs(10);

    let to_reporter = b"From: security@example.test\r\nTo: reporter@example.test\r\n\
        Subject: Re: [SEC-2026-0001] crash\r\n\r\nThanks.\r\n.dot line\r\n..two\r\n.\r\n";
    stack.send(
        "security@example.test",
        &["reporter@example.test"],
        to_reporter,
    );
    let to_desk = b"From: reporter@example.test\r\nTo: security+sec-2026-0001@example.test\r\n\
        Subject: more details\r\n\r\nSee attached.\r\n";
    stack.send(
        "reporter@example.test",
        &["security+sec-2026-0001@example.test"],
        to_desk,
    );

    let got = stack.wait_for("reporter@example.test", 1, timeout);
    assert_eq!(got.len(), 1);
    assert!(
        got[0].ends_with(b"\r\n\r\nThanks.\r\n.dot line\r\n..two\r\n.\r\n"),
        "dot-stuffing broke the body: {:?}",
        String::from_utf8_lossy(&got[0])
    );

    // The plus address lands in the base user's INBOX, its recipient kept.
    let got = stack.wait_for("security@example.test", 1, timeout);
    assert_eq!(got.len(), 1);
    let text = String::from_utf8_lossy(&got[0]);
    assert!(
        text.contains("Delivered-To: security+sec-2026-0001@example.test"),
        "{text}"
    );
    assert_eq!(subject(&got[0]), "more details");

    stack.append("security@example.test", b"Subject: appended\r\n\r\nhi\r\n");
    let got = stack.fetch_all("security@example.test");
    assert_eq!(
        got.iter().map(|m| subject(m)).collect::<Vec<_>>(),
        ["more details", "appended"]
    );
    stack.create_mailbox("security@example.test", "Cases/2026");
    stack.append_to(
        "security@example.test",
        "Cases/2026",
        b"Subject: filed\r\n\r\nx\r\n",
    );
    assert_eq!(
        stack
            .fetch_mailbox("security@example.test", "Cases/2026")
            .len(),
        1
    );

    // A wrong password fails and does not keep the next login out; Dovecot does not
    // hold a failed login back (its default delay would slow every fault test).
    assert!(!stack.can_login("security@example.test", "wrong"));
    assert!(stack.can_login("security@example.test", &stack.password));
    assert!(!stack.can_login("security@example.test", "wrong again"));
    assert!(stack.can_login("reporter@example.test", &stack.password));
    let conf = stack.dir.join("dovecot.conf");
    let delay = std::process::Command::new("doveconf")
        .args(["-c", conf.to_str().unwrap(), "-h", "auth_failure_delay"])
        .output()
        .unwrap();
    assert!(delay.status.success(), "{delay:?}");
    assert_eq!(String::from_utf8_lossy(&delay.stdout).trim(), "0");

    let dir = stack.dir.clone();
    let pids = stack.pids();
    drop(stack);
    for pid in pids {
        assert!(!process_alive(pid), "pid {pid} survived stop");
        assert_eq!(process_group(pid), [0u32; 0], "group {pid} survived stop");
    }
    assert!(!dir.exists(), "{} survived stop", dir.display());
}
