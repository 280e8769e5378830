//! The runner's drain as the parts working on requests and tasks see it: serving, then
//! draining (no new work; work in progress goes on), then released (the grace period is over:
//! what still runs gives its work back).

use tokio::sync::watch;

/// Where the drain stands; the phases only move forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    /// Taking new work.
    Serving,
    /// Shutting down: no new work is taken; work in progress may finish.
    Draining,
    /// The grace period is over: work still in progress is handed back.
    Released,
}

/// Moves the drain forward (held by the runner).
pub(crate) struct DrainControl(watch::Sender<Phase>);

/// Watches the drain (held by every part doing work).
#[derive(Clone)]
pub(crate) struct DrainSignal(watch::Receiver<Phase>);

/// A new drain, serving.
pub(crate) fn channel() -> (DrainControl, DrainSignal) {
    let (tx, rx) = watch::channel(Phase::Serving);
    (DrainControl(tx), DrainSignal(rx))
}

impl DrainControl {
    /// Enters `phase` unless the drain is already there or past it.
    pub(crate) fn enter(&self, phase: Phase) {
        self.0.send_if_modified(|current| {
            let forward = phase > *current;
            if forward {
                *current = phase;
            }
            forward
        });
    }
}

impl DrainSignal {
    /// The phase now.
    pub(crate) fn phase(&self) -> Phase {
        *self.0.borrow()
    }

    /// Completes once the drain has reached `phase`, or its control is gone (the runner has
    /// stopped, so everything is released).
    pub(crate) async fn reached(&mut self, phase: Phase) {
        // An error means the control was dropped: treated as the end of the drain.
        let _ = self.0.wait_for(|current| *current >= phase).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn phases_only_move_forward_and_are_seen_by_every_watcher() {
        let (control, mut signal) = channel();
        let mut other = signal.clone();
        assert_eq!(signal.phase(), Phase::Serving);
        control.enter(Phase::Released);
        control.enter(Phase::Draining);
        assert_eq!(signal.phase(), Phase::Released);
        signal.reached(Phase::Draining).await;
        other.reached(Phase::Released).await;
        drop(control);
        let (control, mut signal) = channel();
        drop(control);
        signal.reached(Phase::Released).await;
    }
}
