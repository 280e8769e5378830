//! What every controller shares.

use std::sync::Arc;

use kube::runtime::events::{Recorder, Reporter};

use crate::runtime::metrics::OperatorMetrics;
use crate::runtime::nats_link::NatsLink;
use crate::runtime::settings::{FIELD_MANAGER, OperatorSettings};

/// The client, metrics, event recorder, settings and NATS link shared by the controllers.
pub struct OperatorContext {
    /// Kubernetes client.
    pub client: kube::Client,
    /// Operator metrics.
    pub metrics: Arc<OperatorMetrics>,
    /// Publishes Events a person sees in `kubectl describe`.
    pub recorder: Recorder,
    /// Operator-wide settings.
    pub settings: OperatorSettings,
    /// NATS, once connected: the task queue and the usage bucket.
    pub nats: NatsLink,
}

impl OperatorContext {
    /// Assembles the context.
    pub fn new(
        client: kube::Client,
        metrics: Arc<OperatorMetrics>,
        settings: OperatorSettings,
        nats: NatsLink,
    ) -> Self {
        let reporter =
            Reporter { controller: FIELD_MANAGER.to_string(), instance: Some(settings.instance.clone()) };
        let recorder = Recorder::new(client.clone(), reporter);
        Self { client, metrics, recorder, settings, nats }
    }
}
