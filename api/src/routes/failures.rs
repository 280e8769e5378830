//! The failure answers every endpoint may give, for the OpenAPI document.

use agentry_api_contract::ApiErrorBody;

/// 4xx and 5xx answers; each body is an [`ApiErrorBody`].
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(crate) enum Failures {
    /// A field is missing, malformed or out of bounds; `field` names it.
    #[response(status = 400)]
    BadRequest(ApiErrorBody),
    /// No bearer token, or one the cluster does not accept.
    #[response(status = 401)]
    Unauthenticated(ApiErrorBody),
    /// RBAC does not allow the verb on the resource in the namespace.
    #[response(status = 403)]
    Forbidden(ApiErrorBody),
    /// No such object.
    #[response(status = 404)]
    NotFound(ApiErrorBody),
    /// A dependency is unreachable or the agent has no ready replica; retry.
    #[response(status = 503)]
    Unavailable(ApiErrorBody),
}
