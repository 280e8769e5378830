//! Durable tasks through real runner processes and real JetStream: killed runners, replicas,
//! rollouts, cancellation, retries, giving up, and messages that are not tasks.

use std::collections::BTreeMap;
use std::time::Duration;

use agentry_protocol::subjects::SubjectToken;
use agentry_protocol::tasks::TaskId;
use agentry_protocol::{AgentRequest, ErrorCode, TaskState};
use agentry_task_queue::TaskQueue;
use agentry_tests::nats_fixture::PrivateNats;
use agentry_tests::polling::poll_until;
use agentry_tests::scripted_model::{Flavor, ScriptedModel, Step};
use async_nats::jetstream::{AckKind, stream};
use futures::StreamExt;

use crate::harness;
use crate::task_world::{AGENT, TaskWorld, metric, wait_metric};

/// Long enough for anything on a loaded two-core machine.
const PATIENCE: Duration = Duration::from_secs(120);

fn running(state: TaskState) -> bool {
    state == TaskState::Running
}

#[tokio::test]
async fn twenty_tasks_outlive_a_killed_runner_and_each_completes_once() {
    let world = TaskWorld::new("tasks-kill", |_| {}).await;
    world.model.set_default(Step::slow(Duration::from_secs(5), Step::Echo));
    let mut first = world.start_runner("runner-1").await;
    let ids = world.submit("job", 20).await;
    world.wait_until(&ids, PATIENCE, running).await;
    world.model.wait_for_requests(20, PATIENCE).await.expect("all 20 runs reached the model");
    first.kill().await.expect("SIGKILL");

    let second = world.start_runner("runner-2").await;
    let records = world.wait_ended(&ids, PATIENCE).await;
    for (i, record) in records.iter().enumerate() {
        assert_eq!(record.state, TaskState::Succeeded, "{record:?}");
        assert_eq!((record.attempts, record.runner.as_deref()), (2, Some("runner-2")), "{record:?}");
        let output = record.reply.as_ref().and_then(|r| r.output.as_deref());
        assert_eq!(output, Some(format!("echo: job {i}").as_str()), "{record:?}");
    }
    world.wait_consumer_empty(PATIENCE).await;
    // Nothing is left to deliver, so these are final: 20 cut-off runs and 20 complete ones.
    assert_eq!(world.model.request_count(), 40, "each task ran to completion exactly once");
    assert_eq!(world.records(&ids).await, records, "the results stand");
    assert_eq!(metric(&second, "agentry_tasks_total", &[("outcome", "succeeded")]).await, 20.0);
    assert_eq!(metric(&second, "agentry_task_redeliveries_total", &[]).await, 20.0);
    assert_eq!(metric(&second, "agentry_tasks_in_flight", &[]).await, 0.0);
    world.finish(vec![first, second]).await;
}

#[tokio::test]
async fn two_replicas_one_killed_still_complete_all_twenty() {
    let world = TaskWorld::new("tasks-replicas", |_| {}).await;
    world.model.set_default(Step::slow(Duration::from_secs(5), Step::Echo));
    let mut replicas = BTreeMap::new();
    for pod in ["replica-a", "replica-b"] {
        replicas.insert(pod, world.start_runner(pod).await);
    }
    let ids = world.submit("job", 20).await;
    let started = world.wait_until(&ids, PATIENCE, running).await;
    world.model.wait_for_requests(20, PATIENCE).await.expect("all 20 runs reached the model");
    let held_by = |pod: &str| started.iter().filter(|r| r.runner.as_deref() == Some(pod)).count();
    let (victim, survivor) = if held_by("replica-a") >= held_by("replica-b") {
        ("replica-a", "replica-b")
    } else {
        ("replica-b", "replica-a")
    };
    let cut_off = held_by(victim);
    replicas.get_mut(victim).expect("victim").kill().await.expect("SIGKILL");

    let records = world.wait_ended(&ids, PATIENCE).await;
    for (before, after) in started.iter().zip(&records) {
        assert_eq!(after.state, TaskState::Succeeded, "{after:?}");
        assert_eq!(after.runner.as_deref(), Some(survivor), "{after:?}");
        let expected_attempts = if before.runner.as_deref() == Some(victim) { 2 } else { 1 };
        assert_eq!(after.attempts, expected_attempts, "{after:?}");
        assert!(after.reply.as_ref().and_then(|r| r.output.as_ref()).is_some(), "{after:?}");
    }
    world.wait_consumer_empty(PATIENCE).await;
    assert_eq!(world.model.request_count(), 20 + cut_off, "only the cut-off runs ran twice");
    world.finish(replicas.into_values().collect()).await;
}

