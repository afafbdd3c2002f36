//! The one way "stop" reaches the loops (the shape of mini-redis's `Shutdown`): the
//! daemon holds the [`Trigger`], each loop a [`Shutdown`] it checks between units of
//! work or races against a wait.
//!
//! Invariant: nothing here interrupts a unit of work; a loop looks only where it may stop.

use std::time::Duration;
use tokio::sync::watch;

/// Asks every [`Shutdown`] made with it to stop.
#[derive(Debug)]
pub struct Trigger(watch::Sender<bool>);

impl Trigger {
    pub fn fire(&self) {
        let _ = self.0.send(true);
    }
}

/// A loop's view of "stop": cheap to clone, checked between units of work.
#[derive(Debug, Clone)]
pub struct Shutdown {
    /// `None`: never asked (one-shot tools and tests).
    rx: Option<watch::Receiver<bool>>,
}

/// A trigger and the first of its handles.
pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (Trigger(tx), Shutdown { rx: Some(rx) })
}

impl Shutdown {
    /// A handle that is never asked to stop.
    pub fn never() -> Shutdown {
        Shutdown { rx: None }
    }

    /// Whether stop was asked.
    pub fn is_requested(&self) -> bool {
        self.rx.as_ref().is_some_and(|rx| *rx.borrow())
    }

    /// Completes when stop is asked (or the trigger is gone); never for [`Shutdown::never`].
    pub async fn requested(&mut self) {
        match &mut self.rx {
            Some(rx) => {
                let _ = rx.wait_for(|stop| *stop).await;
            }
            None => std::future::pending().await,
        }
    }

    /// Sleeps for `d`; true when it ended because stop was asked.
    pub async fn pause(&mut self, d: Duration) -> bool {
        if self.is_requested() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => self.is_requested(),
            _ = self.requested() => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_pause_ends_early_when_stop_is_asked() {
        let (trigger, mut shutdown) = channel();
        assert!(!shutdown.pause(Duration::from_millis(1)).await);
        trigger.fire();
        assert!(shutdown.is_requested());
        assert!(shutdown.pause(Duration::from_secs(3600)).await);
        assert!(!Shutdown::never().is_requested());
    }
}
