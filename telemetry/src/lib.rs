//! OpenTelemetry traces for Agentry's binaries (DESIGN.md §6).
//!
//! Spans named `agentry.*` ([`span_layer`]) become OpenTelemetry spans; a span with a
//! `traceparent` field continues the caller's trace, and [`current_traceparent`] gives the
//! header a message sent from inside a span carries on. [`SpanExport`] sends finished spans as
//! OTLP/HTTP JSON to the collector the standard `OTEL_*` variables name ([`ExportSettings`]),
//! in batches, from a thread of its own, through a bounded queue that drops (and counts) spans
//! rather than wait. Without an endpoint no layer is installed and nothing is recorded.

pub mod export_settings;
pub mod otlp_json;
pub mod span_export;
pub mod span_layer;
pub mod trace_context;

pub use export_settings::{ExportSettings, INHERITED_VARIABLES, SettingsError, inherited};
pub use span_export::{COUNTERS, ExportCounters, ExportError, SpanExport};
pub use span_layer::{SpanLayer, current_traceparent, is_exported};
pub use trace_context::TraceContext;
