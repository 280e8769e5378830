//! The admin endpoint every binary serves: `/healthz` (alive), `/readyz` (200 while the
//! [`Readiness`] is ready, 503 otherwise) and `/metrics` (the binary's [`MetricsSource`] followed
//! by the [`ProcessMetrics`] every binary shares).

use std::fmt::Display;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus::{Registry, TextEncoder};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::process_metrics::ProcessMetrics;
use crate::readiness::Readiness;

/// The content type of `/metrics`: Prometheus text exposition format 0.0.4.
pub const METRICS_CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

/// Why the admin endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The listen address could not be bound (taken, not local, not an address).
    #[error("binding the HTTP endpoint {listen}")]
    Bind {
        /// The address asked for.
        listen: String,
        /// Why binding failed.
        #[source]
        source: std::io::Error,
    },
}

/// What `/metrics` serves: a binary's metrics, encoded when scraped.
pub trait MetricsSource: Send + Sync + 'static {
    /// Every metric in Prometheus text exposition format.
    fn metrics_text(&self) -> Result<String, prometheus::Error>;
}

/// A registry serves what is registered with it.
impl MetricsSource for Registry {
    fn metrics_text(&self) -> Result<String, prometheus::Error> {
        TextEncoder::new().encode_to_string(&self.gather())
    }
}

/// What the handlers read.
#[derive(Clone)]
struct Endpoint {
    readiness: Readiness,
    metrics: Arc<dyn MetricsSource>,
    process: Arc<ProcessMetrics>,
}

/// The router serving `/healthz`, `/readyz` from `readiness` and `/metrics` from `metrics`
/// then `process`.
pub fn router(readiness: Readiness, metrics: Arc<dyn MetricsSource>, process: Arc<ProcessMetrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(Endpoint { readiness, metrics, process })
}

