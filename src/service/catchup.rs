//! Whether the inbox is being caught up (a backlog of more than one batch), which the
//! mailer waits out for a while.
//!
//! On a small machine the desk, Postfix and Dovecot share the cores: filing a backlog
//! while sending its answers makes both go at half speed, and every report waits longer
//! to be filed (and flagged done on the server). So while a backlog is filed the mailer
//! holds its sends, at most [`HOLD`] in a row: the mail is taken in at full speed, then
//! answered at full speed, acknowledgements first. A flood that never ends still gets
//! its answers, after [`HOLD`].

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// The longest the mailer waits for a backlog to be filed before it sends anyway.
pub const HOLD: Duration = Duration::from_secs(30);

/// Shared by the ingest (which begins and ends a catch-up) and the mailer.
#[derive(Debug, Clone, Default)]
pub struct CatchUp {
    /// How many catch-ups are under way (one inbox today; a count keeps it honest).
    active: Arc<AtomicUsize>,
    ended: Arc<Notify>,
}

/// Ends the catch-up when dropped, however the sync ends (done, an error, a panic).
#[derive(Debug)]
pub struct CatchingUp(CatchUp);

impl Drop for CatchingUp {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
        self.0.ended.notify_waiters();
    }
}

impl CatchUp {
    /// A backlog begins; it ends when the returned guard is dropped.
    pub fn begin(&self) -> CatchingUp {
        self.active.fetch_add(1, Ordering::SeqCst);
        CatchingUp(self.clone())
    }

    pub fn is_on(&self) -> bool {
        self.active.load(Ordering::SeqCst) > 0
    }

    /// Returns once no catch-up is under way, or after `at_most`; true when it ended.
    pub async fn ended_within(&self, at_most: Duration) -> bool {
        let wait = async {
            loop {
                let ended = self.ended.notified();
                tokio::pin!(ended);
                ended.as_mut().enable();
                if !self.is_on() {
                    return;
                }
                ended.await;
            }
        };
        tokio::time::timeout(at_most, wait).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_wait_ends_with_the_catch_up_or_after_the_limit() {
        let c = CatchUp::default();
        assert!(
            c.ended_within(Duration::from_secs(1)).await,
            "none under way"
        );
        let guard = c.begin();
        assert!(c.is_on());
        assert!(
            !c.ended_within(Duration::from_millis(50)).await,
            "still under way after the limit"
        );
        let waiter = {
            let c = c.clone();
            tokio::spawn(async move { c.ended_within(Duration::from_secs(3600)).await })
        };
        tokio::task::yield_now().await;
        drop(guard);
        assert!(waiter.await.unwrap(), "ended when the guard went");
        assert!(!c.is_on());
    }
}
