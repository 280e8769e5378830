//! The API's failures and how each is answered: a status and an [`ApiErrorBody`].

use agentry_api_contract::{ApiErrorBody, ApiErrorCode};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// A request that cannot be answered with what it asked for.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// The kind of failure (it fixes the status).
    pub code: ApiErrorCode,
    /// What is wrong, for a person.
    pub message: String,
    /// The request field at fault.
    pub field: Option<String>,
}

impl ApiError {
    /// A failure of `code` saying `message`.
    pub fn new(code: ApiErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), field: None }
    }

    /// 400 naming `field`.
    pub fn bad_field(field: &str, message: impl Into<String>) -> Self {
        Self { code: ApiErrorCode::BadRequest, message: message.into(), field: Some(field.to_owned()) }
    }

    /// 404 for `what`.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(ApiErrorCode::NotFound, what)
    }

    /// 503: `dependency` failed; the cause is logged, not sent (it may name internal hosts).
    pub fn unavailable(dependency: &str, cause: &dyn std::fmt::Display) -> Self {
        tracing::warn!(dependency, error = %cause, "dependency failed");
        Self::new(ApiErrorCode::Unavailable, format!("{dependency} is unavailable; retry shortly"))
    }

    /// The body this error is answered with.
    pub fn body(&self) -> ApiErrorBody {
        ApiErrorBody { code: self.code, message: self.message.clone(), field: self.field.clone() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self.body())).into_response()
    }
}
