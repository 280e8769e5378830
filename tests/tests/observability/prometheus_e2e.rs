//! A real Prometheus scrapes a real runner (with a peer it delegates to) and a real recorder: every
//! dashboard expression over their metrics returns series, and ModelCircuitOpen fires while the
//! model endpoint is down and resolves once it is back. Another scrapes a real operator managing
//! the sample Agents on devcluster: every dashboard expression over its metrics returns series.
//!
//! The rules are the shipped ones with every `for` cut to 1 s: the promtool cases test the real
//! durations; this test is about the metrics, the expressions and Prometheus agreeing.

use std::time::Duration;

use agentry_crds::AgentPhase;
use agentry_protocol::AgentRequest;
use agentry_protocol::subjects::SubjectToken;
use agentry_protocol::tasks::TaskId;
use agentry_task_queue::TaskQueue;
use agentry_tests::binaries::{self, Binaries};
use agentry_tests::namespace_recorder::NamespaceRecorder;
use agentry_tests::operator_world::World;
use agentry_tests::polling::poll_until;
use agentry_tests::runner_fixture::{self, AGENT, OneAgent, ask, calculator, config, model};
use agentry_tests::scripted_model::Step;
use serde_json::{Value, json};

use crate::dashboard;
use crate::prometheus_server::{PrometheusServer, ScrapeJob};

/// How long Prometheus may take to see what the binaries did (scrapes and evaluations are 1 s).
const DEADLINE: Duration = Duration::from_secs(60);

async fn binaries() -> &'static Binaries {
    tokio::task::spawn_blocking(binaries::built)
        .await
        .expect("the build task")
        .unwrap_or_else(|err| panic!("{err}"))
}

/// The shipped rule file with every `for` cut to 1 s.
fn quick_rules() -> String {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/prometheus/agentry-rules.yaml");
    let rule: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).expect("rules")).expect("yaml");
    let mut spec = rule["spec"].clone();
    for group in spec["groups"].as_sequence_mut().expect("groups") {
        for rule in group["rules"].as_sequence_mut().expect("rules") {
            if rule.get("for").is_some() {
                rule["for"] = serde_yaml::Value::from("1s");
            }
        }
    }
    serde_yaml::to_string(&spec).expect("yaml")
}

/// A dashboard expression made concrete: every namespace and agent, a 1-minute rate window.
fn concrete(expr: &str) -> String {
    expr.replace("$namespace", ".*").replace("$agent", ".*").replace("$__rate_interval", "1m")
}

/// Panels on what only the operator exports (this test runs no operator).
fn needs_operator(expr: &str) -> bool {
    expr.contains("agentry_operator_")
}

/// Makes the agent answer plainly, call a tool, delegate to its peer and run a durable task.
async fn exercise(agent: &OneAgent) {
    assert!(agent.ask("hello").await.error.is_none());
    agent.model.push(Step::tool_call("calculator", json!({"expression": "6*7"})));
    agent.model.push(Step::text("42"));
    let reply = agent.ask("what is 6*7?").await;
    assert!(reply.error.is_none(), "{reply:?}");
    // The peer answers from the same scripted model: its default step echoes.
    agent.model.push(Step::tool_call("ask-peer", json!({"question": "ready?"})));
    agent.model.push(Step::text("the peer is ready"));
    let reply = agent.ask("ask the peer").await;
    assert!(reply.error.is_none(), "{reply:?}");
    let queue = TaskQueue::open(async_nats::jetstream::new(agent.nats.clone())).await.expect("task queue");
    let (ns, name) = (SubjectToken::new(&agent.ns).expect("ns"), SubjectToken::new(AGENT).expect("agent"));
    let task = TaskId::new(format!("task-{}", uuid::Uuid::new_v4().simple())).expect("task id");
    queue.submit(&ns, &name, &AgentRequest::new(task.as_str(), "a task")).await.expect("submitted");
    queue.wait(&ns, &name, &task, DEADLINE).await.expect("the task ends");
}

/// Waits until every expression returns at least one series; panics naming those that do not.
async fn wait_for_series(prometheus: &PrometheusServer, expressions: &[String]) {
    let empty = std::sync::Mutex::new(expressions.to_vec());
    let all_answer = poll_until(DEADLINE, || {
        let empty = &empty;
        async move {
            let pending = std::mem::take(&mut *empty.lock().expect("not poisoned"));
            let mut still = Vec::new();
            for expr in pending {
                if prometheus.query(&expr).await.map_or(true, |r| r.is_empty()) {
                    still.push(expr);
                }
            }
            let done = still.is_empty();
            *empty.lock().expect("not poisoned") = still;
            done.then_some(())
        }
    })
    .await;
    let empty = empty.into_inner().expect("not poisoned");
    assert!(all_answer.is_ok(), "no series for {empty:#?}\nprometheus log:\n{}", prometheus.log());
}

