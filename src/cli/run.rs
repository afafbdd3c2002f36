//! `secdesk run`: the desk in the foreground until SIGTERM or SIGINT.

use crate::clock::SystemClock;
use crate::config::SecretSources;
use crate::service::daemon;
use crate::service::isolation::Isolation;
use anyhow::Result;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

pub fn run(path: &Path) -> Result<ExitCode> {
    let (config, digest) = super::load_with_digest(path, &SecretSources::from_process())?;
    // Suspect mail is filed by this binary again, in a child (see `service::isolation`).
    let isolation = match Isolation::this_binary(path, digest) {
        Ok(isolation) => Some(isolation),
        Err(e) => {
            tracing::warn!(error = %e, "cannot name this binary: suspect mail is filed in the desk's own process");
            None
        }
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        // Installed before the start (a migration may take minutes): a SIGHUP then still
        // ended the process at once.
        let signals = signals();
        daemon::run(
            config,
            Arc::new(SystemClock),
            isolation,
            shutdown_signal(signals),
        )
        .await
    })?;
    Ok(ExitCode::SUCCESS)
}

type Signals = (
    tokio::signal::unix::Signal,
    tokio::signal::unix::Signal,
    tokio::signal::unix::Signal,
);

/// SIGTERM, SIGINT and SIGHUP taken over from their default (ending the process).
fn signals() -> Option<Signals> {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(term), Ok(int), Ok(hup)) => Some((term, int, hup)),
        _ => None,
    }
}

async fn shutdown_signal(signals: Option<Signals>) {
    match signals {
        Some((mut term, mut int, mut hup)) => loop {
            tokio::select! {
                _ = term.recv() => return tracing::info!("SIGTERM received"),
                _ = int.recv() => return tracing::info!("SIGINT received"),
                // The usual "reload" signal: by default it ended the process at once,
                // without the clean stop, and systemd took that for a clean exit and
                // did not restart the desk.
                _ = hup.recv() => tracing::warn!(
                    "SIGHUP received: the desk does not reload its configuration; it goes on as it is (restart the unit to apply a change: systemctl restart secdesk)"
                ),
            }
        },
        None => {
            // Without signal handlers the only way out is being killed; say so.
            tracing::error!("cannot install signal handlers; stop the desk with SIGKILL");
            std::future::pending::<()>().await;
        }
    }
}
