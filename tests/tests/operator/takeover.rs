//! Two operator replicas share a Lease: one reconciles, the other takes over when it dies; an
//! operator restarted half-way converges without duplicates or orphans.

use std::time::Duration;

use agentry_crds::AgentPhase;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::Api;
use kube::api::ListParams;

use crate::harness::{CONVERGE, POLL, World, apply};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_reconciles_and_a_standby_takes_over() {
    let world = World::start("leader").await;
    let first = world.start_operator(Some("replica-a")).await;
    let deadline = tokio::time::Instant::now() + CONVERGE;
    while !first.leading() {
        assert!(tokio::time::Instant::now() < deadline, "replica-a never led");
        tokio::time::sleep(POLL).await;
    }
    let second = world.start_operator(Some("replica-b")).await;
    world.apply_samples().await;
    world.wait_agent("finance-officer", AgentPhase::Ready).await;
    assert!(first.leading() && !second.leading(), "exactly one replica leads");
    let leases: Api<Lease> = Api::namespaced(world.client.clone(), &world.ns);
    let holder = leases.get("agentry-operator").await.expect("lease").spec.and_then(|s| s.holder_identity);
    assert_eq!(holder.as_deref(), Some("replica-a"));
    let reconciles = |p: &crate::harness::OperatorProcess| {
        p.handles.metrics.reconciles.with_label_values(&["agent"]).get()
    };
    assert_eq!(reconciles(&second), 0, "the standby reconciled nothing");

    first.kill();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !second.leading() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "replica-b did not take over within the lease duration"
        );
        tokio::time::sleep(POLL).await;
    }
    let agent = serde_json::json!({
        "apiVersion": "agentry.dev/v1alpha1", "kind": "Agent",
        "metadata": {"name": "late-joiner", "namespace": world.ns},
        "spec": {"role": "worker", "modelRef": "gpt-4o-mini"}
    });
    apply(&world.client, &agent).await;
    world.wait_agent("late-joiner", AgentPhase::Ready).await;
    assert!(reconciles(&second) > 0);

    // A graceful stop releases the Lease at once rather than letting it expire.
    second.stop().await;
    let holder = leases.get("agentry-operator").await.expect("lease").spec.and_then(|s| s.holder_identity);
    assert_eq!(holder, None, "the Lease is released on a graceful stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_restarted_half_way_converges_without_duplicates() {
    let world = World::start("restart").await;
    let first = world.start_operator(None).await;
    // Without the MemoryStore: its migration would only slow this test, whose subject is the
    // Agents' children (the MemoryStore has its own tests).
    world.apply_samples_without_memory().await;
    let deployments: Api<Deployment> = Api::namespaced(world.client.clone(), &world.ns);
    let deadline = tokio::time::Instant::now() + CONVERGE;
    while deployments.list(&ListParams::default()).await.expect("list").items.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no Deployment was ever written");
        tokio::time::sleep(POLL).await;
    }
    first.kill();
    let _second = world.start_operator(None).await;
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
