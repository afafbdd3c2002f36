//! The imperative shell of `secdesk run`: the loops that speak IMAP (`ingest`), SMTP
//! (`mailer`) and turn due deadlines into mail (`scheduler`), the one transaction per
//! mail (`process`), the database handle for async code (`db`), TLS set-up (`tls`) and
//! the daemon that runs and watches them all (`daemon`), with the shutdown handle
//! (`shutdown`), what systemd is told and the loops' heartbeats (`health`), the faults
//! tests inject (`failpoints`), the child process that files a suspect mail
//! (`isolation`), the backlog the mailer waits out (`catchup`), and the reads of the
//! operator's files and environment that the pure core is given as values (`files`).

pub mod advisory_repo;
pub mod catchup;
pub mod daemon;
pub mod db;
pub mod failpoints;
pub mod files;
pub mod health;
pub mod ingest;
pub mod isolation;
pub mod mailer;
pub mod process;
pub mod scheduler;
pub mod shutdown;
pub mod tls;

use crate::config::Secret;
use std::path::Path;
use std::time::Duration;

/// The password for a login: the file named in the config, read again now (so a rotated
/// password takes effect without a restart), or the secret resolved at start-up.
pub(crate) fn login_secret(file: Option<&Path>, resolved: &Secret) -> Result<Secret, String> {
    let Some(path) = file else {
        return Ok(resolved.clone());
    };
    match std::fs::read_to_string(path) {
        Ok(s) => match crate::config::secret_of_file(&s) {
            Some(first) => Ok(Secret::new(first)),
            None => Err(format!(
                "the password file {} is empty (its first line is the password)",
                path.display()
            )),
        },
        Err(e) => Err(format!(
            "cannot read the password file {}: {e}",
            path.display()
        )),
    }
}

/// TCP keepalive on a mail server connection: a peer that vanished (a half-open
/// connection) is noticed by the kernel even while we wait for nothing in particular.
pub(crate) fn keepalive(tcp: &tokio::net::TcpStream) {
    let ka = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(60))
        .with_interval(Duration::from_secs(15))
        .with_retries(4);
    if let Err(e) = socket2::SockRef::from(tcp).set_tcp_keepalive(&ka) {
        tracing::debug!(error = %e, "TCP keepalive could not be set");
    }
}
