//! Model controller: a Model is `Ready` when its API-key Secret exists and holds the key.

use std::sync::Arc;
use std::time::Duration;

use agentry_crds::{Condition, ConditionStatus, Model, ModelStatus, set_condition};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};

use crate::reconciler::apply::{apply_status, same_conditions};
use crate::reconciler::error::ReconcileError;
use crate::reconciler::instrumented::{announce_ready_change, instrumented};
use crate::runtime::context::OperatorContext;
use crate::runtime::shared_caches::SharedCaches;

/// Every object is looked at again this often, to catch anything a missed event left behind.
const RESYNC: Duration = Duration::from_secs(600);

const CONTROLLER: &str = "model";

/// Whether `secret` holds a non-empty value under `key` (in `data`, or in `stringData`, which a
/// real API server folds into `data` but simpler servers may keep).
pub fn has_key(secret: &Secret, key: &str) -> bool {
    let in_data = secret.data.as_ref().and_then(|d| d.get(key)).is_some_and(|v| !v.0.is_empty());
    let in_string_data = secret.string_data.as_ref().and_then(|d| d.get(key)).is_some_and(|v| !v.is_empty());
    in_data || in_string_data
}

/// What the API-key check found: the `Ready` condition's status, reason and message.
pub fn key_check(model: &Model, secret: Option<&Secret>) -> (ConditionStatus, &'static str, String) {
    let Some(reference) = &model.spec.api_key_secret_ref else {
        return (ConditionStatus::True, "NoKeyRequired", "no API key configured; requests carry none".into());
    };
    let Some(secret) = secret else {
        return (
            ConditionStatus::False,
            "SecretNotFound",
            format!("Secret {} not found; create it with key {}", reference.name, reference.key),
        );
    };
    if has_key(secret, &reference.key) {
        (
            ConditionStatus::True,
            "KeyFound",
            format!("API key found in Secret {} key {}", reference.name, reference.key),
        )
    } else {
        (
            ConditionStatus::False,
            "KeyMissing",
            format!("Secret {} has no non-empty key {}; add it", reference.name, reference.key),
        )
    }
}

/// Reconciles one Model: checks its Secret and writes `Ready`.
pub async fn reconcile(model: Arc<Model>, ctx: Arc<OperatorContext>) -> Result<Action, ReconcileError> {
    let ns = model.namespace().ok_or(ReconcileError::MissingMetadata("namespace"))?;
    let name = model.name_any();
    let secret = match &model.spec.api_key_secret_ref {
        Some(r) => Api::<Secret>::namespaced(ctx.client.clone(), &ns).get_opt(&r.name).await?,
        None => None,
    };
    let (status, reason, message) = key_check(&model, secret.as_ref());
    let old = model.status.clone().unwrap_or_default();
    let mut conditions = old.conditions.clone();
    set_condition(
        &mut conditions,
        Condition::new("Ready", status, reason, &message, model.meta().generation),
    );
    let new = ModelStatus { observed_generation: model.meta().generation, conditions };
    if new.observed_generation != old.observed_generation
        || !same_conditions(&new.conditions, &old.conditions)
    {
        apply_status(&Api::<Model>::namespaced(ctx.client.clone(), &ns), &name, &new).await?;
        announce_ready_change(
            &ctx.recorder,
            &*model,
            &old.conditions,
            (status, reason, &message),
            "CheckAPIKey",
        )
        .await;
    }
    Ok(Action::requeue(RESYNC))
}

fn error_policy(_: Arc<Model>, err: &ReconcileError, _: Arc<OperatorContext>) -> Action {
    tracing::warn!(error = %err, "model reconcile failed; retrying");
    Action::requeue(Duration::from_secs(5))
}

/// The Model controller, reconciling on Model changes and on changes to the Secrets they name.
pub fn controller<S>(
    ctx: Arc<OperatorContext>,
    caches: &SharedCaches,
    shutdown: S,
) -> impl std::future::Future<Output = ()> + use<S>
where
    S: std::future::Future<Output = ()> + Send + Sync + 'static,
{
    let models = caches.models.store.clone();
    let by_secret = move |secret: Arc<PartialObjectMeta<Secret>>| {
        let (ns, name) = (secret.namespace(), secret.name_any());
        models
            .state()
            .into_iter()
            .filter(|m| {
                m.namespace() == ns && m.spec.api_key_secret_ref.as_ref().is_some_and(|r| r.name == name)
            })
            .map(|m| ObjectRef::from_obj(&*m))
            .collect::<Vec<_>>()
    };
    Controller::for_shared_stream(caches.models.subscribe(), caches.models.store.clone())
        .watches_shared_stream(caches.secrets.subscribe(), by_secret.clone())
        .reconcile_on(caches.secrets.on_delete(by_secret))
        .graceful_shutdown_on(shutdown)
        .run(
            |model, ctx: Arc<OperatorContext>| {
                instrumented(CONTROLLER, &*model, ctx.metrics.clone(), reconcile(model.clone(), ctx))
            },
            error_policy,
            ctx,
        )
        .for_each(|_| std::future::ready(()))
}