#[tokio::test]
async fn a_rollout_lets_the_old_replica_finish_its_tasks_while_the_new_one_takes_new_ones() {
    let world = TaskWorld::new("tasks-rollout", |_| {}).await;
    world.model.set_default(Step::slow(Duration::from_secs(15), Step::Echo));
    let mut old = world.start_runner("replica-old").await;
    let held = world.submit("long", 10).await;
    world.wait_until(&held, PATIENCE, running).await;
    world.model.wait_for_requests(10, PATIENCE).await.expect("all 10 runs reached the model");
    world.model.set_default(Step::Echo);

    old.terminate().expect("SIGTERM");
    let new = world.start_runner("replica-new").await;
    old.wait_unready(PATIENCE).await.expect("the old replica drains");
    let fresh = world.submit("fresh", 3).await;

    for record in world.wait_ended(&held, PATIENCE).await {
        assert_eq!(record.state, TaskState::Succeeded, "{record:?}");
        assert_eq!((record.attempts, record.runner.as_deref()), (1, Some("replica-old")), "{record:?}");
    }
    for record in world.wait_ended(&fresh, PATIENCE).await {
        assert_eq!(record.state, TaskState::Succeeded, "{record:?}");
        assert_eq!(record.runner.as_deref(), Some("replica-new"), "a draining replica takes no new task");
    }
    let status = old.wait_exit(PATIENCE).await.expect("the old replica exits once its runs end");
    assert!(status.success(), "clean exit: {status:?}\n{}", old.output());
    world.wait_consumer_empty(PATIENCE).await;
    assert_eq!(world.model.request_count(), 13, "nothing ran twice");
    world.finish(vec![old, new]).await;
}

#[tokio::test]
async fn a_task_cancelled_while_running_ends_cancelled_and_its_run_stops() {
    let world = TaskWorld::new("tasks-cancel", |_| {}).await;
    world.model.set_default(Step::slow(Duration::from_secs(50), Step::Echo));
    let runner = world.start_runner("runner").await;
    let ids = world.submit("long", 1).await;
    world.wait_until(&ids, PATIENCE, running).await;
    world.model.wait_for_requests(1, PATIENCE).await.expect("the run reached the model");

    let cancelled = world.queue.cancel(&world.ns, &world.agent, &ids[0], "no longer needed").await;
    assert_eq!(cancelled.expect("cancel").map(|r| r.state), Some(TaskState::Cancelled));
    wait_metric(&runner, "agentry_tasks_total", &[("outcome", "cancelled")], 1.0).await;
    wait_metric(&runner, "agentry_tasks_in_flight", &[], 0.0).await;
    world.wait_consumer_empty(PATIENCE).await;
    let record = world.records(&ids).await.remove(0);
    assert_eq!((record.state, record.message.as_deref()), (TaskState::Cancelled, Some("no longer needed")));
    assert!(record.reply.is_none(), "a cancelled run's partial result is discarded: {record:?}");
    assert_eq!(world.model.request_count(), 1);
    world.finish(vec![runner]).await;
}

#[tokio::test]
async fn tasks_failing_for_good_end_failed_after_one_run() {
    let world = TaskWorld::new("tasks-final", |config| {
        config.limits.max_turns = 1;
        config.tools = vec![harness::calculator()];
    })
    .await;
    world.model.set_default(Step::tool_call("calculator", serde_json::json!({"expression": "1+1"})));
    let runner = world.start_runner("runner").await;
    let turns = world.submit("loop", 1).await;
    let mut cycle = AgentRequest::new(format!("cycle-{}", uuid::Uuid::new_v4().simple()), "ask yourself");
    cycle.delegation_path = vec!["planner".into(), "worker".into()];
    world.queue.submit(&world.ns, &world.agent, &cycle).await.expect("submitted");
    let cycle_id = TaskId::new(cycle.request_id.clone()).expect("id");

    let records = world.wait_ended(&[turns[0].clone(), cycle_id], PATIENCE).await;
    let codes: Vec<_> =
        records.iter().map(|r| r.reply.as_ref().and_then(|r| r.error.as_ref()).map(|e| e.code)).collect();
    assert_eq!(codes, [Some(ErrorCode::MaxTurns), Some(ErrorCode::DelegationCycle)], "{records:?}");
    for record in &records {
        assert_eq!((record.state, record.attempts), (TaskState::Failed, 1), "{record:?}");
    }
    world.wait_consumer_empty(PATIENCE).await;
    assert_eq!(world.model.request_count(), 1, "one model turn, for the max_turns task only");
    assert_eq!(metric(&runner, "agentry_tasks_total", &[("outcome", "failed")]).await, 2.0);
    world.finish(vec![runner]).await;
}

