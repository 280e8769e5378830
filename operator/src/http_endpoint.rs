//! The operator's HTTP endpoint: `/healthz`, `/readyz` and `/metrics`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::runtime::metrics::OperatorMetrics;

#[derive(Clone)]
struct Endpoint {
    ready: Arc<AtomicBool>,
    metrics: Arc<OperatorMetrics>,
}

/// The router serving the three paths; `/readyz` answers 200 once `ready` is set.
pub fn router(ready: Arc<AtomicBool>, metrics: Arc<OperatorMetrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(Endpoint { ready, metrics })
}

async fn readyz(State(endpoint): State<Endpoint>) -> impl IntoResponse {
    if endpoint.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

async fn metrics_text(State(endpoint): State<Endpoint>) -> impl IntoResponse {
    match endpoint.metrics.encode() {
        Ok(text) => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
        }
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}
