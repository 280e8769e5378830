//! The history of real work is kept: real runner processes answer (delegating to each other,
//! calling tools, running a durable task), the real recorder process writes their events from
//! `AGENTRY_EVENTS`, and PostgreSQL holds every hop, message, tool call and model call, and each
//! session's totals.

use std::time::Duration;

use agentry_protocol::subjects::{EVENTS_STREAM, SubjectToken, TASKS_STREAM};
use agentry_protocol::tasks::{self, TaskId};
use agentry_protocol::{AgentReply, AgentRequest, TaskState};
use agentry_task_queue::TaskQueue;
use agentry_tests::binaries::{self, Binaries};
use agentry_tests::namespace_recorder::NamespaceRecorder;
use agentry_tests::nats_fixture;
use agentry_tests::polling::poll_until;
use agentry_tests::runner_fixture::{self, ask, calculator, config, model};
use agentry_tests::scripted_model::{Flavor, ScriptedModel, Step};
use serde_json::{Value, json};
use sqlx::AssertSqlSafe;

/// How long the recorder may take to write what it was sent.
const DEADLINE: Duration = Duration::from_secs(30);

/// What `input` input and `output` output tokens cost at [`runner_fixture::model`]'s pricing
/// (1 USD and 2 USD per million).
fn cost(input: u64, output: u64) -> f64 {
    (input as f64 * 1.0 + output as f64 * 2.0) / 1_000_000.0
}

fn assert_cost(actual: &Value, expected: f64, what: &str) {
    let actual = actual.as_f64().unwrap_or_else(|| panic!("{what}: no cost in {actual}"));
    assert!((actual - expected).abs() < 1e-12, "{what}: cost {actual}, expected {expected}");
}

async fn binaries() -> &'static Binaries {
    tokio::task::spawn_blocking(binaries::built)
        .await
        .expect("the build task")
        .unwrap_or_else(|err| panic!("{err}"))
}

/// Rows of `table` with `column = value`, as JSON objects, oldest first.
async fn rows(recorder: &NamespaceRecorder, table: &str, column: &str, value: &str) -> Vec<Value> {
    // Every table but `sessions` (one row per session) has a row per event.
    let order = if table == "sessions" { "t.session_id" } else { "t.created_at, t.event_id" };
    let sql = format!(
        "SELECT coalesce(json_agg(t ORDER BY {order}), '[]')::text FROM {} t WHERE t.{column} = $1",
        recorder.table(table)
    );
    let text: String = sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(value)
        .fetch_one(&recorder.pool)
        .await
        .unwrap_or_else(|err| panic!("reading {table}: {err}"));
    match serde_json::from_str(&text) {
        Ok(Value::Array(rows)) => rows,
        other => panic!("{table}: not a JSON array: {other:?}"),
    }
}

/// How many rows of the session each table holds: interactions, messages, tool calls, model
/// calls.
async fn counts(recorder: &NamespaceRecorder, session: &str) -> Option<[i64; 4]> {
    let count =
        |table: &str| format!("(SELECT count(*) FROM {} WHERE session_id = $1)", recorder.table(table));
    let sql = format!(
        "SELECT {}, {}, {}, {}",
        count("interactions"),
        count("messages"),
        count("tool_calls"),
        count("model_calls")
    );
    let row: (i64, i64, i64, i64) =
        sqlx::query_as(AssertSqlSafe(sql)).bind(session).fetch_one(&recorder.pool).await.ok()?;
    Some([row.0, row.1, row.2, row.3])
}

/// Waits until the session's rows are all written.
async fn wait_for_counts(recorder: &NamespaceRecorder, session: &str, expected: [i64; 4]) {
    let written =
        poll_until(DEADLINE, || async { counts(recorder, session).await.filter(|c| *c == expected) }).await;
    if written.is_err() {
        panic!(
            "session {session}: rows (interactions, messages, tool calls, model calls) {:?}, \
             expected {expected:?} within {DEADLINE:?}; recorder output:\n{}",
            counts(recorder, session).await,
            recorder.process.output()
        );
    }
}

/// Checks that the recorder wrote its namespace's events only.
async fn assert_only(recorder: &NamespaceRecorder, ns: &str) {
    for table in ["interactions", "messages", "tool_calls", "model_calls", "sessions"] {
        let sql = format!("SELECT count(*) FROM {} WHERE namespace <> $1", recorder.table(table));
        let others: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
            .bind(ns)
            .fetch_one(&recorder.pool)
            .await
            .unwrap_or_else(|err| panic!("reading {table}: {err}"));
        assert_eq!(others, 0, "{table} holds rows of other namespaces");
    }
}

