//! What the desk tells systemd, and how it knows it is well: each loop owns a
//! [`Beat`] it ticks whenever it makes progress (a mail, a send, a wake-up), with the
//! longest quiet it may have while healthy; the watchdog is pinged only while every beat
//! is recent.
//!
//! Invariant: a watchdog ping means "every loop made progress within its bound", never
//! just "the process is alive".

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Tells systemd something, when it is listening (a no-op otherwise).
pub fn notify(states: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!(error = %e, "sd_notify failed");
    }
}

/// The one-line status `systemctl status` shows.
pub fn status(text: &str) {
    notify(&[sd_notify::NotifyState::Status(text)]);
}

/// A part of the desk with its own say in `STATUS=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The ingest: the inbox's trouble, or its progress through a backlog.
    Inbox,
    /// The mailer: the outbox's trouble (an SMTP server, the database).
    Outbox,
}

/// What each part has to say, `None` when all is well with it: one line is composed of
/// both, so that one part's good news never hides the other's fault (the mailer, its
/// server back, said "watching the inbox" while the inbox could not be reached).
#[derive(Debug, Default)]
struct Said {
    inbox: Option<String>,
    outbox: Option<String>,
}

impl Said {
    fn set(&mut self, part: Part, text: Option<&str>) {
        let slot = match part {
            Part::Inbox => &mut self.inbox,
            Part::Outbox => &mut self.outbox,
        };
        *slot = text.map(str::to_string);
    }

    fn line(&self) -> String {
        match (&self.inbox, &self.outbox) {
            (None, None) => "watching the inbox".to_string(),
            (Some(one), None) | (None, Some(one)) => one.clone(),
            (Some(inbox), Some(outbox)) => format!("{inbox}; {outbox}"),
        }
    }
}

static SAID: std::sync::Mutex<Said> = std::sync::Mutex::new(Said {
    inbox: None,
    outbox: None,
});

/// What `part` has to say in `STATUS=` (`None`: all is well with it), said with what
/// the other part still has to say.
pub fn status_of(part: Part, text: Option<&str>) {
    let line = {
        let mut said = SAID.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        said.set(part, text);
        said.line()
    };
    status(&line);
}

/// Asks systemd for `more` time to finish starting (no effect once ready).
pub fn extend_start(more: Duration) {
    let usec = u32::try_from(more.as_micros()).unwrap_or(u32::MAX);
    notify(&[sd_notify::NotifyState::ExtendTimeoutUsec(usec)]);
}

/// One loop's proof of life.
#[derive(Debug, Clone)]
pub struct Beat {
    name: &'static str,
    /// The longest time between two ticks of a healthy loop.
    bound: Duration,
    origin: Instant,
    /// Milliseconds after `origin` of the last tick.
    last: Arc<AtomicU64>,
}

impl Beat {
    pub fn new(name: &'static str, bound: Duration) -> Beat {
        Beat {
            name,
            bound,
            origin: Instant::now(),
            last: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A beat nobody watches (tests, one-shot tools).
    pub fn detached() -> Beat {
        Beat::new("detached", Duration::MAX)
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Progress: the loop is alive now.
    pub fn tick(&self) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }

    /// How long the loop has been quiet at `now`.
    pub fn quiet_at(&self, now: Instant) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        now.saturating_duration_since(self.origin)
            .saturating_sub(last)
    }

    /// The loop has been quiet for longer than it may be.
    pub fn stuck_at(&self, now: Instant) -> bool {
        self.quiet_at(now) > self.bound
    }
}

#[cfg(test)]
mod tests {

    /// One part's good news never hides the other's fault: the mailer, its server back,
    /// said "watching the inbox" while the inbox could not be reached.
    #[test]
    fn the_status_line_keeps_each_parts_fault() {
        let mut said = Said::default();
        assert_eq!(said.line(), "watching the inbox");
        said.set(Part::Inbox, Some("cannot reach the inbox: refused"));
        said.set(Part::Outbox, Some("SMTP: refused; mail waits"));
        assert_eq!(
            said.line(),
            "cannot reach the inbox: refused; SMTP: refused; mail waits"
        );
        said.set(Part::Outbox, None);
        assert_eq!(said.line(), "cannot reach the inbox: refused");
        said.set(Part::Outbox, Some("SMTP: refused; mail waits"));
        said.set(Part::Inbox, None);
        assert_eq!(said.line(), "SMTP: refused; mail waits");
        said.set(Part::Outbox, None);
        assert_eq!(said.line(), "watching the inbox");
    }

    use super::*;

    #[test]
    fn a_beat_is_stuck_only_past_its_bound() {
        let beat = Beat::new("test", Duration::from_secs(60));
        beat.tick();
        let now = Instant::now();
        assert!(!beat.stuck_at(now));
        assert!(!beat.stuck_at(now + Duration::from_secs(59)));
        assert!(beat.stuck_at(now + Duration::from_secs(61)));
        assert!(!Beat::detached().stuck_at(now + Duration::from_secs(86_400)));
    }
}
