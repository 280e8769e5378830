//! Long-term memory end to end: the real runner binary on real NATS against a real PostgreSQL
//! MemoryStore, with scripted models whose prompts are checked. A fact told in one Session is
//! recalled in another and by no other agent; the memory tools store and search; a store that
//! goes away leaves the agent answering without memory, and memory comes back with the store.

use std::time::Duration;

use agentry_memory::{
    Embedder, HashingEmbedder, MemoryScope, MemoryStore, MemoryType, NewMemory, StoreOptions,
};
use agentry_protocol::AgentRequest;
use agentry_protocol::runner_config::{
    BuiltinTool, MemoryBlock, MemoryConfig, MemoryEmbedding, RunnerConfig, ToolDefinition, ToolImplementation,
};
use agentry_tests::nats_fixture;
use agentry_tests::operator_world::database_url;
use agentry_tests::polling::poll_until;
use agentry_tests::private_postgres::PrivatePostgres;
use agentry_tests::runner_process::RunnerProcess;
use agentry_tests::scripted_model::{Flavor, ScriptedModel, Step};
use serde_json::{Value, json};

use crate::harness::{self, MODEL_KEY, MODEL_KEY_ENV, metric_value};

/// The environment variable the runners read the store's URL from, as the operator sets it.
const URL_ENV: &str = "AGENTRY_MEMORY_URL";
const DIMENSIONS: usize = 256;

