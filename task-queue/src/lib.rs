//! Durable tasks on JetStream (docs/protocol.md "Tasks"), for every Rust caller: the runner that
//! works on them, the operator's Session controller and the CLI that submit, watch and cancel them.
//!
//! A task is an [`AgentRequest`](agentry_protocol::AgentRequest) on the `AGENTRY_TASKS` work queue;
//! its [`TaskRecord`](agentry_protocol::TaskRecord) in the `AGENTRY_TASK_STATE` bucket is the one
//! truth about where it stands. Every change of a record is a compare-and-set on its revision, so
//! a cancellation and a runner's result never overwrite each other.

mod queue_setup;
mod task_queue;
mod task_records;

pub use queue_setup::{key_value_stream_config, worker_consumer_config};
pub use task_queue::{Claim, SubmitError, TaskQueue, TaskQueueError, WaitError};
pub use task_records::{RecordError, VersionedRecord};
