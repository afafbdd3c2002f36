//! Filing a suspect mail in a process of its own.
//!
//! A mail is suspect when an attempt at filing it was counted and did not finish: its
//! batch failed, or the desk stopped in the middle of it. Such a mail may be poison (it
//! makes the desk panic, abort, run out of memory), or it may be innocent and only have
//! been in flight when something else killed the desk: an operator's restarts, the
//! watchdog, the OOM killer called by another process. Counting every attempt before it
//! is made cannot tell the two apart, so an innocent report in flight at a few unrelated
//! kills would be set aside unanswered.
//!
//! `secdesk run` therefore files suspect mail in a child: this binary again, as the
//! hidden `secdesk file-one`, which files the one mail and says how it went by its exit
//! status. The child counts nothing before it works. When processing returns an error (or
//! panics) it records the failed attempt and its error itself; when the child dies by a
//! signal a mail can bring about (SIGKILL from the OOM killer, SIGSEGV, SIGABRT…) or
//! overruns [`LIMIT`], the daemon, still alive, records the attempt for it. A kill of the
//! daemon counts against no mail, nor does a SIGTERM, SIGINT or SIGHUP sent to the child,
//! and a poison mail that crashes the process takes down the child, not the desk.
//!
//! The child dies with its parent (it watches the pipe of its standard input), so a desk
//! killed and started again never has two processes filing; it ignores SIGTERM and
//! SIGINT, which a service manager or a terminal sends to the whole group: stopping is
//! the parent's to decide, and a parent asked to stop ends the child at once (its
//! transaction rolls back) and counts nothing. Harnesses that run the desk inside another
//! program have no binary to start: they file suspect mail in the desk's own process,
//! counting each attempt before it is made.

use crate::service::health::{self, Beat};
use crate::service::shutdown::Shutdown;
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// The longest a child may take over one mail before it is killed, and the attempt
/// counted against the mail (a 50 MB mail files in a few seconds).
pub const LIMIT: Duration = Duration::from_secs(120);

/// `secdesk file-one` filed the mail (or found it filed already).
pub const EXIT_FILED: u8 = 0;
/// `secdesk file-one` could not process the mail; it recorded the attempt and why.
pub const EXIT_FAILED: u8 = 3;
/// `secdesk file-one` found the database busy; it counted nothing.
pub const EXIT_BUSY: u8 = 4;
/// `secdesk file-one` saw its parent go and stopped.
pub const EXIT_ORPHANED: u8 = 5;

/// How a daemon starts the child that files a suspect mail: which binary, with which
/// configuration file, and what that file held when the daemon read it: a child files
/// mail only under the configuration its daemon runs with (an edited file, not yet in
/// force, could even name another database).
#[derive(Debug, Clone)]
pub struct Isolation {
    exe: PathBuf,
    config: PathBuf,
    digest: String,
}

impl Isolation {
    /// The binary of this very process (`/proc/self/exe`, which still names it when an
    /// upgrade replaced the file on disk) with `config`, whose bytes the daemon parsed
    /// had the SHA-256 `digest` ([`crate::config::Config::load_with_digest`]).
    pub fn this_binary(config: &Path, digest: String) -> std::io::Result<Isolation> {
        let proc_exe = Path::new("/proc/self/exe");
        let exe = if proc_exe.exists() {
            proc_exe.to_path_buf()
        } else {
            std::env::current_exe()?
        };
        Ok(Isolation {
            exe,
            config: config.to_path_buf(),
            digest,
        })
    }
}

/// What became of a suspect mail given to a child.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Filed, or found filed already.
    Filed,
    /// Processing it failed; the child counted the attempt and recorded why.
    Failed,
    /// The child died by a signal or overran [`LIMIT`]: an attempt for the daemon to
    /// count, with this reason.
    Crashed(String),
    /// Not the mail's doing (the database was busy, the child was told to stop by
    /// someone): nothing counted, to be tried again after the backoff.
    Retry(String),
    /// The desk is stopping: the child was ended, nothing counted.
    Stopped,
    /// No child could do it (it could not start, or read the configuration): the mail is
    /// for the daemon to file itself.
    Unavailable(String),
}

