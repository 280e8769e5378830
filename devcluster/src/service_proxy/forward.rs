//! Forward one request to a Service's backend over a new HTTP/1.1 connection and stream the
//! answer back as it arrives, as kube-apiserver's upgrade-aware proxy handler does through Go's
//! reverse proxy: hop-by-hop headers dropped both ways, the caller's `Authorization` not sent
//! on, `X-Forwarded-Uri` naming the path the caller asked for, and a backend that cannot be
//! reached answered `503 error trying to reach service: …`.

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Request, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;

use super::location::{Target, unavailable};

/// Headers that describe one connection, not the message (Go's `httputil` list).
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Send the request of `parts` and `body` to `backend_path` (with the query) at `target`.
pub(crate) async fn forward(target: &Target, parts: Parts, body: Body, backend_path: &str) -> Response {
    if target.scheme != "http" {
        // Deliberate difference: no TLS to backends.
        return unreachable(&target.address, "devcluster proxies to http backends only").into_response();
    }
    let stream = match tokio::net::TcpStream::connect(&target.address).await {
        Ok(stream) => stream,
        Err(err) => return unreachable(&target.address, &dial_error(&err)).into_response(),
    };
    let (mut sender, connection) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
        Ok(handshake) => handshake,
        Err(err) => return unreachable(&target.address, &err.to_string()).into_response(),
    };
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!(%err, "proxied connection ended");
        }
    });
    let uri = match parts.uri.query() {
        Some(query) => format!("{backend_path}?{query}"),
        None => backend_path.to_owned(),
    };
    let mut request = Request::new(body);
    *request.method_mut() = parts.method;
    *request.uri_mut() = match uri.parse() {
        Ok(uri) => uri,
        Err(_) => return unreachable(&target.address, "malformed path").into_response(),
    };
    *request.headers_mut() = forwarded_headers(&parts.headers, &target.address, parts.uri.path());
    match sender.send_request(request).await {
        Ok(response) => {
            let (mut head, body) = response.into_parts();
            drop_hop_by_hop(&mut head.headers);
            Response::from_parts(head, Body::new(body))
        }
        Err(err) => unreachable(&target.address, &err.to_string()).into_response(),
    }
}

/// The caller's headers as the backend gets them.
fn forwarded_headers(headers: &HeaderMap, address: &str, caller_path: &str) -> HeaderMap {
    let mut headers = headers.clone();
    drop_hop_by_hop(&mut headers);
    headers.remove(header::AUTHORIZATION);
    if let Ok(host) = HeaderValue::from_str(address) {
        headers.insert(header::HOST, host);
    }
    if let Ok(uri) = HeaderValue::from_str(caller_path) {
        headers.insert("x-forwarded-uri", uri);
    }
    headers
}

/// Remove hop-by-hop headers, and those the `Connection` header names.
fn drop_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    for name in HOP_BY_HOP.iter().copied().chain(named.iter().map(String::as_str)) {
        headers.remove(name);
    }
}

/// A dial failure as Go words it: `dial tcp 10.0.0.1:80: connect: connection refused`.
fn dial_error(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::ConnectionRefused => "connect: connection refused".into(),
        _ => err.to_string(),
    }
}

fn unreachable(address: &str, why: &str) -> crate::api_error::ApiError {
    let cause =
        if why.starts_with("connect:") { format!("dial tcp {address}: {why}") } else { why.to_owned() };
    unavailable(format!("error trying to reach service: {cause}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_hop_by_hop_headers_stay_behind() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer secret"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, x-private"));
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        headers.insert(header::ACCEPT, HeaderValue::from_static("text/event-stream"));
        let out = forwarded_headers(&headers, "10.0.0.1:80", "/api/v1/namespaces/a/services/b/proxy/x");
        assert!(out.get(header::AUTHORIZATION).is_none());
        assert!(out.get("x-private").is_none() && out.get(header::CONNECTION).is_none());
        assert!(out.get(header::TRANSFER_ENCODING).is_none());
        assert_eq!(out.get(header::ACCEPT).and_then(|v| v.to_str().ok()), Some("text/event-stream"));
        assert_eq!(out.get(header::HOST).and_then(|v| v.to_str().ok()), Some("10.0.0.1:80"));
    }
}
