//! The real `agentry` binary against a scripted API on 127.0.0.1 reached with `--api-url`: the
//! paths, query strings, headers and bodies it sends, how it prints what comes back, and its exit
//! codes and error texts.

mod fixture;

use fixture::{FakeApi, Home, agentry, agentry_run, arg};
use serde_json::json;

const TOKEN: &str = "tok-from-kubeconfig";

fn token_user() -> String {
    format!("    token: {TOKEN}")
}

fn agent(name: &str, phase: &str) -> serde_json::Value {
    json!({"name": name, "namespace": "fleet", "role": "analyst", "capabilities": ["sql", "charts"],
           "model": "gpt-4o", "phase": phase, "replicas": 2, "readyReplicas": 2})
}

fn invoke_response(output: &str) -> serde_json::Value {
    json!({"requestId": "r-1", "output": output, "model": "gpt-4o",
           "usage": {"inputTokens": 10, "outputTokens": 5, "costUsd": 0.001}, "toolCalls": [], "messageCount": 2})
}

#[tokio::test]
async fn agents_list_sends_the_token_header_to_the_contexts_namespace_and_prints_a_table() {
    let api = FakeApi::start().await;
    let home = Home::new("https://unused.invalid", "fleet", &token_user());
    api.on_json("GET", "/api/v1/namespaces/fleet/agents", 200, json!({"items": [agent("analyst", "Ready")]}));

    let run = agentry_run(&home, &["--api-url", &api.url, "agents", "list"]).await;

    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        run.stdout,
        "NAME      ROLE      PHASE   READY   MODEL    CAPABILITIES\nanalyst   analyst   Ready   2/2     gpt-4o   sql,charts\n"
    );
    let seen = api.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("x-agentry-authorization"), Some(format!("Bearer {TOKEN}").as_str()));
    assert_eq!(seen[0].header("authorization"), None, "direct mode sends the token only in the API's header");
    assert_eq!(seen[0].header("accept"), Some("application/json"));
}

#[tokio::test]
async fn flags_and_environment_override_the_kubeconfig() {
    let api = FakeApi::start().await;
    let home = Home::new("https://unused.invalid", "fleet", &token_user());
    api.on_json("GET", "/api/v1/namespaces/other/agents", 200, json!({"items": []}));

    let mut command = agentry(&home, &["agents", "list", "-n", "other", "-o", "json"]);
    command.env("AGENTRY_API_URL", &api.url).env("AGENTRY_TOKEN", "tok-from-env");
    let run = fixture::run(command).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&run.stdout).unwrap(), json!({"items": []}));
    assert_eq!(api.seen()[0].header("x-agentry-authorization"), Some("Bearer tok-from-env"));

    let token_file = home.file("token", "tok-from-file\n");
    let run = agentry_run(
        &home,
        &["--api-url", &api.url, "-n", "other", "--token-file", &arg(&token_file), "agents", "list"],
    )
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(api.seen()[1].header("x-agentry-authorization"), Some("Bearer tok-from-file"));
}

