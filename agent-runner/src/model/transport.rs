//! The HTTP exchange both providers share: POST a JSON body, classify the status, read the body.

use std::error::Error as _;
use std::time::SystemTime;

use bytes::Bytes;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{StatusCode, Url};

use super::error::{ApiKey, ModelError, body_excerpt};
use super::retry::parse_retry_after;

/// Sends `body` to `url` and returns the body of a 2xx response; any other outcome becomes the
/// [`ModelError`] the retry loop classifies. `key` is only used to redact echoes of it.
pub(crate) async fn post_json(
    http: &reqwest::Client,
    url: &Url,
    headers: HeaderMap,
    body: &serde_json::Value,
    key: Option<&ApiKey>,
) -> Result<Bytes, ModelError> {
    let response = post(http, url, headers, body, key).await?;
    read_capped(response).await
}

/// Sends `body` to `url` and returns a 2xx response with its body still to read (a stream);
/// any other status becomes the [`ModelError`] it stands for, as for [`post_json`].
pub(crate) async fn post(
    http: &reqwest::Client,
    url: &Url,
    headers: HeaderMap,
    body: &serde_json::Value,
    key: Option<&ApiKey>,
) -> Result<reqwest::Response, ModelError> {
    let response = http.post(url.clone()).headers(headers).json(body).send().await.map_err(send_error)?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    let body = body_excerpt(&read_capped(response).await?, key);
    Err(match status {
        StatusCode::TOO_MANY_REQUESTS => ModelError::RateLimited { retry_after, body },
        // 408 and 409 are the provider's transient conditions, as the providers' own SDKs treat them.
        StatusCode::REQUEST_TIMEOUT | StatusCode::CONFLICT => {
            ModelError::Unavailable { status: status.as_u16(), retry_after, body }
        }
        s if s.is_server_error() => ModelError::Unavailable { status: s.as_u16(), retry_after, body },
        s if s.is_client_error() => ModelError::Rejected { status: s.as_u16(), body },
        s => ModelError::Malformed(format!("unexpected HTTP status {}: {body}", s.as_u16())),
    })
}

/// Parses a 2xx body as `T`, quoting (a redacted excerpt of) the body when it is not.
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    key: Option<&ApiKey>,
) -> Result<T, ModelError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ModelError::Malformed(format!("{e}; body: {}", body_excerpt(bytes, key))))
}

/// A reqwest failure with its causes ("connection refused" hides in the source chain). Request
/// headers, where the key travels, are never part of reqwest's messages.
pub(crate) fn send_error(error: reqwest::Error) -> ModelError {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    ModelError::Connection(message)
}

/// `{base}/{path}`, where `base` is the endpoint's `baseUrl` or `default_base`; an absent base
/// with no default is an error (an `openai-compatible` endpoint must say where it is).
pub(crate) fn endpoint_url(
    endpoint: &agentry_protocol::runner_config::ModelEndpoint,
    default_base: Option<&str>,
    path: &str,
) -> Result<Url, super::error::ConfigError> {
    use super::error::ConfigError;
    let base = match (endpoint.base_url.as_deref(), default_base) {
        (Some(base), _) | (None, Some(base)) => base,
        (None, None) => return Err(ConfigError::MissingBaseUrl { model: endpoint.name.clone() }),
    };
    let invalid = |reason: String| ConfigError::InvalidBaseUrl {
        model: endpoint.name.clone(),
        url: base.to_string(),
        reason,
    };
    let url =
        Url::parse(&format!("{}/{path}", base.trim_end_matches('/'))).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https".into()));
    }
    Ok(url)
}

/// Largest model response read; a longer one is a malformed answer, not a reason to run out
/// of memory.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

async fn read_capped(mut response: reqwest::Response) -> Result<Bytes, ModelError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(send_error)? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(ModelError::Malformed(format!("response larger than {MAX_RESPONSE_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}
