//! `secdesk run`: the long-running service. Three loops share nothing but the database
//! file: ingest (IMAP → store → decisions), the mailer (outbox → SMTP) and the scheduler
//! (due reminders → outbox). A fourth pings the systemd watchdog while the database
//! answers.
//!
//! Invariants: shutdown is observed only between units of work (between two mails, two
//! sends, two reminders, or while waiting), never inside a transaction; each loop logs a
//! failed iteration, backs off, and goes on; the process exits only when asked to.

use crate::clock::Clock;
use crate::config::Config;
use crate::outgoing::templates::Templates;
use crate::service::db::Db;
use crate::service::ingest;
use crate::service::mailer::{self, Mailer};
use crate::service::process::Desk;
use crate::service::scheduler;
use anyhow::Context as _;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// Tells systemd something, when it is listening (a no-op otherwise).
fn notify(states: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!(error = %e, "sd_notify failed");
    }
}

pub(crate) fn status(text: &str) {
    notify(&[sd_notify::NotifyState::Status(text)]);
}

/// Loads and checks the templates the desk will use: a broken override stops start-up.
pub fn load_templates(config: &Config) -> anyhow::Result<Templates> {
    let templates = Templates::load(config.desk.templates.as_deref())?;
    if let Err(errors) = templates.check() {
        let text = errors
            .iter()
            .map(|e| format!("  - {e}"))
            .collect::<Vec<_>>()
            .join("\n");
        anyhow::bail!("the templates do not render:\n{text}");
    }
    Ok(templates)
}

/// Sleeps for `d`, or returns early (true) when asked to stop.
pub(crate) async fn pause(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

/// Runs the desk until `shutdown` completes.
pub async fn run(
    config: Config,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    let templates = load_templates(&config)?;
    let db_path = config.desk.database.clone();
    let ingest_db = Db::open(&db_path).with_context(|| format!("opening {}", db_path.display()))?;
    let mailer_db = Db::open(&db_path)?;
    let sched_db = Db::open(&db_path)?;
    let watchdog_db = Db::open(&db_path)?;
    let mailer = Mailer::new(&config.smtp, &config.desk.hostname)?;
    let desk = Arc::new(Desk::new(config, templates));

    let (stop_tx, stop_rx) = watch::channel(false);
    let wake_mailer = Arc::new(Notify::new());
    let wake_sched = Arc::new(Notify::new());
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();

    status("connecting to IMAP");
    let on_new_mail = {
        let (m, s) = (Arc::clone(&wake_mailer), Arc::clone(&wake_sched));
        move || {
            m.notify_one();
            s.notify_one();
        }
    };
    let ingest_task = tokio::spawn(ingest::watch(
        Arc::clone(&desk),
        ingest_db,
        Arc::clone(&clock),
        stop_rx.clone(),
        on_new_mail,
        ready_tx,
    ));
    let mailer_task = tokio::spawn(mailer_loop(
        mailer,
        Arc::clone(&desk),
        mailer_db,
        Arc::clone(&clock),
        stop_rx.clone(),
        Arc::clone(&wake_mailer),
    ));
    let sched_task = tokio::spawn(scheduler_loop(
        Arc::clone(&desk),
        sched_db,
        Arc::clone(&clock),
        stop_rx.clone(),
        Arc::clone(&wake_sched),
        Arc::clone(&wake_mailer),
    ));
    let watchdog_task = tokio::spawn(watchdog_loop(watchdog_db, stop_rx.clone()));

    tokio::pin!(shutdown);
    tokio::select! {
        _ = &mut shutdown => {}
        r = ready_rx => {
            if r.is_ok() {
                tracing::info!(address = %desk.config.desk.address, "secdesk is ready");
                notify(&[sd_notify::NotifyState::Ready]);
                status("watching the inbox");
            }
            shutdown.await;
        }
    }

    tracing::info!("stopping: finishing the work in hand");
    notify(&[sd_notify::NotifyState::Stopping]);
    let _ = stop_tx.send(true);
    let all = async {
        for (name, task) in [
            ("ingest", ingest_task),
            ("mailer", mailer_task),
            ("scheduler", sched_task),
            ("watchdog", watchdog_task),
        ] {
            if let Err(e) = task.await {
                tracing::error!(task = name, error = %e, "a task ended abnormally");
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(20), all)
        .await
        .is_err()
    {
        tracing::warn!("some work did not finish within 20 s; it will be redone at the next start");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Sleeps until `next` (by `clock`), a wake-up, or a stop (then returns true). Wakes at
/// least each minute, so a wall clock that jumped (suspend, NTP) is noticed.
async fn sleep_until(
    next: Option<chrono::DateTime<chrono::Utc>>,
    clock: &dyn Clock,
    wake: &Notify,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let wait = next
        .map(|t| (t - clock.now()).to_std().unwrap_or(Duration::ZERO))
        .unwrap_or(Duration::from_secs(60))
        .clamp(Duration::from_millis(50), Duration::from_secs(60));
    tokio::select! {
        _ = tokio::time::sleep(wait) => false,
        _ = wake.notified() => false,
        _ = stop.changed() => true,
    }
}

async fn mailer_loop(
    mailer: Mailer,
    desk: Arc<Desk>,
    db: Db,
    clock: Arc<dyn Clock>,
    mut stop: watch::Receiver<bool>,
    wake: Arc<Notify>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        let stopping = || *stop.borrow();
        match mailer::flush(&mailer, &db, &desk, clock.as_ref(), &stopping).await {
            Ok(r) if r.sent + r.retrying + r.failed > 0 => {
                tracing::debug!(
                    sent = r.sent,
                    retrying = r.retrying,
                    failed = r.failed,
                    "outbox pass"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "the outbox could not be read; retrying"),
        }
        let next = db
            .call(|s| s.read(|tx| tx.next_outbox_due()))
            .await
            .ok()
            .flatten();
        if sleep_until(next, clock.as_ref(), &wake, &mut stop).await {
            return;
        }
    }
}

async fn scheduler_loop(
    desk: Arc<Desk>,
    db: Db,
    clock: Arc<dyn Clock>,
    mut stop: watch::Receiver<bool>,
    wake: Arc<Notify>,
    wake_mailer: Arc<Notify>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        let now = clock.now();
        let d = Arc::clone(&desk);
        match db.call(move |s| scheduler::run_due(&d, s, now)).await {
            Ok(fired) => {
                for f in &fired {
                    if let scheduler::Fired::Sent { scope, kind, late } = f {
                        tracing::info!(case = %scope, kind = %kind, late, "reminder queued");
                    }
                }
                if !fired.is_empty() {
                    wake_mailer.notify_one();
                }
            }
            Err(e) => tracing::error!(error = %e, "reminders could not be processed; retrying"),
        }
        let next = db
            .call(|s| s.read(|tx| tx.next_reminder_due()))
            .await
            .ok()
            .flatten();
        if sleep_until(next, clock.as_ref(), &wake, &mut stop).await {
            return;
        }
    }
}

async fn watchdog_loop(db: Db, mut stop: watch::Receiver<bool>) {
    let Some(interval) = sd_notify::watchdog_enabled() else {
        return;
    };
    let every = interval / 2;
    loop {
        // Healthy means the database answers; IMAP and SMTP outages are handled inside
        // the desk, and restarting it would not help them.
        let healthy = db.call(|s| s.read(|tx| tx.next_outbox_due())).await.is_ok();
        if healthy {
            notify(&[sd_notify::NotifyState::Watchdog]);
        } else {
            tracing::error!("the database does not answer; not pinging the watchdog");
        }
        if pause(every, &mut stop).await {
            return;
        }
    }
}
