//! The OpenAI-compatible embeddings client against a real HTTP server on 127.0.0.1: the path,
//! the bearer key, the request body, the order of vectors, and the dimension check.

use agentry_memory::{EmbeddingEndpoint, MemoryError, OpenAiEmbedder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const KEY: &str = "sk-test-secret-4711";

/// Serves one request with `answer` (status line and JSON body); returns what it received.
async fn serve_once(answer: (&'static str, String)) -> (String, tokio::task::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}/v1", listener.local_addr().expect("addr"));
    let handle = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        let mut received = Vec::new();
        let mut buffer = [0u8; 8192];
        loop {
            let n = socket.read(&mut buffer).await.expect("read");
            received.extend_from_slice(&buffer[..n]);
            let text = String::from_utf8_lossy(&received).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                    })
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                if body.len() >= length {
                    break;
                }
            }
            assert!(n > 0, "the client closed before sending its body");
        }
        let (status, body) = answer;
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(response.as_bytes()).await.expect("write");
        String::from_utf8_lossy(&received).to_string()
    });
    (base, handle)
}

fn embedder(base: String, dimensions: usize) -> OpenAiEmbedder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let endpoint = EmbeddingEndpoint {
        base_url: base,
        model: "text-embedding-3-small".into(),
        api_key: Some(KEY.into()),
        request_dimensions: true,
    };
    OpenAiEmbedder::new(reqwest::Client::new(), endpoint, dimensions).expect("embedder")
}

#[tokio::test]
async fn vectors_come_back_in_input_order_normalised() {
    let body = r#"{"object":"list","data":[
        {"object":"embedding","index":1,"embedding":[0.0,3.0,4.0]},
        {"object":"embedding","index":0,"embedding":[2.0,0.0,0.0]}],"model":"m"}"#;
    let (base, server) = serve_once(("200 OK", body.to_string())).await;
    let vectors = embedder(base, 3).embed(&["first", "second"]).await.expect("embeds");
    assert_eq!(vectors, vec![vec![1.0, 0.0, 0.0], vec![0.0, 0.6, 0.8]]);
    let request = server.await.expect("server");
    assert!(request.starts_with("POST /v1/embeddings HTTP/1.1"), "{request}");
    assert!(
        request.to_ascii_lowercase().contains(&format!("authorization: bearer {}", KEY.to_ascii_lowercase()))
    );
    let body: serde_json::Value =
        serde_json::from_str(request.split_once("\r\n\r\n").expect("body").1).expect("json body");
    assert_eq!(
        body,
        serde_json::json!({"model": "text-embedding-3-small", "input": ["first", "second"], "dimensions": 3})
    );
}

#[tokio::test]
async fn a_vector_of_another_length_is_refused_naming_both() {
    let body = r#"{"data":[{"index":0,"embedding":[0.1,0.2]}]}"#;
    let (base, _server) = serve_once(("200 OK", body.to_string())).await;
    let error = embedder(base, 3).embed(&["x"]).await.expect_err("2 is not 3");
    assert!(matches!(error, MemoryError::DimensionMismatch { expected: 3, actual: 2, .. }), "{error}");
}

#[tokio::test]
async fn an_error_answer_is_quoted_without_the_key() {
    let body = format!(r#"{{"error":{{"message":"invalid key {KEY}"}}}}"#);
    let (base, _server) = serve_once(("401 Unauthorized", body)).await;
    let error = embedder(base, 3).embed(&["x"]).await.expect_err("401");
    let text = error.to_string();
    assert!(text.contains("401") && text.contains("invalid key") && !text.contains(KEY), "{text}");
    let refused = embedder("http://127.0.0.1:9/v1".into(), 3).embed(&["x"]).await.expect_err("refused");
    assert!(refused.to_string().contains("127.0.0.1:9"), "{refused}");
}
