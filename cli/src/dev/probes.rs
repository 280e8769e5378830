//! Small network checks: a free port to hand a child, and whether a child's `/readyz` says 200.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long one probe may take.
const PROBE: Duration = Duration::from_secs(2);

/// A port on 127.0.0.1 nothing listens on now (the child binds it a moment later).
pub(crate) fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Whether `GET <path>` at `address` answers 200.
pub(crate) async fn answers_200(address: SocketAddr, path: &str) -> bool {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    match tokio::time::timeout(PROBE, exchange).await {
        Ok(Ok(answer)) => String::from_utf8_lossy(&answer).split_whitespace().nth(1) == Some("200"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_200_is_told_from_a_503_and_from_silence() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            for status in ["200 OK", "503 Service Unavailable"] {
                let (mut stream, _) = listener.accept().await.expect("accept");
                let mut request = [0u8; 1024];
                let _ = stream.read(&mut request).await;
                let answer = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
                stream.write_all(answer.as_bytes()).await.expect("answer");
            }
        });
        assert!(answers_200(address, "/readyz").await);
        assert!(!answers_200(address, "/readyz").await);
        let closed = free_port().expect("a free port");
        assert!(!answers_200(([127, 0, 0, 1], closed).into(), "/readyz").await);
    }
}
