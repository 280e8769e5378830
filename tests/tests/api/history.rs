//! `…/interactions`, `…/interaction-stats`, `…/costs`, `…/agents/{name}/performance` and
//! `…/agent-selection` over what the real recorder wrote; and their bad requests.

use std::time::Duration;

use agentry_api_contract::paths;
use agentry_tests::api_world::ApiWorld;
use agentry_tests::polling::poll_until;
use agentry_tests::scripted_model::Step;
use serde_json::{Value, json};

use crate::binaries;

/// Two answered requests and one the model refused, recorded.
async fn recorded_history(world: &ApiWorld) -> Vec<Value> {
    world.agent.model.extend([Step::text("one"), Step::text("two"), Step::status(400)]);
    let invoke = paths::fill(paths::AGENT_INVOKE, &[world.ns(), "worker"]);
    for (input, want) in [("first", 200), ("second", 200), ("third", 502)] {
        let (status, body) = world.post(&invoke, &json!({"input": input})).await;
        assert_eq!(status, want, "{input}: {body}");
    }
    let list = format!("{}?to=worker", paths::fill(paths::INTERACTIONS, &[world.ns()]));
    poll_until(Duration::from_secs(30), || async {
        let (_, page) = world.get(&list).await;
        page["items"].as_array().filter(|items| items.len() == 3).cloned()
    })
    .await
    .unwrap_or_else(|e| panic!("three interactions recorded: {e:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactions_statistics_costs_and_performance_read_the_recorded_history() {
    let world = ApiWorld::start(binaries().await, "api-history", |_| {}).await;
    let ns = world.ns().to_owned();
    let items = recorded_history(&world).await;
    assert_eq!(items[0]["query"], "third", "newest first: {items:?}");
    assert_eq!(items[0]["outcome"], "model_rejected");
    assert_eq!(items[2]["type"], "query");
    assert_eq!(items[2]["fromAgent"], "alice", "the caller is who the token says");

    let base = paths::fill(paths::INTERACTIONS, &[&ns]);
    let (status, page) = world.get(&format!("{base}?to=worker&limit=2")).await;
    assert_eq!(status, 200);
    let next = page["next"].as_str().expect("a second page").to_owned();
    let (_, rest) = world.get(&format!("{base}?to=worker&limit=2&cursor={next}")).await;
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(1), "{rest}");
    assert!(rest["next"].is_null());
    let (_, errors) = world.get(&format!("{base}?outcome=error")).await;
    assert_eq!(errors["items"].as_array().map(Vec::len), Some(1), "{errors}");

    let request_id = items[1]["requestId"].as_str().expect("id");
    let (status, one) = world.get(&paths::fill(paths::INTERACTION, &[&ns, request_id])).await;
    assert_eq!((status, one["response"].as_str()), (200, Some("two")), "{one}");

    let (status, stats) =
        world.get(&format!("{}?window=1h", paths::fill(paths::INTERACTION_STATS, &[&ns]))).await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(
        (stats["totals"]["count"].as_u64(), stats["totals"]["errors"].as_u64()),
        (Some(3), Some(1)),
        "{stats}"
    );
    assert!(stats["totals"]["latencyMs"]["p95"].as_f64().is_some(), "{stats}");
    assert_eq!(stats["byAgent"][0]["key"], "worker");
    assert_eq!(stats["byType"][0]["key"], "query");

    let (status, costs) = world.get(&paths::fill(paths::COSTS, &[&ns])).await;
    assert_eq!(status, 200, "{costs}");
    assert_eq!(costs["lines"][0]["agent"], "worker", "{costs}");
    assert!(costs["totalCostUsd"].as_f64().is_some_and(|c| c > 0.0), "{costs}");

    let (status, perf) = world.get(&paths::fill(paths::AGENT_PERFORMANCE, &[&ns, "worker"])).await;
    assert_eq!((status, perf["requests"].as_u64()), (200, Some(3)), "{perf}");
    assert!((perf["successRate"].as_f64().unwrap_or(0.0) - 2.0 / 3.0).abs() < 1e-9, "{perf}");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_history_requests_are_refused_naming_the_parameter() {
    let world = ApiWorld::start(binaries().await, "api-history-bad", |_| {}).await;
    let ns = world.ns().to_owned();
    let cases = [
        (paths::fill(paths::INTERACTIONS, &[&ns]) + "?type=gossip", "type"),
        (paths::fill(paths::INTERACTIONS, &[&ns]) + "?outcome=meh", "outcome"),
        (paths::fill(paths::INTERACTIONS, &[&ns]) + "?limit=501", "limit"),
        (paths::fill(paths::INTERACTIONS, &[&ns]) + "?cursor=%%%", "cursor"),
        (paths::fill(paths::INTERACTIONS, &[&ns]) + "?since=yesterday", "since"),
        (paths::fill(paths::INTERACTION_STATS, &[&ns]) + "?window=forever", "window"),
        (paths::fill(paths::INTERACTION_STATS, &[&ns]) + "?agent=Bad_Name", "agent"),
        (paths::fill(paths::COSTS, &[&ns]) + "?window=400d", "since"),
        (paths::fill(paths::AGENT_PERFORMANCE, &[&ns, "worker"]) + "?until=noon", "until"),
    ];
    for (path, field) in cases {
        let (status, error) = world.get(&path).await;
        assert_eq!((status, error["field"].as_str()), (400, Some(field)), "{path}: {error}");
    }
    let (status, error) = world.get(&paths::fill(paths::INTERACTION, &[&ns, "never-asked"])).await;
    assert_eq!(status, 404, "{error}");
    let selection = paths::fill(paths::AGENT_SELECTION, &[&ns]);
    let (status, error) = world.post(&selection, &json!({"capabilities": []})).await;
    assert_eq!((status, error["field"].as_str()), (400, Some("capabilities")), "{error}");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_best_ready_agent_with_the_capabilities_is_selected() {
    let world = ApiWorld::start(binaries().await, "api-select", |_| {}).await;
    let ns = world.ns().to_owned();
    world.mark_ready("worker", 1).await;
    world.add_agent("speller", &["summaries"], 1).await;
    let selection = paths::fill(paths::AGENT_SELECTION, &[&ns]);
    let (status, chosen) = world.post(&selection, &json!({"capabilities": ["arithmetic"]})).await;
    assert_eq!((status, chosen["selected"].as_str()), (200, Some("worker")), "{chosen}");
    // Both can summarise; the one with a failure in its last hour ranks second.
    recorded_history(&world).await;
    let (_, both) = world.post(&selection, &json!({"capabilities": ["summaries"]})).await;
    let names: Vec<_> = both["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .map(|c| c["name"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(names, ["speller", "worker"], "{both}");
    let (_, none) = world.post(&selection, &json!({"capabilities": ["flying"]})).await;
    assert!(none["selected"].is_null() && none["candidates"].as_array().is_some_and(Vec::is_empty), "{none}");
    world.stop().await;
}
