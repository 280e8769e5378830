//! The operator's admin endpoint: `/healthz`, `/readyz` (ready while this replica serves: its
//! HTTP API and metrics listen and the API server answers, leader or not), `/leader` (200 while
//! this replica runs the controllers, 503 otherwise) and `/metrics`, served by the shared process
//! kit.

use agentry_process::{Readiness, admin_endpoint};
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;

use crate::runtime::handles::Handles;

/// The router serving the four paths from a running operator's handles.
pub fn router(handles: &Handles) -> Router {
    let leadership = handles.leadership.clone();
    admin_endpoint::router(handles.readiness.clone(), handles.metrics.clone(), handles.process.clone())
        .route("/leader", get(move || leader(leadership.clone())))
}

async fn leader(leadership: Readiness) -> (StatusCode, &'static str) {
    if leadership.is_ready() {
        (StatusCode::OK, "leading")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not leading")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentry_process::MetricsSource;
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get_path(router: &Router, path: &str) -> (StatusCode, String) {
        let request = Request::get(path).body(Body::empty()).expect("request");
        let response = router.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let body = to_bytes(response.into_body(), 1 << 16).await.expect("body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn ready_while_serving_and_connected_whether_leading_or_not() {
        let handles = Handles::new().expect("handles");
        let router = router(&handles);
        assert_eq!(get_path(&router, "/readyz").await.0, StatusCode::SERVICE_UNAVAILABLE);
        handles.serving.open();
        assert_eq!(
            get_path(&router, "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE,
            "API server unknown"
        );
        handles.apiserver.open();
        assert_eq!(get_path(&router, "/readyz").await, (StatusCode::OK, "ready".into()), "a standby serves");
        handles.leading.open();
        assert_eq!(get_path(&router, "/readyz").await.0, StatusCode::OK, "so does the leader");
        handles.apiserver.close();
        assert_eq!(get_path(&router, "/readyz").await.0, StatusCode::SERVICE_UNAVAILABLE, "API server gone");
    }

    #[tokio::test]
    async fn leader_answers_200_only_while_leading() {
        let handles = Handles::new().expect("handles");
        let router = router(&handles);
        handles.serving.open();
        handles.apiserver.open();
        assert_eq!(
            get_path(&router, "/leader").await,
            (StatusCode::SERVICE_UNAVAILABLE, "not leading".into())
        );
        handles.leading.open();
        assert_eq!(get_path(&router, "/leader").await, (StatusCode::OK, "leading".into()));
        handles.leading.close();
        assert_eq!(get_path(&router, "/leader").await.0, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn metrics_encode() {
        let handles = Handles::new().expect("handles");
        handles.metrics.observe("agent", std::time::Duration::from_millis(3));
        let text = handles.metrics.metrics_text().expect("encodes");
        assert!(text.contains("agentry_operator_reconciles_total{controller=\"agent\"} 1"), "{text}");
    }
}
