//! What the Session tests share: manifests, waits on a Session's phase, `kubectl wait`, its
//! Events and its task records, and a test-side worker that plays a runner's part.

use std::time::Duration;

use agentry_crds::{Session, SessionPhase};
use agentry_protocol::{AgentRequest, SubjectToken, TaskId, TaskRecord};
use agentry_task_queue::{Claim, TaskQueue, VersionedRecord};
use agentry_tests::operator_world::{CONVERGE, World, apply};
use async_nats::jetstream::consumer::PullConsumer;
use futures::StreamExt;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::ListParams;

/// A Session manifest in the test namespace: `spec` as given.
pub(crate) fn session(world: &World, name: &str, spec: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "agentry.dev/v1alpha1", "kind": "Session",
        "metadata": {"name": name, "namespace": world.ns},
        "spec": spec
    })
}

/// An Agent that exists but runs no runner (`paused`): its tasks wait for whoever takes them.
pub(crate) async fn paused_agent(world: &World, name: &str) {
    let agent = serde_json::json!({
        "apiVersion": "agentry.dev/v1alpha1", "kind": "Agent",
        "metadata": {"name": name, "namespace": world.ns},
        "spec": {"role": "worker", "modelRef": "absent-model", "paused": true}
    });
    apply(&world.client, &agent).await;
}

/// Waits until Session `name` is in `phase`; returns it.
pub(crate) async fn wait_phase(world: &World, name: &str, phase: SessionPhase) -> Session {
    world
        .wait_object::<Session>(name, &format!("phase {phase:?}"), |s| {
            s.status.as_ref().and_then(|st| st.phase) == Some(phase)
        })
        .await
}

