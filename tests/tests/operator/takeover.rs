//! Two operator processes share a Lease: one reconciles; when it is killed the other takes over,
//! but only once the dead leader's Lease has expired. An operator killed half-way and started
//! again converges without duplicates or orphans.

use std::time::Duration;

use agentry_crds::AgentPhase;
use agentry_tests::operator_world::{World, apply, condition};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use kube::api::ListParams;

/// Seconds the Lease is valid without renewal: short, to keep the test short.
const LEASE_SECONDS: u64 = 3;

async fn lease(world: &World) -> LeaseSpec {
    let leases: Api<Lease> = Api::namespaced(world.client.clone(), &world.ns);
    leases.get("agentry-operator").await.expect("lease").spec.unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced_only_once_its_lease_expires() {
    let world = World::start("leader").await;
    let mut first = world.start_replica("replica-a", LEASE_SECONDS).await;
    world.eventually("replica-a leads", || async { first.leading().await.then_some(()) }).await;
    let second = world.start_replica("replica-b", LEASE_SECONDS).await;
    world.apply_samples_without_memory().await;
    world.wait_agent("finance-officer", AgentPhase::Ready).await;
    assert!(first.leading().await, "replica-a still leads");
    assert!(!second.leading().await, "replica-b stands by");
    // Both serve the HTTP API, so both are ready: a Service routes to the standby too.
    assert!(first.ready().await, "the leader is ready");
    world.eventually("the standby is ready", || async { second.ready().await.then_some(()) }).await;
    assert_eq!(lease(&world).await.holder_identity.as_deref(), Some("replica-a"));
    assert!(first.reconciles("agent").await.expect("metrics") > 0.0);
    assert_eq!(second.reconciles("agent").await.expect("metrics"), 0.0, "the standby reconciled nothing");

    // SIGKILL: the leader releases nothing, so the Lease says what it said at its last renewal.
    first.kill().await.expect("replica-a killed");
    let held = lease(&world).await;
    assert_eq!(held.holder_identity.as_deref(), Some("replica-a"), "a killed leader releases nothing");
    let renewed = held.renew_time.expect("renewTime").0;
    let duration = held.lease_duration_seconds.expect("leaseDurationSeconds");
    assert_eq!(i64::from(duration), i64::try_from(LEASE_SECONDS).expect("a short lease"));
    let expiry = renewed + SignedDuration::from_secs(i64::from(duration));
    let transitions = held.lease_transitions.unwrap_or(0);

    // An Agent created while no replica leads waits for the standby to take over.
    let agent = serde_json::json!({
        "apiVersion": "agentry.dev/v1alpha1", "kind": "Agent",
        "metadata": {"name": "late-joiner", "namespace": world.ns},
        "spec": {"role": "worker", "modelRef": "gpt-4o-mini"}
    });
    apply(&world.client, &agent).await;
    world
        .eventually_within(Duration::from_secs(LEASE_SECONDS * 3 + 10), "replica-b takes over", || async {
            second.leading().await.then_some(())
        })
        .await;
    let taken = lease(&world).await;
    assert_eq!(taken.holder_identity.as_deref(), Some("replica-b"));
    assert_eq!(taken.lease_transitions, Some(transitions + 1));
    let acquired = taken.acquire_time.expect("acquireTime").0;
    assert!(
        acquired >= expiry,
        "replica-b acquired the Lease at {acquired}, before it expired at {expiry} (renewed {renewed})"
    );

    let joined = world.wait_agent("late-joiner", AgentPhase::Ready).await;
    // Nobody reconciled it before the Lease expired: its first status is the new leader's.
    let first_seen = condition(joined, "ModelResolved").last_transition_time.0;
    let expiry_second = Timestamp::from_second(expiry.as_second()).expect("a valid time");
    assert!(first_seen >= expiry_second, "late-joiner was reconciled at {first_seen}, before {expiry}");
    assert!(second.reconciles("agent").await.expect("metrics") > 0.0);

    // SIGTERM: a graceful stop releases the Lease at once rather than letting it expire.
    second.stop(Duration::from_secs(20)).await.expect("replica-b stops cleanly");
    assert_eq!(lease(&world).await.holder_identity, None, "the Lease is released on a graceful stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_killed_half_way_converges_without_duplicates_once_restarted() {
    let world = World::start("restart").await;
    let mut first = world.start_operator().await;
    // Without the MemoryStore: its migration would only slow this test, whose subject is the
    // Agents' children (the MemoryStore has its own tests).
    world.apply_samples_without_memory().await;
    let deployments: Api<Deployment> = Api::namespaced(world.client.clone(), &world.ns);
    world
        .eventually("a first Deployment is written", || async {
            let list = deployments.list(&ListParams::default()).await.ok()?;
            (!list.items.is_empty()).then_some(())
        })
        .await;
    first.kill().await.expect("killed");
    let _second = world.start_operator().await;
    for name in ["fleet-manager", "finance-officer", "sales-agent"] {
        world.wait_agent(name, AgentPhase::Ready).await;
    }
    let managed = ListParams::default().labels("app.kubernetes.io/managed-by=agentry-operator");
    let names = |items: Vec<String>| {
        let mut items = items;
        items.sort();
        items
    };
    let d = names(
        deployments
            .list(&managed)
            .await
            .expect("list")
            .items
            .into_iter()
            .filter_map(|d| d.metadata.name)
            .collect(),
    );
    assert_eq!(d, ["finance-officer", "fleet-manager", "sales-agent"]);
    let c = names(
        Api::<ConfigMap>::namespaced(world.client.clone(), &world.ns)
            .list(&managed)
            .await
            .expect("list")
            .items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect(),
    );
    assert_eq!(c, ["finance-officer-runner", "fleet-manager-runner", "sales-agent-runner"]);
    let s = Api::<Service>::namespaced(world.client.clone(), &world.ns)
        .list(&managed)
        .await
        .expect("list")
        .items
        .len();
    assert_eq!(s, 3);
}
