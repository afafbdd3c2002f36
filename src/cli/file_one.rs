//! `secdesk file-one` (hidden): files one suspect mail for a running desk, in a process
//! of its own, and says by its exit status how it went (see `service::isolation`).

use crate::config::SecretSources;
use crate::service::isolation::{self, EXIT_BUSY, EXIT_FAILED, EXIT_FILED};
use anyhow::{Result, bail};
use chrono::{DateTime, Utc};
use std::path::Path;
use std::process::ExitCode;

/// Files raw mail `raw_id` as of `now`, under `config` as long as its bytes still have
/// the SHA-256 `digest` the daemon read.
pub fn run(config: &Path, digest: &str, raw_id: i64, now: DateTime<Utc>) -> Result<ExitCode> {
    // Installing handlers is what keeps a SIGTERM or SIGINT sent to the whole group from
    // ending this process: the parent decides when to stop, and ends this one then.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let _signals = rt.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        Ok::<_, std::io::Error>((
            signal(SignalKind::terminate())?,
            signal(SignalKind::interrupt())?,
        ))
    })?;
    isolation::die_with_parent();
    let (read, read_digest) = super::load_with_digest(config, &SecretSources::not_needed())?;
    if read_digest != digest {
        bail!(
            "{} changed since the desk started: the desk files the mail itself, under the configuration it runs with (restart it to use the new one)",
            config.display()
        );
    }
    let desk = super::desk_of(read)?;
    let mut store = super::open_existing(&desk.config)?;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        desk.process(&mut store, raw_id, now)
    }));
    let error = match result {
        Ok(Ok(_)) => return Ok(ExitCode::from(EXIT_FILED)),
        Ok(Err(e)) if e.is_transient() => {
            tracing::warn!(raw_id, error = %e, "the database is busy; the mail is filed later");
            return Ok(ExitCode::from(EXIT_BUSY));
        }
        Ok(Err(e)) => e.to_string(),
        Err(panic) => crate::service::ingest::panic_text(panic.as_ref()),
    };
    store.write(|tx| tx.count_raw_failure(raw_id, &error))?;
    Ok(ExitCode::from(EXIT_FAILED))
}
