//! Running the operator: leader election, the shared caches and every controller, stopped at
//! once when leadership is lost and gracefully on shutdown.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures::channel::oneshot;
use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::runtime::context::OperatorContext;
use crate::runtime::election::Election;
pub use crate::runtime::handles::Handles;
use crate::runtime::lease_lock::{LeaseLock, LeaseTiming};
use crate::runtime::nats_link::NatsLink;
use crate::runtime::object_gauges;
use crate::runtime::settings::OperatorSettings;
use crate::runtime::shared_caches::SharedCaches;
use crate::{agent, memory_store, model, session, tool};

/// Where and how the operator holds its leader Lease.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica's identity (its pod name).
    pub identity: String,
    /// Lease duration, renew deadline and retry period.
    pub timing: LeaseTiming,
}

/// Why the operator stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The metrics registry could not be built.
    #[error("registering metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The API server refused the leader Lease (no permission, or no such namespace).
    #[error("leader election: Lease {lease}: {source}")]
    LeaderElection {
        /// `namespace/name` of the Lease.
        lease: String,
        /// The API server's answer.
        source: kube::Error,
    },
}

/// Runs the operator until `shutdown` completes. With `lease`, only while this replica holds it.
pub async fn run(
    client: Client,
    settings: OperatorSettings,
    lease: Option<LeaseSettings>,
    handles: &Handles,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    tokio::pin!(shutdown);
    let Some(lease) = lease else {
        lead(client, settings, handles, shutdown.as_mut(), None).await;
        return Ok(());
    };
    let leases: Api<Lease> = Api::namespaced(client.clone(), &lease.namespace);
    let lock = LeaseLock::new(leases, &lease.name, &lease.identity, lease.timing);
    let election = Election::start(lock, lease.timing).await.map_err(|source| RunError::LeaderElection {
        lease: format!("{}/{}", lease.namespace, lease.name),
        source,
    })?;
    let mut leader = election.leading();
    loop {
        tracing::info!(identity = %lease.identity, "waiting for the leader Lease");
        tokio::select! {
            () = &mut shutdown => break,
            changed = leader.wait_for(|is_leader| *is_leader) => if changed.is_err() { break },
        }
        tracing::info!(identity = %lease.identity, "leading: starting controllers");
        let leading = Some(leader.clone());
        if lead(client.clone(), settings.clone(), handles, shutdown.as_mut(), leading).await == Stop::Shutdown
        {
            break;
        }
        tracing::warn!(identity = %lease.identity, "lost the leader Lease: controllers stopped");
    }
    handles.leading.close();
    // Ending the election releases the Lease, so a successor need not wait for it to expire.
    election.stop().await;
    Ok(())
}

/// Why the controllers stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// The process is shutting down: reconciles in flight may finish.
    Shutdown,
    /// Leadership is lost: nothing may be written any more.
    Lost,
}

/// How long reconciles in flight get to finish once the controllers are told to stop.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs the caches and controllers until `shutdown` completes or `leading` turns `false`, then
/// stops them: no reconcile starts after that. On shutdown those in flight get [`STOP_GRACE`] to
/// finish (while the Lease is still held); once the Lease is lost, none may go on.
async fn lead<S: Future<Output = ()>>(
    client: Client,
    settings: OperatorSettings,
    handles: &Handles,
    shutdown: Pin<&mut S>,
    leading: Option<watch::Receiver<bool>>,
) -> Stop {
    let (caches, drivers) = SharedCaches::new(&client, &settings.secret_scope);
    let caches = Arc::new(caches);
    // NATS connects in the background: the controllers that do not need it start at once.
    let nats = NatsLink::start(settings.nats_url.clone(), settings.nats_credentials.clone());
    let ctx = Arc::new(OperatorContext::new(client, handles.metrics.clone(), settings, nats));
    let mut stops = Vec::new();
    let mut trigger = || {
        let (tx, rx) = oneshot::channel::<()>();
        stops.push(tx);
        async move {
            let _ = rx.await;
        }
    };
    // Controllers subscribe to the shared watches as they are built; then the templates go,
    // before any watch runs.
    let model = model::controller::controller(ctx.clone(), &caches, trigger());
    let tool = tool::controller::controller(ctx.clone(), &caches, trigger());
    let agent = agent::controller::controller(ctx.clone(), &caches, trigger());
    let memory_store = memory_store::controller::controller(ctx.clone(), &caches, trigger());
    let session = session::controller::controller(ctx.clone(), &caches, trigger());
    caches.seal();
    let mut background = JoinSet::new();
    for driver in drivers {
        background.spawn(driver);
    }
    background.spawn(object_gauges::run(handles.metrics.clone(), caches.clone()));
    let mut controllers = JoinSet::new();
    controllers.spawn(model);
    controllers.spawn(tool);
    controllers.spawn(agent);
    controllers.spawn(memory_store);
    controllers.spawn(session);
    handles.leading.open();
    let lost = async move {
        match leading {
            // A closed channel (the election ended) is a lost Lease too.
            Some(mut leading) => drop(leading.wait_for(|is_leader| !*is_leader).await),
            None => std::future::pending().await,
        }
    };
    tokio::pin!(lost);
    let why = tokio::select! {
        () = shutdown => Stop::Shutdown,
        () = &mut lost => Stop::Lost,
    };
    handles.leading.close();
    if why == Stop::Shutdown {
        for tx in stops {
            let _ = tx.send(());
        }
        let drain =
            tokio::time::timeout(STOP_GRACE, async { while controllers.join_next().await.is_some() {} });
        tokio::select! {
            drained = drain => if drained.is_err() {
                tracing::warn!("reconciles still running after the stop grace period were cancelled");
            },
            () = &mut lost => tracing::warn!("lost the leader Lease while stopping: reconciles in flight cancelled"),
        }
    }
    controllers.abort_all();
    background.abort_all();
    why
}