/// Stops the recorder and checks it left no consumer behind on the shared stream.
async fn stop(recorder: NamespaceRecorder) {
    let consumer = recorder.consumer().to_string();
    recorder.stop().await.unwrap_or_else(|err| panic!("{err}"));
    let js = async_nats::jetstream::new(nats_fixture::connect().await.unwrap_or_else(|err| panic!("{err}")));
    let stream = js.get_stream(EVENTS_STREAM).await.expect("the events stream");
    let left = stream.get_consumer::<async_nats::jetstream::consumer::pull::Config>(&consumer).await;
    assert!(left.is_err(), "consumer {consumer} is deleted");
}

/// Agent `planner` (asks `finance` and the calculator in one turn, then answers) and agent
/// `finance` (answers at once), each on a scripted model of its own.
struct Delegation {
    planner: ScriptedModel,
    finance: ScriptedModel,
}

impl Delegation {
    async fn script() -> Self {
        let planner = ScriptedModel::start(Flavor::OpenAi).await;
        planner.set_usage(100, 20);
        planner.push(Step::ToolCalls(vec![
            ("ask-finance".into(), json!({"question": "How much of the Q3 budget is left?"})),
            ("calculator".into(), json!({"expression": "412300 - 6800"})),
        ]));
        planner.push(Step::text("Yes: 405,500 USD remain after the repair."));
        let finance = ScriptedModel::start(Flavor::OpenAi).await;
        finance.set_usage(7, 3);
        finance.push(Step::text("412,300 USD is left."));
        Self { planner, finance }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delegating_conversation_is_kept_hop_by_hop_with_its_session_totals() {
    let built = binaries().await;
    let ns = nats_fixture::unique_namespace("history");
    let recorder = NamespaceRecorder::start(&built.recorder, &ns).await.unwrap_or_else(|err| panic!("{err}"));
    let models = Delegation::script().await;
    let finance = config(&ns, "finance", vec![model("finance-gpt", &models.finance.base_url())], vec![]);
    let planner_tools = vec![ask("finance"), calculator()];
    let planner =
        config(&ns, "planner", vec![model("planner-gpt", &models.planner.base_url())], planner_tools);
    let _finance = runner_fixture::start(&built.runner, &finance).await;
    let _planner = runner_fixture::start(&built.runner, &planner).await;
    let nats = nats_fixture::connect().await.unwrap_or_else(|err| panic!("{err}"));
    let session = format!("session-{}", uuid::Uuid::new_v4());
    let request = AgentRequest {
        session_id: Some(session.clone()),
        from: Some("dispatcher".into()),
        ..AgentRequest::new(uuid::Uuid::new_v4().to_string(), "Can we afford the 6,800 USD gearbox repair?")
    };

    let reply = runner_fixture::send(&nats, &ns, "planner", &request).await;

    assert_eq!(reply.output.as_deref(), Some("Yes: 405,500 USD remain after the repair."), "{reply:?}");
    // Planner: its question, two turns, two tool results; finance: its question and answer.
    assert_eq!(reply.message_count, 5, "{reply:?}");
    wait_for_counts(&recorder, &session, [2, 7, 2, 3]).await;
    let delegated = assert_interactions(&recorder, &ns, &request, &reply).await;
    assert_messages(&recorder, &session, &request, &delegated).await;
    assert_tool_calls(&recorder, &request.request_id).await;
    assert_model_calls(&recorder, &session, &request.request_id, &delegated).await;
    assert_session(&recorder, &ns, &session, &reply).await;
    assert_only(&recorder, &ns).await;
    stop(recorder).await;
}

/// One interaction per hop, the delegated one attributed to its caller and parent request;
/// returns the delegated request's id.
async fn assert_interactions(
    recorder: &NamespaceRecorder,
    ns: &str,
    request: &AgentRequest,
    reply: &AgentReply,
) -> String {
    let session = request.session_id.as_deref().unwrap_or_default();
    let hops = rows(recorder, "interactions", "session_id", session).await;
    let planner = hops.iter().find(|h| h["agent"] == "planner").unwrap_or_else(|| panic!("{hops:?}"));
    let finance = hops.iter().find(|h| h["agent"] == "finance").unwrap_or_else(|| panic!("{hops:?}"));
    assert_eq!(planner["request_id"], request.request_id.as_str());
    assert_eq!(planner["parent_request_id"], Value::Null, "the caller's request has no parent");
    assert_eq!(
        (&planner["namespace"], &planner["from_agent"], &planner["to_agent"]),
        (&json!(ns), &json!("dispatcher"), &json!("planner"))
    );
    assert_eq!((&planner["outcome"], &planner["error"]), (&json!("ok"), &Value::Null));
    assert_eq!(planner["query"], request.input.as_str());
    assert_eq!(planner["response"], json!(reply.output));
    assert_eq!((&planner["model"], &planner["delegation_depth"]), (&json!("planner-gpt"), &json!(0)));
    let usage = reply.usage;
    assert_eq!((usage.input_tokens, usage.output_tokens), (200, 40), "two planner turns: {reply:?}");
    assert_eq!(
        (&planner["input_tokens"], &planner["output_tokens"]),
        (&json!(usage.input_tokens), &json!(usage.output_tokens)),
        "the planner's hop costs what its reply says"
    );
    assert_cost(&planner["cost_usd"], usage.cost_usd, "planner interaction");
    assert_cost(&json!(usage.cost_usd), cost(200, 40), "planner reply");

    let delegated = finance["request_id"].as_str().unwrap_or_default().to_string();
    assert!(delegated.starts_with(&format!("{}.", request.request_id)), "{delegated}");
    assert_eq!(finance["parent_request_id"], request.request_id.as_str());
    assert_eq!((&finance["from_agent"], &finance["to_agent"]), (&json!("planner"), &json!("finance")));
    assert_eq!((&finance["outcome"], &finance["delegation_depth"]), (&json!("ok"), &json!(1)));
    assert_eq!(finance["query"], "How much of the Q3 budget is left?");
    assert_eq!(finance["response"], "412,300 USD is left.");
    assert_eq!((&finance["input_tokens"], &finance["output_tokens"]), (&json!(7), &json!(3)));
    assert_cost(&finance["cost_usd"], cost(7, 3), "finance interaction");
    delegated
}

/// Both conversations, the tool results included, each message under its request.
async fn assert_messages(
    recorder: &NamespaceRecorder,
    session: &str,
    request: &AgentRequest,
    delegated: &str,
) {
    let messages = rows(recorder, "messages", "session_id", session).await;
    let of = |request_id: &str| -> Vec<(String, String, String)> {
        let mut found: Vec<_> = messages
            .iter()
            .filter(|m| m["request_id"] == request_id)
            .map(|m| {
                let text = |key: &str| m[key].as_str().unwrap_or("-").to_string();
                (text("role"), text("content"), text("tool_name"))
            })
            .collect();
        // Messages of one millisecond have no order between them.
        found.sort();
        found
    };
    let triple = |role: &str, content: &str, tool: &str| (role.into(), content.into(), tool.into());
    let mut planner = vec![
        triple("assistant", "", "-"),
        triple("assistant", "Yes: 405,500 USD remain after the repair.", "-"),
        triple("tool", "405500", "calculator"),
        triple("tool", "412,300 USD is left.", "ask-finance"),
        triple("user", "Can we afford the 6,800 USD gearbox repair?", "-"),
    ];
    planner.sort();
    assert_eq!(of(&request.request_id), planner, "{messages:#?}");
    let finance = vec![
        triple("assistant", "412,300 USD is left.", "-"),
        triple("user", "How much of the Q3 budget is left?", "-"),
    ];
    assert_eq!(of(delegated), finance, "{messages:#?}");
    for message in &messages {
        let tokens = (&message["input_tokens"], &message["output_tokens"]);
        match (message["role"].as_str(), message["agent"].as_str()) {
            (Some("assistant"), Some("planner")) => assert_eq!(tokens, (&json!(100), &json!(20))),
            (Some("assistant"), Some("finance")) => assert_eq!(tokens, (&json!(7), &json!(3))),
            _ => assert_eq!(tokens, (&Value::Null, &Value::Null), "{message}"),
        }
    }
    let first = messages.first().unwrap_or_else(|| panic!("no messages"));
    assert_eq!((&first["role"], &first["agent"]), (&json!("user"), &json!("planner")), "{messages:#?}");
}

/// The audit trail: the planner's two calls with their arguments.
async fn assert_tool_calls(recorder: &NamespaceRecorder, request_id: &str) {
    let mut calls = rows(recorder, "tool_calls", "request_id", request_id).await;
    calls.sort_by_key(|c| c["tool"].as_str().unwrap_or_default().to_string());
    let audit: Vec<_> =
        calls.iter().map(|c| (&c["agent"], &c["tool"], &c["arguments"], &c["ok"], &c["error"])).collect();
    assert_eq!(
        audit,
        [
            (
                &json!("planner"),
                &json!("ask-finance"),
                &json!({"question": "How much of the Q3 budget is left?"}),
                &json!(true),
                &Value::Null
            ),
            (
                &json!("planner"),
                &json!("calculator"),
                &json!({"expression": "412300 - 6800"}),
                &json!(true),
                &Value::Null
            ),
        ],
        "{calls:#?}"
    );
}

/// One row per provider call, priced by the endpoint that answered.
async fn assert_model_calls(recorder: &NamespaceRecorder, session: &str, request_id: &str, delegated: &str) {
    let calls = rows(recorder, "model_calls", "session_id", session).await;
    let mut seen: Vec<_> = calls
        .iter()
        .map(|c| {
            let text = |key: &str| c[key].as_str().unwrap_or_default().to_string();
            let tokens = (c["input_tokens"].as_u64().unwrap_or(0), c["output_tokens"].as_u64().unwrap_or(0));
            assert_cost(&c["cost_usd"], cost(tokens.0, tokens.1), "model call");
            assert_eq!(
                (&c["ok"], &c["attempts"], &c["provider"]),
                (&json!(true), &json!(1), &json!("openai-compatible"))
            );
            (text("request_id"), text("agent"), text("model"), tokens)
        })
        .collect();
    seen.sort();
    let call = |request: &str, agent: &str, model: &str, tokens| {
        (request.to_string(), agent.to_string(), model.to_string(), tokens)
    };
    let mut expected = vec![
        call(request_id, "planner", "planner-gpt", (100, 20)),
        call(request_id, "planner", "planner-gpt", (100, 20)),
        call(delegated, "finance", "finance-gpt", (7, 3)),
    ];
    expected.sort();
    assert_eq!(seen, expected, "{calls:#?}");
}

/// The session's totals: every message, and every token of both agents once.
async fn assert_session(recorder: &NamespaceRecorder, ns: &str, session: &str, reply: &AgentReply) {
    let sessions = rows(recorder, "sessions", "session_id", session).await;
    let [row] = sessions.as_slice() else { panic!("one session row: {sessions:?}") };
    assert_eq!((&row["namespace"], &row["agent"]), (&json!(ns), &json!("planner")), "of its first event");
    assert_eq!(
        row["message_count"],
        json!(u64::from(reply.message_count) + 2),
        "the planner's and finance's"
    );
    let (input, output) = (reply.usage.input_tokens + 7, reply.usage.output_tokens + 3);
    assert_eq!((&row["input_tokens"], &row["output_tokens"]), (&json!(input), &json!(output)), "{row}");
    assert_cost(&row["cost_usd"], reply.usage.cost_usd + cost(7, 3), "session");
    assert!(row["first_event_at"].as_str() <= row["last_event_at"].as_str(), "{row}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_task_is_kept_under_its_task_id() {
    let built = binaries().await;
    let ns = nats_fixture::unique_namespace("history-task");
    let recorder = NamespaceRecorder::start(&built.recorder, &ns).await.unwrap_or_else(|err| panic!("{err}"));
    let clerk_model = ScriptedModel::start(Flavor::OpenAi).await;
    clerk_model.push(Step::text("Report filed."));
    let mut runner = runner_fixture::start(
        &built.runner,
        &config(&ns, "clerk", vec![model("clerk-gpt", &clerk_model.base_url())], vec![]),
    )
    .await;
    let nats = nats_fixture::connect().await.unwrap_or_else(|err| panic!("{err}"));
    let queue =
        TaskQueue::open(async_nats::jetstream::new(nats.clone())).await.expect("the task queue opens");
    let (ns_token, agent) =
        (SubjectToken::new(&ns).expect("namespace"), SubjectToken::new("clerk").expect("agent"));
    let task = TaskId::new(format!("task-{}", uuid::Uuid::new_v4().simple())).expect("task id");
    let session = format!("session-{}", uuid::Uuid::new_v4());
    let request = AgentRequest {
        session_id: Some(session.clone()),
        ..AgentRequest::new(task.as_str(), "File the monthly fleet report.")
    };

    queue.submit(&ns_token, &agent, &request).await.expect("submitted");
    let record = queue.wait(&ns_token, &agent, &task, DEADLINE).await.expect("the task ends");

    assert_eq!(record.state, TaskState::Succeeded, "{record:?}");
    wait_for_counts(&recorder, &session, [1, 2, 0, 1]).await;
    let hops = rows(&recorder, "interactions", "request_id", task.as_str()).await;
    let [hop] = hops.as_slice() else { panic!("one interaction for the task: {hops:?}") };
    assert_eq!(
        (&hop["session_id"], &hop["agent"], &hop["to_agent"]),
        (&json!(session), &json!("clerk"), &json!("clerk"))
    );
    assert_eq!((&hop["outcome"], &hop["response"]), (&json!("ok"), &json!("Report filed.")), "{hop}");
    assert_eq!(
        hop["response"],
        json!(record.reply.and_then(|r| r.output)),
        "the row holds the task's result"
    );
    let messages = rows(&recorder, "messages", "request_id", task.as_str()).await;
    assert_eq!(messages.len(), 2, "the task's question and answer: {messages:?}");
    assert_only(&recorder, &ns).await;

    runner.kill().await.expect("the runner stops");
    let stream = async_nats::jetstream::new(nats).get_stream(TASKS_STREAM).await.expect("the tasks stream");
    let _ = stream.delete_consumer(&tasks::consumer_name(&ns_token, &agent)).await;
    stop(recorder).await;
}