async fn readyz(State(endpoint): State<Endpoint>) -> impl IntoResponse {
    if endpoint.readiness.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

async fn metrics_text(State(endpoint): State<Endpoint>) -> Response {
    let text = endpoint.metrics.metrics_text().and_then(|mut text| {
        text.push_str(&endpoint.process.metrics_text()?);
        Ok(text)
    });
    match text {
        Ok(text) => (StatusCode::OK, [(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], text).into_response(),
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}

/// How long [`AdminEndpoint::stop`] waits for open connections before cutting them.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A router served on its own task until stopped or dropped.
#[derive(Debug)]
pub struct AdminEndpoint {
    local_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl AdminEndpoint {
    /// Binds `listen` and serves `router` there (usually [`router`]).
    pub async fn start(listen: impl ToSocketAddrs + Display, router: Router) -> Result<Self, AdminError> {
        let listener = TcpListener::bind(&listen)
            .await
            .map_err(|source| AdminError::Bind { listen: listen.to_string(), source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| AdminError::Bind { listen: listen.to_string(), source })?;
        tracing::info!(listen = %local_addr, "HTTP endpoint up");
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let stopped = async {
                let _ = stopped.await;
            };
            if let Err(err) = axum::serve(listener, router).with_graceful_shutdown(stopped).await {
                tracing::error!(error = %err, "HTTP endpoint failed");
            }
        });
        Ok(Self { local_addr, shutdown: Some(shutdown), task })
    }

    /// The address it listens on (the port chosen when `listen` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops listening and returns once the connections still open have closed (idle ones
    /// close at once, a request in progress is answered first) or [`STOP_GRACE`] has passed.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            // An error only says the server has already ended.
            let _ = shutdown.send(());
        }
        if tokio::time::timeout(STOP_GRACE, &mut self.task).await.is_err() {
            tracing::warn!("admin connections still open after the stop grace period were cut");
        }
    }
}

impl Drop for AdminEndpoint {
    /// Dropped without [`AdminEndpoint::stop`]: everything is cut at once.
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use prometheus::IntCounter;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tower::ServiceExt;

    use super::*;
    use crate::process_metrics::BuildInfo;

    fn process() -> Arc<ProcessMetrics> {
        Arc::new(
            ProcessMetrics::new(BuildInfo { binary: "agentry-test", version: "0.0.1" }).expect("metrics"),
        )
    }

    async fn get_path(router: &Router, path: &str) -> (StatusCode, Option<String>, String) {
        let request = Request::get(path).body(Body::empty()).expect("request");
        let response = router.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let content_type =
            response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = to_bytes(response.into_body(), 1 << 20).await.expect("body");
        (status, content_type, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn readyz_answers_503_until_the_gate_opens_and_again_once_it_closes() {
        let readiness = Readiness::new();
        let gate = readiness.gate(false);
        let router = router(readiness, Arc::new(Registry::new()), process());
        assert_eq!(get_path(&router, "/readyz").await.0, StatusCode::SERVICE_UNAVAILABLE);
        gate.open();
        let (status, _, body) = get_path(&router, "/readyz").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ready"));
        gate.close();
        let (status, _, body) = get_path(&router, "/readyz").await;
        assert_eq!((status, body.as_str()), (StatusCode::SERVICE_UNAVAILABLE, "not ready"));
    }

    #[tokio::test]
    async fn healthz_is_ok_even_when_not_ready() {
        let router = router(Readiness::new(), Arc::new(Registry::new()), process());
        let (status, _, body) = get_path(&router, "/healthz").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    }

    #[tokio::test]
    async fn metrics_are_the_registry_in_prometheus_text_format() {
        let registry = Registry::new_custom(Some("agentry".into()), None).expect("registry");
        let counter = IntCounter::new("widgets_total", "Widgets made.").expect("counter");
        registry.register(Box::new(counter.clone())).expect("registered");
        counter.inc_by(3);
        let (status, content_type, body) =
            get_path(&router(Readiness::new(), Arc::new(registry), process()), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type.as_deref(), Some("text/plain; version=0.0.4"));
        assert!(body.contains("# TYPE agentry_widgets_total counter"), "{body}");
        assert!(body.lines().any(|l| l == "agentry_widgets_total 3"), "{body}");
        // Every binary's endpoint adds the process figures and its build info after its own.
        assert!(body.contains("\nprocess_resident_memory_bytes "), "{body}");
        assert!(body.contains(r#"agentry_build_info{binary="agentry-test",version="0.0.1"} 1"#), "{body}");
    }

    /// A source that cannot encode, as a registry with a broken collector would.
    struct Broken;

    impl MetricsSource for Broken {
        fn metrics_text(&self) -> Result<String, prometheus::Error> {
            Err(prometheus::Error::Msg("collector failed".into()))
        }
    }

    #[tokio::test]
    async fn a_failing_source_is_a_500_with_its_error() {
        let (status, _, body) =
            get_path(&router(Readiness::new(), Arc::new(Broken), process()), "/metrics").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body.contains("collector failed"), "{body}");
    }

    #[tokio::test]
    async fn the_endpoint_serves_on_its_port_until_stopped() {
        let readiness = Readiness::new();
        let _alive = readiness.gate(true);
        let endpoint =
            AdminEndpoint::start("127.0.0.1:0", router(readiness, Arc::new(Registry::new()), process()))
                .await
                .expect("started");
        let addr = endpoint.local_addr();
        assert_ne!(addr.port(), 0, "the chosen port is reported");
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connects");
        stream
            .write_all(b"GET /readyz HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
            .await
            .expect("sent");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("read");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let idle = tokio::net::TcpStream::connect(addr).await.expect("an idle connection");
        endpoint.stop().await;
        assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "nothing listens once stopped");
        let mut rest = Vec::new();
        let mut idle = idle;
        let closed =
            tokio::time::timeout(std::time::Duration::from_secs(5), idle.read_to_end(&mut rest)).await;
        // Closed (or reset, when the server had not yet accepted it), not left hanging.
        assert!(matches!(closed, Ok(Ok(0) | Err(_))), "the idle connection was closed: {closed:?}");
    }

    #[tokio::test]
    async fn a_taken_address_is_a_bind_error_naming_it() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let listen = taken.local_addr().expect("addr").to_string();
        let err = AdminEndpoint::start(
            listen.as_str(),
            router(Readiness::new(), Arc::new(Registry::new()), process()),
        )
        .await
        .expect_err("address in use");
        assert_eq!(err.to_string(), format!("binding the HTTP endpoint {listen}"));
    }
}
