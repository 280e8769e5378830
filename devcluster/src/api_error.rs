//! Errors answered to clients as Kubernetes `Status` objects, worded as kube-apiserver words them
//! (apimachinery's `k8s.io/apimachinery/pkg/api/errors`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::crd_schema::Invalid;
use crate::resources::ResourceDesc;

/// A request refused: becomes a `Status` of `status: Failure` with this code, reason and message.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct ApiError {
    /// The HTTP status code, also `Status.code`.
    pub(crate) code: u16,
    /// `Status.reason`, e.g. `NotFound`, `Conflict`, `Invalid`.
    pub(crate) reason: &'static str,
    /// `Status.message`.
    pub(crate) message: String,
    /// `Status.details`, when the error names an object or fields.
    pub(crate) details: Option<Value>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self { code, reason, message: message.into(), details: None }
    }

    fn with_details(mut self, desc: &ResourceDesc, name: &str) -> Self {
        let mut details = json!({"name": name, "kind": desc.plural});
        if !desc.group.is_empty() {
            details["group"] = json!(desc.group);
        }
        self.details = Some(details);
        self
    }

    /// `errors.NewNotFound`: `configmaps "x" not found`.
    pub(crate) fn not_found(desc: &ResourceDesc, name: &str) -> Self {
        Self::new(404, "NotFound", format!("{} \"{name}\" not found", desc.group_resource()))
            .with_details(desc, name)
    }

    /// A 404 for a path that names no resource.
    pub(crate) fn no_route() -> Self {
        Self::new(404, "NotFound", "the server could not find the requested resource")
    }

    /// `errors.NewAlreadyExists`.
    pub(crate) fn already_exists(desc: &ResourceDesc, name: &str) -> Self {
        Self::new(409, "AlreadyExists", format!("{} \"{name}\" already exists", desc.group_resource()))
            .with_details(desc, name)
    }

    /// `errors.NewConflict` for a stale `resourceVersion` or failed precondition.
    pub(crate) fn conflict(desc: &ResourceDesc, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {} \"{name}\": {why}", desc.group_resource()),
        )
        .with_details(desc, name)
    }

    /// The `Conflict` of optimistic concurrency.
    pub(crate) fn stale(desc: &ResourceDesc, name: &str) -> Self {
        Self::conflict(
            desc,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// `errors.NewInvalid`: `Agent.agentry.dev "x" is invalid: <causes>`, 422 with `details.causes`.
    pub(crate) fn invalid(desc: &ResourceDesc, name: &str, invalid: &Invalid) -> Self {
        let mut err =
            Self::new(422, "Invalid", format!("{} \"{name}\" is invalid: {invalid}", desc.group_kind()));
        let mut details = json!({"name": name, "kind": desc.kind, "causes": invalid.to_status_causes()});
        if !desc.group.is_empty() {
            details["group"] = json!(desc.group);
        }
        err.details = Some(details);
        err
    }

    /// Name the namespace in a namespace-termination `Forbidden`.
    pub(crate) fn with_reason_details(mut self, ns_desc: &ResourceDesc, ns: &str) -> Self {
        self.details = Some(json!({"name": ns, "kind": ns_desc.plural}));
        self
    }

    /// `errors.NewBadRequest`.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// `errors.NewForbidden`.
    pub(crate) fn forbidden(desc: &ResourceDesc, name: &str, why: &str) -> Self {
        Self::new(403, "Forbidden", format!("{} \"{name}\" is forbidden: {why}", desc.group_resource()))
            .with_details(desc, name)
    }

    /// `errors.NewMethodNotSupported`.
    pub(crate) fn method_not_supported(desc: &ResourceDesc, verb: &str) -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            format!("{verb} is not supported on resources of kind \"{}\"", desc.group_resource()),
        )
    }

    /// `errors.NewResourceExpired` (410 Gone) for a watch or continue from compacted history.
    pub(crate) fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 415 for a patch type the resource does not take.
    pub(crate) fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {content_type:?})"
            ),
        )
    }

    /// 503, as a load balancer answers while no apiserver is up.
    pub(crate) fn unavailable() -> Self {
        Self::new(503, "ServiceUnavailable", "the server is currently unable to handle the request")
    }

    /// 500 for a failure that is the server's own.
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", format!("Internal error occurred: {}", message.into()))
    }

    /// An error with caller-chosen code, reason and details (e.g. server-side apply conflicts).
    pub(crate) fn custom(code: u16, reason: &'static str, message: String, details: Option<Value>) -> Self {
        Self { code, reason, message, details }
    }

    /// The `Status` object.
    pub(crate) fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = self.to_status().to_string();
        (code, [(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

/// Result of an API operation.
pub(crate) type ApiResult<T> = Result<T, ApiError>;
