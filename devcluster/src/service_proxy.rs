//! The service proxy, `/api/v1/namespaces/<ns>/services/[<scheme>:]<name>[:<port>]/proxy/<path>`,
//! as kube-apiserver serves it: the Service's Endpoints give an address, and the request (any
//! method, its query, headers and body) is forwarded to it and the answer streamed back as it
//! arrives, so Server-Sent Events pass through event by event.
//!
//! As on a real apiserver, the caller's `Authorization` header is not forwarded: kube-apiserver's
//! authentication filter deletes it once it has authenticated the caller
//! (`k8s.io/apiserver/pkg/endpoints/filters/authentication.go`), so the backend never sees the
//! caller's Kubernetes credential.

mod forward;
mod location;

use std::sync::Arc;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::api_server::ApiServer;

/// A request path that names the proxy of a Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProxyPath {
    /// The Service's namespace.
    pub(crate) namespace: String,
    /// `name`, `name:port` or `scheme:name:port`.
    pub(crate) service: String,
    /// The path on the backend: empty, or starting with `/`.
    pub(crate) backend_path: String,
}

/// The proxy path `path` names, if it names one.
pub(crate) fn proxy_path(path: &str) -> Option<ProxyPath> {
    let rest = path.strip_prefix("/api/v1/namespaces/")?;
    let (namespace, rest) = rest.split_once('/')?;
    let (service, rest) = rest.strip_prefix("services/")?.split_once('/')?;
    let backend_path = rest.strip_prefix("proxy")?;
    if namespace.is_empty()
        || service.is_empty()
        || !(backend_path.is_empty() || backend_path.starts_with('/'))
    {
        return None;
    }
    Some(ProxyPath {
        namespace: namespace.to_owned(),
        service: service.to_owned(),
        backend_path: backend_path.to_owned(),
    })
}

/// Serve a request on a Service's proxy.
pub(crate) async fn serve(server: &Arc<ApiServer>, path: ProxyPath, parts: Parts, body: Body) -> Response {
    if path.backend_path.is_empty() {
        // kube-apiserver redirects an empty proxied path to `…/proxy/` (issue 4958).
        let query = parts.uri.query().map(|q| format!("?{q}")).unwrap_or_default();
        let location = format!("{}/{query}", parts.uri.path());
        return (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, location)]).into_response();
    }
    let found = location::locate(&server.lock(), &path.namespace, &path.service);
    match found {
        Ok(target) => forward::forward(&target, parts, body, &path.backend_path).await,
        Err(refused) => refused.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_paths_are_recognised() {
        let parsed = proxy_path("/api/v1/namespaces/fleet/services/http:api:8080/proxy/v1/events");
        assert_eq!(
            parsed,
            Some(ProxyPath {
                namespace: "fleet".into(),
                service: "http:api:8080".into(),
                backend_path: "/v1/events".into(),
            })
        );
        assert_eq!(
            proxy_path("/api/v1/namespaces/fleet/services/api/proxy").map(|p| p.backend_path),
            Some(String::new())
        );
        assert_eq!(
            proxy_path("/api/v1/namespaces/fleet/services/api/proxy/").map(|p| p.backend_path),
            Some("/".into())
        );
        assert_eq!(proxy_path("/api/v1/namespaces/fleet/services/api"), None);
        assert_eq!(proxy_path("/api/v1/namespaces/fleet/services/api/status"), None);
        assert_eq!(proxy_path("/api/v1/namespaces/fleet/services/api/proxyx"), None);
        assert_eq!(proxy_path("/api/v1/namespaces/fleet/pods/api/proxy/x"), None);
    }
}
