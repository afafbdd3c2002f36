//! `secdesk run`: the desk in the foreground until SIGTERM or SIGINT.

use super::load;
use crate::clock::SystemClock;
use crate::config::SecretSources;
use crate::service::daemon;
use anyhow::Result;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

pub fn run(config: &Path) -> Result<ExitCode> {
    let config = load(config, &SecretSources::from_process())?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(daemon::run(
        config,
        Arc::new(SystemClock),
        shutdown_signal(),
    ))?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = int.recv() => tracing::info!("SIGINT received"),
            }
        }
        _ => {
            // Without signal handlers the only way out is being killed; say so.
            tracing::error!("cannot install signal handlers; stop the desk with SIGKILL");
            std::future::pending::<()>().await;
        }
    }
}
