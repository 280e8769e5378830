//! The exporter against real sockets: spans reach a collector as OTLP JSON with the configured
//! headers; a collector that never answers makes spans drop and count, never wait.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentry_telemetry::{COUNTERS, ExportSettings, SpanExport, is_exported};
use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, Registry, filter};

fn settings(endpoint: &str) -> ExportSettings {
    ExportSettings {
        endpoint: Url::parse(endpoint).expect("url"),
        headers: vec![(HeaderName::from_static("x-key"), HeaderValue::from_static("k-123"))],
        resource: vec![("service.name".into(), "export-test".into())],
        max_queue_size: 64,
        max_batch_size: 16,
        schedule_delay: Duration::from_millis(20),
        timeout: Duration::from_secs(2),
        note: None,
    }
}

/// Runs `work` with the export's layer as the thread's subscriber.
fn traced(layer: agentry_telemetry::SpanLayer, work: impl FnOnce()) {
    let subscriber = Registry::default().with(layer.with_filter(filter::filter_fn(is_exported)));
    tracing::subscriber::with_default(subscriber, work);
}

/// A one-route HTTP/1.1 server: keeps each request's head and body, answers 200 `{}`.
async fn collector() -> (String, Arc<Mutex<Vec<(String, String)>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let received = Arc::new(Mutex::new(Vec::new()));
    let kept = received.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = socket.read(&mut chunk).await else { return };
                    if n == 0 {
                        return;
                    }
                    buffer.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buffer).to_string();
                    let Some((head, body)) = text.split_once("\r\n\r\n") else { continue };
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().to_string())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if body.len() < length {
                        continue;
                    }
                    kept.lock().expect("lock").push((head.to_string(), body[..length].to_string()));
                    let answer =
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
                    let _ = socket.write_all(answer.as_bytes()).await;
                    buffer.clear();
                }
            });
        }
    });
    (format!("http://{addr}/v1/traces"), received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_the_collector_as_otlp_json_with_the_headers() {
    let (endpoint, received) = collector().await;
    let (layer, export) = SpanExport::start(settings(&endpoint)).expect("started");
    traced(layer, || {
        let request = tracing::info_span!("agentry.request", otel.kind = "server", agentry.agent = "a");
        request.in_scope(|| tracing::info_span!("agentry.model_call", otel.kind = "client").in_scope(|| {}));
        tracing::info_span!("plain").in_scope(|| {});
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let spans = loop {
        let spans: Vec<serde_json::Value> = received
            .lock()
            .expect("lock")
            .iter()
            .flat_map(|(_, body)| {
                let body: serde_json::Value = serde_json::from_str(body).expect("JSON body");
                body["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array().cloned().unwrap_or_default()
            })
            .collect();
        if spans.len() >= 2 || Instant::now() > deadline {
            break spans;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let names: Vec<&str> = spans.iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names, ["agentry.model_call", "agentry.request"], "{spans:#?}");
    assert_eq!(spans[0]["parentSpanId"], spans[1]["spanId"]);
    assert_eq!(spans[0]["traceId"], spans[1]["traceId"]);
    let (head, body) = received.lock().expect("lock")[0].clone();
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("post /v1/traces http/1.1"), "{head}");
    assert!(head.contains("x-key: k-123"), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    assert!(body.contains("\"service.name\""), "{body}");
    drop(export);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_never_answers_costs_dropped_spans_not_waiting() {
    // It accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let endpoint = format!("http://{}/v1/traces", listener.local_addr().expect("addr"));
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            sockets.push(socket);
        }
    });
    let mut settings = settings(&endpoint);
    settings.max_queue_size = 1;
    settings.max_batch_size = 1;
    settings.schedule_delay = Duration::from_millis(1);
    settings.timeout = Duration::from_millis(1500);
    let (layer, export) = SpanExport::start(settings).expect("started");
    let dropped_before = COUNTERS.dropped();
    let started = Instant::now();
    traced(layer, || {
        for _ in 0..50 {
            tracing::info_span!("agentry.request").in_scope(|| {});
        }
    });
    assert!(started.elapsed() < Duration::from_secs(1), "spans never wait for the collector");
    // At most one span in flight and one queued: the rest are dropped at once.
    assert!(COUNTERS.dropped() - dropped_before >= 48, "dropped {}", COUNTERS.dropped() - dropped_before);
    drop(export);
    held.abort();
}
