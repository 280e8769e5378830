//! Why a request failed, in words a user can act on: the API's own error body, or what the
//! Kubernetes API server's service proxy said about reaching the API at all.

use agentry_api_contract::{ApiErrorBody, ApiErrorCode};
use serde::Deserialize;

use super::endpoint::ApiEndpoint;

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiFailure {
    /// The API answered with its error body.
    #[error("{}", api_message(.code, .message, .field))]
    Api {
        /// The kind of failure.
        code: ApiErrorCode,
        /// What the API said.
        message: String,
        /// The request field it blames.
        field: Option<String>,
    },
    /// The service proxy found no Service.
    #[error(
        "the Agentry API is not installed in namespace {namespace} (no Service {service}): \
         install the chart or pass --api-namespace"
    )]
    NotInstalled {
        /// Where it looked.
        namespace: String,
        /// The Service it looked for.
        service: String,
    },
    /// The Service has no ready endpoints.
    #[error(
        "the Agentry operator is not running: the Service {namespace}/{service} has no ready \
         endpoints (see `kubectl get pods -n {namespace}`)"
    )]
    NotRunning {
        /// The Service's namespace.
        namespace: String,
        /// The Service.
        service: String,
    },
    /// The apiserver did not accept the kubeconfig's credentials.
    #[error(
        "not authenticated to the Kubernetes API server: {message} (check the kubeconfig's \
         credentials, --context or --kubeconfig)"
    )]
    ClusterUnauthenticated {
        /// What the apiserver said.
        message: String,
    },
    /// The apiserver's RBAC refused the service proxy.
    #[error(
        "the Kubernetes API server refused the request: {message} (reaching the Agentry API \
         needs get and create on services/proxy in namespace {namespace})"
    )]
    ClusterForbidden {
        /// What the apiserver said (it names the verb and resource).
        message: String,
        /// The API's namespace.
        namespace: String,
    },
    /// The proxy could not reach the API's pods.
    #[error(
        "the Agentry API in namespace {namespace} cannot be reached through the Kubernetes API server: {message}"
    )]
    Unreachable {
        /// The API's namespace.
        namespace: String,
        /// What the apiserver said.
        message: String,
    },
    /// Something answered that is neither the API nor the apiserver's proxy.
    #[error("unexpected answer {status} from {target}: {excerpt}")]
    Unexpected {
        /// The HTTP status.
        status: u16,
        /// Where the request went.
        target: String,
        /// The start of the body.
        excerpt: String,
    },
}

/// The API error body's `message`, prefixed where the code alone tells what to do, plus its field.
fn api_message(code: &ApiErrorCode, message: &str, field: &Option<String>) -> String {
    let mut text = match code {
        ApiErrorCode::Unauthenticated => format!(
            "not authenticated: {message} (the bearer token from --token-file, AGENTRY_TOKEN, --token \
             or the kubeconfig is missing, expired or not accepted by the cluster)"
        ),
        ApiErrorCode::Forbidden => format!("forbidden: {message}"),
        _ => message.to_string(),
    };
    if let Some(field) = field {
        text.push_str(&format!(" (field `{field}`)"));
    }
    text
}

/// The `metav1.Status` the apiserver answers its own failures with.
#[derive(Deserialize)]
struct KubeStatus {
    kind: String,
    #[serde(default)]
    message: String,
}

/// What a `status` answer with `body` means, sent to `endpoint` (whose `target` names it).
pub(crate) fn classify(status: u16, body: &[u8], endpoint: &ApiEndpoint, target: &str) -> ApiFailure {
    if let Ok(error) = serde_json::from_slice::<ApiErrorBody>(body) {
        return ApiFailure::Api { code: error.code, message: error.message, field: error.field };
    }
    let unexpected = || ApiFailure::Unexpected { status, target: target.into(), excerpt: excerpt(body) };
    let ApiEndpoint::Proxy { namespace, service } = endpoint else {
        return unexpected();
    };
    let Some(kube) = serde_json::from_slice::<KubeStatus>(body).ok().filter(|s| s.kind == "Status") else {
        return unexpected();
    };
    let (namespace, service, message) = (namespace.clone(), service.clone(), kube.message);
    match status {
        // The API's own 404s carry its error body, so a Status is the apiserver's: no Service
        // (`services "agentry-api" not found`), or, for a named port, no Endpoints of that name
        // (`endpoints "agentry-api" not found`), or no such namespace.
        404 => ApiFailure::NotInstalled { namespace, service },
        503 if message.contains("no endpoints available") => ApiFailure::NotRunning { namespace, service },
        401 => ApiFailure::ClusterUnauthenticated { message },
        403 => ApiFailure::ClusterForbidden { message, namespace },
        500..=599 => ApiFailure::Unreachable { namespace, message },
        _ => unexpected(),
    }
}

