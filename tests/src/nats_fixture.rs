//! The test NATS server (started by `scripts/dev-services`) and per-test isolation.

/// The NATS URL tests use: `AGENTRY_TEST_NATS_URL`, or the local default.
pub fn nats_url() -> String {
    std::env::var("AGENTRY_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_string())
}

/// Connects to the test NATS server.
pub async fn connect() -> Result<async_nats::Client, String> {
    let url = nats_url();
    async_nats::connect(url.as_str())
        .await
        .map_err(|e| format!("cannot reach NATS at {url} (run scripts/dev-services): {e}"))
}

/// A namespace no other test uses, so tests sharing one NATS server never hear each other.
pub fn unique_namespace(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}
