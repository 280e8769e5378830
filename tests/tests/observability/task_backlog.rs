//! A runner reports its agent's task backlog: tasks submitted faster than it works them show in
//! `agentry_tasks_pending` on its real `/metrics`, and the figure returns to 0 once they are done.

use std::time::Duration;

use agentry_protocol::AgentRequest;
use agentry_protocol::subjects::SubjectToken;
use agentry_protocol::tasks::TaskId;
use agentry_task_queue::TaskQueue;
use agentry_tests::binaries;
use agentry_tests::metrics_text::metric_value;
use agentry_tests::polling::poll_until;
use agentry_tests::runner_fixture::{AGENT, OneAgent};
use agentry_tests::scripted_model::Step;

/// Tasks submitted; each model answer takes [`ANSWER_TIME`], one at a time.
const TASKS: usize = 5;
const ANSWER_TIME: Duration = Duration::from_secs(3);

async fn pending(agent: &OneAgent) -> Option<f64> {
    let text = agent.runner.metrics().await.ok()?;
    metric_value(&text, "agentry_tasks_pending", &[("agent", AGENT), ("namespace", agent.ns.as_str())])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_waiting_for_a_busy_runner_show_as_pending_until_done() {
    let built = tokio::task::spawn_blocking(binaries::built).await.expect("build task").expect("binaries");
    let agent = OneAgent::start(&built.runner, "backlog", |config| {
        config.limits.max_concurrent_requests = 1;
    })
    .await;
    for _ in 0..TASKS {
        agent.model.push(Step::slow(ANSWER_TIME, Step::text("done")));
    }
    let queue = TaskQueue::open(async_nats::jetstream::new(agent.nats.clone())).await.expect("task queue");
    let (ns, name) = (SubjectToken::new(&agent.ns).expect("ns"), SubjectToken::new(AGENT).expect("agent"));
    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let task = TaskId::new(format!("backlog-{i}-{}", uuid::Uuid::new_v4().simple())).expect("task id");
        queue.submit(&ns, &name, &AgentRequest::new(task.as_str(), "work")).await.expect("submitted");
        tasks.push(task);
    }
    // One runs at a time, so the others wait; the gauge is refreshed every 5 s.
    let waiting =
        poll_until(Duration::from_secs(15), || async { pending(&agent).await.filter(|n| *n >= 1.0) }).await;
    assert!(waiting.is_ok(), "never pending: {:?}", agent.runner.metrics().await);
    for task in &tasks {
        queue.wait(&ns, &name, task, Duration::from_secs(60)).await.expect("the task ends");
    }
    let drained =
        poll_until(Duration::from_secs(15), || async { (pending(&agent).await == Some(0.0)).then_some(()) })
            .await;
    assert!(drained.is_ok(), "still pending: {:?}", pending(&agent).await);
}
