//! The operator's admin endpoint: `/healthz`, `/readyz` (ready while this replica leads) and
//! `/metrics`, served by the shared process kit.

use agentry_process::admin_endpoint;
use axum::Router;

use crate::runtime::leader_election::Handles;

/// The router serving the three paths from a running operator's handles.
pub fn router(handles: &Handles) -> Router {
    admin_endpoint::router(handles.readiness.clone(), handles.metrics.clone(), handles.process.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentry_process::MetricsSource;

    #[test]
    fn ready_while_leading_and_metrics_encode() {
        let handles = Handles::new().expect("handles");
        assert!(!handles.readiness.is_ready(), "not ready before leading");
        handles.leading.open();
        assert!(handles.readiness.is_ready());
        handles.leading.close();
        assert!(!handles.readiness.is_ready(), "not ready once no longer leading");
        handles.metrics.observe("agent", std::time::Duration::from_millis(3));
        let text = handles.metrics.metrics_text().expect("encodes");
        assert!(text.contains("agentry_operator_reconciles_total{controller=\"agent\"} 1"), "{text}");
    }
}
