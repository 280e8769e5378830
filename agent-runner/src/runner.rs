//! The runner as a library: one agent served on NATS, with its admin endpoint, from its config.
//! [`Runner::start`] brings it up; the handle stops it, or waits for a shutdown signal and then
//! stops it. The binary only reads the environment around it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use agentry_bus_identity::connection::BusAuth;
use agentry_bus_identity::{BusCredentials, permissions};
use agentry_process::admin_endpoint::{self, AdminEndpoint, AdminError};
use agentry_process::{BuildInfo, ProcessMetrics, Readiness, ReadinessGate};
use agentry_protocol::runner_config::RunnerConfig;
use agentry_protocol::subjects::{Caller, CallerError, InvalidToken, SubjectToken};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::agent_loop::AgentLoop;
use crate::drain::{self, Phase};
use crate::event_publisher::EventPublisher;
use crate::memory_recall::{LongTermMemory, MemoryConfigError};
use crate::metrics::RunnerMetrics;
use crate::model::{self, ConfigError, ModelChain};
use crate::nats_delegate::NatsDelegate;
use crate::service::{ServeError, Service};
use crate::slots::Slots;
use crate::task_run::TaskRunner;
use crate::task_worker::{self, TaskWorker};
use crate::tools::{ToolBox, ToolConfigError};
use crate::usage_ledger::UsageLedger;

/// How long buffered events get to reach JetStream at exit.
const EVENT_FLUSH_TIMEOUT: Duration =
    Duration::from_secs(agentry_protocol::runner_config::EVENT_FLUSH_SECONDS);