/// Files the pending raw mail `raw_id` in a child, as of `now`, ticking `beat` while it
/// works; a stop asked meanwhile ends the child at once.
pub async fn file(
    iso: &Isolation,
    raw_id: i64,
    now: DateTime<Utc>,
    beat: &Beat,
    mut stop: Shutdown,
) -> Outcome {
    let mut command = tokio::process::Command::new(&iso.exe);
    command
        .arg("file-one")
        .arg("--config")
        .arg(&iso.config)
        .arg("--config-digest")
        .arg(&iso.digest)
        .arg("--raw-id")
        .arg(raw_id.to_string())
        .arg("--now")
        .arg(now.to_rfc3339())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return Outcome::Unavailable(format!("cannot start {}: {e}", iso.exe.display()));
        }
    };
    // Held until the child ends: when this process dies, the pipe closes, and the child
    // stops too.
    let _lifeline = child.stdin.take();
    let limit = crate::service::failpoints::child_limit().unwrap_or(LIMIT);
    let started = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1).min(limit));
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            _ = stop.requested() => {
                // Killed mid-transaction, the child's work rolls back; the stop is ours,
                // not the mail's doing, and counts nothing.
                let _ = child.kill().await;
                return Outcome::Stopped;
            }
            _ = tick.tick() => {
                beat.tick();
                // Before READY (suspect mail is filed first), systemd's start timeout
                // waits for the child; `LIMIT` bounds it.
                health::extend_start(Duration::from_secs(10));
                if started.elapsed() > limit {
                    let _ = child.kill().await;
                    return Outcome::Crashed(format!(
                        "filing it took longer than {}",
                        humantime::format_duration(limit)
                    ));
                }
            }
        }
    };
    match status {
        Err(e) => Outcome::Unavailable(format!("cannot wait for `secdesk file-one`: {e}")),
        // A child that died as the stop came (a signal to the whole group before its
        // handlers were in place) is the stop's doing.
        Ok(status) if stop.is_requested() && status.code().is_none() => Outcome::Stopped,
        Ok(status) => outcome_of(status),
    }
}

const SIGHUP: i32 = 1;
const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

/// What a child's exit status says.
fn outcome_of(status: std::process::ExitStatus) -> Outcome {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(code), _) if code == i32::from(EXIT_FILED) => Outcome::Filed,
        (Some(code), _) if code == i32::from(EXIT_FAILED) => Outcome::Failed,
        (Some(code), _) if code == i32::from(EXIT_BUSY) => {
            Outcome::Retry("the database was busy".into())
        }
        (Some(code), _) => Outcome::Unavailable(format!(
            "`secdesk file-one` ended with status {code} (its error is logged above)"
        )),
        // Signals someone sends to stop a process, not ones a mail brings about.
        (None, Some(signal @ (SIGHUP | SIGINT | SIGTERM))) => Outcome::Retry(format!(
            "the process filing it was told to stop (signal {signal})"
        )),
        (None, Some(signal)) => Outcome::Crashed(format!(
            "the process filing it was killed by signal {signal}{}",
            if status.core_dumped() {
                " (core dumped)"
            } else {
                ""
            }
        )),
        (None, None) => Outcome::Crashed("the process filing it ended without a status".into()),
    }
}

/// In the child: ends the process as soon as standard input closes, which is when the
/// parent that holds its other end is gone.
pub fn die_with_parent() {
    use std::io::Read as _;
    let watcher = std::thread::Builder::new()
        .name("parent-watch".into())
        .spawn(|| {
            let mut byte = [0u8; 1];
            loop {
                match std::io::stdin().read(&mut byte) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            std::process::exit(i32::from(EXIT_ORPHANED));
        });
    if let Err(e) = watcher {
        tracing::warn!(error = %e, "cannot watch for the parent's end");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt as _;

    #[test]
    fn exit_statuses_say_what_became_of_the_mail() {
        let exited = |code: i32| std::process::ExitStatus::from_raw(code << 8);
        assert_eq!(outcome_of(exited(0)), Outcome::Filed);
        assert_eq!(outcome_of(exited(3)), Outcome::Failed);
        assert!(matches!(outcome_of(exited(4)), Outcome::Retry(_)));
        assert!(matches!(outcome_of(exited(1)), Outcome::Unavailable(_)));
        // Killed by SIGABRT (6), as a poison mail that aborts would, or SIGKILL (9), as
        // by the OOM killer: the mail's doing.
        for signal in [6, 9] {
            assert_eq!(
                outcome_of(std::process::ExitStatus::from_raw(signal)),
                Outcome::Crashed(format!(
                    "the process filing it was killed by signal {signal}"
                ))
            );
        }
        // Told to stop by someone: not the mail's doing.
        for signal in [1, 2, 15] {
            let status = std::process::ExitStatus::from_raw(signal);
            assert!(matches!(outcome_of(status), Outcome::Retry(_)), "{signal}");
        }
    }
}
