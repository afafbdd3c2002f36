//! Faults a test can inject into the service, to prove the desk survives them. Compiled
//! in only with the `failpoints` cargo feature, which the crate's own tests turn on (a
//! dev-dependency of the crate on itself) and a release build never has: without the
//! feature, [`active`] is `false` and every failpoint compiles away.
//!
//! A failpoint is named in the `SECDESK_FAILPOINTS` environment variable of the desk's
//! process (comma-separated), so a test sets it on the one process it starts; a mail
//! carrying the header `X-Secdesk-Failpoint: poison` fails its processing (and one with
//! `X-Secdesk-Failpoint: panic` panics in it), for tests that run the desk in-process
//! next to others or feed it a backlog; `crash` and `stall` are for tests that run the
//! binary (they kill the process, or hold it where a test kills it). The failpoint
//! `wal-sync-fails` makes bringing the daemon's ingest commits to the disk fail, as a
//! dying disk would (`Db::make_durable`); `backup-crash` kills `secdesk backup` in the
//! middle of its copy, and `backup-no-link` has its hard link refused, as a file system
//! without hard links does.

/// Whether failpoint `name` is switched on for this process.
#[cfg(feature = "failpoints")]
pub fn active(name: &str) -> bool {
    std::env::var("SECDESK_FAILPOINTS").is_ok_and(|v| v.split(',').any(|p| p.trim() == name))
}

/// Whether failpoint `name` is switched on for this process (never, in this build).
#[cfg(not(feature = "failpoints"))]
pub fn active(_name: &str) -> bool {
    false
}

/// The time limit a test sets on a child filing a suspect mail, in milliseconds in
/// `SECDESK_CHILD_LIMIT_MS` (so a test sees a hung child ended without waiting minutes).
#[cfg(feature = "failpoints")]
pub fn child_limit() -> Option<std::time::Duration> {
    let ms = std::env::var("SECDESK_CHILD_LIMIT_MS").ok()?.parse().ok()?;
    Some(std::time::Duration::from_millis(ms))
}

/// The time limit a test sets on a child (never, in this build).
#[cfg(not(feature = "failpoints"))]
pub fn child_limit() -> Option<std::time::Duration> {
    None
}

/// Whether `raw` asks its processing to fail; panics when it asks for a panic, kills
/// the process when it asks for a crash (see [`crash`]), and holds the processing while
/// it asks for a stall (see [`stall`]).
#[cfg(feature = "failpoints")]
#[allow(clippy::panic)]
pub fn poisoned(raw: &[u8]) -> bool {
    if asks(raw, "panic") {
        panic!("failpoint: this mail panics");
    }
    if asks(raw, "crash") {
        crash();
    }
    if asks(raw, "stall") {
        stall();
    }
    asks(raw, "poison")
}

/// Whether `raw` carries the header `X-Secdesk-Failpoint: <what>`.
#[cfg(feature = "failpoints")]
fn asks(raw: &[u8], what: &str) -> bool {
    let needle = format!("X-Secdesk-Failpoint: {what}\r\n");
    raw.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Kills this process at once when failpoint `name` is on (as a power cut or `kill -9`
/// would, mid-work).
#[cfg(feature = "failpoints")]
pub fn crash_if(name: &str) {
    if active(name) {
        crash();
    }
}

/// Kills this process when failpoint `name` is on (never, in this build).
#[cfg(not(feature = "failpoints"))]
pub fn crash_if(_name: &str) {}

/// Has this process killed by SIGKILL, as the OOM killer would kill a desk that a mail
/// made swell (and with no core dump left behind, unlike an abort).
#[cfg(feature = "failpoints")]
fn crash() {
    let pid = std::process::id().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status();
    loop {
        std::thread::park();
    }
}

/// Holds the processing of a mail until the file named by `SECDESK_STALL_GATE` exists
/// (a minute at most), after appending this process's id to `<gate>.entered`: a test
/// sees which process holds the mail and when, and kills it there.
#[cfg(feature = "failpoints")]
fn stall() {
    use std::io::Write as _;
    let Ok(gate) = std::env::var("SECDESK_STALL_GATE") else {
        return;
    };
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(format!("{gate}.entered"))
    {
        let _ = writeln!(f, "{}", std::process::id());
    }
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !std::path::Path::new(&gate).exists() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Whether `raw` asks its processing to fail (never, in this build).
#[cfg(not(feature = "failpoints"))]
pub fn poisoned(_raw: &[u8]) -> bool {
    false
}