/// The ModelCircuitOpen alert of the agent's `primary` endpoint, as Prometheus holds it.
async fn circuit_alert(prometheus: &PrometheusServer) -> Option<Value> {
    let alerts = prometheus.alerts().await.ok()?;
    alerts.into_iter().find(|a| a["labels"]["alertname"] == "ModelCircuitOpen")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_reads_every_dashboard_series_and_model_circuit_open_fires_and_resolves() {
    let built = binaries().await;
    let agent = OneAgent::start(&built.runner, "prom", |config| {
        config.tools = vec![calculator(), ask("peer")];
        config.peers = vec!["peer".into()];
        config.limits.daily_budget_usd = Some(100.0);
        config.resilience.max_retries = 0;
        config.resilience.failure_threshold = 2;
        config.resilience.reset_seconds = 1;
    })
    .await;
    let peer_config = config(&agent.ns, "peer", vec![model("primary", &agent.model.base_url())], vec![]);
    let peer = runner_fixture::start(&built.runner, &peer_config).await;
    let recorder =
        NamespaceRecorder::start(&built.recorder, &agent.ns).await.unwrap_or_else(|e| panic!("{e}"));
    let jobs = [
        ScrapeJob { name: "runner", targets: vec![agent.runner.http_addr(), peer.http_addr()] },
        ScrapeJob { name: "recorder", targets: vec![recorder.process.http_addr()] },
    ];
    let prometheus = PrometheusServer::start(&jobs, &quick_rules()).await;

    exercise(&agent).await;
    assert!(circuit_alert(&prometheus).await.is_none(), "no circuit is open yet");

    // The model goes down: two failed calls open the breaker, and the alert fires.
    agent.model.set_default(Step::status(500));
    for question in ["are you there?", "still there?"] {
        assert!(agent.ask(question).await.error.is_some(), "the model is down");
    }
    let fired = poll_until(DEADLINE, || async {
        circuit_alert(&prometheus).await.filter(|a| a["state"] == "firing")
    })
    .await;
    let Ok(fired) = fired else {
        panic!("ModelCircuitOpen never fired\nrunner metrics:\n{:?}", agent.runner.metrics().await)
    };
    assert_eq!(fired["labels"]["namespace"], json!(agent.ns), "{fired}");
    assert_eq!(fired["labels"]["agent"], json!(AGENT), "{fired}");
    assert_eq!(fired["labels"]["model"], "primary", "{fired}");
    assert_eq!(fired["labels"]["severity"], "warning", "{fired}");
    let runbook = fired["annotations"]["runbook_url"].as_str().unwrap_or_default();
    assert!(runbook.ends_with("docs/runbooks.md#modelcircuitopen"), "{fired}");

    // It comes back: once the breaker's trial call succeeds, the breaker closes and the alert
    // resolves.
    agent.model.set_default(Step::text("back"));
    let resolved = poll_until(DEADLINE, || async {
        let _ = agent.ask("back yet?").await;
        circuit_alert(&prometheus).await.is_none().then_some(())
    })
    .await;
    assert!(resolved.is_ok(), "ModelCircuitOpen still held: {:?}", circuit_alert(&prometheus).await);

    // Every dashboard panel over the runner, the recorder and the process figures has series
    // (the errors above included, which the error panels divide by).
    let expressions: Vec<String> = dashboard::expressions(&dashboard::dashboard())
        .into_iter()
        .map(|(_, expr)| expr)
        .filter(|expr| !needs_operator(expr))
        .map(|expr| concrete(&expr))
        .collect();
    assert!(expressions.len() >= 20, "{expressions:?}");
    wait_for_series(&prometheus, &expressions).await;

    drop(prometheus);
    recorder.stop().await.unwrap_or_else(|e| panic!("{e}"));
    drop(peer);
}

/// Series that exist only once something fails (checked by name and label in the static tests).
fn needs_a_failure(expr: &str) -> bool {
    expr.contains("agentry_operator_reconcile_errors_total")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_reads_every_dashboard_series_of_the_operator() {
    let world = World::start("prom-operator").await;
    let operator = world.start_operator().await;
    world.watch_operator(&operator);
    world.apply_samples_without_memory().await;
    world.wait_agent("finance-officer", AgentPhase::Ready).await;
    let jobs = [ScrapeJob { name: "operator", targets: vec![operator.http] }];
    let prometheus = PrometheusServer::start(&jobs, &quick_rules()).await;

    let dashboard = dashboard::dashboard();
    let variables = dashboard["templating"]["list"].as_array().expect("variables");
    // The variables' queries, as the series they list values of.
    let listed = variables.iter().filter_map(|v| v["query"]["query"].as_str()).filter_map(|q| {
        let inner = q.strip_prefix("label_values(")?;
        Some(inner[..inner.rfind(',')?].to_string())
    });
    let expressions: Vec<String> = dashboard::expressions(&dashboard)
        .into_iter()
        .map(|(_, expr)| expr)
        .filter(|expr| needs_operator(expr) && !needs_a_failure(expr))
        .chain(listed)
        .map(|expr| concrete(&expr))
        .collect();
    assert!(expressions.len() >= 5, "{expressions:?}");
    wait_for_series(&prometheus, &expressions).await;
    let agents = prometheus
        .query(&format!(r#"agentry_operator_agent_phase{{namespace="{}", phase="Ready"}}"#, world.ns))
        .await
        .expect("query");
    assert!(agents.iter().any(|s| s["metric"]["agent"] == "finance-officer"), "{agents:?}");
    let build = prometheus.query(r#"agentry_build_info{job="operator", binary="agentry-operator"}"#).await;
    assert_eq!(build.map(|s| s.len()), Ok(1), "the operator's build info");
    world.check_operators();
    drop(prometheus);
    world.shutdown().await;
}
