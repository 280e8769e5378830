//! What can go wrong calling a model, classified for the retry loop and the circuit breaker.
//!
//! No message here ever holds an API key: keys travel only in request headers, and response bodies
//! quoted in errors have any occurrence of the key redacted and are cut short.

use std::fmt;
use std::time::Duration;

/// Longest response-body excerpt kept in an error: enough to read the provider's explanation,
/// short enough for logs and events.
pub const MAX_BODY_EXCERPT: usize = 500;

/// An API key. Its `Debug` never shows the value, so it cannot leak through a stray `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key, dropping surrounding whitespace (Secrets often end with a newline).
    pub fn new(key: &str) -> Self {
        Self(key.trim().to_string())
    }

    /// The key itself, for building the request header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// A failed model call (one HTTP attempt, or the retry loop's verdict).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    /// HTTP 429: the provider asks us to slow down.
    #[error("rate limited (HTTP 429{}): {body}", RetryAfterNote(.retry_after))]
    RateLimited {
        /// How long the provider asked us to wait (`Retry-After`).
        retry_after: Option<Duration>,
        /// Excerpt of the response body.
        body: String,
    },
    /// HTTP 5xx, 408 or 409: the provider could not answer now; worth another try.
    #[error("provider unavailable (HTTP {status}{}): {body}", RetryAfterNote(.retry_after))]
    Unavailable {
        /// The HTTP status.
        status: u16,
        /// How long the provider asked us to wait (`Retry-After`), if it did.
        retry_after: Option<Duration>,
        /// Excerpt of the response body.
        body: String,
    },
    /// HTTP 4xx other than 408/409/429: the request itself is wrong (bad key, bad model name,
    /// prompt too long); repeating it cannot help.
    #[error("request rejected (HTTP {status}): {body}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// Excerpt of the response body.
        body: String,
    },
    /// No complete answer within the endpoint's per-attempt timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The connection failed or broke before a complete response arrived.
    #[error("connection failed: {0}")]
    Connection(String),
    /// The provider answered something that is not the API's response shape.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// A streamed answer broke after some of its text had been passed on: trying again (or
    /// another model) would repeat text the caller has already seen, so the call ends here.
    #[error("the answer's stream broke after its first tokens were sent: {0}")]
    StreamInterrupted(String),
    /// The endpoint's circuit breaker is open, so no request was sent.
    #[error("circuit breaker open")]
    CircuitOpen,
    /// The request's deadline came before the model answered.
    #[error("deadline reached before the model answered{}", LastErrorNote(.last_error))]
    DeadlineExceeded {
        /// The last failure before the deadline cut retries short, if there was one.
        last_error: Option<String>,
    },
}

impl ModelError {
    /// Whether another attempt at the same endpoint may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::Unavailable { .. }
                | Self::Timeout(_)
                | Self::Connection(_)
                | Self::Malformed(_)
        )
    }

    /// The wait the provider asked for, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } | Self::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A short, stable name for the failure: the `outcome` label of `model_calls`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable { .. } => "unavailable",
            Self::Rejected { .. } => "rejected",
            Self::Timeout(_) => "timeout",
            Self::Connection(_) => "connection",
            Self::Malformed(_) => "malformed",
            Self::StreamInterrupted(_) => "stream_interrupted",
            Self::CircuitOpen => "circuit_open",
            Self::DeadlineExceeded { .. } => "deadline",
        }
    }
}

/// A model chain that cannot be built from its configuration. Messages name the model and the
/// environment variable involved, never a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The chain has no model at all.
    #[error("no model configured")]
    NoModels,
    /// The environment variable that should hold a model's API key is not set (or empty).
    #[error("model {model}: environment variable {env} (its API key) is not set")]
    MissingKey {
        /// The model's name.
        model: String,
        /// The variable's name.
        env: String,
    },
    /// The API key cannot be sent in an HTTP header (it holds control characters).
    #[error("model {model}: the API key in {env} is not a valid HTTP header value")]
    InvalidKey {
        /// The model's name.
        model: String,
        /// The variable's name.
        env: String,
    },
    /// An `openai-compatible` model without a base URL.
    #[error("model {model}: provider openai-compatible needs a baseUrl")]
    MissingBaseUrl {
        /// The model's name.
        model: String,
    },
    /// The base URL is not an http(s) URL.
    #[error("model {model}: invalid baseUrl {url:?}: {reason}")]
    InvalidBaseUrl {
        /// The model's name.
        model: String,
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be created (TLS set-up).
    #[error("cannot create the HTTP client: {0}")]
    HttpClient(String),
}

/// Formats the `Retry-After` part of a message, empty when there was none.
struct RetryAfterNote<'a>(&'a Option<Duration>);

impl fmt::Display for RetryAfterNote<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(wait) => write!(f, ", retry after {wait:?}"),
            None => Ok(()),
        }
    }
}

/// Formats the "last error" part of a deadline message, empty when there was none.
struct LastErrorNote<'a>(&'a Option<String>);

impl fmt::Display for LastErrorNote<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(last) => write!(f, " (last error: {last})"),
            None => Ok(()),
        }
    }
}

/// A response body made fit for an error message: the key redacted wherever the provider echoed
/// it, then cut to [`MAX_BODY_EXCERPT`] characters. Redacting before cutting means no partial key
/// can survive at the cut.
pub(crate) fn body_excerpt(body: &[u8], key: Option<&ApiKey>) -> String {
    let mut text = String::from_utf8_lossy(body).into_owned();
    if let Some(key) = key.map(ApiKey::expose).filter(|k| !k.is_empty()) {
        text = text.replace(key, "<redacted>");
    }
    let text = text.trim();
    match text.char_indices().nth(MAX_BODY_EXCERPT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_debug_hides_the_value() {
        let key = ApiKey::new("sk-secret\n");
        assert_eq!(key.expose(), "sk-secret");
        assert!(!format!("{key:?}").contains("sk-secret"));
    }

    #[test]
    fn excerpt_redacts_the_key_and_cuts_long_bodies() {
        let key = ApiKey::new("sk-secret");
        let body = format!("Incorrect API key provided: sk-secret. {}", "é".repeat(1000));
        let excerpt = body_excerpt(body.as_bytes(), Some(&key));
        assert!(!excerpt.contains("sk-secret"), "{excerpt}");
        assert!(excerpt.contains("<redacted>"));
        assert_eq!(excerpt.chars().count(), MAX_BODY_EXCERPT + 1);
    }

    #[test]
    fn classification() {
        let limited =
            ModelError::RateLimited { retry_after: Some(Duration::from_secs(2)), body: "slow".into() };
        assert!(limited.is_retryable());
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(limited.to_string(), "rate limited (HTTP 429, retry after 2s): slow");
        let rejected = ModelError::Rejected { status: 401, body: "bad key".into() };
        assert!(!rejected.is_retryable());
        assert!(!ModelError::CircuitOpen.is_retryable());
        assert!(ModelError::Malformed("x".into()).is_retryable());
        assert!(!ModelError::StreamInterrupted("cut".into()).is_retryable());
        assert_eq!(
            ModelError::DeadlineExceeded { last_error: Some("boom".into()) }.to_string(),
            "deadline reached before the model answered (last error: boom)"
        );
    }
}
