//! Two operator replicas and an API server outage longer than the Lease: the leader, unable to
//! renew, stops reconciling before its Lease could pass to the other replica; while the API is
//! away nobody leads; once it is back exactly one replica leads and reconciles.

use std::time::Duration;

use agentry_crds::AgentPhase;
use agentry_tests::operator_process::OperatorProcess;
use agentry_tests::operator_world::{POLL, World, apply};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use tokio::time::Instant;

/// Seconds the Lease is valid without renewal.
const LEASE_SECONDS: u64 = 6;
/// The leader steps down after this long without a successful renewal.
const RENEW_DEADLINE_SECONDS: &str = "3";
/// How often the leader renews.
const RETRY_PERIOD_SECONDS: &str = "0.5";

async fn lease(world: &World) -> LeaseSpec {
    let leases: Api<Lease> = Api::namespaced(world.client.clone(), &world.ns);
    leases.get("agentry-operator").await.expect("lease").spec.unwrap_or_default()
}

async fn start(world: &World, identity: &str) -> OperatorProcess {
    let mut options = world.operator_options().replica(identity, &world.ns, LEASE_SECONDS);
    options.extra_args = ["--lease-renew-deadline-seconds", RENEW_DEADLINE_SECONDS]
        .into_iter()
        .chain(["--lease-retry-period-seconds", RETRY_PERIOD_SECONDS])
        .map(String::from)
        .collect();
    world.start_operator_with(&options).await
}

async fn agent_reconciles(replica: &OperatorProcess) -> f64 {
    replica.reconciles("agent").await.expect("metrics")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_the_api_stops_before_its_lease_can_pass_and_one_replica_leads_after() {
    let world = World::start("outage").await;
    let a = start(&world, "replica-a").await;
    world.eventually("replica-a leads", || async { a.leading().await.then_some(()) }).await;
    let b = start(&world, "replica-b").await;
    world.apply_samples_without_memory().await;
    world.wait_agent("finance-officer", AgentPhase::Ready).await;
    assert!(a.leading().await && !b.leading().await, "replica-a leads, replica-b stands by");

    // The leader renewed at or after this renewTime; its Lease lasts at least until `expiry`.
    let held = lease(&world).await;
    assert_eq!(held.holder_identity.as_deref(), Some("replica-a"));
    let renewed = held.renew_time.expect("renewTime").0;
    let lease_length = SignedDuration::from_secs(i64::try_from(LEASE_SECONDS).expect("short"));
    let expiry = renewed + lease_length;
    let cut = Instant::now();
    world.cluster().set_available(false);

    let lease_duration = Duration::from_secs(LEASE_SECONDS);
    world
        .eventually_within(lease_duration, "replica-a stops leading without the API", || async {
            (!a.leading().await).then_some(())
        })
        .await;
    let stopped = Timestamp::now();
    assert!(stopped < expiry, "replica-a stopped leading at {stopped}, after its Lease expired at {expiry}");
    assert!(cut.elapsed() < lease_duration, "replica-a stopped {:?} after the cut", cut.elapsed());
    let a_stopped_at = agent_reconciles(&a).await;
    let b_before = agent_reconciles(&b).await;
    assert_eq!(b_before, 0.0, "the standby reconciled nothing");

    // Twice the Lease without the API: nobody leads, and neither replica reconciles.
    let away = lease_duration * 2;
    while cut.elapsed() < away {
        world.check_operators();
        assert!(!a.leading().await, "replica-a leads again without the API");
        assert!(!b.leading().await, "replica-b leads without the API");
        assert_eq!(agent_reconciles(&a).await, a_stopped_at, "replica-a reconciled after stepping down");
        assert_eq!(agent_reconciles(&b).await, 0.0, "replica-b reconciled without the Lease");
        tokio::time::sleep(POLL).await;
    }
    world.cluster().set_available(true);

    let (leader, standby) = world
        .eventually("one replica leads once the API is back", || async {
            match (a.leading().await, b.leading().await) {
                (true, false) => Some((&a, &b)),
                (false, true) => Some((&b, &a)),
                _ => None,
            }
        })
        .await;
    let taken = lease(&world).await;
    assert_eq!(taken.holder_identity.as_deref(), Some(leader.name()), "the Lease names the leader");
    let leader_before = agent_reconciles(leader).await;
    let standby_before = agent_reconciles(standby).await;

    // Only the leader reconciles an Agent created now.
    let agent = serde_json::json!({
        "apiVersion": "agentry.dev/v1alpha1", "kind": "Agent",
        "metadata": {"name": "after-outage", "namespace": world.ns},
        "spec": {"role": "worker", "modelRef": "gpt-4o-mini"}
    });
    apply(&world.client, &agent).await;
    world.wait_agent("after-outage", AgentPhase::Ready).await;
    assert!(agent_reconciles(leader).await > leader_before, "{} reconciled the new Agent", leader.name());
    assert_eq!(agent_reconciles(standby).await, standby_before, "{} reconciled as a standby", standby.name());
    assert!(leader.leading().await && !standby.leading().await, "still exactly one leader");
}
