//! The `tracing` layer that turns Agentry's spans into OpenTelemetry spans.
//!
//! Only spans named `agentry.*` become OpenTelemetry spans (see [`is_exported`]); their fields
//! become attributes, except these, which set the span itself:
//! - `traceparent`: the remote parent (a W3C header value), for a span that starts work sent by
//!   another process;
//! - `otel.kind`: `server`, `client`, `producer`, `consumer` or `internal` (the default);
//! - `otel.status_code`: `ERROR` or `OK`; `otel.status_message`: why it failed.

use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, Registry};

use crate::span_export::SpanQueue;
use crate::trace_context::TraceContext;

/// Span names with this prefix are exported.
pub const SPAN_PREFIX: &str = "agentry.";

/// Whether a span (or event) is one of Agentry's OpenTelemetry spans.
pub fn is_exported(metadata: &Metadata<'_>) -> bool {
    metadata.is_span() && metadata.name().starts_with(SPAN_PREFIX)
}

/// OpenTelemetry's span kinds, numbered as OTLP numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    /// Work inside the process.
    Internal = 1,
    /// Serving a request from another process.
    Server = 2,
    /// Calling another process and waiting for its answer.
    Client = 3,
    /// Sending work another process does later.
    Producer = 4,
    /// Doing work another process sent.
    Consumer = 5,
}

/// A span's outcome, as OTLP numbers it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SpanStatus {
    /// Not said.
    #[default]
    Unset,
    /// Succeeded.
    Ok,
    /// Failed, and why.
    Error(String),
}

/// An attribute's value.
#[derive(Debug, Clone, PartialEq)]
pub enum AttributeValue {
    /// Text.
    Str(String),
    /// A whole number.
    Int(i64),
    /// A number.
    Double(f64),
    /// A flag.
    Bool(bool),
}

