//! The leader Lease against devcluster: a standby waits a whole Lease duration from when it saw
//! the holder's last renewal; a holder cut off from the API server steps down within its renew
//! deadline, before its Lease can pass, and campaigns again once the API server is back.

use std::time::Duration;

use agentry_devcluster::DevCluster;
use agentry_operator::runtime::election::Election;
use agentry_operator::runtime::lease_lock::{Attempt, LeaseLock, LeaseTiming};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use tokio::sync::watch;
use tokio::time::Instant;

const POLL: Duration = Duration::from_millis(20);

fn timing() -> LeaseTiming {
    LeaseTiming::new(Duration::from_secs(2), Duration::from_millis(1000), Duration::from_millis(200))
        .expect("valid")
}

async fn leases() -> (DevCluster, Api<Lease>) {
    let cluster = DevCluster::start().await.expect("devcluster");
    let api = Api::namespaced(cluster.client(), "default");
    (cluster, api)
}

async fn attempt(lock: &mut LeaseLock) -> Attempt {
    lock.try_acquire_or_renew().await.expect("the API answers")
}

async fn wait_leading(leading: &mut watch::Receiver<bool>, want: bool, within: Duration) {
    let waited = tokio::time::timeout(within, leading.wait_for(|l| *l == want)).await;
    assert!(matches!(waited, Ok(Ok(_))), "leading never became {want} within {within:?}");
}

#[tokio::test]
async fn a_standby_takes_over_only_a_lease_duration_after_it_saw_the_last_renewal() {
    let (_cluster, api) = leases().await;
    let mut a = LeaseLock::new(api.clone(), "leader", "a", timing());
    let mut b = LeaseLock::new(api.clone(), "leader", "b", timing());
    assert_eq!(attempt(&mut a).await, Attempt::Held);
    assert_eq!(attempt(&mut b).await, Attempt::HeldBy("a".into()));
    // A renewal restarts the standby's count: it sees a new version.
    assert_eq!(attempt(&mut a).await, Attempt::Held);
    assert_eq!(attempt(&mut b).await, Attempt::HeldBy("a".into()));
    let seen = Instant::now();
    let deadline = seen + Duration::from_secs(10);
    while attempt(&mut b).await != Attempt::Held {
        assert!(Instant::now() < deadline, "b never took the expired Lease");
        tokio::time::sleep(POLL).await;
    }
    assert!(seen.elapsed() >= timing().duration, "b took over {:?} after the renewal", seen.elapsed());
    // The old holder sees a fresh version, so b's Lease is valid to it.
    assert_eq!(attempt(&mut a).await, Attempt::HeldBy("b".into()));
    let spec = api.get("leader").await.expect("lease").spec.unwrap_or_default();
    assert_eq!((spec.holder_identity.as_deref(), spec.lease_transitions), (Some("b"), Some(1)));
    assert_eq!(spec.lease_duration_seconds, Some(2));

    // Released, it is free at once.
    b.release().await.expect("released");
    assert_eq!(attempt(&mut a).await, Attempt::Held);
}

#[tokio::test]
async fn a_write_since_the_read_loses_the_race() {
    let (_cluster, api) = leases().await;
    let mut a = LeaseLock::new(api.clone(), "leader", "a", timing());
    assert_eq!(attempt(&mut a).await, Attempt::Held);
    let mut lease = api.get("leader").await.expect("lease");
    // Another writer gets in between; a write based on the version read before is refused.
    lease.spec.get_or_insert_default().holder_identity = Some("intruder".into());
    api.replace("leader", &Default::default(), &lease).await.expect("replaced");
    let mut stale = lease.clone();
    stale.spec.get_or_insert_default().holder_identity = Some("late".into());
    let refused = api.replace("leader", &Default::default(), &stale).await;
    assert!(matches!(refused, Err(kube::Error::Api(s)) if s.code == 409), "a stale write is refused");
    assert_eq!(attempt(&mut a).await, Attempt::HeldBy("intruder".into()));
}

#[tokio::test]
async fn a_leader_cut_off_from_the_api_steps_down_within_its_renew_deadline_and_campaigns_again() {
    let (cluster, api) = leases().await;
    let election = Election::start(LeaseLock::new(api.clone(), "leader", "a", timing()), timing())
        .await
        .expect("started");
    let mut leading = election.leading();
    wait_leading(&mut leading, true, Duration::from_secs(5)).await;

    cluster.set_available(false);
    let cut = Instant::now();
    wait_leading(&mut leading, false, timing().duration).await;
    let stepped_down = cut.elapsed();
    // The last renewal started before the cut, so the deadline fell within a renew deadline of
    // it (give or take the wake-up).
    let slack = Duration::from_millis(200);
    assert!(stepped_down <= timing().renew_deadline + slack, "stepped down {stepped_down:?} after the cut");

    cluster.set_available(true);
    wait_leading(&mut leading, true, Duration::from_secs(5)).await;
    election.stop().await;
    let spec = api.get("leader").await.expect("lease").spec.unwrap_or_default();
    assert_eq!(spec.holder_identity, None, "a graceful stop releases the Lease");
}