#[tokio::test]
async fn a_task_failing_with_a_retryable_error_runs_again_and_succeeds() {
    let world = TaskWorld::new("tasks-retry", |config| config.resilience.max_retries = 0).await;
    world.model.push(Step::status(500));
    world.model.set_default(Step::Echo);
    let runner = world.start_runner("runner").await;
    let ids = world.submit("flaky", 1).await;

    let record = world.wait_ended(&ids, PATIENCE).await.remove(0);
    assert_eq!((record.state, record.attempts), (TaskState::Succeeded, 2), "{record:?}");
    assert_eq!(record.reply.and_then(|r| r.output).as_deref(), Some("echo: flaky 0"));
    world.wait_consumer_empty(PATIENCE).await;
    assert_eq!(world.model.request_count(), 2);
    assert_eq!(metric(&runner, "agentry_tasks_total", &[("outcome", "retried")]).await, 1.0);
    assert_eq!(metric(&runner, "agentry_task_redeliveries_total", &[]).await, 1.0);
    world.finish(vec![runner]).await;
}

/// Takes the agent's next task message `times` times and hands it straight back, as runners
/// killed mid-run would have: each delivery counts as a run.
async fn cut_off_runs(world: &TaskWorld, times: usize) {
    let consumer = world.queue.worker_consumer(&world.ns, &world.agent).await.expect("consumer");
    for _ in 0..times {
        let mut batch =
            consumer.batch().max_messages(1).expires(Duration::from_secs(10)).messages().await.expect("pull");
        let message = batch.next().await.expect("the task is delivered").expect("message");
        message.ack_with(AckKind::Nak(None)).await.expect("handed back");
    }
}

#[tokio::test]
async fn a_task_whose_last_run_fails_ends_failed_with_the_reason() {
    let world = TaskWorld::new("tasks-last", |config| config.resilience.max_retries = 0).await;
    world.model.set_default(Step::status(500));
    let ids = world.submit("doomed", 1).await;
    cut_off_runs(&world, 4).await;
    let runner = world.start_runner("runner").await;

    let record = world.wait_ended(&ids, PATIENCE).await.remove(0);
    assert_eq!((record.state, record.attempts), (TaskState::Failed, 5), "{record:?}");
    let message = record.message.clone().unwrap_or_default();
    assert!(message.starts_with("gave up after 5 runs; the last failed (model_unavailable)"), "{message}");
    let code = record.reply.as_ref().and_then(|r| r.error.as_ref()).map(|e| e.code);
    assert_eq!(code, Some(ErrorCode::ModelUnavailable));
    world.wait_consumer_empty(PATIENCE).await;
    assert_eq!(world.model.request_count(), 1, "only the fifth run reached the model");
    world.finish(vec![runner]).await;
}

#[tokio::test]
async fn a_task_delivered_after_its_last_run_ends_failed_without_running() {
    let world = TaskWorld::new("tasks-beyond", |_| {}).await;
    let ids = world.submit("cut-off", 1).await;
    cut_off_runs(&world, 5).await;
    let runner = world.start_runner("runner").await;

    let record = world.wait_ended(&ids, PATIENCE).await.remove(0);
    assert_eq!((record.state, record.attempts), (TaskState::Failed, 5), "{record:?}");
    let message = record.message.clone().unwrap_or_default();
    assert!(message.starts_with("gave up after 5 runs: none of them finished"), "{message}");
    world.wait_consumer_empty(PATIENCE).await;
    assert_eq!(world.model.request_count(), 0, "a sixth delivery does not run");
    assert_eq!(metric(&runner, "agentry_tasks_total", &[("outcome", "failed")]).await, 1.0);
    world.finish(vec![runner]).await;
}

