//! The Session controller alone: its Agents are paused (no runner pulls their tasks), and a
//! test-side worker plays the runner's part through the task queue exactly as docs/protocol.md
//! says a runner does. What the real runners add is in `sessions_on_runners`.

use agentry_crds::{AgentPhase, Session, SessionPhase};
use agentry_protocol::TaskState;
use agentry_tests::nats_fixture::PrivateNats;
use agentry_tests::operator_process::OperatorOptions;
use agentry_tests::operator_world::{World, apply, condition_of};

use crate::session_fixtures::{
    TestWorker, answer, event_reasons, kubectl_wait, paused_agent, purge_tasks, record, session, task_id,
    wait_event, wait_phase,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_alone_a_session_waits_for_its_agent_then_completes_from_its_task_record() {
    let world = World::start("ses-ctl").await;
    let _operator = world.start_operator().await;
    let spec = serde_json::json!({
        "type": "task", "agentRef": "planner", "input": "Plan the week.",
        "context": {"priority": "high"},
        "limits": {"budgetUsd": 2, "maxMessages": 40, "maxDurationSeconds": 600}
    });
    apply(&world.client, &session(&world, "weekly", spec)).await;
    let pending = world.wait_reason::<Session>("weekly", "Complete", "AgentNotFound").await;
    assert!(pending.message.contains("Agent planner does not exist"), "{}", pending.message);
    wait_phase(&world, "weekly", SessionPhase::Pending).await;
    wait_event(&world, "weekly", "AgentNotFound").await;

    paused_agent(&world, "planner").await;
    let worker = TestWorker::new(&world, "planner").await;
    let running = wait_phase(&world, "weekly", SessionPhase::Running).await;
    let status = running.status.clone().expect("status");
    let uid = running.metadata.uid.clone().expect("uid");
    assert_eq!(status.session_id.as_deref(), Some(uid.as_str()));
    let taken = worker.take(&world).await;
    let request = taken.request.clone();
    assert_eq!(request.request_id, format!("ses-{uid}"));
    assert_eq!(
        (request.session_id.as_deref(), request.from.as_deref()),
        (Some(uid.as_str()), Some("session/weekly"))
    );
    assert_eq!(request.input, "Plan the week.");
    assert_eq!(request.context, Some(serde_json::json!({"priority": "high"})));
    let limits = request.limits.expect("limits");
    assert_eq!((limits.budget_usd, limits.max_messages), (Some(2.0), Some(40)));
    let started = status.started_at.expect("startedAt").0.as_millisecond();
    let deadline = i64::try_from(request.deadline_ms.expect("deadlineMs")).expect("ms");
    // The deadline is startedAt + maxDurationSeconds; startedAt is written at second precision.
    assert!((deadline - started - 600_000).abs() < 1_000, "deadline {deadline}, started {started}");
    world.wait_reason::<Session>("weekly", "Complete", "TaskRunning").await;

    let task = request.request_id.clone();
    worker.finish(taken, answer(&task, "Monday: TRK-0042 to the workshop.", 0.0125, 7)).await;
    let done = wait_phase(&world, "weekly", SessionPhase::Succeeded).await;
    kubectl_wait(&world, "weekly", "Complete").await;
    let status = done.status.clone().expect("status");
    assert_eq!(status.result.as_deref(), Some("Monday: TRK-0042 to the workshop."));
    assert_eq!(status.message_count, Some(7));
    let usage = status.usage.expect("usage");
    assert_eq!((usage.input_tokens, usage.output_tokens, usage.cost_usd), (100, 20, 0.0125));
    assert!(status.completed_at.is_some());
    assert!(condition_of(&done, "Failed").is_some_and(|c| !c.is_true()));
    wait_event(&world, "weekly", "Succeeded").await;
    let reasons = event_reasons(&world, "weekly").await;
    assert_eq!(reasons.iter().filter(|r| *r == "Started").count(), 1, "{reasons:?}");
    worker.remove().await;
    purge_tasks(&world).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_alone_a_collaboration_runs_each_participant_then_the_lead() {
    let world = World::start("ses-collab").await;
    let _operator = world.start_operator().await;
    for agent in ["lead", "finance", "sales"] {
        paused_agent(&world, agent).await;
    }
    let workers = [
        TestWorker::new(&world, "finance").await,
        TestWorker::new(&world, "sales").await,
        TestWorker::new(&world, "lead").await,
    ];
    let spec = serde_json::json!({
        "type": "collaboration", "agentRef": "lead", "participants": ["finance", "sales"],
        "input": "Repair or retire TRK-0042?", "limits": {"budgetUsd": 1}
    });
    apply(&world.client, &session(&world, "together", spec)).await;
    let outputs = ["Repair costs 6,800 USD.", "Two deliveries depend on it.", "Repair it."];
    let mut inputs = Vec::new();
    for (step, worker) in workers.iter().enumerate() {
        let taken = worker.take(&world).await;
        let running = wait_phase(&world, "together", SessionPhase::Running).await;
        assert_eq!(taken.request.request_id, task_id(&running, Some(step)).as_str());
        inputs.push(taken.request.input.clone());
        let left = taken.request.limits.and_then(|l| l.budget_usd).expect("budget left");
        assert!((left - (1.0 - 0.1 * step as f64)).abs() < 1e-9, "step {step} may spend {left}");
        let task = taken.request.request_id.clone();
        worker.finish(taken, answer(&task, outputs[step], 0.1, 3)).await;
    }
    assert!(inputs[0].contains("participant 1 of 2") && !inputs[0].contains("Contribution"), "{}", inputs[0]);
    assert!(inputs[1].contains("## Contribution of finance\nRepair costs 6,800 USD."), "{}", inputs[1]);
    assert!(
        inputs[2].contains("you (lead) lead") && inputs[2].contains("Two deliveries depend on it."),
        "{}",
        inputs[2]
    );
    let done = wait_phase(&world, "together", SessionPhase::Succeeded).await;
    let status = done.status.expect("status");
    assert_eq!(status.result.as_deref(), Some("Repair it."));
    assert_eq!(status.message_count, Some(9));
    let usage = status.usage.expect("usage");
    assert_eq!(usage.input_tokens, 300);
    assert!((usage.cost_usd - 0.3).abs() < 1e-9, "{}", usage.cost_usd);
    for worker in workers {
        worker.remove().await;
    }
    purge_tasks(&world).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_alone_an_operator_killed_twice_mid_session_submits_and_completes_it_once() {
    let world = World::start("ses-kill").await;
    let mut first = world.start_operator().await;
    paused_agent(&world, "planner").await;
    let worker = TestWorker::new(&world, "planner").await;
    let spec = serde_json::json!({"type": "task", "agentRef": "planner", "input": "Plan."});
    apply(&world.client, &session(&world, "once", spec)).await;
    let running = wait_phase(&world, "once", SessionPhase::Running).await;
    // The Event follows the status write; a kill between the two would lose it (Events are
    // best-effort), and this test counts it.
    world
        .eventually("the Started event", || async {
            event_reasons(&world, "once").await.iter().any(|r| r == "Started").then_some(())
        })
        .await;
    // Killed with the task queued: the next operator must not submit it again.
    first.kill().await.expect("killed");
    let mut second = world.start_operator().await;
    let taken = worker.take(&world).await;
    world.wait_reason::<Session>("once", "Complete", "TaskRunning").await;
    // Killed with the task running: the next operator must not submit it again either.
    second.kill().await.expect("killed");
    let _third = world.start_operator().await;
    let task = taken.request.request_id.clone();
    worker.finish(taken, answer(&task, "Done.", 0.01, 3)).await;
    let done = wait_phase(&world, "once", SessionPhase::Succeeded).await;
    assert_eq!(done.status.and_then(|s| s.result).as_deref(), Some("Done."));
    assert!(!worker.another_arrives().await, "the task was submitted (and delivered) once");
    let record = record(&world, "planner", &task_id(&running, None)).await;
    assert_eq!((record.state, record.attempts), (TaskState::Succeeded, 1));
    let reasons = event_reasons(&world, "once").await;
    assert_eq!(reasons.iter().filter(|r| *r == "Started").count(), 1, "{reasons:?}");
    assert_eq!(reasons.iter().filter(|r| *r == "Succeeded").count(), 1, "{reasons:?}");
    worker.remove().await;
    purge_tasks(&world).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_past_its_max_duration_expires_and_its_task_is_cancelled() {
    let world = World::start("ses-expire").await;
    let _operator = world.start_operator().await;
    // No runner ever takes the task: only the deadline ends it.
    paused_agent(&world, "planner").await;
    let spec = serde_json::json!({
        "type": "task", "agentRef": "planner", "input": "Plan.", "limits": {"maxDurationSeconds": 2}
    });
    apply(&world.client, &session(&world, "late", spec)).await;
    let expired = wait_phase(&world, "late", SessionPhase::Expired).await;
    kubectl_wait(&world, "late", "Failed").await;
    let failed = condition_of(&expired, "Failed").expect("Failed");
    assert!(failed.is_true() && failed.reason == "DeadlineExceeded", "{failed:?}");
    let status = expired.status.clone().expect("status");
    let (started, completed) =
        (status.started_at.expect("startedAt").0, status.completed_at.expect("completedAt").0);
    assert!(completed.as_second() - started.as_second() >= 2, "expired at {completed}, started {started}");
    let record = record(&world, "planner", &task_id(&expired, None)).await;
    assert_eq!(record.state, TaskState::Cancelled, "{record:?}");
    wait_event(&world, "late", "Expired").await;
    purge_tasks(&world).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_alone_sessions_wait_for_nats_while_agents_are_reconciled_without_it() {
    let mut nats = PrivateNats::start().await.expect("a private NATS");
    nats.kill();
    let world = World::start("ses-nats").await;
    let options = OperatorOptions { nats_url: nats.url(), ..world.operator_options() };
    let _operator = world.start_operator_with(&options).await;
    paused_agent(&world, "planner").await;
    let spec = serde_json::json!({"type": "task", "agentRef": "planner", "input": "Plan."});
    apply(&world.client, &session(&world, "offline", spec)).await;
    // Neither the Agent controller nor the operator waits for NATS.
    world.wait_agent("planner", AgentPhase::Paused).await;
    let waiting = world.wait_reason::<Session>("offline", "Complete", "TaskQueueUnavailable").await;
    assert!(waiting.message.contains(&nats.url()), "{}", waiting.message);
    wait_phase(&world, "offline", SessionPhase::Pending).await;

    nats.revive().await.expect("NATS back");
    let client = async_nats::connect(nats.url()).await.expect("connect to the private NATS");
    let worker = TestWorker::on(&world, client, "planner").await;
    let taken = worker.take(&world).await;
    let task = taken.request.request_id.clone();
    worker.finish(taken, answer(&task, "Planned.", 0.0, 2)).await;
    let done = wait_phase(&world, "offline", SessionPhase::Succeeded).await;
    assert_eq!(done.status.and_then(|s| s.result).as_deref(), Some("Planned."));
}
