//! `secdesk run`: the long-running service. Three loops share nothing but the database
//! file: ingest (IMAP → store → decisions), the mailer (outbox → SMTP) and the scheduler
//! (due reminders → outbox). A fourth pings the systemd watchdog while every loop shows
//! progress within its bound.
//!
//! Invariants: shutdown is observed only between units of work (between two mails, two
//! sends, two reminders, or while waiting), never inside a transaction; each loop logs a
//! failed iteration, backs off, and goes on; a loop that ends or panics when not asked to
//! ends the process with an error (systemd's `Restart=` brings it back), and the desk is
//! never "ready" nor pinging the watchdog while a loop is dead or stuck.

use crate::clock::Clock;
use crate::config::Config;
use crate::outgoing::templates::Templates;
use crate::service::catchup;
use crate::service::db::Db;
use crate::service::health::{self, Beat};
use crate::service::ingest;
use crate::service::isolation::Isolation;
use crate::service::mailer::{self, Mailer};
use crate::service::process::Desk;
use crate::service::scheduler;
use crate::service::shutdown::{self, Shutdown};
use anyhow::Context as _;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

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

/// The longest the mailer and the scheduler sleep between two passes.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// How long systemd is asked to wait for the database's migrations at a start.
const MIGRATION_TIME: Duration = Duration::from_secs(30 * 60);

/// Runs the desk until `shutdown` completes. Returns an error when a loop died first.
/// With `isolation`, suspect mail is filed in a child process (see `isolation`).
pub async fn run(
    config: Config,
    clock: Arc<dyn Clock>,
    isolation: Option<Isolation>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let started = start(config, isolation, clock.now()).await?;
    let desk = Arc::clone(&started.desk);
    let (trigger, stop) = shutdown::channel();
    let (mut loops, watchdog, ready_rx) = spawn_loops(started, clock, stop);
    let died = supervise(shutdown, ready_rx, &mut loops, &desk).await;
    stop_loops(died, trigger, loops, watchdog).await
}

/// What start-up prepares for the loops: the desk, a database connection per loop and
/// the SMTP client.
struct Started {
    desk: Arc<Desk>,
    ingest_db: Db,
    mailer_db: Db,
    sched_db: Db,
    mailer: Mailer,
}