/// One span, open or finished.
#[derive(Debug, Clone)]
pub struct SpanData {
    /// Its place in the trace.
    pub context: TraceContext,
    /// Its parent's span id; `None` for a trace's root.
    pub parent_span_id: Option<[u8; 8]>,
    /// Its name.
    pub name: &'static str,
    /// Its kind.
    pub kind: SpanKind,
    /// When it started.
    pub start: SystemTime,
    /// When it ended (its start while open).
    pub end: SystemTime,
    /// Its attributes, by key.
    pub attributes: Vec<(&'static str, AttributeValue)>,
    /// Its outcome.
    pub status: SpanStatus,
}

/// The layer: records `agentry.*` spans and hands each finished, sampled one to the queue.
pub struct SpanLayer {
    queue: SpanQueue,
}

impl SpanLayer {
    pub(crate) fn new(queue: SpanQueue) -> Self {
        Self { queue }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for SpanLayer {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = FieldVisitor::default();
        attrs.record(&mut fields);
        let local_parent =
            span.parent().and_then(|parent| parent.extensions().get::<SpanData>().map(|p| p.context));
        let (context, parent_span_id) = match (fields.remote_parent, local_parent) {
            (Some(remote), _) => (remote.new_child(), Some(remote.span_id)),
            (None, Some(local)) => (local.new_child(), Some(local.span_id)),
            (None, None) => (TraceContext::new_root(), None),
        };
        let now = SystemTime::now();
        let data = SpanData {
            context,
            parent_span_id,
            name: span.name(),
            kind: fields.kind.unwrap_or(SpanKind::Internal),
            start: now,
            end: now,
            attributes: fields.attributes,
            status: fields.status.unwrap_or_default(),
        };
        span.extensions_mut().insert(data);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        let Some(data) = extensions.get_mut::<SpanData>() else { return };
        let mut fields = FieldVisitor::default();
        values.record(&mut fields);
        for (key, value) in fields.attributes {
            data.attributes.retain(|(existing, _)| *existing != key);
            data.attributes.push((key, value));
        }
        if let Some(status) = fields.status {
            data.status = status;
        }
        // A message recorded after the status code completes it.
        if let (SpanStatus::Error(message), Some(late)) = (&mut data.status, fields.status_message) {
            *message = late;
        }
        if let Some(kind) = fields.kind {
            data.kind = kind;
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(mut data) = span.extensions_mut().remove::<SpanData>() else { return };
        if data.context.sampled {
            data.end = SystemTime::now();
            self.queue.push(data);
        }
    }
}

/// The `traceparent` of the innermost exported span the current task is in: what a message
/// sent from here carries so the receiver's spans join the trace. `None` when traces are not
/// exported (then a caller passes on the `traceparent` it received, if any).
pub fn current_traceparent() -> Option<String> {
    tracing::Span::current()
        .with_subscriber(|(id, dispatch)| {
            let registry = dispatch.downcast_ref::<Registry>()?;
            let span = registry.span(id)?;
            span.scope().find_map(|s| s.extensions().get::<SpanData>().map(|data| data.context.traceparent()))
        })
        .flatten()
}

/// Sorts a span's fields into attributes and the special `otel.*`/`traceparent` fields.
#[derive(Default)]
struct FieldVisitor {
    attributes: Vec<(&'static str, AttributeValue)>,
    remote_parent: Option<TraceContext>,
    kind: Option<SpanKind>,
    status: Option<SpanStatus>,
    status_message: Option<String>,
}

impl FieldVisitor {
    fn text(&mut self, field: &Field, value: String) {
        match field.name() {
            "traceparent" => self.remote_parent = TraceContext::from_traceparent(&value),
            "otel.kind" => self.kind = kind(&value),
            "otel.status_code" => {
                self.status = match value.as_str() {
                    "ERROR" | "error" => {
                        Some(SpanStatus::Error(self.status_message.take().unwrap_or_default()))
                    }
                    "OK" | "ok" => Some(SpanStatus::Ok),
                    _ => None,
                }
            }
            "otel.status_message" => match &mut self.status {
                Some(SpanStatus::Error(message)) => *message = value,
                _ => self.status_message = Some(value),
            },
            name => self.attributes.push((name, AttributeValue::Str(value))),
        }
    }
}

fn kind(value: &str) -> Option<SpanKind> {
    match value {
        "server" => Some(SpanKind::Server),
        "client" => Some(SpanKind::Client),
        "producer" => Some(SpanKind::Producer),
        "consumer" => Some(SpanKind::Consumer),
        "internal" => Some(SpanKind::Internal),
        _ => None,
    }
}

impl Visit for FieldVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.text(field, format!("{value:?}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.attributes.push((field.name(), AttributeValue::Int(value)));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match i64::try_from(value) {
            Ok(value) => self.attributes.push((field.name(), AttributeValue::Int(value))),
            Err(_) => self.text(field, value.to_string()),
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.attributes.push((field.name(), AttributeValue::Double(value)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.attributes.push((field.name(), AttributeValue::Bool(value)));
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::{Layer, filter};

    use super::*;
    use crate::span_export::SpanQueue;

    const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn recording() -> (impl Subscriber + Send + Sync, mpsc::Receiver<SpanData>) {
        let (sender, finished) = mpsc::channel(16);
        let layer = SpanLayer::new(SpanQueue { sender });
        let subscriber = Registry::default().with(layer.with_filter(filter::filter_fn(is_exported)));
        (subscriber, finished)
    }

    #[test]
    fn spans_continue_the_callers_trace_and_skip_spans_not_exported() {
        let (subscriber, mut finished) = recording();
        let mut inner_traceparent = None;
        tracing::subscriber::with_default(subscriber, || {
            let request = tracing::info_span!(
                "agentry.request",
                traceparent = CALLER,
                otel.kind = "server",
                agentry.agent = "a"
            );
            let _request = request.enter();
            let plain = tracing::info_span!("not_exported");
            let _plain = plain.enter();
            let call = tracing::info_span!(
                "agentry.model_call",
                otel.kind = "client",
                gen_ai.usage.input_tokens = 7u64,
                otel.status_code = tracing::field::Empty,
                otel.status_message = tracing::field::Empty
            );
            let _call = call.enter();
            call.record("otel.status_code", "ERROR");
            call.record("otel.status_message", "model_unavailable");
            inner_traceparent = current_traceparent();
        });
        let call = finished.try_recv().expect("the model call ended first");
        let request = finished.try_recv().expect("then the request");
        assert!(finished.try_recv().is_err(), "the plain span is not exported");
        let caller = TraceContext::from_traceparent(CALLER).expect("valid");
        assert_eq!(request.context.trace_id, caller.trace_id, "the caller's trace goes on");
        assert_eq!(request.parent_span_id, Some(caller.span_id));
        assert_eq!(request.kind, SpanKind::Server);
        assert_eq!(request.attributes, vec![("agentry.agent", AttributeValue::Str("a".into()))]);
        assert_eq!(call.context.trace_id, caller.trace_id);
        assert_eq!(
            call.parent_span_id,
            Some(request.context.span_id),
            "the plain span in between is skipped"
        );
        assert_eq!(call.kind, SpanKind::Client);
        assert_eq!(call.status, SpanStatus::Error("model_unavailable".into()));
        assert_eq!(call.attributes, vec![("gen_ai.usage.input_tokens", AttributeValue::Int(7))]);
        assert_eq!(
            inner_traceparent,
            Some(call.context.traceparent()),
            "a message sent there names the call"
        );
        assert!(call.end >= call.start);
    }

    #[test]
    fn without_a_caller_a_new_trace_starts_and_unsampled_traces_are_not_exported() {
        let (subscriber, mut finished) = recording();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info_span!("agentry.reconcile").in_scope(|| {});
            let unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
            tracing::info_span!("agentry.request", traceparent = unsampled).in_scope(|| {
                assert_eq!(
                    current_traceparent().map(|t| t.ends_with("-00")),
                    Some(true),
                    "carried on unsampled"
                );
            });
        });
        let root = finished.try_recv().expect("the reconcile span");
        assert_eq!(root.parent_span_id, None);
        assert!(finished.try_recv().is_err(), "the unsampled request is not exported");
        assert_eq!(current_traceparent(), None, "no layer, no trace context");
    }
}
