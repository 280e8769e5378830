//! Degrade, don't block, through the operator: an Agent bound to a MemoryStore whose PostgreSQL
//! goes down stays Ready and answers without long-term memory, with `MemoryBound=False` saying
//! why; when the database returns, the binding and the memories come back, without a rollout.

use std::time::Duration;

use agentry_crds::Agent;
use agentry_memory::{Embedder, HashingEmbedder, MemoryScope, MemoryStore, NewMemory, StoreOptions};
use agentry_tests::operator_world::{World, condition_of};
use agentry_tests::private_postgres::PrivatePostgres;
use agentry_tests::runner_fixture::ask_agent;
use agentry_tests::scripted_model::Step;
use kube::Api;

/// Long enough for the MemoryStore controller's refresh (30 s) or its retry backoff (at most
/// 60 s) to see the database change, plus the Agent's reconcile.
const STORE_NOTICES: Duration = Duration::from_secs(150);
const FACT: &str = "The loading dock closes at 18:00 on Fridays.";
const QUESTION: &str = "When does the loading dock close on Fridays?";

async fn apply_manifests(world: &World, uri: &str, schema: &str) {
    let ns = &world.ns;
    let docs = [
        serde_json::json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "outage-db", "namespace": ns}, "stringData": {"uri": uri}}),
        serde_json::json!({"apiVersion": "agentry.dev/v1alpha1", "kind": "MemoryStore",
            "metadata": {"name": "notes", "namespace": ns},
            "spec": {"postgres": {"connectionSecretRef": {"name": "outage-db", "key": "uri"}, "schema": schema},
                     "embedding": {"provider": "hashing", "dimensions": 256}}}),
        serde_json::json!({"apiVersion": "agentry.dev/v1alpha1", "kind": "Model",
            "metadata": {"name": "scripted", "namespace": ns},
            "spec": {"provider": "openai-compatible", "model": "m", "baseUrl": world.model.base_url()}}),
        serde_json::json!({"apiVersion": "agentry.dev/v1alpha1", "kind": "Agent",
            "metadata": {"name": "keeper", "namespace": ns},
            "spec": {"role": "worker", "modelRef": "scripted", "systemPrompt": "You keep the site.",
                     "memory": {"storeRef": "notes", "topK": 3}}}),
    ];
    for doc in docs {
        world.apply(&doc).await;
    }
}

/// Asks `keeper` the question; the system prompt the model got for it.
async fn ask_keeper(world: &World) -> String {
    let before = world.model.request_count();
    let reply = ask_agent(&world.nats, &world.ns, "keeper", QUESTION).await;
    assert_eq!(reply.error, None, "{reply:?}");
    let requests = world.model.requests();
    assert_eq!(requests.len(), before + 1, "one model call per question");
    requests[before]["messages"][0]["content"].as_str().unwrap_or_default().to_string()
}

/// The Agent's `Ready` and `MemoryBound` as (status, reason) pairs.
async fn conditions(world: &World) -> ((String, String), (String, String)) {
    let agent = Api::<Agent>::namespaced(world.client.clone(), &world.ns).get("keeper").await.expect("agent");
    let pair = |type_| {
        condition_of(&agent, type_).map(|c| (format!("{:?}", c.status), c.reason)).unwrap_or_default()
    };
    (pair("Ready"), pair("MemoryBound"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_whose_memory_store_goes_down_stays_ready_and_remembers_again_when_it_returns() {
    let postgres = PrivatePostgres::start().await.expect("private PostgreSQL");
    let world = World::start("mem-outage").await;
    let _operator = world.start_operator().await;
    let schema = format!("agentry_{}", world.ns.replace('-', "_"));
    apply_manifests(&world, &postgres.admin_url(), &schema).await;
    world.model.set_default(Step::text("Noted."));
    world.wait_reason::<agentry_crds::MemoryStore>("notes", "Ready", "Migrated").await;
    world.wait_reason::<Agent>("keeper", "MemoryBound", "Resolved").await;
    world.wait_reason::<Agent>("keeper", "Ready", "RunnersAvailable").await;
    let pool = agentry_memory::store::pool(&postgres.admin_url(), &schema, 1).expect("pool");
    let embedder = Embedder::Hashing(HashingEmbedder::new(256).expect("embedder"));
    let store = MemoryStore::open(pool, embedder, StoreOptions::new(256)).await.expect("open");
    store
        .remember(&MemoryScope::agent(&world.ns, "keeper"), &NewMemory::semantic(FACT))
        .await
        .expect("remember");
    drop(store);
    let prompt = ask_keeper(&world).await;
    assert!(prompt.contains(FACT), "the runner recalls from the store: {prompt}");
    let hash = world
        .wait_agent_where("keeper", "a config hash", |a| {
            a.status.as_ref().is_some_and(|s| s.config_hash.is_some())
        })
        .await;
    let hash = hash.status.and_then(|s| s.config_hash);

    postgres.stop().expect("stop PostgreSQL");
    let prompt = ask_keeper(&world).await;
    assert!(!prompt.contains(FACT) && prompt.starts_with("You keep the site."), "{prompt}");
    let unbound = world
        .eventually_within(STORE_NOTICES, "MemoryBound=False while the Agent stays Ready", || async {
            let (ready, bound) = conditions(&world).await;
            (bound.0 == "False").then_some((ready, bound))
        })
        .await;
    assert_eq!(unbound.1.1, "MemoryStoreNotReady");
    assert_eq!(unbound.0, ("True".to_string(), "RunnersAvailable".to_string()), "the Agent stays Ready");
    let message = world.wait_reason::<Agent>("keeper", "MemoryBound", "MemoryStoreNotReady").await.message;
    assert!(message.contains("Unreachable") && message.contains("without long-term memory"), "{message}");
    let prompt = ask_keeper(&world).await;
    assert!(!prompt.contains(FACT), "still answered, without memory: {prompt}");

    postgres.revive().await.expect("revive PostgreSQL");
    world
        .eventually_within(STORE_NOTICES, "MemoryBound=True again", || async {
            (conditions(&world).await.1.0 == "True").then_some(())
        })
        .await;
    world
        .eventually_within(STORE_NOTICES, "the memory recalled again", || async {
            ask_keeper(&world).await.contains(FACT).then_some(())
        })
        .await;
    let after = world.wait_agent_where("keeper", "a config hash", |a| a.status.is_some()).await;
    assert_eq!(after.status.and_then(|s| s.config_hash), hash, "the outage rolled no runner");
}
