//! The desk's service one pass at a time, at an instant the test chooses: an IMAP sync,
//! the scheduler, the outbox over SMTP (what `daemon::run` loops over, without its loop).

use crate::support::desk::{load, starttls_stack_config, with_policy};
use crate::support::mailstack::MailStack;
use chrono::{DateTime, Utc};
use secdesk::clock::{Clock, ManualClock};
use secdesk::config::Config;
use secdesk::outgoing::templates::Templates;
use secdesk::service::db::Db;
use secdesk::service::health::Beat;
use secdesk::service::mailer::{FlushReport, Mailer};
use secdesk::service::process::Desk;
use secdesk::service::shutdown::Shutdown;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use tokio::runtime::Runtime;

/// The service's desk for `config`, with the built-in templates.
pub fn service_desk(config: &Config) -> Arc<Desk> {
    Arc::new(Desk::new(config.clone(), Templates::load(None).unwrap()))
}

/// One outbox pass through `mailer` at `clock`'s instant, never interrupted.
pub fn flush(
    rt: &Runtime,
    mailer: &Mailer,
    db: &Db,
    desk: &Arc<Desk>,
    clock: &dyn Clock,
) -> FlushReport {
    rt.block_on(secdesk::service::mailer::flush(
        mailer,
        db,
        desk,
        clock,
        &Shutdown::never(),
        &Beat::detached(),
    ))
    .unwrap()
}

/// The desk against `stack`, one pass at a time at a chosen instant: IMAP sync, the
/// scheduler, the outbox over SMTP.
pub struct Pass {
    config: Config,
    db_path: PathBuf,
    config_file: PathBuf,
    rt: Runtime,
    mailer: Mailer,
}

impl Pass {
    /// The STARTTLS config against `stack` (plus `extra`), also written to
    /// `config.toml` in `dir` for the CLI; the database is `desk.db` there.
    pub fn new(stack: &MailStack, dir: &Path, extra: &str) -> Pass {
        let _ = rustls::crypto::ring::default_provider().install_default();
        // The pass runs on a clock of the test's: the digest comes when the test says.
        let extra = match extra.contains("digest") {
            true => extra.to_string(),
            false => with_policy(extra, "digest = \"Mon 09:00\""),
        };
        let (text, db_path) = starttls_stack_config(stack, dir, &extra);
        let config = load(&text);
        let config_file = dir.join("config.toml");
        std::fs::write(&config_file, &text).unwrap();
        let mailer = Mailer::new(&config.smtp, "example.org").unwrap();
        Pass {
            config,
            db_path,
            config_file,
            rt: Runtime::new().unwrap(),
            mailer,
        }
    }

    /// A pass at `at` whose outbox is flushed until nothing is left to send, each flush
    /// asserted free of retries and failures. Returns how many reminders fired.
    pub fn run(&self, at: DateTime<Utc>) -> usize {
        self.pass(at, |flush| {
            // Everything queued goes out now (one flush sends up to 100).
            loop {
                let r = flush();
                assert_eq!((r.retrying, r.failed), (0, 0), "{r:?}");
                if r.sent == 0 {
                    break;
                }
            }
        })
    }

    /// A pass at `at` with a single outbox flush, whatever it reports. Returns how many
    /// reminders fired.
    pub fn run_once(&self, at: DateTime<Utc>) -> usize {
        self.pass(at, |flush| {
            flush();
        })
    }

    /// Syncs the inbox and runs the scheduler at `at` on a fresh desk and store (as
    /// after a restart), then lets `outbox` flush as it needs.
    fn pass(&self, at: DateTime<Utc>, outbox: impl FnOnce(&dyn Fn() -> FlushReport)) -> usize {
        self.sync(at).unwrap();
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(at));
        let desk = service_desk(&self.config);
        let db = Db::open(&self.db_path).unwrap();
        let fired = db
            .blocking(|s| secdesk::service::scheduler::run_due(&desk, s, at))
            .unwrap();
        outbox(&|| flush(&self.rt, &self.mailer, &db, &desk, clock.as_ref()));
        fired.len()
    }

    /// An inbox sync alone at `at`, its outcome as it is.
    pub fn sync(
        &self,
        at: DateTime<Utc>,
    ) -> Result<secdesk::service::ingest::SyncReport, secdesk::service::ingest::IngestError> {
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(at));
        let desk = service_desk(&self.config);
        let db = Db::open(&self.db_path).unwrap();
        self.rt.block_on(async {
            let mut session = secdesk::service::ingest::connect(&self.config.imap).await?;
            secdesk::service::ingest::sync(
                &mut session,
                &db,
                &desk,
                &clock,
                &Shutdown::never(),
                &Beat::detached(),
                &|| {},
            )
            .await
        })
    }

    /// Runs `sql` on the desk's database, as an operator (or a restore) might.
    pub fn exec(&self, sql: &str) {
        let conn = rusqlite::Connection::open(&self.db_path).unwrap();
        conn.execute_batch(sql).unwrap();
    }

    pub fn count(&self, sql: &str) -> i64 {
        let conn = rusqlite::Connection::open(&self.db_path).unwrap();
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// `secdesk <args>` through the real binary.
    pub fn secdesk(&self, args: &[&str]) -> String {
        super::stdout_of(
            Command::new(env!("CARGO_BIN_EXE_secdesk"))
                .arg("--config")
                .arg(&self.config_file)
                .args(args),
            "",
        )
    }
}
