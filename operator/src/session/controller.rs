//! The Session controller's wiring: Sessions from their own watch, the Agents they need from the
//! shared cache, and their tasks' record changes from NATS.

use std::future::Future;
use std::sync::Arc;

use agentry_crds::{Agent, Session};
use kube::Api;
use kube::runtime::controller::Controller;
use kube::runtime::reflector::Store;
use kube::runtime::watcher;

use crate::reconciler::controller_kit::{ControllerKit, StopSignal, WithKit, drive};
use crate::runtime::context::OperatorContext;
use crate::runtime::shared_caches::SharedCaches;
use crate::session::reconcile::reconcile;
use crate::session::watch_mappers::{sessions_for_agent, task_changes};

/// Everything the Session controller uses.
pub struct SessionContext {
    /// Shared context (the NATS link among it).
    pub operator: Arc<OperatorContext>,
    /// Metrics, span and backoff.
    pub kit: ControllerKit,
    /// Agents, to tell whether a Session's Agents exist.
    pub agents: Store<Agent>,
}

impl WithKit for SessionContext {
    fn kit(&self) -> &ControllerKit {
        &self.kit
    }
}

/// The Session controller: reconciles on Session changes, on the creation of an Agent a pending
/// Session waits for, and on every change of a Session task's record.
pub fn controller<S: StopSignal>(
    operator: Arc<OperatorContext>,
    caches: &SharedCaches,
    shutdown: S,
) -> impl Future<Output = ()> + use<S> {
    let api = Api::<Session>::all(operator.client.clone());
    let controller = Controller::new(api, watcher::Config::default());
    let sessions = controller.store();
    let waiting = sessions.clone();
    let by_agent = move |agent: Arc<Agent>| sessions_for_agent(&waiting.state(), &agent);
    let ctx = Arc::new(SessionContext {
        kit: ControllerKit::new("session", operator.metrics.clone()),
        agents: caches.agents.store.clone(),
        operator: operator.clone(),
    });
    let controller = controller
        .watches_shared_stream(caches.agents.subscribe(), by_agent)
        .reconcile_on(task_changes(operator, sessions))
        .graceful_shutdown_on(shutdown);
    drive(controller, reconcile, ctx)
}
