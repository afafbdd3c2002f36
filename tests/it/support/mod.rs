//! Test support: a real Postfix + Dovecot stack on loopback
//! (`scripts/mailstack.sh`) and the small blocking SMTP and IMAP clients that
//! tests use to put mail in and read it back.
#![allow(dead_code)] // each test uses a different part of this module

pub mod desk;
pub mod imap;
pub mod mailstack;
pub mod pass;
pub mod proxy;
pub mod responder;
pub mod smtp;

/// Runs `cmd` to its end and returns what it printed; the test fails, saying `what` and
/// what the command wrote on stderr, unless it succeeded.
pub fn stdout_of(cmd: &mut std::process::Command, what: &str) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{what}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
