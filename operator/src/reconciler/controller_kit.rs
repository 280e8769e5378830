//! What every controller does around its reconcile: a tracing span naming the object, a time
//! limit, metrics for each run, and one error policy with per-object exponential backoff.

use std::fmt::Debug;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::runtime::controller::{Action, Controller};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::reconciler::error::ReconcileError;
use crate::reconciler::retry_backoff::{BackoffPolicy, RetryBackoff};
use crate::runtime::metrics::OperatorMetrics;

/// Longest one reconcile may take.
pub const RECONCILE_TIMEOUT: Duration = Duration::from_secs(60);

/// One controller's name, metrics and retry state.
pub struct ControllerKit {
    name: &'static str,
    metrics: Arc<OperatorMetrics>,
    backoff: RetryBackoff,
}

impl ControllerKit {
    /// A kit for the controller called `name` (its label in metrics and logs).
    pub fn new(name: &'static str, metrics: Arc<OperatorMetrics>) -> Self {
        Self::with_backoff(name, metrics, BackoffPolicy::DEFAULT)
    }

    /// A kit whose failures follow `policy`.
    pub fn with_backoff(name: &'static str, metrics: Arc<OperatorMetrics>, policy: BackoffPolicy) -> Self {
        Self { name, metrics, backoff: RetryBackoff::new(policy) }
    }

    /// The controller's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The operator's metrics.
    pub fn metrics(&self) -> &Arc<OperatorMetrics> {
        &self.metrics
    }
}

/// What stops a controller: it finishes the reconciles in flight and returns once this completes.
pub trait StopSignal: Future<Output = ()> + Send + Sync + 'static {}

impl<S: Future<Output = ()> + Send + Sync + 'static> StopSignal for S {}

/// A controller context that carries a [`ControllerKit`].
pub trait WithKit: Send + Sync + 'static {
    /// The context's kit.
    fn kit(&self) -> &ControllerKit;
}

fn object_key<K: Resource>(object: &K) -> String {
    format!("{}/{}", object.namespace().unwrap_or_default(), object.name_any())
}

/// Runs `reconcile` for `object` inside a span with the controller, namespace and name, bounded
/// by [`RECONCILE_TIMEOUT`], counted in the metrics; a success resets the object's backoff.
pub fn instrumented<K, C, F>(
    ctx: Arc<C>,
    object: &K,
    reconcile: F,
) -> impl Future<Output = Result<Action, ReconcileError>> + use<K, C, F>
where
    K: Resource,
    C: WithKit,
    F: Future<Output = Result<Action, ReconcileError>>,
{
    let key = object_key(object);
    // Exported as an OpenTelemetry span when traces are on (`agentry.*`, see agentry-telemetry).
    let span = tracing::info_span!(
        "agentry.reconcile",
        controller = ctx.kit().name,
        namespace = object.namespace().unwrap_or_default(),
        name = %object.name_any(),
        agentry.outcome = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        otel.status_message = tracing::field::Empty,
    );
    async move {
        let started = Instant::now();
        // A request the API server never answers must not hold the object forever.
        let result = tokio::time::timeout(RECONCILE_TIMEOUT, reconcile)
            .await
            .unwrap_or(Err(ReconcileError::Timeout(RECONCILE_TIMEOUT)));
        let kit = ctx.kit();
        kit.metrics.observe(kit.name, started.elapsed());
        let span = tracing::Span::current();
        match &result {
            Ok(_) => {
                kit.backoff.succeeded(&key);
                span.record("agentry.outcome", "ok");
            }
            Err(error) => {
                span.record("agentry.outcome", error.metric_label())
                    .record("otel.status_code", "ERROR")
                    .record("otel.status_message", error.to_string().as_str());
            }
        }
        result
    }
    .instrument(span)
}

/// The one error policy: counts the failure by controller and reason, logs it, and retries the
/// object after its own growing delay.
pub fn error_policy<K: Resource, C: WithKit>(object: Arc<K>, error: &ReconcileError, ctx: Arc<C>) -> Action {
    let kit = ctx.kit();
    let key = object_key(&*object);
    let delay = kit.backoff.failed(&key);
    kit.metrics.failed(kit.name, error.metric_label());
    tracing::warn!(
        controller = kit.name,
        namespace = object.namespace().unwrap_or_default(),
        name = %object.name_any(),
        error = %error,
        failures = kit.backoff.failures(&key),
        retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        "reconcile failed; retrying"
    );
    Action::requeue(delay)
}

/// Runs `controller` with `reconcile` wrapped by [`instrumented`] and [`error_policy`] until
/// the controller stops.
pub fn drive<K, C, F>(
    controller: Controller<K>,
    reconcile: fn(Arc<K>, Arc<C>) -> F,
    ctx: Arc<C>,
) -> impl Future<Output = ()> + Send + use<K, C, F>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Debug + Unpin + Hash + Eq + Clone + Send + Sync,
    C: WithKit,
    F: Future<Output = Result<Action, ReconcileError>> + Send + 'static,
{
    controller
        .run(
            move |object, ctx: Arc<C>| instrumented(ctx.clone(), &*object, reconcile(object.clone(), ctx)),
            error_policy,
            ctx,
        )
        .for_each(|_| std::future::ready(()))
}