#[tokio::test]
async fn ask_posts_the_input_and_prints_the_answer_or_the_response_object() {
    let api = FakeApi::start().await;
    let home = Home::new("https://unused.invalid", "fleet", &token_user());
    api.on_json("POST", "/api/v1/namespaces/fleet/agents/analyst/invoke", 200, invoke_response("42 rows."));

    let run = agentry_run(
        &home,
        &[
            "--api-url",
            &api.url,
            "ask",
            "analyst",
            "How many rows?",
            "--timeout",
            "30s",
            "--budget-usd",
            "0.5",
        ],
    )
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, "42 rows.\n");
    let seen = &api.seen()[0];
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(seen.json(), json!({"input": "How many rows?", "timeoutSeconds": 30, "budgetUsd": 0.5}));

    let run = agentry_run(&home, &["--api-url", &api.url, "ask", "analyst", "again", "-o", "yaml"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let printed: serde_json::Value = serde_yaml::from_str(&run.stdout).unwrap();
    assert_eq!(printed, invoke_response("42 rows."));
    assert_eq!(api.seen()[1].json()["timeoutSeconds"], 120, "the default timeout");
}

fn session(id: &str) -> serde_json::Value {
    json!({"sessionId": id, "namespace": "fleet", "agent": "sales", "type": "chat", "phase": "Active",
           "startedAt": "2026-11-30T11:00:00Z", "lastActivityAt": "2026-11-30T11:30:00Z",
           "messageCount": 2, "inputTokens": 10, "outputTokens": 20, "costUsd": 0.01})
}

#[tokio::test]
async fn sessions_list_follows_every_cursor_with_all_and_keeps_the_filters() {
    let api = FakeApi::start().await;
    let home = Home::new("https://unused.invalid", "fleet", &token_user());
    let path = "/api/v1/namespaces/fleet/sessions";
    api.on_json("GET", path, 200, json!({"items": [session("s-1"), session("s-2")], "next": "c/2 +"}));
    api.on_json("GET", path, 200, json!({"items": [session("s-3")]}));

    let run = agentry_run(
        &home,
        &[
            "--api-url",
            &api.url,
            "sessions",
            "list",
            "--agent",
            "sales",
            "--type",
            "chat",
            "--limit",
            "2",
            "--since",
            "2026-11-30T10:00:00Z",
            "--all",
            "-o",
            "json",
        ],
    )
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let printed: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(printed, json!({"items": [session("s-1"), session("s-2"), session("s-3")]}));
    let queries: Vec<_> = api.seen().iter().map(|s| s.query.clone().unwrap_or_default()).collect();
    assert_eq!(
        queries,
        [
            "agent=sales&limit=2&since=2026-11-30T10%3A00%3A00Z&type=chat",
            "agent=sales&cursor=c%2F2%20%2B&limit=2&since=2026-11-30T10%3A00%3A00Z&type=chat"
        ]
    );

    // Without --all: the first page, and a note that there is more.
    let run = agentry_run(&home, &["--api-url", &api.url, "sessions", "list"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout.lines().count(), 2, "header and s-3: {}", run.stdout);
    assert!(
        run.stdout
            .starts_with("ID    AGENT   TYPE   PHASE    TITLE    MESSAGES   COST    LAST ACTIVE   AGE\n"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn api_errors_print_their_message_and_field_and_exit_1() {
    let api = FakeApi::start().await;
    let home = Home::new("https://unused.invalid", "fleet", &token_user());
    api.on_json(
        "GET",
        "/api/v1/namespaces/fleet/interactions",
        400,
        json!({"code": "bad_request", "message": "`since` is after `until`", "field": "since"}),
    );
    api.on_json(
        "POST",
        "/api/v1/namespaces/fleet/agents/ghost/invoke",
        404,
        json!({"code": "not_found", "message": "no agent \"ghost\" in namespace fleet"}),
    );
    api.on_json("GET", "/api/v1/namespaces/fleet/agents", 403,
        json!({"code": "forbidden", "message": "user \"jane\" cannot list agents.agentry.dev in namespace fleet"}));

    let run = agentry_run(
        &home,
        &["--api-url", &api.url, "interactions", "list", "--since", "1h", "--until", "2h"],
    )
    .await;
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (Some(1), "error: `since` is after `until` (field `since`)\n")
    );
    let run = agentry_run(&home, &["--api-url", &api.url, "ask", "ghost", "hi"]).await;
    assert_eq!((run.code, run.stderr.as_str()), (Some(1), "error: no agent \"ghost\" in namespace fleet\n"));
    let run = agentry_run(&home, &["--api-url", &api.url, "agents", "list"]).await;
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (Some(1), "error: forbidden: user \"jane\" cannot list agents.agentry.dev in namespace fleet\n")
    );
    assert!(run.stdout.is_empty());
}

#[tokio::test]
async fn a_user_without_a_token_is_told_how_to_get_one_and_nothing_is_sent() {
    let api = FakeApi::start().await;
    let home = Home::new(
        "https://unused.invalid",
        "fleet",
        "    client-certificate-data: Zm9v\n    client-key-data: YmFy",
    );

    let run = agentry_run(&home, &["--api-url", &api.url, "agents", "list"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.starts_with(
            "error: the Agentry API needs a bearer token, and the kubeconfig user \"u\" has none"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("kubectl create token"), "{}", run.stderr);
    assert!(api.seen().is_empty());
}

#[tokio::test]
async fn the_token_is_never_printed_even_verbosely() {
    let api = FakeApi::start().await;
    let home = Home::new("https://unused.invalid", "fleet", &token_user());
    api.on_json(
        "GET",
        "/api/v1/namespaces/fleet/agents",
        401,
        json!({"code": "unauthenticated", "message": "the token was not accepted"}),
    );

    let run = agentry_run(&home, &["--api-url", &api.url, "-v", "agents", "list"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.contains(&format!("> GET {}/api/v1/namespaces/fleet/agents", api.url)),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("< 401 Unauthorized after"), "{}", run.stderr);
    assert!(run.stderr.contains("error: not authenticated: the token was not accepted"), "{}", run.stderr);
    assert!(!run.stderr.contains(TOKEN) && !run.stdout.contains(TOKEN), "{run:?}");
}

#[tokio::test]
async fn tasks_submit_wait_polls_until_the_task_ends() {
    let api = FakeApi::start().await;
    let home = Home::new("https://unused.invalid", "fleet", &token_user());
    let task = |phase: &str| json!({"taskId": "t-7", "agent": "ops", "phase": phase, "attempts": 1});
    api.on_json("POST", "/api/v1/namespaces/fleet/agents/ops/tasks", 200, task("queued"));
    api.on_json("GET", "/api/v1/namespaces/fleet/agents/ops/tasks/t-7", 200, task("running"));
    let mut done = task("succeeded");
    done["result"] = invoke_response("Rotated the keys.");
    api.on_json("GET", "/api/v1/namespaces/fleet/agents/ops/tasks/t-7", 200, done);

    let run = agentry_run(
        &home,
        &["--api-url", &api.url, "tasks", "submit", "ops", "Rotate keys", "--id", "t-7", "--wait"],
    )
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, "Rotated the keys.\n");
    let seen = api.seen();
    assert_eq!(seen[0].json(), json!({"input": "Rotate keys", "taskId": "t-7"}));
    assert_eq!(seen.iter().filter(|s| s.method == "GET").count(), 2, "polled until it ended");

    // The API answers an ended task as it is instead of cancelling it.
    api.on_json("DELETE", "/api/v1/namespaces/fleet/agents/ops/tasks/t-7", 200, task("succeeded"));
    let run = agentry_run(&home, &["--api-url", &api.url, "tasks", "cancel", "ops", "t-7"]).await;
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (Some(0), "task t-7 had already succeeded: nothing to cancel\n")
    );
    api.on_json("DELETE", "/api/v1/namespaces/fleet/agents/ops/tasks/t-8", 200, task("cancelled"));
    let run = agentry_run(&home, &["--api-url", &api.url, "tasks", "cancel", "ops", "t-8"]).await;
    assert_eq!((run.code, run.stdout.as_str()), (Some(0), "task t-8 cancelled\n"));
}

#[tokio::test]
async fn stats_and_costs_send_their_windows() {
    let api = FakeApi::start().await;
    let home = Home::new("https://unused.invalid", "fleet", &token_user());
    let totals = json!({"count": 3, "errors": 0, "errorRate": 0.0, "latencyMs": {"p50": 100.0, "p95": 200.0, "p99": 300.0},
                        "inputTokens": 30, "outputTokens": 60, "costUsd": 0.03});
    api.on_json(
        "GET",
        "/api/v1/namespaces/fleet/interaction-stats",
        200,
        json!({"since": "a", "until": "b", "totals": totals, "byType": [], "byAgent": []}),
    );
    api.on_json(
        "GET",
        "/api/v1/namespaces/fleet/costs",
        200,
        json!({"since": "a", "until": "b", "lines": [], "totalCostUsd": 0.0}),
    );

    let run = agentry_run(
        &home,
        &["--api-url", &api.url, "interactions", "stats", "--window", "24h", "--agent", "sales"],
    )
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("Latency:       p50 100ms, p95 200ms, p99 300ms\n"), "{}", run.stdout);
    let run = agentry_run(&home, &["--api-url", &api.url, "costs"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.ends_with("Total $0.00 from a to b\n"), "{}", run.stdout);
    let queries: Vec<_> = api.seen().iter().map(|s| s.query.clone().unwrap_or_default()).collect();
    assert_eq!(queries, ["agent=sales&window=24h", "window=7d"]);
}

#[tokio::test]
async fn local_mistakes_fail_before_any_request() {
    let api = FakeApi::start().await;
    let home = Home::new("https://unused.invalid", "fleet", &token_user());
    let run = agentry_run(&home, &["--api-url", &api.url, "agents", "top", "--window", "1w"]).await;
    assert_eq!(run.code, Some(2), "a usage error, as clap reports them: {run:?}");
    assert!(run.stderr.contains("s, m, h or d"), "{}", run.stderr);
    let run = agentry_run(&home, &["--api-url", "ftp://x", "agents", "list"]).await;
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("must be an http:// or https:// URL"), "{}", run.stderr);
    assert!(api.seen().is_empty());
}
