//! A local OTLP/HTTP trace receiver: `POST /v1/traces` with a JSON `ExportTraceServiceRequest`,
//! as a collector takes it, on 127.0.0.1 and a port of its own. It decodes every span it is sent
//! and keeps the request headers, for the tests of the binaries' trace export.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;

use crate::polling::poll_until;

/// One span as received.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceivedSpan {
    /// Its resource's `service.name`.
    pub service: String,
    /// Hex trace id.
    pub trace_id: String,
    /// Hex span id.
    pub span_id: String,
    /// Hex parent span id; empty for a root.
    pub parent_span_id: String,
    /// Its name.
    pub name: String,
    /// Its kind, as OTLP numbers it (1 internal, 2 server, 3 client).
    pub kind: i64,
    /// Its attributes, each value as text.
    pub attributes: BTreeMap<String, String>,
    /// Its status code (0 unset, 1 ok, 2 error).
    pub status_code: i64,
    /// Its status message.
    pub status_message: String,
}

impl ReceivedSpan {
    /// The attribute `key`, as text.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

#[derive(Default)]
struct Received {
    spans: Vec<ReceivedSpan>,
    headers: Vec<HeaderMap>,
    refused: Vec<String>,
}

/// The running receiver; it stops when dropped.
pub struct OtlpReceiver {
    endpoint: String,
    received: Arc<Mutex<Received>>,
    server: tokio::task::JoinHandle<()>,
}

impl OtlpReceiver {
    /// Starts it on 127.0.0.1 and a free port.
    ///
    /// # Panics
    /// When it cannot bind.
    pub async fn start() -> Self {
        let received = Arc::new(Mutex::new(Received::default()));
        let app = Router::new().route("/v1/traces", post(receive)).with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the OTLP receiver");
        let addr = listener.local_addr().expect("receiver address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { endpoint: format!("http://{addr}"), received, server }
    }

    /// The base URL to give as `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.received.lock().map(|r| r.spans.clone()).unwrap_or_default()
    }

    /// The headers of every export request received so far.
    pub fn headers(&self) -> Vec<HeaderMap> {
        self.received.lock().map(|r| r.headers.clone()).unwrap_or_default()
    }

    /// Bodies that were not a valid OTLP JSON request, and why.
    pub fn refused(&self) -> Vec<String> {
        self.received.lock().map(|r| r.refused.clone()).unwrap_or_default()
    }

    /// Polls until `done` holds for the spans received, returning them.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        what: &str,
        done: impl Fn(&[ReceivedSpan]) -> bool,
    ) -> Result<Vec<ReceivedSpan>, String> {
        poll_until(timeout, || async {
            let spans = self.spans();
            done(&spans).then_some(spans)
        })
        .await
        .map_err(|_| format!("no {what} within {timeout:?}; received: {:#?}", self.spans()))
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(
    State(received): State<Arc<Mutex<Received>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let decoded = serde_json::from_slice::<Value>(&body).map_err(|e| e.to_string()).and_then(|v| decode(&v));
    let Ok(mut received) = received.lock() else { return StatusCode::INTERNAL_SERVER_ERROR };
    let json = headers.get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    received.headers.push(headers);
    match decoded {
        Ok(spans) if json => {
            received.spans.extend(spans);
            StatusCode::OK
        }
        Ok(_) => {
            received.refused.push("content-type is not application/json".into());
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        }
        Err(why) => {
            received.refused.push(why);
            StatusCode::BAD_REQUEST
        }
    }
}

/// Reads an `ExportTraceServiceRequest` in the OTLP JSON encoding, strictly: every span must
/// have hex ids of the right length, a name, and nanosecond times written as strings.
fn decode(body: &Value) -> Result<Vec<ReceivedSpan>, String> {
    let mut spans = Vec::new();
    for resource in body["resourceSpans"].as_array().ok_or("no resourceSpans")? {
        let service = attributes(&resource["resource"]["attributes"])?
            .remove("service.name")
            .ok_or("a resource without service.name")?;
        for scope in resource["scopeSpans"].as_array().ok_or("no scopeSpans")? {
            for span in scope["spans"].as_array().ok_or("no spans")? {
                spans.push(decode_span(&service, span)?);
            }
        }
    }
    Ok(spans)
}

fn decode_span(service: &str, span: &Value) -> Result<ReceivedSpan, String> {
    let hex = |key: &str, len: usize| -> Result<String, String> {
        let id = span[key].as_str().unwrap_or_default();
        let valid = id.len() == len && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if valid { Ok(id.to_string()) } else { Err(format!("{key} {id:?} is not {len} hex digits")) }
    };
    for time in ["startTimeUnixNano", "endTimeUnixNano"] {
        span[time]
            .as_str()
            .and_then(|t| t.parse::<u64>().ok())
            .ok_or(format!("{time} is not a number string"))?;
    }
    Ok(ReceivedSpan {
        service: service.to_string(),
        trace_id: hex("traceId", 32)?,
        span_id: hex("spanId", 16)?,
        parent_span_id: if span.get("parentSpanId").is_some() {
            hex("parentSpanId", 16)?
        } else {
            String::new()
        },
        name: span["name"].as_str().filter(|n| !n.is_empty()).ok_or("a span without a name")?.to_string(),
        kind: span["kind"].as_i64().unwrap_or(0),
        attributes: attributes(&span["attributes"])?,
        status_code: span["status"]["code"].as_i64().unwrap_or(0),
        status_message: span["status"]["message"].as_str().unwrap_or_default().to_string(),
    })
}

fn attributes(list: &Value) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for attribute in list.as_array().map(Vec::as_slice).unwrap_or_default() {
        let key = attribute["key"].as_str().ok_or("an attribute without a key")?;
        let value = &attribute["value"];
        let text = if let Some(text) = value["stringValue"].as_str() {
            text.to_string()
        } else if let Some(int) = value["intValue"].as_str() {
            int.parse::<i64>().map_err(|_| format!("intValue of {key} is not an integer string"))?.to_string()
        } else if let Some(flag) = value["boolValue"].as_bool() {
            flag.to_string()
        } else if let Some(number) = value["doubleValue"].as_f64() {
            number.to_string()
        } else {
            return Err(format!("attribute {key} has no value OTLP knows: {value}"));
        };
        out.insert(key.to_string(), text);
    }
    Ok(out)
}
