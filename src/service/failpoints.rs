//! Faults a test can inject into the service, to prove the desk survives them. Compiled
//! in only with the `failpoints` cargo feature, which the crate's own tests turn on (a
//! dev-dependency of the crate on itself) and a release build never has: without the
//! feature, [`active`] is `false` and every failpoint compiles away.
//!
//! A failpoint is named in the `SECDESK_FAILPOINTS` environment variable of the desk's
//! process (comma-separated), so a test sets it on the one process it starts; a mail
//! carrying the header `X-Secdesk-Failpoint: poison` fails its processing (and one with
//! `X-Secdesk-Failpoint: panic` panics in it), for tests that run the desk in-process
//! next to others or feed it a backlog.

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

/// Whether `raw` asks its processing to fail; panics when it asks for a panic.
#[cfg(feature = "failpoints")]
#[allow(clippy::panic)]
pub fn poisoned(raw: &[u8]) -> bool {
    if raw
        .windows(28)
        .any(|w| w == b"X-Secdesk-Failpoint: panic\r\n")
    {
        panic!("failpoint: this mail panics");
    }
    raw.windows(29)
        .any(|w| w == b"X-Secdesk-Failpoint: poison\r\n")
}

/// Whether `raw` asks its processing to fail (never, in this build).
#[cfg(not(feature = "failpoints"))]
pub fn poisoned(_raw: &[u8]) -> bool {
    false
}
