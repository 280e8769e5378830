//! `agentry-runner`: reads its config from the file named by `AGENTRY_CONFIG`, its secrets from
//! the environment, and serves the agent over NATS until SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use agentry_protocol::runner_config::{CONFIG_PATH_ENV, RUNNER_CONFIG_VERSION, RunnerConfig};
use agentry_protocol::subjects::SubjectToken;
use agentry_runner::agent_loop::AgentLoop;
use agentry_runner::delegation::NatsDelegate;
use agentry_runner::event_publisher::{EventPublisher, ensure_events_stream};
use agentry_runner::http_endpoint;
use agentry_runner::metrics::RunnerMetrics;
use agentry_runner::model::{self, model_chain::ModelChain};
use agentry_runner::service::Service;
use agentry_runner::tools::ToolBox;
use anyhow::{Context, bail};

/// Overrides `http.listen` from the config; the devcluster pod simulator sets it so replicas on
/// one machine do not collide on a port.
const HTTP_LISTEN_ENV: &str = "AGENTRY_HTTP_LISTEN";
/// How long buffered events get to reach JetStream at exit.
const EVENT_FLUSH_TIMEOUT: Duration =
    Duration::from_secs(agentry_protocol::runner_config::EVENT_FLUSH_SECONDS);

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!(error = %err, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "agentry-runner stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let path = std::env::var(CONFIG_PATH_ENV).with_context(|| format!("{CONFIG_PATH_ENV} is not set"))?;
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading the runner config {path}"))?;
    let config: RunnerConfig =
        serde_json::from_str(&text).with_context(|| format!("parsing the runner config {path}"))?;
    if config.version != RUNNER_CONFIG_VERSION {
        bail!(
            "runner config {path} is version {}, this runner reads {RUNNER_CONFIG_VERSION}",
            config.version
        );
    }
    let config = Arc::new(config);
    let namespace = SubjectToken::new(config.namespace.clone()).context("config namespace")?;
    let agent = SubjectToken::new(config.agent.clone()).context("config agent")?;
    let span = tracing::info_span!("agent", namespace = %namespace, agent = %agent);
    let _entered = span.enter();
    model::install_crypto_provider();
    let metrics =
        Arc::new(RunnerMetrics::new(namespace.as_str(), agent.as_str()).context("registering metrics")?);
    let ready = Arc::new(AtomicBool::new(false));

    let listen = std::env::var(HTTP_LISTEN_ENV).unwrap_or_else(|_| config.http.listen.clone());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("binding the HTTP endpoint {listen}"))?;
    tracing::info!(listen = %listener.local_addr().map(|a| a.to_string()).unwrap_or(listen), "HTTP endpoint up");
    let router = http_endpoint::router(ready.clone(), metrics.clone());
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, router).await {
            tracing::error!(error = %err, "HTTP endpoint failed");
        }
    });

    let env = |name: &str| std::env::var(name).ok();
    let models = ModelChain::new(&config.models, &config.resilience, env, metrics.clone())
        .context("configuring the model chain")?;

    let serving = Arc::new(AtomicBool::new(false));
    let (nats_ready, nats_serving) = (ready.clone(), serving.clone());
    let client = async_nats::ConnectOptions::new()
        .name(format!("agentry-runner {}/{}", namespace, agent))
        .retry_on_initial_connect()
        .event_callback(move |event| {
            let (ready, serving) = (nats_ready.clone(), nats_serving.clone());
            async move {
                match event {
                    async_nats::Event::Disconnected => {
                        ready.store(false, Ordering::SeqCst);
                        tracing::warn!("NATS disconnected; reconnecting");
                    }
                    async_nats::Event::Connected => {
                        // Reconnected: the client has resubscribed, so serving resumes.
                        ready.store(serving.load(Ordering::SeqCst), Ordering::SeqCst);
                        tracing::info!("NATS connected");
                    }
                    other => tracing::info!(event = %other, "NATS event"),
                }
            }
        })
        .connect(config.nats.url.as_str())
        .await
        .with_context(|| format!("connecting to NATS at {}", config.nats.url))?;
    let js = async_nats::jetstream::new(client.clone());
    ensure_events_stream(&js).await.context("creating the AGENTRY_EVENTS stream")?;
    let (events, events_task) =
        EventPublisher::start(js, &namespace, &agent, config.event_buffer, metrics.clone());

    let delegate = NatsDelegate::new(
        client.clone(),
        namespace.clone(),
        agent.to_string(),
        config.limits.max_delegation_depth,
        metrics.clone(),
    );
    let tools = ToolBox::new(&config.tools, &env, Arc::new(delegate), metrics.clone())
        .context("configuring the tools")?;
    let agent_loop = Arc::new(AgentLoop::new(config.clone(), models, tools, events, metrics.clone()));

    let service = Service {
        namespace,
        agent,
        agent_loop: agent_loop.clone(),
        metrics,
        max_concurrent: config.limits.max_concurrent_requests.max(1),
        request_timeout: Duration::from_secs(config.limits.timeout_seconds),
        max_delegation_depth: config.limits.max_delegation_depth,
        peers: config.peers.clone(),
        grace: Duration::from_secs(config.shutdown_grace_seconds),
        ready,
        serving,
    };
    service.run(client, shutdown_signal()).await.context("serving on NATS")?;
    drop(agent_loop);
    if tokio::time::timeout(EVENT_FLUSH_TIMEOUT, events_task).await.is_err() {
        tracing::warn!("events still buffered at exit could not reach JetStream");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGTERM (what the kubelet sends) or SIGINT.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
