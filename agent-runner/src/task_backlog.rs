//! The agent's task backlog, from the durable consumer its replicas share: `agentry_tasks_pending`
//! (tasks waiting to be delivered) and `agentry_tasks_unacknowledged` (delivered, not yet settled).
//! Both describe the agent as a whole, so every replica reports the same figures.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::PullConsumer;
use tokio::task::JoinHandle;

use crate::metrics::RunnerMetrics;

/// How often the consumer is asked.
const REFRESH: Duration = Duration::from_secs(5);

/// Refreshes the backlog gauges until dropped.
pub(crate) struct BacklogWatch(JoinHandle<()>);

impl BacklogWatch {
    /// Starts asking `consumer` for its backlog every [`REFRESH`].
    pub(crate) fn start(consumer: PullConsumer, metrics: Arc<RunnerMetrics>) -> Self {
        Self(tokio::spawn(async move {
            let mut tick = tokio::time::interval(REFRESH);
            loop {
                tick.tick().await;
                match consumer.get_info().await {
                    Ok(info) => {
                        metrics.tasks_pending.set(i64::try_from(info.num_pending).unwrap_or(i64::MAX));
                        metrics
                            .tasks_unacknowledged
                            .set(i64::try_from(info.num_ack_pending).unwrap_or(i64::MAX));
                    }
                    // The gauges keep their last figures; the task worker reports the outage.
                    Err(error) => tracing::debug!(error = %error, "task consumer info unavailable"),
                }
            }
        }))
    }
}

impl Drop for BacklogWatch {
    fn drop(&mut self) {
        self.0.abort();
    }
}