/// How long a runner with a daily budget waits at start to learn today's spend.
const DAILY_USAGE_LOAD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long task runs cut off by the end of the grace period get to hand their tasks back.
const TASK_RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// Looks up a secret by the environment variable name the config gives it (model API keys,
/// tool header values).
pub type SecretLookup<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// Why a runner could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The config's namespace or agent cannot be part of a NATS subject.
    #[error("config {field}")]
    Identity {
        /// `namespace` or `agent`.
        field: &'static str,
        /// What is wrong with it.
        #[source]
        source: InvalidToken,
    },
    /// The config's agent is not an agent name (a DNS label), so it cannot be a caller token.
    #[error("config agent")]
    AgentName(#[source] CallerError),
    /// The metrics could not be registered.
    #[error("registering metrics")]
    Metrics(#[source] prometheus::Error),
    /// The admin endpoint could not listen.
    #[error(transparent)]
    AdminEndpoint(#[from] AdminError),
    /// The model chain is misconfigured (no models, a missing API key, …).
    #[error("configuring the model chain")]
    Models(#[source] ConfigError),
    /// NATS refused the connection options.
    #[error("connecting to NATS at {url}")]
    Nats {
        /// The configured URL, credentials redacted.
        url: String,
        /// Why (reading the credentials file, or connecting).
        #[source]
        source: agentry_bus_identity::connection::ConnectError,
    },
    /// A tool is misconfigured.
    #[error("configuring the tools")]
    Tools(#[source] ToolConfigError),
    /// Long-term memory is misconfigured (no URL, a bad URL or embedding).
    #[error("configuring long-term memory")]
    Memory(#[source] MemoryConfigError),
}

/// Why a started runner stopped short.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Subscribing or flushing on NATS failed.
    #[error("serving on NATS")]
    Serve(#[source] ServeError),
    /// The serving task panicked or was cancelled.
    #[error("the serving task ended abnormally")]
    Task(#[source] tokio::task::JoinError),
}

/// A started runner. Dropping the handle begins the same drain as [`Runner::stop`] without
/// waiting for it.
#[derive(Debug)]
pub struct Runner {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), RunError>>,
    admin_addr: SocketAddr,
    readiness: Readiness,
}

impl Runner {
    /// Starts the agent of `config`: its admin endpoint on `http_listen`, its models and tools
    /// (secrets from `secrets`), its NATS connection, then serving on a task of its own.
    /// Readiness follows once the subscriptions are in place.
    pub async fn start(
        config: RunnerConfig,
        http_listen: &str,
        secrets: SecretLookup<'_>,
    ) -> Result<Runner, StartError> {
        let identity = Identity::of(&config)?;
        let span = tracing::info_span!("agent", namespace = %identity.namespace, agent = %identity.agent);
        assemble(Arc::new(config), identity, http_listen, secrets).instrument(span).await
    }

    /// Where `/healthz`, `/readyz` and `/metrics` are served.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// What `/readyz` reports: ready while connected to NATS and subscribed, not while draining.
    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    /// Serves until `shutdown` completes, then stops as [`Runner::stop`] does; returns early
    /// if serving fails.
    pub async fn run_until(mut self, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
        tokio::select! {
            () = shutdown => {}
            finished = &mut self.task => return finished.map_err(RunError::Task)?,
        }
        self.stop().await
    }

    /// Drains and waits until stopped: no new requests are taken, those received are answered,
    /// in-flight ones get the config's grace period, buffered events a few seconds to reach
    /// JetStream.
    pub async fn stop(self) -> Result<(), RunError> {
        // An error only says the task has already ended, which the join below reports.
        let _ = self.stop.send(());
        self.task.await.map_err(RunError::Task)?
    }
}

/// The agent's tokens in NATS subjects.
struct Identity {
    namespace: SubjectToken,
    agent: SubjectToken,
    /// The agent as the caller of the requests it sends.
    caller: Caller,
}

impl Identity {
    fn of(config: &RunnerConfig) -> Result<Self, StartError> {
        let token = |field: &'static str, value: &str| {
            SubjectToken::new(value).map_err(|source| StartError::Identity { field, source })
        };
        Ok(Self {
            namespace: token("namespace", &config.namespace)?,
            agent: token("agent", &config.agent)?,
            caller: Caller::agent(&config.agent).map_err(StartError::AgentName)?,
        })
    }
}

/// Builds every part, the admin endpoint first so that `/healthz` answers (and `/readyz` says
/// not ready) while NATS is still being reached, then serves on a task of its own.
async fn assemble(
    config: Arc<RunnerConfig>,
    identity: Identity,
    http_listen: &str,
    secrets: SecretLookup<'_>,
) -> Result<Runner, StartError> {
    model::install_crypto_provider();
    let metrics = Arc::new(
        RunnerMetrics::new(identity.namespace.as_str(), identity.agent.as_str())
            .map_err(StartError::Metrics)?,
    );
    let readiness = Readiness::new();
    // Open from the start: serving cannot begin before the first connection anyway, and what
    // this gate tracks is losing the connection later.
    let (connected, serving) = (readiness.gate(true), readiness.gate(false));
    let process = Arc::new(
        ProcessMetrics::new(BuildInfo { binary: "agentry-runner", version: env!("CARGO_PKG_VERSION") })
            .map_err(StartError::Metrics)?,
    );
    let router = admin_endpoint::router(readiness.clone(), metrics.clone(), process);
    let admin = AdminEndpoint::start(http_listen, router).await?;
    let models = ModelChain::new(&config.models, &config.resilience, secrets, metrics.clone())
        .map_err(StartError::Models)?;
    let client = connect_nats(&config, &identity, connected).await?;
    let js = async_nats::jetstream::new(client.clone());
    let (ledger, ledger_task) = start_ledger(&js, &identity, &config, &metrics).await;
    let (events, events_task) = EventPublisher::start(
        js.clone(),
        &identity.namespace,
        &identity.agent,
        config.event_buffer,
        metrics.clone(),
    );
    let memory = match &config.memory {
        Some(memory) => Some(
            LongTermMemory::start(memory, &config.namespace, &config.agent, secrets, metrics.clone())
                .map_err(StartError::Memory)?,
        ),
        None => None,
    };
    let tools = toolbox(&config, &identity, &client, secrets, &metrics)?.with_memory(memory.clone());
    let agent_loop = Arc::new(
        AgentLoop::new(config.clone(), models, tools, ledger, events, metrics.clone(), client.clone())
            .with_memory(memory),
    );
    let slots = Slots::new(config.limits.max_concurrent_requests);
    let request_timeout = Duration::from_secs(config.limits.timeout_seconds);
    let task_runner = TaskRunner {
        namespace: identity.namespace.clone(),
        agent: identity.agent.clone(),
        agent_loop: agent_loop.clone(),
        metrics: metrics.clone(),
        request_timeout,
        max_delegation_depth: config.limits.max_delegation_depth,
        runner_name: task_worker::runner_name(),
        max_request_bytes: config.limits.max_request_bytes,
    };
    let tasks = TaskWorker::new(js, task_runner, slots.clone());
    let service = Service {
        namespace: identity.namespace,
        agent: identity.agent,
        agent_loop,
        metrics,
        slots,
        request_timeout,
        max_delegation_depth: config.limits.max_delegation_depth,
        peers: config.peers.clone(),
        allowed_agents: config.allowed_agents.clone(),
        grace: Duration::from_secs(config.shutdown_grace_seconds),
        max_request_bytes: config.limits.max_request_bytes,
        in_flight_bytes: Arc::new(tokio::sync::Semaphore::new(
            config.limits.max_in_flight_bytes.max(config.limits.max_request_bytes),
        )),
        serving,
    };
    let (stop, stopped) = oneshot::channel();
    let admin_addr = admin.local_addr();
    let flushed = async move {
        let _ = futures::future::join(events_task, ledger_task).await;
    };
    let task = tokio::spawn(serve(service, tasks, client, stopped, flushed, admin).in_current_span());
    Ok(Runner { stop, task, admin_addr, readiness })
}

/// The agent's usage ledger, with today's spend read first when the agent has a budget: knowing
/// it before taking requests keeps a new replica from overspending.
async fn start_ledger(
    js: &async_nats::jetstream::Context,
    identity: &Identity,
    config: &RunnerConfig,
    metrics: &Arc<RunnerMetrics>,
) -> (UsageLedger, JoinHandle<()>) {
    let (ledger, task) = UsageLedger::start(
        js.clone(),
        &identity.namespace,
        &identity.agent,
        config.limits.daily_budget_usd,
        metrics,
    );
    if ledger.limit_usd().is_some() && !ledger.wait_loaded(DAILY_USAGE_LOAD_TIMEOUT).await {
        tracing::warn!("today's usage not read yet; counting from this replica's own until it is");
    }
    (ledger, task)
}

/// The NATS client, connecting in the background (retrying until the server is up), with
/// `connected` kept in step with the connection.
async fn connect_nats(
    config: &RunnerConfig,
    identity: &Identity,
    connected: ReadinessGate,
) -> Result<async_nats::Client, StartError> {
    // The agent's own identity when the operator minted one; replies come back below the
    // agent's inbox prefix, the only inbox its credentials let it read.
    let credentials = match &config.nats.credentials_file {
        Some(path) => BusCredentials::CredsFile(path.into()),
        None => BusCredentials::None,
    };
    let inbox = permissions::agent_inbox_prefix(&identity.namespace, &identity.agent);
    let auth = BusAuth::new(&config.nats.url, credentials, Some(inbox));
    let options = async_nats::ConnectOptions::new()
        .name(format!("agentry-runner {}/{}", identity.namespace, identity.agent))
        .retry_on_initial_connect()
        .event_callback(move |event| {
            let connected = connected.clone();
            async move {
                match event {
                    async_nats::Event::Disconnected => {
                        connected.close();
                        tracing::warn!("NATS disconnected; reconnecting");
                    }
                    async_nats::Event::Connected => {
                        // Reconnected: the client has resubscribed, so serving resumes.
                        connected.open();
                        tracing::info!("NATS connected");
                    }
                    other => tracing::info!(event = %other, "NATS event"),
                }
            }
        });
    // The URL is shown redacted: it may carry a password.
    auth.connect(options).await.map_err(|source| StartError::Nats { url: auth.url.to_string(), source })
}

/// The agent's tools, `agent` tools delegating over `client`.
fn toolbox(
    config: &RunnerConfig,
    identity: &Identity,
    client: &async_nats::Client,
    secrets: SecretLookup<'_>,
    metrics: &Arc<RunnerMetrics>,
) -> Result<ToolBox, StartError> {
    let delegate = NatsDelegate::new(
        client.clone(),
        identity.namespace.clone(),
        identity.caller.clone(),
        config.peers.clone(),
        config.limits.max_delegation_depth,
        metrics.clone(),
    );
    ToolBox::new(&config.tools, secrets, Arc::new(delegate), metrics.clone()).map_err(StartError::Tools)
}

/// Serves queries and tasks until `stopped` fires (or the handle is dropped), drains, then
/// gives buffered events their time to reach JetStream and takes the admin endpoint down.
async fn serve(
    service: Service,
    tasks: TaskWorker,
    client: async_nats::Client,
    stopped: oneshot::Receiver<()>,
    flushed: impl Future<Output = ()>,
    admin: AdminEndpoint,
) -> Result<(), RunError> {
    let (drain, drain_signal) = drain::channel();
    let worker = tokio::spawn(tasks.run(drain_signal).in_current_span());
    let served = service
        .run(client, async {
            let _ = stopped.await;
            drain.enter(Phase::Draining);
        })
        .await;
    // Work in flight has ended or the grace period is over: runs still going hand their tasks back.
    drain.enter(Phase::Released);
    if tokio::time::timeout(TASK_RELEASE_TIMEOUT, worker).await.is_err() {
        tracing::warn!(
            "task runs cut off at exit could not all be handed back; they run again after the ack wait"
        );
    }
    // The service held the agent loop and with it the event publisher and the usage ledger: once
    // requests still in flight let go of it too, both write what they hold and end.
    if tokio::time::timeout(EVENT_FLUSH_TIMEOUT, flushed).await.is_err() {
        tracing::warn!("events or daily usage still buffered at exit could not reach JetStream");
    }
    admin.stop().await;
    tracing::info!("stopped");
    served.map_err(RunError::Serve)
}
