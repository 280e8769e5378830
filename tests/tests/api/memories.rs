//! `…/agents/{name}/memories`, `…/memories/query` and `…/memory-blocks`: an Agent's long-term
//! memory through the API, on a real MemoryStore schema in the test PostgreSQL.

use std::time::Duration;

use agentry_api_contract::paths;
use agentry_crds::Agent;
use agentry_tests::api_world::{ApiWorld, VIEWER_TOKEN};
use agentry_tests::operator_world::{apply, database_url};
use kube::Api;
use kube::api::{Patch, PatchParams};
use reqwest::Method;
use serde_json::json;
use sqlx::AssertSqlSafe;

use crate::binaries;

/// A MemoryStore `mem` in `schema` (migrated, as the operator would), and Agent `worker` bound
/// to it with `memory.topK` 2.
async fn bind_memory(world: &ApiWorld, schema: &str) {
    let client = world.cluster.client();
    let ns = world.ns();
    apply(
        &client,
        &json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "mem-db", "namespace": ns}, "stringData": {"uri": database_url()}}),
    )
    .await;
    apply(
        &client,
        &json!({"apiVersion": "agentry.dev/v1alpha1", "kind": "MemoryStore",
        "metadata": {"name": "mem", "namespace": ns},
        "spec": {"postgres": {"connectionSecretRef": {"name": "mem-db", "key": "uri"}, "schema": schema},
                 "embedding": {"provider": "hashing", "dimensions": 256}}}),
    )
    .await;
    let pool = agentry_operator::memory_schema::connect(&database_url(), schema, Duration::from_secs(10))
        .await
        .expect("connect");
    agentry_operator::memory_schema::migrate(&pool, schema).await.expect("migrate");
    let agents: Api<Agent> = Api::namespaced(client, ns);
    let patch = json!({"spec": {"memory": {"storeRef": "mem", "topK": 2}}});
    agents.patch("worker", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("bind the agent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memories_are_stored_listed_queried_and_blocks_written() {
    let world = ApiWorld::start(binaries().await, "api-memory", |_| {}).await;
    let schema = format!("agentry_api_{}", world.ns().replace('-', "_"));
    bind_memory(&world, &schema).await;
    let ns = world.ns();
    let memories = paths::fill(paths::AGENT_MEMORIES, &[ns, "worker"]);

    let facts = [
        json!({"content": "The customer's favourite colour is teal", "importance": 0.9, "tags": ["customer"]}),
        json!({"type": "procedural", "content": "Refunds need a ticket number first"}),
        json!({"type": "working", "content": "The current ticket is OPS-42", "expiresInSeconds": 3600}),
    ];
    for fact in &facts {
        let (status, body) = world.post(&memories, fact).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["content"], fact["content"]);
    }
    let (status, body) = world.post(&memories, &json!({"content": "x", "importance": 1.5})).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("importance")), "{body}");
    let (status, body) = world.post(&memories, &json!({"type": "longterm", "content": "x"})).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("type")), "{body}");

    // Newest first, two per page.
    let (status, page) = world.get(&format!("{memories}?limit=2")).await;
    assert_eq!(status, 200, "{page}");
    let contents = |page: &serde_json::Value| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|m| m["content"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(contents(&page), ["The current ticket is OPS-42", "Refunds need a ticket number first"]);
    let next = page["next"].as_str().expect("a next page").to_owned();
    let (status, rest) = world.get(&format!("{memories}?limit=2&cursor={next}")).await;
    assert_eq!(status, 200, "{rest}");
    assert_eq!(contents(&rest), ["The customer's favourite colour is teal"]);
    assert!(rest["next"].is_null(), "{rest}");
    assert_eq!(rest["items"][0]["tags"], json!(["customer"]));
    let (_, procedural) = world.get(&format!("{memories}?type=procedural")).await;
    assert_eq!(contents(&procedural), ["Refunds need a ticket number first"]);
    let (status, body) = world.get(&format!("{memories}?cursor=nonsense")).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("cursor")), "{body}");

    let query = paths::fill(paths::AGENT_MEMORY_QUERY, &[ns, "worker"]);
    let (status, found) =
        world.post(&query, &json!({"query": "what is the customer's favourite colour?"})).await;
    assert_eq!(status, 200, "{found}");
    let items = found["items"].as_array().expect("items");
    assert!(!items.is_empty() && items.len() <= 2, "the Agent's topK bounds it: {found}");
    assert_eq!(items[0]["memory"]["content"], "The customer's favourite colour is teal", "{found}");
    assert!(items[0]["similarity"].as_f64().unwrap_or(0.0) > 0.2, "{found}");
    let (status, body) = world.post(&query, &json!({"query": "colour", "topK": 0})).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("topK")), "{body}");

    let block = paths::fill(paths::AGENT_MEMORY_BLOCK, &[ns, "worker", "persona"]);
    let admin = Some(agentry_tests::api_world::ADMIN_TOKEN);
    let body = json!({"content": "You answer in one sentence.", "priority": 10});
    let (status, written) = world.call(Method::PUT, &block, admin, Some(&body)).await;
    assert_eq!(status, 200, "{written}");
    let body = json!({"content": "You answer in two sentences.", "priority": 20});
    assert_eq!(world.call(Method::PUT, &block, admin, Some(&body)).await.0, 200);
    let (status, blocks) = world.get(&paths::fill(paths::AGENT_MEMORY_BLOCKS, &[ns, "worker"])).await;
    assert_eq!(status, 200, "{blocks}");
    assert_eq!(blocks["items"].as_array().map(Vec::len), Some(1), "{blocks}");
    assert_eq!(
        (blocks["items"][0]["content"].as_str(), blocks["items"][0]["priority"].as_i64()),
        (Some("You answer in two sentences."), Some(20))
    );
    let bad = paths::fill(paths::AGENT_MEMORY_BLOCK, &[ns, "worker", "Persona"]);
    let (status, body) = world.call(Method::PUT, &bad, admin, Some(&json!({"content": "x"}))).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("label")), "{body}");

    // A viewer reads but does not write; an Agent without memory is a 404.
    let (status, _) = world.call(Method::GET, &memories, Some(VIEWER_TOKEN), None).await;
    assert_eq!(status, 200);
    let (status, body) = world.call(Method::POST, &memories, Some(VIEWER_TOKEN), Some(&facts[0])).await;
    assert_eq!(status, 403, "{body}");
    world.add_agent("forgetful", &[], 1).await;
    let (status, body) = world.get(&paths::fill(paths::AGENT_MEMORIES, &[ns, "forgetful"])).await;
    assert_eq!(status, 404, "{body}");
    assert!(body["message"].as_str().unwrap_or("").contains("storeRef"), "{body}");

    let pool = sqlx::PgPool::connect(&database_url()).await.expect("postgres");
    let stored: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT count(*) FROM \"{schema}\".memories WHERE agent = 'worker'"
    )))
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(stored, 3);
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")))
        .execute(&pool)
        .await
        .expect("cleanup");
    world.stop().await;
}
