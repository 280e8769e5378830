//! Running the operator: leader election, the shared caches and every controller, stopped at
//! once when leadership is lost and gracefully on shutdown.

use std::future::Future;
use std::sync::Arc;

use futures::channel::oneshot;
use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;
use tokio::task::JoinSet;

use crate::runtime::context::OperatorContext;
pub use crate::runtime::handles::Handles;
use crate::runtime::nats_link::NatsLink;
use crate::runtime::object_gauges;
use crate::runtime::settings::{FIELD_MANAGER, OperatorSettings};
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
    /// Seconds a Lease stays valid without renewal: the longest a takeover waits.
    pub duration_seconds: u64,
    /// Seconds before expiry the holder renews.
    pub grace_seconds: u64,
}

/// Why the operator stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The metrics registry could not be built.
    #[error("registering metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The leader Lease could not be set up.
    #[error("leader election: {0}")]
    LeaderElection(#[from] kube_lease_manager::LeaseManagerError),
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
        lead(client, settings, handles, shutdown).await;
        return Ok(());
    };
    let manager = LeaseManagerBuilder::new(client.clone(), &lease.name)
        .with_namespace(&lease.namespace)
        .with_identity(&lease.identity)
        .with_duration(lease.duration_seconds)
        .with_grace(lease.grace_seconds)
        .with_field_manager(format!("{FIELD_MANAGER}-lease"))
        .build()
        .await?;
    let (mut leader, lease_task) = manager.watch().await;
    loop {
        tracing::info!(identity = %lease.identity, "waiting for the leader Lease");
        tokio::select! {
            () = &mut shutdown => break,
            changed = leader.wait_for(|is_leader| *is_leader) => if changed.is_err() { break },
        }
        tracing::info!(identity = %lease.identity, "leading: starting controllers");
        let lost = async {
            let _ = leader.wait_for(|is_leader| !*is_leader).await;
        };
        tokio::select! {
            () = &mut shutdown => break,
            // Losing the Lease drops the controllers at once: another replica now reconciles.
            () = lead(client.clone(), settings.clone(), handles, lost) => {
                tracing::warn!(identity = %lease.identity, "lost the leader Lease: controllers stopped");
            }
        }
    }
    handles.leading.close();
    // Closing the channel makes the lease task release the Lease, so a successor need not wait.
    drop(leader);
    if let Ok(Err(err)) = lease_task.await {
        tracing::warn!(error = %err, "releasing the leader Lease failed");
    }
    Ok(())
}

/// How long reconciles in flight get to finish once the controllers are told to stop.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs the caches and controllers until `stop` completes, then stops them: no reconcile starts
/// after that, and those in flight get [`STOP_GRACE`] to finish.
async fn lead(client: Client, settings: OperatorSettings, handles: &Handles, stop: impl Future<Output = ()>) {
    let (caches, drivers) = SharedCaches::new(&client);
    let caches = Arc::new(caches);
    // NATS connects in the background: the controllers that do not need it start at once.
    let nats = NatsLink::start(settings.nats_url.clone());
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
    stop.await;
    handles.leading.close();
    for tx in stops {
        let _ = tx.send(());
    }
    let drained =
        tokio::time::timeout(STOP_GRACE, async { while controllers.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!("reconciles still running after the stop grace period were cancelled");
    }
    controllers.abort_all();
    background.abort_all();
}
