//! The Model controller's wiring and reconcile: check the API-key Secret, write `Ready`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use agentry_crds::{Condition, ConditionStatus, Model, ModelStatus, condition_types, reasons, set_condition};
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};

use crate::model::key_check::key_check;
use crate::reconciler::apply::apply_status_if_changed;
use crate::reconciler::controller_kit::{ControllerKit, StopSignal, WithKit, drive};
use crate::reconciler::error::ReconcileError;
use crate::reconciler::events::announce_ready_change;
use crate::runtime::context::OperatorContext;
use crate::runtime::shared_caches::SharedCaches;

/// Every object is looked at again this often, to catch anything a missed event left behind.
const RESYNC: Duration = Duration::from_secs(600);

/// Everything the Model controller uses.
pub struct ModelContext {
    /// Shared context.
    pub operator: Arc<OperatorContext>,
    /// Metrics, span and backoff.
    pub kit: ControllerKit,
}

impl WithKit for ModelContext {
    fn kit(&self) -> &ControllerKit {
        &self.kit
    }
}

/// Reconciles one Model: checks its Secret and writes `Ready`.
pub async fn reconcile(model: Arc<Model>, ctx: Arc<ModelContext>) -> Result<Action, ReconcileError> {
    let ns = model.namespace().ok_or(ReconcileError::MissingMetadata("namespace"))?;
    let name = model.name_any();
    let client = &ctx.operator.client;
    // Secret values are read only here and never kept: the caches hold Secret metadata only.
    let scope = &ctx.operator.settings.secret_scope;
    let refusal = model.spec.api_key_secret_ref.as_ref().and_then(|r| scope.refusal(&ns, &r.name));
    let (status, reason, message) = match (&model.spec.api_key_secret_ref, refusal) {
        (_, Some(refusal)) => (ConditionStatus::False, reasons::SECRET_NAMESPACE_NOT_ALLOWED, refusal),
        (Some(r), None) => {
            let secret = Api::<Secret>::namespaced(client.clone(), &ns).get_opt(&r.name).await?;
            key_check(&model, secret.as_ref())
        }
        (None, None) => key_check(&model, None),
    };
    let old = model.status.clone().unwrap_or_default();
    let generation = model.meta().generation;
    let mut conditions = old.conditions.clone();
    set_condition(
        &mut conditions,
        Condition::new(condition_types::READY, status, reason, &message, generation),
    );
    let new = ModelStatus { observed_generation: generation, conditions };
    let api = Api::<Model>::namespaced(client.clone(), &ns);
    if apply_status_if_changed(&api, &name, model.status.as_ref(), &new).await? {
        let after = (status, reason, message.as_str());
        announce_ready_change(&ctx.operator.recorder, &*model, &old.conditions, after, "CheckAPIKey").await;
    }
    Ok(Action::requeue(RESYNC))
}

/// The Models in `namespace` whose API key lives in the Secret `secret`.
pub fn models_for_secret(
    models: &[Arc<Model>],
    namespace: Option<&str>,
    secret: &str,
) -> Vec<ObjectRef<Model>> {
    models
        .iter()
        .filter(|m| m.namespace().as_deref() == namespace)
        .filter(|m| m.spec.api_key_secret_ref.as_ref().is_some_and(|r| r.name == secret))
        .map(|m| ObjectRef::from_obj(&**m))
        .collect()
}

/// The Model controller, reconciling on Model changes and on changes to the Secrets they name.
pub fn controller<S: StopSignal>(
    operator: Arc<OperatorContext>,
    caches: &SharedCaches,
    shutdown: S,
) -> impl Future<Output = ()> + use<S> {
    let models = caches.models.store.clone();
    let by_secret = move |secret: Arc<PartialObjectMeta<Secret>>| {
        models_for_secret(&models.state(), secret.namespace().as_deref(), &secret.name_any())
    };
    let kit = ControllerKit::new("model", operator.metrics.clone());
    let ctx = Arc::new(ModelContext { operator, kit });
    let controller = Controller::for_shared_stream(caches.models.subscribe(), caches.models.store.clone())
        .watches_shared_stream(caches.secrets.subscribe(), by_secret.clone())
        .reconcile_on(caches.secrets.on_delete(by_secret))
        .graceful_shutdown_on(shutdown);
    drive(controller, reconcile, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_maps_to_the_models_of_its_namespace_that_name_it() {
        let model = |ns: &str, name: &str, secret: &str| -> Arc<Model> {
            Arc::new(
                serde_json::from_value(serde_json::json!({
                    "apiVersion": "agentry.dev/v1alpha1", "kind": "Model",
                    "metadata": {"name": name, "namespace": ns},
                    "spec": {"provider": "openai", "model": "gpt", "apiKeySecretRef": {"name": secret, "key": "k"}}
                }))
                .expect("model"),
            )
        };
        let models = vec![model("a", "uses", "key"), model("a", "other", "x"), model("b", "uses", "key")];
        assert_eq!(models_for_secret(&models, Some("a"), "key"), vec![ObjectRef::new("uses").within("a")]);
    }
}
