//! Leader election over a [`LeaseLock`], with client-go's semantics: a standby tries to acquire
//! every retry period; the holder renews every retry period and steps down once it has gone the
//! renew deadline without a successful renewal, measured on the monotonic clock from the start of
//! its last successful attempt. Since a standby waits a whole Lease duration from when it first
//! saw that renewal, and the renew deadline is shorter, the holder has stopped before anyone
//! else may lead. After stepping down it campaigns again.

use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::runtime::lease_lock::{Attempt, LeaseLock, LeaseTiming};

/// A running election: whether this replica leads, and a way to end it.
pub struct Election {
    leading: watch::Receiver<bool>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Election {
    /// Starts campaigning for `lock`'s Lease in the background, after a first attempt that
    /// fails when the API server refuses the Lease outright (403: no permission; 404: no such
    /// namespace): a misconfiguration that retrying cannot fix.
    pub async fn start(mut lock: LeaseLock, timing: LeaseTiming) -> Result<Self, kube::Error> {
        match lock.try_acquire_or_renew().await {
            Err(kube::Error::Api(status)) if matches!(status.code, 403 | 404) => {
                return Err(kube::Error::Api(status));
            }
            Err(err) => tracing::warn!(error = %err, "acquiring the leader Lease failed; retrying"),
            // The campaign renews a Lease this attempt took, as its own.
            Ok(_) => {}
        }
        let (leading_tx, leading) = watch::channel(false);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(campaign(lock, timing, leading_tx, stopped));
        Ok(Self { leading, stop, task })
    }

    /// `true` while this replica leads; it turns `false` no later than the renew deadline after
    /// the last successful renewal.
    pub fn leading(&self) -> watch::Receiver<bool> {
        self.leading.clone()
    }

    /// Ends the election, releasing the Lease if this replica holds it.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        if let Err(err) = self.task.await {
            tracing::warn!(error = %err, "the leader election task failed");
        }
    }
}

/// Why the holder stopped leading.
enum Stepdown {
    /// It was told to stop.
    Stopped,
    /// No renewal succeeded within the renew deadline.
    DeadlinePassed,
    /// Another replica holds the Lease.
    TakenOver(String),
}

async fn campaign(
    mut lock: LeaseLock,
    timing: LeaseTiming,
    leading: watch::Sender<bool>,
    mut stop: oneshot::Receiver<()>,
) {
    loop {
        let renewed = tokio::select! {
            _ = &mut stop => return,
            renewed = acquire(&mut lock, timing) => renewed,
        };
        tracing::info!(identity = lock.identity(), "acquired the leader Lease");
        leading.send_replace(true);
        let stepdown = tokio::select! {
            _ = &mut stop => Stepdown::Stopped,
            stepdown = keep(&mut lock, timing, renewed) => stepdown,
        };
        leading.send_replace(false);
        match stepdown {
            Stepdown::Stopped => {
                release(&mut lock, timing).await;
                return;
            }
            Stepdown::DeadlinePassed => tracing::warn!(
                identity = lock.identity(),
                renew_deadline = ?timing.renew_deadline,
                "could not renew the leader Lease within the renew deadline: stepped down"
            ),
            Stepdown::TakenOver(holder) => {
                tracing::warn!(identity = lock.identity(), %holder, "the leader Lease is held by another replica: stepped down");
            }
        }
    }
}

/// Tries every retry period (jittered, so standbys do not collide) until the Lease is this
/// replica's; returns when the successful attempt started.
async fn acquire(lock: &mut LeaseLock, timing: LeaseTiming) -> Instant {
    loop {
        let started = Instant::now();
        match lock.try_acquire_or_renew().await {
            Ok(Attempt::Held) => return started,
            Ok(Attempt::HeldBy(_) | Attempt::Contended) => {}
            Err(err) => tracing::warn!(error = %err, "acquiring the leader Lease failed; retrying"),
        }
        tokio::time::sleep(jittered(timing.retry_period)).await;
    }
}

/// Renews every retry period until a renewal has not succeeded for the renew deadline, or
/// another replica is seen holding the Lease. `renewed` is when the last successful attempt
/// started: the Lease was written no earlier than that.
async fn keep(lock: &mut LeaseLock, timing: LeaseTiming, mut renewed: Instant) -> Stepdown {
    loop {
        let deadline = renewed + timing.renew_deadline;
        let attempt = async {
            tokio::time::sleep(timing.retry_period).await;
            let started = Instant::now();
            (started, lock.try_acquire_or_renew().await)
        };
        // The deadline also cuts short an attempt hanging on an unreachable API server.
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => return Stepdown::DeadlinePassed,
            (started, result) = attempt => match result {
                Ok(Attempt::Held) => renewed = started,
                Ok(Attempt::HeldBy(holder)) => return Stepdown::TakenOver(holder),
                Ok(Attempt::Contended) => tracing::debug!("the leader Lease changed while renewing; retrying"),
                Err(err) => tracing::warn!(
                    error = %err,
                    left = ?deadline.saturating_duration_since(Instant::now()),
                    "renewing the leader Lease failed; retrying until the renew deadline"
                ),
            },
        }
    }
}

/// Gives the Lease up on a graceful stop, waiting no longer than the renew deadline.
async fn release(lock: &mut LeaseLock, timing: LeaseTiming) {
    match tokio::time::timeout(timing.renew_deadline, lock.release()).await {
        Ok(Ok(())) => tracing::info!(identity = lock.identity(), "released the leader Lease"),
        Ok(Err(err)) => tracing::warn!(error = %err, "releasing the leader Lease failed"),
        Err(_) => tracing::warn!("releasing the leader Lease timed out"),
    }
}

/// `period` plus up to a fifth more, at random.
fn jittered(period: Duration) -> Duration {
    period + period.mul_f64(rand::random::<f64>() * 0.2)
}
