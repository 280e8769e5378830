//! The operator's NATS connection, made in the background: the task queue for Sessions and the
//! daily-usage bucket for Agents' status. NATS being away never stops the operator: whoever needs
//! it asks [`NatsLink::get`] and gets `None` until it is there (and while it is disconnected).

use std::sync::Arc;
use std::time::Duration;

use agentry_bus_identity::connection::BusAuth;
use agentry_bus_identity::{BusCredentials, permissions};
use agentry_protocol::daily_usage::{DAILY_USAGE_BUCKET, DAILY_USAGE_TTL_SECONDS};
use agentry_protocol::subjects::{EVENTS_STREAM, EVENTS_STREAM_SUBJECTS};
use agentry_protocol::tasks::TASK_STATE_BUCKET;
use agentry_task_queue::{TaskQueue, key_value_stream_config};
use async_nats::jetstream::{self, kv};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The operator's identity on the bus.
const IDENTITY: &str = "_operator";

/// First and longest pause between attempts to open the queue and buckets.
const RETRY: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(30));

/// What the operator uses on NATS once connected.
#[derive(Clone, Debug)]
pub struct NatsHandles {
    /// The client (its connection state tells whether NATS is reachable now).
    pub client: async_nats::Client,
    /// The durable task queue Sessions run on.
    pub tasks: TaskQueue,
    /// The `AGENTRY_TASK_STATE` bucket, watched to see Session tasks end.
    pub task_states: kv::Store,
    /// The `AGENTRY_DAILY_USAGE` bucket, read for Agents' status.
    pub daily_usage: kv::Store,
}

impl NatsHandles {
    /// Whether the client is connected right now (a request made while it is not would wait).
    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }
}

/// The connection being made or made; dropping the link stops the attempts and the client.
pub struct NatsLink {
    ready: watch::Receiver<Option<Arc<NatsHandles>>>,
    reconnects: watch::Receiver<u64>,
    task: Option<JoinHandle<()>>,
}

impl NatsLink {
    /// Starts connecting to `url` as the `_operator` identity with `credentials` in the
    /// background, retrying until the server answers and the queue and buckets are open.
    pub fn start(url: String, credentials: BusCredentials) -> Self {
        let (tx, ready) = watch::channel(None);
        let (reconnected, reconnects) = watch::channel(0);
        let auth = BusAuth::new(&url, credentials, Some(permissions::platform_inbox_prefix(IDENTITY)));
        let task = tokio::spawn(async move {
            let handles = open_with_retry(&auth, reconnected).await;
            tracing::info!(url = %auth.url, "NATS connected; task queue and usage buckets open");
            tx.send_replace(Some(Arc::new(handles)));
            // Keep the sender: receivers keep seeing the handles.
            tx.closed().await;
        });
        Self { ready, reconnects, task: Some(task) }
    }

    /// A link that never connects (for tests of what works without NATS).
    pub fn disconnected() -> Self {
        let (_, ready) = watch::channel(None);
        let (_, reconnects) = watch::channel(0);
        Self { ready, reconnects, task: None }
    }

    /// The handles, once the queue and buckets are open; `None` before.
    pub fn get(&self) -> Option<Arc<NatsHandles>> {
        self.ready.borrow().clone()
    }

    /// Counts the client's connections: it changes each time the connection comes back, when
    /// whatever was missed while it was away must be looked at again.
    pub fn reconnects(&self) -> watch::Receiver<u64> {
        self.reconnects.clone()
    }

    /// Waits until the handles are there.
    pub async fn ready(&self) -> Option<Arc<NatsHandles>> {
        let mut ready = self.ready.clone();
        ready.wait_for(Option::is_some).await.ok().and_then(|h| h.clone())
    }
}

