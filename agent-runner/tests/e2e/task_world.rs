//! One agent's task queue for a test: a scripted model, a namespace of its own, runner processes
//! named like pods, and the test's own view of the queue (submit, records, the durable consumer).

use std::time::Duration;

use agentry_protocol::subjects::{self, SubjectToken};
use agentry_protocol::tasks::TaskId;
use agentry_protocol::{AgentRequest, RunnerConfig, TaskRecord, TaskState};
use agentry_task_queue::TaskQueue;
use agentry_tests::nats_fixture;
use agentry_tests::polling::poll_until;
use agentry_tests::runner_process::RunnerProcess;
use agentry_tests::scripted_model::{Flavor, ScriptedModel};

use crate::harness;

/// The agent every task test runs.
pub(crate) const AGENT: &str = "worker";

/// A test's agent and its task queue.
pub(crate) struct TaskWorld {
    pub(crate) model: ScriptedModel,
    pub(crate) config: RunnerConfig,
    pub(crate) queue: TaskQueue,
    pub(crate) nats: async_nats::Client,
    pub(crate) ns: SubjectToken,
    pub(crate) agent: SubjectToken,
}

impl TaskWorld {
    /// A scripted model and a config of agent [`AGENT`] in a fresh namespace: 32 slots, a 60 s
    /// timeout and model timeout (slow models are the point), 30 s of grace; `adjust` changes it.
    pub(crate) async fn new(prefix: &str, adjust: impl FnOnce(&mut RunnerConfig)) -> Self {
        let model = ScriptedModel::start(Flavor::OpenAi).await;
        let ns = nats_fixture::unique_namespace(prefix);
        let mut endpoint = harness::model("primary", &model.base_url());
        endpoint.timeout_seconds = 60;
        let mut config = harness::config(&ns, AGENT, vec![endpoint], vec![]);
        config.limits.max_concurrent_requests = 32;
        config.limits.timeout_seconds = 60;
        config.shutdown_grace_seconds = 30;
        adjust(&mut config);
        let nats = nats_fixture::connect().await.expect("NATS");
        let queue = TaskQueue::open(async_nats::jetstream::new(nats.clone())).await.expect("task queue");
        let ns = SubjectToken::new(ns).expect("namespace token");
        Self { model, config, queue, nats, ns, agent: SubjectToken::new(AGENT).expect("agent token") }
    }

    /// Starts a runner process named `pod` (its name in task records), waiting until it is ready.
    pub(crate) async fn start_runner(&self, pod: &str) -> RunnerProcess {
        RunnerProcess::start(
            harness::runner_binary(),
            &self.config,
            &[(harness::MODEL_KEY_ENV, harness::MODEL_KEY), ("POD_NAME", pod)],
        )
        .await
        .unwrap_or_else(|err| panic!("runner {pod} did not start: {err}"))
    }

    /// Submits `count` tasks with inputs `<prefix> <i>`; returns their ids in order.
    pub(crate) async fn submit(&self, prefix: &str, count: usize) -> Vec<TaskId> {
        let mut ids = Vec::with_capacity(count);
        for i in 0..count {
            let id = TaskId::new(format!("{prefix}-{i}-{}", uuid::Uuid::new_v4().simple())).expect("id");
            let request = AgentRequest::new(id.as_str(), format!("{prefix} {i}"));
            let record = self.queue.submit(&self.ns, &self.agent, &request).await.expect("submitted");
            assert_eq!(record.state, TaskState::Queued);
            ids.push(id);
        }
        ids
    }

    /// The records of `ids`, in order (a missing one fails the test).
    pub(crate) async fn records(&self, ids: &[TaskId]) -> Vec<TaskRecord> {
        let mut records = Vec::with_capacity(ids.len());
        for id in ids {
            let found = self.queue.record(&self.ns, &self.agent, id).await.expect("record read");
            records.push(found.unwrap_or_else(|| panic!("task {id} has no record")).record);
        }
        records
    }

    /// Waits until every task of `ids` is in a state `wanted` accepts; returns the records.
    pub(crate) async fn wait_until(
        &self,
        ids: &[TaskId],
        timeout: Duration,
        wanted: impl Fn(TaskState) -> bool,
    ) -> Vec<TaskRecord> {
        let wanted = &wanted;
        let reached = poll_until(timeout, || async move {
            let records = self.records(ids).await;
            records.iter().all(|r| wanted(r.state)).then_some(records)
        })
        .await;
        match reached {
            Ok(records) => records,
            Err(err) => {
                let states: Vec<_> = self.records(ids).await.iter().map(|r| r.state.as_str()).collect();
                panic!("{err}: task states {states:?}")
            }
        }
    }

    /// Waits until every task of `ids` has ended.
    pub(crate) async fn wait_ended(&self, ids: &[TaskId], timeout: Duration) -> Vec<TaskRecord> {
        self.wait_until(ids, timeout, TaskState::is_terminal).await
    }

    /// Waits until the agent's consumer has nothing waiting and nothing unacknowledged.
    pub(crate) async fn wait_consumer_empty(&self, timeout: Duration) {
        let consumer = self.queue.worker_consumer(&self.ns, &self.agent).await.expect("consumer");
        let last = std::sync::Mutex::new((0, 0));
        let emptied = poll_until(timeout, || async {
            let mut consumer = consumer.clone();
            let info = consumer.info().await.ok()?;
            let counts = (info.num_pending, info.num_ack_pending);
            *last.lock().expect("lock") = counts;
            (counts == (0, 0)).then_some(())
        })
        .await;
        let (pending, ack_pending) = *last.lock().expect("lock");
        emptied.unwrap_or_else(|err| panic!("{err}: {pending} pending, {ack_pending} awaiting an ack"));
    }

    /// The agent's task subject, for publishing raw messages.
    pub(crate) fn subject(&self) -> String {
        subjects::tasks(&self.ns, &self.agent)
    }

    /// Kills the runners still alive, then deletes the agent's durable consumer (a live runner
    /// would make it again).
    pub(crate) async fn finish(self, runners: Vec<RunnerProcess>) {
        for mut runner in runners {
            let _ = runner.kill().await;
        }
        let name = agentry_protocol::tasks::consumer_name(&self.ns, &self.agent);
        let js = async_nats::jetstream::new(self.nats.clone());
        let stream = js.get_stream(subjects::TASKS_STREAM).await.expect("stream");
        stream.delete_consumer(&name).await.expect("consumer deleted");
    }
}

/// The value of a runner metric with `labels` (0 when absent).
pub(crate) async fn metric(runner: &RunnerProcess, name: &str, labels: &[(&str, &str)]) -> f64 {
    let text = runner.metrics().await.expect("metrics");
    harness::metric_value(&text, name, labels).unwrap_or(0.0)
}

/// Waits until a runner metric with `labels` equals `value`.
pub(crate) async fn wait_metric(runner: &RunnerProcess, name: &str, labels: &[(&str, &str)], value: f64) {
    let reached = poll_until(Duration::from_secs(30), || async {
        (metric(runner, name, labels).await == value).then_some(())
    })
    .await;
    if reached.is_err() {
        let now = metric(runner, name, labels).await;
        panic!("{name}{labels:?} is {now}, not {value}, after 30 s");
    }
}