/// Start-up: warnings logged, templates checked, the database opened once per loop, the
/// CA store read and the SMTP client made. Any failure stops the daemon before a loop runs.
async fn start(
    config: Config,
    isolation: Option<Isolation>,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Started> {
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    let templates = load_templates(&config)?;
    let db_path = config.desk.database.clone();
    // A migration runs before READY and may copy every stored mail (migration 16: about
    // 12 s a GB here): systemd is asked to wait for it rather than kill the start, which
    // would roll the migration back and fail the same way at every restart.
    if crate::store::Store::migrations_pending(&db_path).unwrap_or(0) > 0 {
        tracing::info!(database = %db_path.display(), "migrating the database; with a lot of stored mail this takes a while");
        health::status("migrating the database");
        health::extend_start(MIGRATION_TIME);
    }
    // The loops' writes take turns in the process, not in SQLite's busy handler, and
    // leave the WAL's checkpoints to a thread of their own (`store::Checkpoints`).
    let gate = match crate::store::WriteGate::checkpointed(&db_path) {
        Ok(gate) => gate,
        Err(e) => {
            tracing::warn!(error = %e, "no thread for the database's checkpoints: commits make them");
            crate::store::WriteGate::default()
        }
    };
    // The ingest's commits (a backlog's many) return before they reach the disk; it
    // syncs them before it flags mail done on the server, and the mailer's own commit,
    // which syncs the WAL, comes before any answer goes out.
    let ingest_db = Db::open_deferring(&db_path, &gate)
        .with_context(|| format!("opening {}", db_path.display()))?;
    let mailer_db = Db::open_sharing(&db_path, &gate)?;
    let sched_db = Db::open_sharing(&db_path, &gate)?;
    // The system's CA store is read once, off the async workers.
    let _ = tokio::task::spawn_blocking(crate::service::tls::native_roots).await;
    let mailer = Mailer::new(&config.smtp, &config.desk.hostname)?;
    let mut desk = Desk::new(config, templates);
    desk.isolation = isolation;
    let desk = Arc::new(desk);
    // Reminders planned under an earlier configuration (another time zone, other
    // offsets) are planned again under this one.
    let d = Arc::clone(&desk);
    let replanned = sched_db
        .call(move |s| crate::service::scheduler::replan_open_cases(&d, s, now))
        .await
        .context("re-planning the open cases' reminders")?;
    tracing::debug!(cases = replanned, "reminders re-planned");
    let d = Arc::clone(&desk);
    sched_db
        .call(move |s| crate::service::scheduler::withdraw_mail_of_those_who_left(&d, s, now))
        .await
        .context("withdrawing queued team mail of those who left the team")?;
    if let Ok(counts) = crate::store::Store::open_cases_by_desk(&desk.config.desk.database) {
        for (key, n) in counts {
            if !key.is_empty() && desk.config.desk_named(&key).is_none() {
                tracing::warn!(desk = %key, open_cases = n, "open cases of a desk the configuration no longer has: the top-level desk's team handles them now (restore the section, or #move each case)");
            }
        }
    }
    Ok(Started {
        desk,
        ingest_db,
        mailer_db,
        sched_db,
        mailer,
    })
}

/// The loops a running desk is made of, by name.
type Loops = Vec<(&'static str, JoinHandle<()>)>;

/// Spawns the ingest, mailer and scheduler loops and the watchdog; the receiver hears
/// when ingest is connected.
fn spawn_loops(
    started: Started,
    clock: Arc<dyn Clock>,
    stop: Shutdown,
) -> (Loops, JoinHandle<()>, tokio::sync::oneshot::Receiver<()>) {
    let Started {
        desk,
        ingest_db,
        mailer_db,
        sched_db,
        mailer,
    } = started;
    let wake_mailer = Arc::new(Notify::new());
    let wake_sched = Arc::new(Notify::new());
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
    let beats = [
        Beat::new("ingest", ingest::beat_bound(&desk.config.imap)),
        Beat::new("mailer", mailer::beat_bound(&desk.config.smtp, MAX_SLEEP)),
        Beat::new("scheduler", MAX_SLEEP.saturating_mul(3)),
    ];
    for b in &beats {
        b.tick();
    }
    let [ingest_beat, mailer_beat, sched_beat] = beats.clone();

    health::status("connecting to IMAP");
    let on_new_mail = {
        let (m, s) = (Arc::clone(&wake_mailer), Arc::clone(&wake_sched));
        move || {
            m.notify_one();
            s.notify_one();
        }
    };
    let loops: Loops = vec![
        (
            "ingest",
            tokio::spawn(ingest::watch(
                Arc::clone(&desk),
                ingest_db,
                Arc::clone(&clock),
                stop.clone(),
                ingest_beat,
                on_new_mail,
                ready_tx,
            )),
        ),
        (
            "mailer",
            tokio::spawn(mailer_loop(
                mailer,
                Arc::clone(&desk),
                mailer_db,
                Arc::clone(&clock),
                stop.clone(),
                mailer_beat,
                Arc::clone(&wake_mailer),
            )),
        ),
        (
            "scheduler",
            tokio::spawn(scheduler_loop(
                Arc::clone(&desk),
                sched_db,
                Arc::clone(&clock),
                stop.clone(),
                sched_beat,
                Arc::clone(&wake_sched),
                Arc::clone(&wake_mailer),
            )),
        ),
    ];
    let watchdog = tokio::spawn(watchdog_loop(beats.to_vec(), stop.clone()));
    (loops, watchdog, ready_rx)
}

/// Waits for `shutdown` or the first loop to end (returned, removed from `loops`),
/// announcing readiness once ingest is connected.
async fn supervise(
    shutdown: impl Future<Output = ()>,
    ready_rx: tokio::sync::oneshot::Receiver<()>,
    loops: &mut Loops,
    desk: &Desk,
) -> Option<(&'static str, Result<(), tokio::task::JoinError>)> {
    tokio::pin!(shutdown);
    let mut ready_rx = Some(ready_rx);
    loop {
        tokio::select! {
            _ = &mut shutdown => break None,
            ok = async {
                match ready_rx.as_mut() {
                    Some(r) => r.await.is_ok(),
                    None => false,
                }
            }, if ready_rx.is_some() => {
                ready_rx = None;
                if ok {
                    tracing::info!(address = %desk.config.desk.address, "secdesk is ready");
                    health::notify(&[sd_notify::NotifyState::Ready]);
                    health::status_of(health::Part::Inbox, None);
                }
            }
            (name, result) = first_to_end(loops) => break Some((name, result)),
        }
    }
}

/// Shutdown: says why, asks every loop to stop, waits up to 20 s for the work in hand;
/// an error when a loop had `died`.
async fn stop_loops(
    died: Option<(&'static str, Result<(), tokio::task::JoinError>)>,
    trigger: shutdown::Trigger,
    loops: Loops,
    watchdog: JoinHandle<()>,
) -> anyhow::Result<()> {
    // Asked first, then said: what the log and systemd hear as "stopping" is already
    // true, and no loop starts another piece of work after it.
    trigger.fire();
    if let Some((name, result)) = &died {
        let how = match result {
            Ok(()) => "ended".to_string(),
            Err(e) if e.is_panic() => format!("panicked: {}", panic_text(e)),
            Err(e) => format!("was cancelled: {e}"),
        };
        tracing::error!(
            task = name,
            "the {name} loop {how}; stopping the desk so it is restarted"
        );
        health::status(&format!("the {name} loop {how}; stopping"));
    } else {
        tracing::info!("stopping: finishing the work in hand");
    }
    health::notify(&[sd_notify::NotifyState::Stopping]);
    let all = async {
        for (name, task) in loops {
            if let Err(e) = task.await {
                tracing::error!(task = name, error = %e, "a task ended abnormally");
            }
        }
        let _ = watchdog.await;
    };
    if tokio::time::timeout(Duration::from_secs(20), all)
        .await
        .is_err()
    {
        tracing::warn!("some work did not finish within 20 s; it will be redone at the next start");
    }
    match died {
        Some((name, _)) => anyhow::bail!("the {name} loop stopped unexpectedly"),
        None => {
            tracing::info!("stopped");
            Ok(())
        }
    }
}

/// Completes when the first of `loops` ends (removing it), with its name and result.
async fn first_to_end(
    loops: &mut Vec<(&'static str, JoinHandle<()>)>,
) -> (&'static str, Result<(), tokio::task::JoinError>) {
    let (result, index) = std::future::poll_fn(|cx| {
        for (i, (_, handle)) in loops.iter_mut().enumerate() {
            if let std::task::Poll::Ready(r) = std::pin::Pin::new(handle).poll(cx) {
                return std::task::Poll::Ready((r, i));
            }
        }
        std::task::Poll::Pending
    })
    .await;
    let name = if index < loops.len() {
        loops.swap_remove(index).0
    } else {
        "a loop"
    };
    (name, result)
}

fn panic_text(e: &tokio::task::JoinError) -> String {
    // The payload is only reachable by consuming the error; the message is in Display.
    e.to_string()
}

/// Sleeps until `next` (by `clock`), a wake-up, or a stop (then returns true). Wakes at
/// least each minute, so a wall clock that jumped (suspend, NTP) is noticed.
async fn sleep_until(
    next: Option<chrono::DateTime<chrono::Utc>>,
    clock: &dyn Clock,
    wake: &Notify,
    stop: &mut Shutdown,
    at_most: Duration,
) -> bool {
    let wait = next
        .map(|t| (t - clock.now()).to_std().unwrap_or(Duration::ZERO))
        .unwrap_or(at_most)
        .clamp(Duration::from_millis(50), at_most);
    tokio::select! {
        _ = tokio::time::sleep(wait) => false,
        _ = wake.notified() => false,
        _ = stop.requested() => true,
    }
}

async fn mailer_loop(
    mailer: Mailer,
    desk: Arc<Desk>,
    db: Db,
    clock: Arc<dyn Clock>,
    mut stop: Shutdown,
    beat: Beat,
    wake: Arc<Notify>,
) {
    let mut trouble = Trouble::default();
    let mut drained_backlog = false;
    // Since when the mailer has waited for the inbox's backlog to be filed.
    let mut holding: Option<tokio::time::Instant> = None;
    // Connections kept from one pass to the next while a backlog goes out.
    let mut open = mailer::Connections::default();
    loop {
        if stop.is_requested() {
            open.close().await;
            return;
        }
        beat.tick();
        if desk.catch_up.is_on() {
            let held = holding
                .get_or_insert_with(tokio::time::Instant::now)
                .elapsed();
            if let Some(left) = catchup::HOLD.checked_sub(held).filter(|d| !d.is_zero()) {
                open.close().await;
                tokio::select! {
                    _ = desk.catch_up.ended_within(left) => {}
                    _ = stop.requested() => return,
                }
                continue;
            }
        } else {
            holding = None;
        }
        let pass = (clock.as_ref(), &stop, &beat);
        let outcome = mailer::flush_over(&mailer, &db, &desk, pass, &mut open).await;
        let (unreachable_for, more) = trouble.after(outcome);
        beat.tick();
        if !more {
            // Kept only for a pass that follows at once: an idle connection is closed.
            open.close().await;
        }
        if let Some(wait) = unreachable_for {
            // The server is away: wait out the backoff, whatever is due or queued meanwhile.
            if stop.pause(wait).await {
                return;
            }
            continue;
        }
        if more {
            drained_backlog = true;
            continue; // a full pass: more rows may be due now (a backlog going out)
        }
        if std::mem::take(&mut drained_backlog) {
            // The backlog is out: its page cache goes back before the wait.
            db.call(|s| s.shrink()).await;
        }
        let next = db
            .call(|s| s.read(|tx| tx.next_outbox_due()))
            .await
            .ok()
            .flatten();
        if sleep_until(next, clock.as_ref(), &wake, &mut stop, MAX_SLEEP).await {
            return;
        }
    }
}

/// What the mailer knows of its server and its database between passes.
struct Trouble {
    /// Grows while the server cannot be reached or refuses our login; reset by a pass
    /// that got through.
    backoff: Duration,
    /// The server was away, or wanted a login for some mail, at the last pass.
    down: bool,
    /// The outbox could not be read or written at the last pass.
    db_down: bool,
}

impl Default for Trouble {
    fn default() -> Trouble {
        Trouble {
            backoff: Duration::from_secs(1),
            down: false,
            db_down: false,
        }
    }
}

impl Trouble {
    /// Takes in a pass's outcome, saying it in the log and `STATUS=`: how long to wait
    /// before the next pass when the server or the database is away, and whether more
    /// rows are due at once (a backlog going out).
    fn after(
        &mut self,
        outcome: crate::store::Result<mailer::FlushReport>,
    ) -> (Option<Duration>, bool) {
        let backoff = self.backoff;
        let r = match outcome {
            Ok(r) => r,
            Err(e) => {
                // The database refused (a full disk, a lock held elsewhere): waited out
                // like a server that is away, not retried (and logged in again) at once.
                tracing::error!(error = %e, retry_in = ?backoff, "the outbox could not be read or written; every mail waits");
                health::status_of(
                    health::Part::Outbox,
                    Some(&format!("database: {e}; mail waits")),
                );
                self.db_down = true;
                self.backoff = backoff.saturating_mul(2).min(Duration::from_secs(300));
                return (Some(backoff), false);
            }
        };
        if r.sent + r.retrying + r.failed > 0 {
            tracing::debug!(
                sent = r.sent,
                retrying = r.retrying,
                failed = r.failed,
                "outbox pass"
            );
        }
        if let Some(e) = r.unreachable {
            tracing::error!(error = %e.text, check = e.keys, retry_in = ?backoff, "cannot hand mail to the SMTP server; every mail waits");
            health::status_of(
                health::Part::Outbox,
                Some(&format!("SMTP: {} (check {}); mail waits", e.text, e.keys)),
            );
            self.down = true;
            self.backoff = backoff.saturating_mul(2).min(Duration::from_secs(300));
            return (Some(backoff), false);
        }
        self.backoff = Duration::from_secs(1);
        if let Some(e) = &r.login_needed {
            // Mail went, but the server wants a login for some (a relay that wants one
            // for outside recipients): said as loudly as a server that cannot be
            // reached, while the rest goes on.
            tracing::error!(error = %e.text, check = e.keys, "the SMTP server wants a login for some mail; that mail waits");
            health::status_of(
                health::Part::Outbox,
                Some(&format!(
                    "SMTP: {} (check {}); some mail waits",
                    e.text, e.keys
                )),
            );
            self.down = true;
            return (None, r.more);
        }
        if let Some(e) = r.deferred.as_ref().filter(|_| r.sent == 0) {
            // Every mail of the pass deferred (a relay short of space answering 4xx to
            // each): nothing leaves, and the desk says so until one goes.
            health::status_of(
                health::Part::Outbox,
                Some(&format!(
                    "SMTP: {} mail(s) deferred ({e}); mail waits",
                    r.retrying
                )),
            );
            self.down = true;
        }
        if std::mem::take(&mut self.db_down) {
            tracing::info!("the outbox can be written again");
            health::status_of(health::Part::Outbox, None);
        }
        if self.down && r.sent > 0 {
            tracing::info!("the SMTP server takes mail again");
            health::status_of(health::Part::Outbox, None);
            self.down = false;
        }
        (None, r.more)
    }
}

async fn scheduler_loop(
    desk: Arc<Desk>,
    db: Db,
    clock: Arc<dyn Clock>,
    mut stop: Shutdown,
    beat: Beat,
    wake: Arc<Notify>,
    wake_mailer: Arc<Notify>,
) {
    // The pause after a pass that left due work undone (the database refusing a write):
    // 1 s, doubling up to MAX_SLEEP; none after a pass that did something.
    let mut backoff = Duration::ZERO;
    loop {
        if stop.is_requested() {
            return;
        }
        beat.tick();
        let now = clock.now();
        let d = Arc::clone(&desk);
        let (asked, alive) = (stop.clone(), beat.clone());
        let go_on = move || {
            alive.tick();
            !asked.is_requested()
        };
        let progressed = match db
            .call(move |s| scheduler::run_due_while(&d, s, now, &go_on))
            .await
        {
            Ok(fired) => {
                for f in &fired {
                    if let scheduler::Fired::Sent { scope, kind, late } = f {
                        tracing::info!(case = %scope, kind = %kind, late, "reminder queued");
                    }
                }
                if !fired.is_empty() {
                    wake_mailer.notify_one();
                }
                !fired.is_empty()
            }
            Err(e) => {
                tracing::error!(error = %e, "reminders could not be processed; retrying");
                false
            }
        };
        let next = db
            .call(|s| s.read(|tx| tx.next_reminder_due()))
            .await
            .ok()
            .flatten();
        let now = clock.now();
        let next = match next {
            Some(due) if due <= now && !progressed => {
                backoff = (backoff * 2).clamp(Duration::from_secs(1), MAX_SLEEP);
                chrono::Duration::from_std(backoff).ok().map(|b| now + b)
            }
            next => {
                backoff = Duration::ZERO;
                next
            }
        };
        beat.tick();
        if sleep_until(next, clock.as_ref(), &wake, &mut stop, MAX_SLEEP).await {
            return;
        }
    }
}

/// Pings the systemd watchdog while every loop made progress within its bound; names
/// the loop that did not, once, and stops pinging (systemd then restarts the desk).
async fn watchdog_loop(beats: Vec<Beat>, mut stop: Shutdown) {
    let Some(interval) = sd_notify::watchdog_enabled() else {
        return;
    };
    let every = interval / 2;
    let mut told = false;
    loop {
        let now = Instant::now();
        let stuck: Vec<&'static str> = beats
            .iter()
            .filter(|b| b.stuck_at(now))
            .map(Beat::name)
            .collect();
        if stuck.is_empty() {
            health::notify(&[sd_notify::NotifyState::Watchdog]);
            told = false;
        } else if !told {
            tracing::error!(stuck = ?stuck, "a loop made no progress within its bound; no longer pinging the watchdog");
            health::status(&format!("stuck: {}", stuck.join(", ")));
            told = true;
        }
        if stop.pause(every).await {
            return;
        }
    }
}
