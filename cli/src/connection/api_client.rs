//! Requests to the Agentry API: built with the API's paths, sent through kube-rs (so the
//! kubeconfig's TLS settings, client certificates, tokens and exec plugins all apply to the
//! apiserver), with the API's own bearer token in `X-Agentry-Authorization`.

use std::time::{Duration, Instant};

use agentry_api_contract::PROXIED_AUTHORIZATION_HEADER;
use http::header::{ACCEPT, CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Method};
use http_body_util::BodyExt;
use kube::client::Body;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::endpoint::{ApiEndpoint, query_string};
use super::failure::{ApiFailure, classify};

/// Largest answer body read into memory.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// A request that did not get a usable answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RequestError {
    /// An answer said no.
    #[error(transparent)]
    Failed(#[from] ApiFailure),
    /// Nothing answered.
    #[error("cannot reach {target}: {}", with_causes(.cause))]
    Transport {
        /// Where the request went.
        target: String,
        /// Why.
        cause: kube::Error,
    },
    /// No answer in time.
    #[error("no answer from {target} within {}s", .after.as_secs())]
    TimedOut {
        /// Where the request went.
        target: String,
        /// How long it waited.
        after: Duration,
    },
    /// The answer could not be read.
    #[error("cannot read the answer from {target}: {reason}")]
    Read {
        /// Where it came from.
        target: String,
        /// Why.
        reason: String,
    },
    /// The answer is not the JSON the API sends.
    #[error("the answer from {target} is not what the Agentry API sends: {cause}")]
    Decode {
        /// Where it came from.
        target: String,
        /// Why.
        cause: serde_json::Error,
    },
    /// The request could not be built.
    #[error("cannot build the request: {0}")]
    Build(String),
}

/// A connection to the Agentry API on behalf of one user, for one namespace of agents.
pub(crate) struct ApiClient {
    pub(super) http: kube::Client,
    pub(super) endpoint: ApiEndpoint,
    /// The server requests go to (the apiserver, or the direct URL), for messages.
    pub(super) target: String,
    pub(super) token: SecretString,
    pub(super) namespace: String,
    pub(super) verbose: bool,
    pub(super) deadline: Duration,
}

impl ApiClient {
    /// The namespace of the agents.
    pub(crate) fn namespace(&self) -> &str {
        &self.namespace
    }

    /// How long one request may take, from sending it to the last byte of its answer.
    pub(crate) fn set_deadline(&mut self, deadline: Duration) {
        self.deadline = deadline;
    }

    /// `GET path?query`, decoded.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &impl Serialize,
    ) -> Result<T, RequestError> {
        let query = query_string(query).map_err(|e| RequestError::Build(e.to_string()))?;
        let bytes = self.exchange(Method::GET, format!("{path}{query}"), None).await?;
        self.decode(&bytes)
    }

    /// `POST path` with `body` as JSON, decoded.
    pub(crate) async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, RequestError> {
        let body = serde_json::to_vec(body).map_err(|e| RequestError::Build(e.to_string()))?;
        let bytes = self.exchange(Method::POST, path.to_string(), Some(body)).await?;
        self.decode(&bytes)
    }

    /// `method path` without a body; the answer's JSON, if it has one.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
    ) -> Result<Option<T>, RequestError> {
        let bytes = self.exchange(method, path.to_string(), None).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        self.decode(&bytes).map(Some)
    }

    /// `POST path` with `body`, accepting Server-Sent Events: the answer's body once its status
    /// is a success, to be read as it arrives.
    pub(crate) async fn post_stream(&self, path: &str, body: &impl Serialize) -> Result<Body, RequestError> {
        let body = serde_json::to_vec(body).map_err(|e| RequestError::Build(e.to_string()))?;
        let request = self.request(Method::POST, path, Some(body), "text/event-stream")?;
        let response = self.send(request).await?;
        let status = response.status();
        if status.is_success() {
            return Ok(response.into_body());
        }
        let bytes = self.with_deadline(read_body(response.into_body(), &self.target)).await?;
        Err(classify(status.as_u16(), &bytes, &self.endpoint, &self.target).into())
    }

    /// Where requests go, for messages.
    pub(crate) fn target(&self) -> &str {
        &self.target
    }

    async fn exchange(
        &self,
        method: Method,
        path: String,
        body: Option<Vec<u8>>,
    ) -> Result<bytes::Bytes, RequestError> {
        let request = self.request(method, &path, body, "application/json")?;
        self.with_deadline(async {
            let response = self.send(request).await?;
            let status = response.status();
            let bytes = read_body(response.into_body(), &self.target).await?;
            if status.is_success() {
                Ok(bytes)
            } else {
                Err(classify(status.as_u16(), &bytes, &self.endpoint, &self.target).into())
            }
        })
        .await
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        accept: &'static str,
    ) -> Result<http::Request<Body>, RequestError> {
        let mut token =
            HeaderValue::from_str(&format!("Bearer {}", self.token.expose_secret())).map_err(|_| {
                RequestError::Build("the bearer token holds characters an HTTP header cannot carry".into())
            })?;
        token.set_sensitive(true);
        let builder = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.endpoint.path_prefix()))
            .header(ACCEPT, accept)
            .header(USER_AGENT, concat!("agentry-cli/", env!("CARGO_PKG_VERSION")))
            .header(PROXIED_AUTHORIZATION_HEADER, token);
        let request = match body {
            Some(body) => builder.header(CONTENT_TYPE, "application/json").body(Body::from(body)),
            None => builder.body(Body::empty()),
        };
        request.map_err(|e| RequestError::Build(e.to_string()))
    }

    async fn send(&self, request: http::Request<Body>) -> Result<http::Response<Body>, RequestError> {
        let line = format!("{} {}{}", request.method(), self.target.trim_end_matches('/'), request.uri());
        if self.verbose {
            eprintln!("> {line}");
        }
        let started = Instant::now();
        let response = self
            .with_deadline(async {
                self.http
                    .send(request)
                    .await
                    .map_err(|cause| RequestError::Transport { target: self.target.clone(), cause })
            })
            .await?;
        if self.verbose {
            eprintln!("< {} after {}ms", response.status(), started.elapsed().as_millis());
        }
        Ok(response)
    }

    async fn with_deadline<T>(
        &self,
        work: impl Future<Output = Result<T, RequestError>>,
    ) -> Result<T, RequestError> {
        tokio::time::timeout(self.deadline, work)
            .await
            .map_err(|_| RequestError::TimedOut { target: self.target.clone(), after: self.deadline })?
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, RequestError> {
        serde_json::from_slice(bytes)
            .map_err(|cause| RequestError::Decode { target: self.target.clone(), cause })
    }
}

/// `error` and its causes (kube's own text stops at "client error (Connect)"), each once.
fn with_causes(error: &kube::Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(next) = cause {
        let next_text = next.to_string();
        if !text.contains(&next_text) {
            text.push_str(": ");
            text.push_str(&next_text);
        }
        cause = next.source();
    }
    text
}

/// The whole body, refusing more than [`MAX_BODY_BYTES`].
async fn read_body(mut body: Body, target: &str) -> Result<bytes::Bytes, RequestError> {
    let mut bytes = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| RequestError::Read { target: target.into(), reason: e.to_string() })?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > MAX_BODY_BYTES {
                return Err(RequestError::Read {
                    target: target.into(),
                    reason: format!("it is larger than {} MiB", MAX_BODY_BYTES / (1024 * 1024)),
                });
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes.freeze())
}