impl Drop for NatsLink {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn open_with_retry(auth: &BusAuth, reconnected: watch::Sender<u64>) -> NatsHandles {
    // Shown redacted: the URL may carry a password.
    let url = auth.url.to_string();
    let url = url.as_str();
    let reconnected = Arc::new(reconnected);
    let mut pause = RETRY.0;
    let mut warned = false;
    let mut client = None;
    loop {
        let attempt = match &client {
            Some(client) => open(client).await,
            None => match connect(auth, reconnected.clone()).await {
                Ok(connected) => {
                    client = Some(connected);
                    continue;
                }
                Err(err) => Err(err),
            },
        };
        match attempt {
            Ok(handles) => return handles,
            Err(err) => {
                // Once: an absent NATS is reported, not repeated every few seconds.
                if !warned {
                    tracing::warn!(url, error = %err, "NATS not available yet; Sessions wait and Agents' usage is not shown until it is");
                    warned = true;
                }
                tracing::debug!(url, error = %err, "NATS still not available");
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(RETRY.1);
    }
}

/// A client that connects, and reconnects, in the background, counting its connections.
async fn connect(auth: &BusAuth, reconnected: Arc<watch::Sender<u64>>) -> Result<async_nats::Client, String> {
    let options = async_nats::ConnectOptions::new()
        .name("agentry-operator")
        .retry_on_initial_connect()
        .event_callback(move |event| {
            let reconnected = reconnected.clone();
            async move {
                match event {
                    async_nats::Event::Connected => {
                        reconnected.send_modify(|n| *n += 1);
                        tracing::info!("NATS connected");
                    }
                    async_nats::Event::Disconnected => tracing::warn!("NATS disconnected; reconnecting"),
                    other => tracing::debug!(event = %other, "NATS event"),
                }
            }
        });
    auth.connect(options).await.map_err(|e| format!("connecting to {}: {e}", auth.url))
}

/// The events stream as a runner creates it when missing (agent-runner's `event_publisher`);
/// whoever comes first makes it, and its settings are kept.
fn events_stream_config() -> jetstream::stream::Config {
    jetstream::stream::Config {
        name: EVENTS_STREAM.to_string(),
        subjects: vec![EVENTS_STREAM_SUBJECTS.to_string()],
        duplicate_window: Duration::from_secs(120),
        max_age: Duration::from_secs(7 * 24 * 3600),
        ..Default::default()
    }
}

/// Opens (creating when missing) the task queue, the buckets and the events stream.
async fn open(client: &async_nats::Client) -> Result<NatsHandles, String> {
    let js = jetstream::new(client.clone());
    let opened = tokio::time::timeout(Duration::from_secs(10), async {
        let tasks = TaskQueue::open(js.clone()).await.map_err(|e| e.to_string())?;
        let task_states = js.get_key_value(TASK_STATE_BUCKET).await.map_err(|e| e.to_string())?;
        // async-nats's `create_key_value` cannot parse nats-server 2.9's account info: the
        // bucket's stream is made directly, as every party makes it.
        js.get_or_create_stream(key_value_stream_config(
            DAILY_USAGE_BUCKET,
            "Agentry spend per agent and UTC day",
            Duration::from_secs(DAILY_USAGE_TTL_SECONDS),
        ))
        .await
        .map_err(|e| format!("creating the {DAILY_USAGE_BUCKET} bucket: {e}"))?;
        let daily_usage = js.get_key_value(DAILY_USAGE_BUCKET).await.map_err(|e| e.to_string())?;
        // Runners with their own identity may only publish into it, not create it. Not a reason
        // to stay away from NATS when it fails: the recorder (or a runner) makes it too.
        if let Err(error) = js.get_or_create_stream(events_stream_config()).await {
            tracing::warn!(%error, "the {EVENTS_STREAM} stream could not be made; runners with their own NATS identity buffer their events until it exists");
        }
        Ok::<_, String>((tasks, task_states, daily_usage))
    })
    .await
    .map_err(|_| "the server did not answer within 10 s".to_string())??;
    let (tasks, task_states, daily_usage) = opened;
    Ok(NatsHandles { client: client.clone(), tasks, task_states, daily_usage })
}