#[tokio::test]
async fn messages_that_are_not_tasks_do_not_stop_the_worker() {
    let world = TaskWorld::new("tasks-malformed", |_| {}).await;
    let runner = world.start_runner("runner").await;
    let js = async_nats::jetstream::new(world.nats.clone());
    let bad_id = format!("bad-{}", uuid::Uuid::new_v4().simple());
    for payload in ["not json at all".to_string(), format!(r#"{{"requestId":"{bad_id}"}}"#)] {
        let ack = js.publish(world.subject(), payload.into()).await.expect("published");
        ack.await.expect("stored");
    }
    let ids = world.submit("fine", 1).await;

    let good = world.wait_ended(&ids, PATIENCE).await.remove(0);
    assert_eq!(good.state, TaskState::Succeeded, "{good:?}");
    assert_eq!(good.reply.and_then(|r| r.output).as_deref(), Some("echo: fine 0"));
    let bad_id = TaskId::new(bad_id).expect("id");
    let bad = world.wait_ended(&[bad_id], PATIENCE).await.remove(0);
    let error = bad.reply.as_ref().and_then(|r| r.error.clone()).expect("an error reply");
    assert_eq!((bad.state, error.code), (TaskState::Failed, ErrorCode::BadRequest), "{bad:?}");
    assert!(error.message.contains("input"), "the missing field is named: {}", error.message);
    world.wait_consumer_empty(PATIENCE).await;
    assert_eq!(metric(&runner, "agentry_tasks_total", &[("outcome", "skipped")]).await, 1.0);
    world.finish(vec![runner]).await;
}

#[tokio::test]
async fn queries_are_answered_while_the_task_queue_is_unavailable_and_tasks_run_once_it_is_back() {
    let server = PrivateNats::start().await.expect("private NATS");
    let nats = async_nats::connect(server.url()).await.expect("connect");
    let js = async_nats::jetstream::new(nats.clone());
    // A stream already holding the task subjects keeps AGENTRY_TASKS from being created.
    let blocker = stream::Config {
        name: "BLOCKER".into(),
        subjects: vec![agentry_protocol::subjects::TASKS_STREAM_SUBJECTS.into()],
        ..Default::default()
    };
    js.create_stream(blocker).await.expect("blocking stream");
    let model = ScriptedModel::start(Flavor::OpenAi).await;
    let ns = agentry_tests::nats_fixture::unique_namespace("tasks-outage");
    let mut config = harness::config(&ns, AGENT, vec![harness::model("primary", &model.base_url())], vec![]);
    config.nats.url = server.url();
    let runner = harness::start(&config).await;

    let reply = harness::ask_agent(&nats, &ns, AGENT, "still here?").await;
    assert_eq!(reply.output.as_deref(), Some("echo: still here?"), "{reply:?}");
    poll_until(PATIENCE, || async { runner.output().contains("task queue unavailable").then_some(()) })
        .await
        .expect("the worker says the queue is unavailable");
    js.delete_stream("BLOCKER").await.expect("unblocked");
    let queue = TaskQueue::open(js.clone()).await.expect("task queue");
    let (ns, agent) = (SubjectToken::new(ns).expect("ns"), SubjectToken::new(AGENT).expect("agent"));
    let task = TaskId::new(uuid::Uuid::new_v4().to_string()).expect("id");
    queue.submit(&ns, &agent, &AgentRequest::new(task.as_str(), "queued meanwhile")).await.expect("submit");

    let record = queue.wait(&ns, &agent, &task, PATIENCE).await.expect("the task ends");
    assert_eq!(record.state, TaskState::Succeeded, "{record:?}");
    let output = runner.output();
    assert_eq!(
        output.matches("task queue unavailable").count(),
        1,
        "logged once, not per attempt:\n{output}"
    );
    assert_eq!(output.matches("working on tasks").count(), 1, "{output}");
}

#[tokio::test]
async fn tasks_and_queries_share_the_replicas_slots() {
    let world = TaskWorld::new("tasks-slots", |config| config.limits.max_concurrent_requests = 2).await;
    world.model.set_default(Step::slow(Duration::from_secs(4), Step::Echo));
    let runner = world.start_runner("runner").await;
    let ns = world.ns.to_string();

    let busy_with_tasks = world.submit("task", 2).await;
    world.wait_until(&busy_with_tasks, PATIENCE, running).await;
    let refused = harness::ask_agent(&world.nats, &ns, AGENT, "room for me?").await;
    assert_eq!(refused.error.map(|e| e.code), Some(ErrorCode::Busy), "two tasks hold both slots");
    world.wait_ended(&busy_with_tasks, PATIENCE).await;

    let queries: Vec<_> = (0..2)
        .map(|i| {
            let (nats, ns) = (world.nats.clone(), ns.clone());
            tokio::spawn(async move { harness::ask_agent(&nats, &ns, AGENT, &format!("query {i}")).await })
        })
        .collect();
    world.model.wait_for_requests(4, PATIENCE).await.expect("both queries reached the model");
    let queries_at_model = now_ms();
    let waiting = world.submit("later", 1).await;
    for query in queries {
        let reply = query.await.expect("query");
        assert!(reply.output.is_some(), "{reply:?}");
    }
    let record = world.wait_ended(&waiting, PATIENCE).await.remove(0);
    assert_eq!(record.state, TaskState::Succeeded, "{record:?}");
    let started = record.started_ms.unwrap_or_default();
    assert!(
        started + 500 >= queries_at_model + 4_000,
        "the task waited for a slot: started {} ms after the queries reached the model",
        started.saturating_sub(queries_at_model)
    );
    world.finish(vec![runner]).await;
}

fn now_ms() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock");
    u64::try_from(now.as_millis()).expect("milliseconds fit")
}
