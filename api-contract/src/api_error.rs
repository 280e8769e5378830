//! The body of every 4xx and 5xx answer.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What went wrong, in a form a program can branch on and a person can act on.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiErrorBody {
    /// The kind of failure.
    pub code: ApiErrorCode,
    /// What is wrong and, where it helps, what to do.
    pub message: String,
    /// The request field (body field, query parameter or path segment) that is wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Kinds of failure; each has one HTTP status.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiErrorCode {
    /// 400: a field is missing, malformed or out of bounds (`field` names it).
    BadRequest,
    /// 401: no bearer token, or one the cluster does not accept.
    Unauthenticated,
    /// 403: the cluster's RBAC does not allow this (the message names the verb and resource).
    Forbidden,
    /// 404: no such agent, session, task or interaction.
    NotFound,
    /// 409: the object is in a state that forbids this (an ended session, a finished task).
    Conflict,
    /// 413: the body is larger than the API accepts.
    PayloadTooLarge,
    /// 502: the agent answered with an error (the message carries its code and text).
    AgentError,
    /// 503: a dependency (NATS, PostgreSQL, the Kubernetes API) is unreachable; retry.
    Unavailable,
    /// 504: the agent did not answer in time.
    Timeout,
    /// 500: anything else.
    Internal,
}

impl ApiErrorCode {
    /// The HTTP status this code is sent with.
    pub fn http_status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthenticated => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::Conflict => 409,
            Self::PayloadTooLarge => 413,
            Self::AgentError => 502,
            Self::Unavailable => 503,
            Self::Timeout => 504,
            Self::Internal => 500,
        }
    }
}
