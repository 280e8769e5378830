//! What a history call can fail with; each variant maps to one API answer.

/// Why a history call failed.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// A parameter is malformed (`field` names it: `cursor`, `type`, `outcome`, ...): a 400.
    #[error("{field}: {reason}")]
    InvalidInput {
        /// The request field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// No such interaction or session in the namespace: a 404.
    #[error("no {what} {id:?} in this namespace")]
    NotFound {
        /// `interaction` or `session`.
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The session has ended already: a 409.
    #[error("session {0:?} has ended")]
    SessionEnded(String),
    /// The session is a declared Session, which only its own run ends: a 409.
    #[error("session {0:?} is a declared Session: it ends by itself (delete the Session to stop it)")]
    DeclaredSession(String),
    /// PostgreSQL failed or could not be reached: a 503.
    #[error("reading the history from PostgreSQL: {0}")]
    Database(#[from] sqlx::Error),
}

impl HistoryError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidInput { field, reason: reason.into() }
    }
}
