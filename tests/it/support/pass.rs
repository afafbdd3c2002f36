//! The desk's service one pass at a time, at an instant the test chooses: an IMAP sync,
//! the scheduler, the outbox over SMTP (what `daemon::run` loops over, without its loop).

use crate::support::desk::starttls_stack_config;
use crate::support::mailstack::MailStack;
use crate::world::secrets;
use chrono::{DateTime, Utc};
use secdesk::clock::{Clock, ManualClock};
use secdesk::config::Config;
use secdesk::service::health::Beat;
use secdesk::service::shutdown::Shutdown;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

/// The desk against `stack`, one pass at a time at a chosen instant: IMAP sync, the
/// scheduler, the outbox over SMTP.
pub struct Pass {
    config: Config,
    db_path: std::path::PathBuf,
    config_file: std::path::PathBuf,
    rt: tokio::runtime::Runtime,
    mailer: secdesk::service::mailer::Mailer,
}

impl Pass {
    pub fn new(stack: &MailStack, dir: &Path, extra: &str) -> Pass {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (text, db_path) = starttls_stack_config(stack, dir, extra);
        let config = Config::from_toml(&text, &secrets()).unwrap_or_else(|p| panic!("{p:?}"));
        let config_file = dir.join("config.toml");
        std::fs::write(&config_file, &text).unwrap();
        let mailer = secdesk::service::mailer::Mailer::new(&config.smtp, "example.org").unwrap();
        Pass {
            config,
            db_path,
            config_file,
            rt: tokio::runtime::Runtime::new().unwrap(),
            mailer,
        }
    }

    /// Returns how many reminders fired.
    pub fn run(&self, at: DateTime<Utc>) -> usize {
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(at));
        let desk = Arc::new(secdesk::service::process::Desk::new(
            self.config.clone(),
            secdesk::outgoing::templates::Templates::load(None).unwrap(),
        ));
        let db = secdesk::service::db::Db::open(&self.db_path).unwrap();
        self.rt.block_on(async {
            let mut session = secdesk::service::ingest::connect(&self.config.imap)
                .await
                .unwrap();
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
            .unwrap();
        });
        let fired = db
            .blocking(|s| secdesk::service::scheduler::run_due(&desk, s, at))
            .unwrap();
        // Everything queued goes out now (one flush sends up to 100).
        loop {
            let r = self
                .rt
                .block_on(secdesk::service::mailer::flush(
                    &self.mailer,
                    &db,
                    &desk,
                    clock.as_ref(),
                    &Shutdown::never(),
                    &Beat::detached(),
                ))
                .unwrap();
            assert_eq!((r.retrying, r.failed), (0, 0), "{r:?}");
            if r.sent == 0 {
                break;
            }
        }
        fired.len()
    }

    pub fn count(&self, sql: &str) -> i64 {
        let conn = rusqlite::Connection::open(&self.db_path).unwrap();
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// `secdesk <args>` through the real binary.
    pub fn secdesk(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_secdesk"))
            .arg("--config")
            .arg(&self.config_file)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }
}
