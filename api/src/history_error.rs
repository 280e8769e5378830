//! How a failure of the history read side is answered.

use agentry_api_contract::ApiErrorCode;
use agentry_history::HistoryError;

use crate::api_error::ApiError;

impl From<HistoryError> for ApiError {
    fn from(err: HistoryError) -> Self {
        match err {
            HistoryError::InvalidInput { field, reason } => {
                ApiError::bad_field(field, format!("{field} {reason}"))
            }
            HistoryError::NotFound { .. } => ApiError::not_found(err.to_string()),
            HistoryError::SessionEnded(_) | HistoryError::DeclaredSession(_) => {
                ApiError::new(ApiErrorCode::Conflict, err.to_string())
            }
            HistoryError::Database(cause) => {
                ApiError::unavailable("the history database (PostgreSQL)", &cause)
            }
        }
    }
}
