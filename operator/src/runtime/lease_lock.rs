//! The leader Lease (`coordination.k8s.io/v1`) as a lock: taken, renewed and released by
//! replacing the object guarded by its `resourceVersion`, so of two replicas writing the same
//! version only one succeeds.
//!
//! Expiry is judged as client-go judges it, on this process's monotonic clock: another holder's
//! Lease counts as expired once `leaseDurationSeconds` have passed since this replica first saw
//! its current version. Clock skew between nodes then does not matter, and a takeover always
//! comes at least a Lease duration after the holder's last successful renewal.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;
use tokio::time::Instant;

/// The timing of an election, as client-go's `LeaderElectionConfig` has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseTiming {
    /// How long a Lease is valid without renewal: the longest a standby waits to take over.
    pub duration: Duration,
    /// How long the holder keeps leading without a successful renewal; shorter than `duration`,
    /// so the holder has stopped before anyone may take over.
    pub renew_deadline: Duration,
    /// How often the holder renews, and a standby tries to acquire.
    pub retry_period: Duration,
}

/// Timings that cannot give safe leader election.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LeaseTimingError {
    /// The Lease records its duration in whole seconds.
    #[error("the lease duration must be a whole number of seconds from 1 to 2147483647, got {0:?}")]
    Duration(Duration),
    /// The holder must stop before its Lease can pass to another replica.
    #[error("the renew deadline ({deadline:?}) must be shorter than the lease duration ({duration:?})")]
    RenewDeadline {
        /// The renew deadline asked for.
        deadline: Duration,
        /// The Lease duration.
        duration: Duration,
    },
    /// At least one renewal must fit within the deadline.
    #[error(
        "the retry period ({period:?}) must be above zero and shorter than the renew deadline ({deadline:?})"
    )]
    RetryPeriod {
        /// The retry period asked for.
        period: Duration,
        /// The renew deadline.
        deadline: Duration,
    },
}

impl LeaseTiming {
    /// Checks that `renew_deadline < duration` and `0 < retry_period < renew_deadline`.
    pub fn new(
        duration: Duration,
        renew_deadline: Duration,
        retry_period: Duration,
    ) -> Result<Self, LeaseTimingError> {
        let whole = duration.subsec_nanos() == 0 && duration.as_secs() >= 1;
        if !whole || i32::try_from(duration.as_secs()).is_err() {
            return Err(LeaseTimingError::Duration(duration));
        }
        if renew_deadline >= duration {
            return Err(LeaseTimingError::RenewDeadline { deadline: renew_deadline, duration });
        }
        if retry_period.is_zero() || retry_period >= renew_deadline {
            return Err(LeaseTimingError::RetryPeriod { period: retry_period, deadline: renew_deadline });
        }
        Ok(Self { duration, renew_deadline, retry_period })
    }

    /// client-go's proportions for a Lease of `seconds` (15 s gives 10 s and 2 s): the renew
    /// deadline two thirds of it, the retry period a fifth of that.
    pub fn for_duration(seconds: u64) -> Result<Self, LeaseTimingError> {
        let duration = Duration::from_secs(seconds);
        let renew_deadline = duration * 2 / 3;
        Self::new(duration, renew_deadline, renew_deadline / 5)
    }

    fn duration_seconds(&self) -> i32 {
        // `new` checked that it fits.
        i32::try_from(self.duration.as_secs()).unwrap_or(i32::MAX)
    }
}

/// The version of the Lease this replica last saw, and when it first saw it.
#[derive(Clone, Debug)]
struct Observed {
    resource_version: Option<String>,
    at: Instant,
}

/// Who holds the Lease after an attempt to take or renew it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// This replica: it was written with a fresh `renewTime`.
    Held,
    /// Another replica, whose Lease has not expired.
    HeldBy(String),
    /// Someone wrote the Lease between this replica's read and write; try again.
    Contended,
}

/// One replica's handle on the leader Lease.
pub struct LeaseLock {
    api: Api<Lease>,
    name: String,
    identity: String,
    timing: LeaseTiming,
    observed: Option<Observed>,
}

impl LeaseLock {
    /// A lock on Lease `name` in `api`'s namespace for this replica, `identity`.
    pub fn new(api: Api<Lease>, name: &str, identity: &str, timing: LeaseTiming) -> Self {
        Self { api, name: name.into(), identity: identity.into(), timing, observed: None }
    }

