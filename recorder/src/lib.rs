//! The Agentry recorder (DESIGN.md §5): consumes the `AGENTRY_EVENTS` JetStream stream through
//! one durable pull consumer shared by every replica and writes the events to PostgreSQL
//! (`interactions`, `messages`, `tool_calls`, `model_calls`, `sessions`; see docs/recorder.md).
//!
//! Batches are written in one statement each, idempotently on the event id, and acknowledged
//! only after the commit, so neither a PostgreSQL outage nor a crash loses or duplicates an
//! event: unwritten events wait in the stream. A `main.rs` builds [`RecorderSettings`], starts a
//! [`Recorder`] and serves its [`RecorderMetrics`] and readiness on the admin endpoint.

mod batch_recording;
mod batch_writer;
pub mod database;
mod event_decoding;
mod event_rows;
mod event_source;
mod event_subject;
pub mod metrics;
mod recorder;
mod redaction;
pub mod retention;
pub mod settings;

pub use batch_writer::write_events;
pub use metrics::RecorderMetrics;
pub use recorder::{Recorder, StartError};
pub use settings::RecorderSettings;