/// The body's start on one line, for messages about answers we cannot read.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = crate::output::one_line(&text, 300);
    if text.is_empty() { "(empty body)".into() } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy() -> ApiEndpoint {
        ApiEndpoint::proxy("agentry-system", "agentry-api").unwrap()
    }

    fn status_body(code: u16, reason: &str, message: &str) -> Vec<u8> {
        serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "message": message, "reason": reason, "code": code})
        .to_string()
        .into_bytes()
    }

    fn text(status: u16, body: &[u8], endpoint: &ApiEndpoint) -> String {
        classify(status, body, endpoint, "https://cluster.example").to_string()
    }

    #[test]
    fn the_apis_error_body_is_its_message_and_field() {
        let body = br#"{"code":"bad_request","message":"limit must be 1 to 500","field":"limit"}"#;
        assert_eq!(text(400, body, &proxy()), "limit must be 1 to 500 (field `limit`)");
        let body = br#"{"code":"not_found","message":"no agent \"x\" in namespace fleet"}"#;
        assert_eq!(
            text(404, body, &proxy()),
            "no agent \"x\" in namespace fleet",
            "an API 404 is not a missing Service"
        );
    }

    #[test]
    fn unauthenticated_and_forbidden_say_so() {
        let body = br#"{"code":"unauthenticated","message":"the token has expired"}"#;
        let message = text(401, body, &proxy());
        assert!(message.starts_with("not authenticated: the token has expired ("), "{message}");
        let body = br#"{"code":"forbidden","message":"user \"jane\" cannot create agents/invoke in namespace fleet"}"#;
        assert_eq!(
            text(403, body, &proxy()),
            "forbidden: user \"jane\" cannot create agents/invoke in namespace fleet"
        );
    }

    #[test]
    fn a_missing_service_means_the_api_is_not_installed() {
        let body = status_body(404, "NotFound", "services \"agentry-api\" not found");
        assert_eq!(
            text(404, &body, &proxy()),
            "the Agentry API is not installed in namespace agentry-system (no Service agentry-api): \
             install the chart or pass --api-namespace"
        );
    }

    #[test]
    fn missing_endpoints_of_a_named_port_also_mean_not_installed() {
        let body = status_body(404, "NotFound", "endpoints \"agentry-api\" not found");
        assert!(
            text(404, &body, &proxy())
                .starts_with("the Agentry API is not installed in namespace agentry-system")
        );
    }

    #[test]
    fn no_endpoints_means_the_operator_is_not_running() {
        let body =
            status_body(503, "ServiceUnavailable", "no endpoints available for service \"agentry-api\"");
        assert!(text(503, &body, &proxy()).starts_with("the Agentry operator is not running"));
        let body = status_body(
            503,
            "ServiceUnavailable",
            "error trying to reach service: dial tcp 10.0.0.7:8080: connect: connection refused",
        );
        let message = text(503, &body, &proxy());
        assert!(message.contains("cannot be reached") && message.contains("connection refused"), "{message}");
    }

    #[test]
    fn the_apiservers_own_refusals_are_told_apart() {
        let body = status_body(401, "Unauthorized", "Unauthorized");
        assert!(text(401, &body, &proxy()).starts_with("not authenticated to the Kubernetes API server"));
        let message = "services \"http:agentry-api:http\" is forbidden: User \"jane\" cannot create resource \"services/proxy\"";
        let text = text(403, &status_body(403, "Forbidden", message), &proxy());
        assert!(
            text.contains(message) && text.contains("services/proxy in namespace agentry-system"),
            "{text}"
        );
    }

    #[test]
    fn anything_else_shows_the_status_and_the_bodys_start() {
        let direct = ApiEndpoint::Direct;
        let body = status_body(404, "NotFound", "services \"agentry-api\" not found");
        assert!(
            text(404, &body, &direct).starts_with("unexpected answer 404 from https://cluster.example: {"),
            "no proxy, no Service"
        );
        assert_eq!(
            text(502, b"", &direct),
            "unexpected answer 502 from https://cluster.example: (empty body)"
        );
        assert_eq!(
            text(418, b"I'm a\nteapot", &proxy()),
            "unexpected answer 418 from https://cluster.example: I'm a teapot"
        );
    }
}