    /// This replica's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Takes the Lease when it is free, expired or already ours, and renews it then.
    pub async fn try_acquire_or_renew(&mut self) -> Result<Attempt, kube::Error> {
        let current = match self.api.get_opt(&self.name).await? {
            Some(current) => current,
            None => return self.create().await,
        };
        let spec = current.spec.clone().unwrap_or_default();
        let resource_version = current.metadata.resource_version.clone();
        let seen_at = self.observe(resource_version.clone());
        let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty());
        let valid_for =
            Duration::from_secs(u64::try_from(spec.lease_duration_seconds.unwrap_or(0)).unwrap_or(0));
        if let Some(other) = holder.filter(|h| *h != self.identity)
            && seen_at.elapsed() < valid_for
        {
            return Ok(Attempt::HeldBy(other.to_owned()));
        }
        let now = MicroTime(Timestamp::now());
        let renewed = if holder == Some(self.identity.as_str()) {
            LeaseSpec {
                renew_time: Some(now),
                lease_duration_seconds: Some(self.timing.duration_seconds()),
                ..spec
            }
        } else {
            LeaseSpec {
                holder_identity: Some(self.identity.clone()),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_duration_seconds: Some(self.timing.duration_seconds()),
                lease_transitions: Some(spec.lease_transitions.unwrap_or(0).saturating_add(1)),
                ..spec
            }
        };
        self.replace(current, renewed).await
    }

    /// Gives the Lease up if this replica holds it, so a standby need not wait for it to expire.
    pub async fn release(&mut self) -> Result<(), kube::Error> {
        let Some(current) = self.api.get_opt(&self.name).await? else { return Ok(()) };
        let spec = current.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        let released = LeaseSpec {
            holder_identity: None,
            // As client-go releases: a standby seeing the new version waits only a second.
            lease_duration_seconds: Some(1),
            renew_time: Some(MicroTime(Timestamp::now())),
            ..spec
        };
        self.replace(current, released).await.map(drop)
    }

    /// Notes `resource_version` as seen; returns when this replica first saw it.
    fn observe(&mut self, resource_version: Option<String>) -> Instant {
        match &self.observed {
            Some(seen) if seen.resource_version == resource_version => seen.at,
            _ => {
                let at = Instant::now();
                self.observed = Some(Observed { resource_version, at });
                at
            }
        }
    }

    async fn create(&mut self) -> Result<Attempt, kube::Error> {
        let now = MicroTime(Timestamp::now());
        let lease = Lease {
            metadata: ObjectMeta { name: Some(self.name.clone()), ..ObjectMeta::default() },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.identity.clone()),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_duration_seconds: Some(self.timing.duration_seconds()),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        match self.api.create(&PostParams::default(), &lease).await {
            Ok(created) => {
                self.observe(created.metadata.resource_version);
                Ok(Attempt::Held)
            }
            // Another replica created it first.
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(Attempt::Contended),
            Err(err) => Err(err),
        }
    }

    /// Writes `spec` over `current`, only if no one has written the Lease since it was read.
    async fn replace(&mut self, current: Lease, spec: LeaseSpec) -> Result<Attempt, kube::Error> {
        let lease = Lease { spec: Some(spec), ..current };
        match self.api.replace(&self.name, &PostParams::default(), &lease).await {
            Ok(written) => {
                self.observe(written.metadata.resource_version);
                Ok(Attempt::Held)
            }
            // Someone wrote it since it was read: they win this round.
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(Attempt::Contended),
            Err(err) => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_renew_deadline_must_be_shorter_than_the_lease() {
        let s = Duration::from_secs;
        assert!(LeaseTiming::new(s(15), s(10), s(2)).is_ok());
        assert_eq!(
            LeaseTiming::new(s(15), s(15), s(2)),
            Err(LeaseTimingError::RenewDeadline { deadline: s(15), duration: s(15) })
        );
        assert!(matches!(LeaseTiming::new(s(15), s(10), s(10)), Err(LeaseTimingError::RetryPeriod { .. })));
        assert!(matches!(LeaseTiming::new(s(15), s(10), s(0)), Err(LeaseTimingError::RetryPeriod { .. })));
        assert!(matches!(
            LeaseTiming::new(Duration::from_millis(1500), s(1), Duration::from_millis(100)),
            Err(LeaseTimingError::Duration(_))
        ));
        assert!(matches!(LeaseTiming::new(s(0), s(0), s(0)), Err(LeaseTimingError::Duration(_))));
    }

    #[test]
    fn client_go_proportions_by_default() {
        let timing = LeaseTiming::for_duration(15).expect("valid");
        assert_eq!(timing.renew_deadline, Duration::from_secs(10));
        assert_eq!(timing.retry_period, Duration::from_secs(2));
        let short = LeaseTiming::for_duration(3).expect("valid");
        assert_eq!(short.renew_deadline, Duration::from_secs(2));
        assert_eq!(short.retry_period, Duration::from_millis(400));
        assert!(LeaseTiming::for_duration(0).is_err());
    }
}