/// A fresh schema on `url`, migrated, and a store opened on it as the test's own eyes.
async fn migrated_store(url: &str) -> (String, MemoryStore) {
    let schema = format!("mem_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let pool = agentry_memory::store::pool(url, &schema, 2).expect("pool");
    agentry_memory::schema::migrate(&pool, &schema).await.expect("migrate");
    let embedder = Embedder::Hashing(HashingEmbedder::new(DIMENSIONS).expect("embedder"));
    let store = MemoryStore::open(pool, embedder, StoreOptions::new(DIMENSIONS)).await.expect("open");
    (schema, store)
}

fn memory_config(schema: &str) -> MemoryConfig {
    MemoryConfig {
        store: "long-term".into(),
        url_env: URL_ENV.into(),
        schema: schema.into(),
        embedding: MemoryEmbedding::Hashing { dimensions: DIMENSIONS },
        shared: false,
        top_k: 5,
        min_score: 0.05,
        max_prompt_chars: 2000,
        episodic: true,
    }
}

fn builtin(name: &str, builtin: BuiltinTool) -> ToolDefinition {
    ToolDefinition {
        name: name.into(),
        description: format!("The {name} builtin."),
        input_schema: json!({"type": "object"}),
        implementation: ToolImplementation::Builtin { name: builtin },
        rate_limit_per_minute: None,
        timeout_seconds: 10,
        cache_ttl_seconds: None,
    }
}

/// Starts `agent` of `ns` on `model` with memory in `schema` at `url`.
async fn start_agent(
    ns: &str,
    agent: &str,
    model: &ScriptedModel,
    url: &str,
    adjust: impl FnOnce(&mut RunnerConfig),
) -> RunnerProcess {
    let mut config = harness::config(ns, agent, vec![harness::model("primary", &model.base_url())], vec![]);
    adjust(&mut config);
    RunnerProcess::start(harness::runner_binary(), &config, &[(MODEL_KEY_ENV, MODEL_KEY), (URL_ENV, url)])
        .await
        .unwrap_or_else(|err| panic!("runner {agent} did not start: {err}"))
}

/// The system prompt of the model's `index`th request.
fn system_prompt(model: &ScriptedModel, index: usize) -> String {
    let requests = model.requests();
    let request = requests.get(index).unwrap_or_else(|| panic!("no request {index}: {requests:#?}"));
    request["messages"][0]["content"].as_str().unwrap_or_default().to_string()
}

fn in_session(session: &str, input: &str) -> AgentRequest {
    let mut request = AgentRequest::new(uuid::Uuid::new_v4().to_string(), input);
    request.session_id = Some(session.into());
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fact_told_in_one_session_is_recalled_in_another_and_not_by_another_agent() {
    let url = database_url();
    let (schema, store) = migrated_store(&url).await;
    let ns = nats_fixture::unique_namespace("memory-recall");
    let (alice_model, bob_model) =
        (ScriptedModel::start(Flavor::OpenAi).await, ScriptedModel::start(Flavor::OpenAi).await);
    let with_memory = |config: &mut RunnerConfig| config.memory = Some(memory_config(&schema));
    let alice = start_agent(&ns, "alice", &alice_model, &url, with_memory).await;
    let _bob = start_agent(&ns, "bob", &bob_model, &url, with_memory).await;
    let nats = nats_fixture::connect().await.expect("nats");

    alice_model.push(Step::text("Noted: the warehouse door code is 4711."));
    let told = in_session("session-one", "Please remember: the warehouse door code is 4711.");
    let reply = harness::send(&nats, &ns, "alice", &told).await;
    assert_eq!(reply.error, None, "{reply:?}");
    // The episode is written after the reply, in the background: wait until it is in the store.
    let alice_scope = MemoryScope::agent(&ns, "alice");
    let episode = poll_until(Duration::from_secs(20), || async {
        let found = store.recall(&alice_scope, "warehouse door code", 5, 0.0).await.ok()?;
        found.into_iter().find(|m| m.memory.kind == MemoryType::Episodic && m.memory.content.contains("4711"))
    })
    .await
    .expect("alice's episodic memory of session one");
    assert!(episode.memory.tags.contains(&"session:session-one".to_string()), "{:?}", episode.memory);

    alice_model.push(Step::text("The code is 4711."));
    let asked = in_session("session-two", "What is the warehouse door code?");
    let reply = harness::send(&nats, &ns, "alice", &asked).await;
    assert_eq!(reply.output.as_deref(), Some("The code is 4711."), "{reply:?}");
    let prompt = system_prompt(&alice_model, 1);
    assert!(prompt.starts_with("You are alice."), "{prompt}");
    assert!(prompt.contains("<long_term_memory>") && prompt.contains("door code is 4711"), "{prompt}");
    assert!(!system_prompt(&alice_model, 0).contains("4711"), "nothing was remembered before it was told");

    bob_model.push(Step::text("I do not know that code."));
    let reply = harness::ask_agent(&nats, &ns, "bob", "What is the warehouse door code?").await;
    assert_eq!(reply.error, None, "{reply:?}");
    let prompt = system_prompt(&bob_model, 0);
    assert!(
        !prompt.contains("4711") && !prompt.contains("<long_term_memory>"),
        "bob saw alice's memory: {prompt}"
    );

    let metrics = alice.metrics().await.expect("metrics");
    let queries = metric_value(&metrics, "agentry_memory_query_duration_seconds_count", &[]).unwrap_or(0.0);
    assert!(queries >= 2.0, "every request queried memory:\n{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_block_written_to_the_store_reaches_the_next_prompt() {
    let url = database_url();
    let (schema, store) = migrated_store(&url).await;
    let ns = nats_fixture::unique_namespace("memory-blocks");
    let model = ScriptedModel::start(Flavor::OpenAi).await;
    let with_memory = |config: &mut RunnerConfig| {
        config.memory = Some(MemoryConfig { episodic: false, ..memory_config(&schema) });
        config.memory_blocks = vec![MemoryBlock {
            label: "policy".into(),
            content: "Refunds need approval.".into(),
            priority: 5,
        }];
    };
    let _agent = start_agent(&ns, "support", &model, &url, with_memory).await;
    let nats = nats_fixture::connect().await.expect("nats");

    model.push(Step::text("First."));
    let reply = harness::ask_agent(&nats, &ns, "support", "Can I get a refund?").await;
    assert_eq!(reply.error, None, "{reply:?}");
    assert!(system_prompt(&model, 0).contains("Refunds need approval."), "the Agent's own block");

    // As the API's PUT …/memory-blocks/policy does: the stored block replaces the Agent's own.
    let scope = MemoryScope::agent(&ns, "support");
    store.set_block(&scope, "policy", "Refunds under 50 EUR need no approval.", 5).await.expect("block");
    model.push(Step::text("Second."));
    let reply = harness::ask_agent(&nats, &ns, "support", "Can I get a refund?").await;
    assert_eq!(reply.error, None, "{reply:?}");
    let prompt = system_prompt(&model, 1);
    assert!(prompt.contains("<policy>\nRefunds under 50 EUR need no approval.\n</policy>"), "{prompt}");
    assert!(!prompt.contains("Refunds need approval."), "the replaced block is gone: {prompt}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_tools_store_and_search_the_agents_own_memories() {
    let url = database_url();
    let (schema, store) = migrated_store(&url).await;
    let ns = nats_fixture::unique_namespace("memory-tools");
    let tools = vec![
        builtin("memory_store", BuiltinTool::MemoryStore),
        builtin("memory_search", BuiltinTool::MemorySearch),
    ];
    let with_tools = |config: &mut RunnerConfig| {
        config.memory = Some(MemoryConfig { episodic: false, ..memory_config(&schema) });
        config.tools = tools.clone();
    };
    let model = ScriptedModel::start(Flavor::OpenAi).await;
    let other_model = ScriptedModel::start(Flavor::OpenAi).await;
    let _finance = start_agent(&ns, "finance", &model, &url, with_tools).await;
    let _sales = start_agent(&ns, "sales", &other_model, &url, with_tools).await;
    let nats = nats_fixture::connect().await.expect("nats");

    let fact = "Invoices above 5000 EUR need two signatures.";
    model.push(Step::tool_call(
        "memory_store",
        json!({"content": fact, "type": "procedural", "importance": 0.9, "tags": ["finance"]}),
    ));
    model.push(Step::text("Stored."));
    let reply = harness::ask_agent(&nats, &ns, "finance", "Remember the invoice rule.").await;
    assert_eq!(reply.output.as_deref(), Some("Stored."), "{reply:?}");
    assert!(reply.tool_calls.iter().all(|c| c.ok), "{reply:?}");
    let stored = store
        .recall(&MemoryScope::agent(&ns, "finance"), "invoice signatures", 5, 0.0)
        .await
        .expect("recall");
    let stored = stored.first().expect("the tool stored the memory");
    assert_eq!((stored.memory.content.as_str(), stored.memory.kind), (fact, MemoryType::Procedural));
    assert_eq!((stored.memory.importance, stored.memory.tags.clone()), (0.9, vec!["finance".to_string()]));

    model
        .push(Step::tool_call("memory_search", json!({"query": "invoice signatures", "type": "procedural"})));
    model.push(Step::Echo);
    let reply = harness::ask_agent(&nats, &ns, "finance", "What is the invoice rule?").await;
    let output = reply.output.clone().unwrap_or_default();
    let found: Value = serde_json::from_str(output.trim_start_matches("echo: ")).expect("search result JSON");
    assert_eq!(found["memories"][0]["content"], fact, "{output}");
    assert_eq!(found["memories"][0]["type"], "procedural", "{output}");

    // Invalid arguments come back to the model naming the problem.
    model.push(Step::tool_call("memory_store", json!({"content": "x", "importance": 3})));
    model.push(Step::Echo);
    let reply = harness::ask_agent(&nats, &ns, "finance", "Store it very importantly.").await;
    assert!(reply.output.unwrap_or_default().contains("importance"), "the refusal names the field");

    other_model.push(Step::tool_call("memory_search", json!({"query": "invoice signatures"})));
    other_model.push(Step::Echo);
    let reply = harness::ask_agent(&nats, &ns, "sales", "What is the invoice rule?").await;
    assert_eq!(
        reply.output.as_deref(),
        Some("echo: {\"memories\":[]}"),
        "sales sees none of finance's memories"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_leaves_answers_without_memory_until_it_returns() {
    let postgres = PrivatePostgres::start().await.expect("private PostgreSQL");
    let url = postgres.admin_url();
    let (schema, store) = migrated_store(&url).await;
    let ns = nats_fixture::unique_namespace("memory-outage");
    let fact = "The nightly backup starts at 02:30 UTC.";
    store.remember(&MemoryScope::agent(&ns, "ops"), &NewMemory::semantic(fact)).await.expect("remember");
    drop(store);
    let model = ScriptedModel::start(Flavor::OpenAi).await;
    model.set_default(Step::text("Noted."));
    let ops = start_agent(&ns, "ops", &model, &url, |config| {
        config.memory = Some(MemoryConfig { episodic: false, ..memory_config(&schema) });
    })
    .await;
    let nats = nats_fixture::connect().await.expect("nats");
    let question = "When does the nightly backup start?";

    let reply = harness::ask_agent(&nats, &ns, "ops", question).await;
    assert_eq!(reply.error, None, "{reply:?}");
    assert!(system_prompt(&model, 0).contains(fact), "memory is used while the store is up");

    postgres.stop().expect("stop PostgreSQL");
    for attempt in 1..=2 {
        let reply = harness::ask_agent(&nats, &ns, "ops", question).await;
        assert_eq!(reply.output.as_deref(), Some("Noted."), "answered without memory: {reply:?}");
        let prompt = system_prompt(&model, attempt);
        assert!(!prompt.contains(fact) && prompt.starts_with("You are ops."), "{prompt}");
    }
    assert_eq!(ops.ready().await, Some(true), "readiness does not depend on the memory store");
    let metrics = ops.metrics().await.expect("metrics");
    let skipped =
        metric_value(&metrics, "agentry_memory_unavailable_total", &[("operation", "recall")]).unwrap_or(0.0);
    assert!(skipped >= 2.0, "both recalls were counted as unavailable:\n{metrics}");

    postgres.revive().await.expect("revive PostgreSQL");
    let recovered = poll_until(Duration::from_secs(60), || async {
        let reply = harness::ask_agent(&nats, &ns, "ops", question).await;
        assert_eq!(reply.error, None, "{reply:?}");
        let prompt = system_prompt(&model, model.request_count() - 1);
        prompt.contains(fact).then_some(prompt)
    })
    .await;
    assert!(recovered.is_ok(), "memory was not used again after the store returned:\n{}", ops.output());
    let password = url.split_once("postgres:").and_then(|(_, rest)| rest.split_once('@')).map(|(p, _)| p);
    let password = password.expect("the private cluster's URL has a password");
    assert!(!ops.output().contains(password), "the store's password leaked into the runner's output");
}
