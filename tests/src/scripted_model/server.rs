//! The [`ScriptedModel`] server: its own thread and runtime, the script it answers from and the
//! requests it recorded.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::serve::ListenerExt;
use serde_json::Value;
use tokio::sync::{Notify, oneshot};

use super::handler::handle;
use super::{Flavor, RecordedRequest, Step, TooFewRequests};

/// What the server answers with: queued steps, then the default.
pub(super) struct Script {
    pub(super) queue: VecDeque<Step>,
    pub(super) default: Step,
    pub(super) usage: (u64, u64),
    pub(super) next_id: u64,
}

/// What the clones of a [`ScriptedModel`] and its request handler share.
pub(super) struct Shared {
    pub(super) flavor: Flavor,
    script: Mutex<Script>,
    requests: Mutex<Vec<RecordedRequest>>,
    pub(super) arrived: Notify,
}

impl Shared {
    pub(super) fn script(&self) -> MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn requests(&self) -> MutexGuard<'_, Vec<RecordedRequest>> {
        self.requests.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Stops the server when the last [`ScriptedModel`] clone goes.
struct Shutdown(Option<oneshot::Sender<()>>);

impl Drop for Shutdown {
    fn drop(&mut self) {
        if let Some(stop) = self.0.take() {
            // The server thread may already be gone; nothing to do then.
            let _ = stop.send(());
        }
    }
}

/// A running scripted model server.
#[derive(Clone)]
pub struct ScriptedModel {
    shared: Arc<Shared>,
    addr: SocketAddr,
    _shutdown: Arc<Shutdown>,
}

impl std::fmt::Debug for ScriptedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedModel")
            .field("flavor", &self.shared.flavor)
            .field("addr", &self.addr)
            .finish()
    }
}

impl ScriptedModel {
    /// Starts a server on a random port of 127.0.0.1. Its default step is [`Step::Echo`];
    /// usage is 10 input and 5 output tokens per answer.
    ///
    /// # Panics
    /// When no port can be bound or no thread started: a test cannot go on without its model.
    pub async fn start(flavor: Flavor) -> Self {
        Self::spawn(flavor)
    }

    /// [`start`](Self::start) for tests that are not async.
    pub fn spawn(flavor: Flavor) -> Self {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 for the scripted model");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr = listener.local_addr().expect("listener address");
        let shared = Arc::new(Shared {
            flavor,
            script: Mutex::new(Script {
                queue: VecDeque::new(),
                default: Step::Echo,
                usage: (10, 5),
                next_id: 0,
            }),
            requests: Mutex::new(Vec::new()),
            arrived: Notify::new(),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let app = Router::new().fallback(handle).with_state(shared.clone());
        std::thread::Builder::new()
            .name(format!("scripted-model-{}", addr.port()))
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        eprintln!("scripted model: no runtime: {e}");
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(e) => {
                            eprintln!("scripted model: listener: {e}");
                            return;
                        }
                    };
                    tokio::select! {
                        // Streamed answers are many small writes: without TCP_NODELAY each waits
                        // for the client's delayed ACK (~40 ms), as no real model server does.
                        result = axum::serve(listener.tap_io(|tcp| {
                            if let Err(e) = tcp.set_nodelay(true) {
                                eprintln!("scripted model: TCP_NODELAY: {e}");
                            }
                        }), app) => {
                            if let Err(e) = result {
                                eprintln!("scripted model: server stopped: {e}");
                            }
                        }
                        _ = stopped => {}
                    }
                });
                // Dropping the runtime here cancels in-flight (slow) answers: a dropped server
                // stops at once.
            })
            .expect("start the scripted model thread");
        Self { shared, addr, _shutdown: Arc::new(Shutdown(Some(stop))) }
    }

    /// The API it speaks.
    pub fn flavor(&self) -> Flavor {
        self.shared.flavor
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL to configure a model with: `http://127.0.0.1:PORT/v1` for OpenAI (the
    /// client appends `/chat/completions`), `http://127.0.0.1:PORT` for Anthropic (the client
    /// appends `/v1/messages`).
    pub fn base_url(&self) -> String {
        match self.shared.flavor {
            Flavor::OpenAi => format!("http://{}/v1", self.addr),
            Flavor::Anthropic => format!("http://{}", self.addr),
        }
    }

    /// Queues `step` to answer a future request, after those already queued.
    pub fn push(&self, step: Step) {
        self.shared.script().queue.push_back(step);
    }

    /// Queues several steps in order.
    pub fn extend(&self, steps: impl IntoIterator<Item = Step>) {
        self.shared.script().queue.extend(steps);
    }

    /// The step used when the queue is empty ([`Step::Echo`] unless set).
    pub fn set_default(&self, step: Step) {
        self.shared.script().default = step;
    }

    /// The token usage reported in every answer from now on.
    pub fn set_usage(&self, input_tokens: u64, output_tokens: u64) {
        self.shared.script().usage = (input_tokens, output_tokens);
    }

    /// Steps still queued.
    pub fn queued(&self) -> usize {
        self.shared.script().queue.len()
    }

    /// The JSON body of every request received, in order of arrival.
    pub fn requests(&self) -> Vec<Value> {
        self.shared.requests().iter().map(|r| r.body.clone()).collect()
    }

    /// Every request received, with path and headers, in order of arrival.
    pub fn recorded(&self) -> Vec<RecordedRequest> {
        self.shared.requests().clone()
    }

    /// How many requests arrived.
    pub fn request_count(&self) -> usize {
        self.shared.requests().len()
    }

    /// Waits until at least `n` requests have arrived, or fails once `timeout` (real time) has
    /// passed.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> Result<(), TooFewRequests> {
        let deadline = Instant::now() + timeout;
        loop {
            let arrived = self.shared.arrived.notified();
            let received = self.request_count();
            if received >= n {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(TooFewRequests { wanted: n, received, waited: timeout });
            }
            // The notification is the fast path; the short poll bounds the wait even if the
            // test's runtime has its clock paused (its timers then fire early, never late).
            tokio::select! {
                _ = arrived => {}
                _ = tokio::time::sleep(left.min(Duration::from_millis(20))) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<ScriptedModel>();
    }

    #[tokio::test]
    async fn wait_for_requests_gives_up_at_its_deadline() {
        let model = ScriptedModel::start(Flavor::OpenAi).await;
        let started = Instant::now();
        let err = model.wait_for_requests(1, Duration::from_millis(100)).await.expect_err("no request");
        assert_eq!(err, TooFewRequests { wanted: 1, received: 0, waited: Duration::from_millis(100) });
        assert!(started.elapsed() >= Duration::from_millis(100));
    }
}