/// `kubectl wait --for=condition=<condition> session/<name>`, as a person or pipeline runs it.
pub(crate) async fn kubectl_wait(world: &World, name: &str, condition: &str) {
    let output = tokio::process::Command::new("kubectl")
        .env("KUBECONFIG", world.kubeconfig())
        .args(["wait", "-n", &world.ns, &format!("--for=condition={condition}"), &format!("session/{name}")])
        .args(["--timeout", &format!("{}s", CONVERGE.as_secs())])
        .output()
        .await
        .expect("kubectl runs");
    assert!(
        output.status.success(),
        "kubectl wait --for=condition={condition} session/{name}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The reasons of the Events about Session `name`, oldest first.
pub(crate) async fn event_reasons(world: &World, name: &str) -> Vec<String> {
    let events: Api<Event> = Api::namespaced(world.client.clone(), &world.ns);
    let mut list = events.list(&ListParams::default()).await.expect("events").items;
    list.retain(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name));
    list.sort_by_key(|e| e.event_time.as_ref().map(|t| t.0));
    list.into_iter().filter_map(|e| e.reason).collect()
}

/// Waits until the Events about Session `name` include `reason`.
pub(crate) async fn wait_event(world: &World, name: &str, reason: &str) {
    world
        .eventually_explained(CONVERGE, &format!("a {reason} Event about {name}"), || async {
            let reasons = event_reasons(world, name).await;
            reasons.iter().any(|r| r == reason).then_some(()).ok_or(format!("{reasons:?}"))
        })
        .await;
}

/// The task id of Session `session`'s step (`None`: its only task).
pub(crate) fn task_id(session: &Session, step: Option<usize>) -> TaskId {
    let uid = session.metadata.uid.clone().expect("uid");
    let id = match step {
        None => format!("ses-{uid}"),
        Some(step) => format!("ses-{uid}-{step}"),
    };
    TaskId::new(id).expect("a task id")
}

/// The task queue on the test's NATS connection.
pub(crate) async fn queue(world: &World) -> TaskQueue {
    TaskQueue::open(async_nats::jetstream::new(world.nats.clone())).await.expect("the task queue opens")
}

/// The record of `agent`'s task `task`.
pub(crate) async fn record(world: &World, agent: &str, task: &TaskId) -> TaskRecord {
    let (ns, agent) = tokens(world, agent);
    queue(world).await.record(&ns, &agent, task).await.expect("read").expect("the task has a record").record
}

fn tokens(world: &World, agent: &str) -> (SubjectToken, SubjectToken) {
    (SubjectToken::new(world.ns.clone()).expect("ns"), SubjectToken::new(agent).expect("agent"))
}

/// A test-side stand-in for a runner: takes `agent`'s tasks from its durable consumer, claims
/// and finishes them through the task queue, as docs/protocol.md says a runner does. Used only
/// with paused Agents, whose consumer no runner pulls from.
pub(crate) struct TestWorker {
    js: async_nats::jetstream::Context,
    queue: TaskQueue,
    consumer: PullConsumer,
    ns: SubjectToken,
    agent: SubjectToken,
}

/// A task the worker has taken and claimed.
pub(crate) struct Taken {
    pub(crate) request: AgentRequest,
    pub(crate) claimed: VersionedRecord,
    message: async_nats::jetstream::Message,
}

impl TestWorker {
    /// A worker on `agent`'s tasks.
    pub(crate) async fn new(world: &World, agent: &str) -> Self {
        Self::on(world, world.nats.clone(), agent).await
    }

    /// A worker on `agent`'s tasks on the NATS server of `client`.
    pub(crate) async fn on(world: &World, client: async_nats::Client, agent: &str) -> Self {
        let js = async_nats::jetstream::new(client);
        let queue = TaskQueue::open(js.clone()).await.expect("the task queue opens");
        let (ns, agent) = tokens(world, agent);
        let consumer = queue.worker_consumer(&ns, &agent).await.expect("the agent's consumer");
        Self { js, queue, consumer, ns, agent }
    }

    /// The next task delivered within `wait`, if any.
    async fn next(&self, wait: Duration) -> Option<async_nats::jetstream::Message> {
        let mut batch = self.consumer.fetch().max_messages(1).expires(wait).messages().await.expect("fetch");
        batch.next().await.map(|m| m.expect("a message"))
    }

    /// Takes the next task and claims it as run 1; fails the test if none comes.
    pub(crate) async fn take(&self, world: &World) -> Taken {
        let message = world
            .eventually("a task is delivered to the test worker", || async {
                self.next(Duration::from_secs(1)).await
            })
            .await;
        let request: AgentRequest = serde_json::from_slice(&message.payload).expect("an AgentRequest");
        let task = TaskId::new(request.request_id.clone()).expect("a task id");
        let Claim::Run(claimed) =
            self.queue.claim(&self.ns, &self.agent, &task, 1, "test-worker").await.expect("claim")
        else {
            panic!("task {task} had already ended when delivered");
        };
        Taken { request, claimed, message }
    }

    /// Finishes `taken` with `reply`'s output, usage and message count (or error).
    pub(crate) async fn finish(&self, taken: Taken, reply: agentry_protocol::AgentReply) -> TaskRecord {
        let mut done = taken.claimed.record.clone();
        done.state = if reply.error.is_some() {
            agentry_protocol::TaskState::Failed
        } else {
            agentry_protocol::TaskState::Succeeded
        };
        done.reply = Some(reply);
        let stood = self.queue.finish(&taken.claimed, done).await.expect("finish");
        taken.message.ack().await.expect("ack");
        stood
    }

    /// Whether another task arrives within a few seconds (a duplicate submission would).
    pub(crate) async fn another_arrives(&self) -> bool {
        self.next(Duration::from_secs(3)).await.is_some()
    }

    /// Removes the agent's consumer.
    pub(crate) async fn remove(mut self) {
        let name = self.consumer.info().await.map(|i| i.name.clone()).unwrap_or_default();
        if let Ok(stream) = self.js.get_stream(agentry_protocol::subjects::TASKS_STREAM).await {
            let _ = stream.delete_consumer(&name).await;
        }
    }
}

/// Drops the test namespace's tasks from the work queue (tasks of paused Agents stay there
/// otherwise, for a week).
pub(crate) async fn purge_tasks(world: &World) {
    let js = async_nats::jetstream::new(world.nats.clone());
    if let Ok(stream) = js.get_stream(agentry_protocol::subjects::TASKS_STREAM).await {
        let _ = stream.purge().filter(format!("agentry.{}.tasks.>", world.ns)).await;
    }
}

/// A reply answering `output` with `cost` USD over `messages` messages.
pub(crate) fn answer(task: &str, output: &str, cost: f64, messages: u32) -> agentry_protocol::AgentReply {
    let mut reply = agentry_protocol::AgentReply::failure(task, agentry_protocol::ErrorCode::Internal, "");
    reply.error = None;
    reply.output = Some(output.into());
    reply.usage = agentry_protocol::Usage { input_tokens: 100, output_tokens: 20, cost_usd: cost };
    reply.message_count = messages;
    reply
}
