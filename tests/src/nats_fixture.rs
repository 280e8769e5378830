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

/// A NATS server of a test's own, on a free port, that the test can kill and bring back (the
/// shared server cannot be, other tests use it).
pub struct PrivateNats {
    port: u16,
    store: std::path::PathBuf,
    child: Option<std::process::Child>,
    jetstream: bool,
}

impl PrivateNats {
    /// Starts `nats-server -js` on a free loopback port.
    pub async fn start() -> Result<Self, String> {
        Self::start_with(true).await
    }

    /// Starts `nats-server` without JetStream on a free loopback port: every JetStream request
    /// fails, as on a server whose JetStream is down or not enabled.
    pub async fn start_without_jetstream() -> Result<Self, String> {
        Self::start_with(false).await
    }

    async fn start_with(jetstream: bool) -> Result<Self, String> {
        let port = crate::runner_process::free_port().map_err(|e| e.to_string())?;
        let store = std::env::temp_dir().join(format!("agentry-nats-{}", uuid::Uuid::new_v4()));
        let mut nats = Self { port, store, child: None, jetstream };
        nats.revive().await?;
        Ok(nats)
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills it at once, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port; returns once it accepts connections.
    pub async fn revive(&mut self) -> Result<(), String> {
        let binary = ["/usr/sbin/nats-server", "/usr/bin/nats-server", "nats-server"]
            .into_iter()
            .find(|b| !b.starts_with('/') || std::path::Path::new(b).exists())
            .unwrap_or("nats-server");
        let mut command = std::process::Command::new(binary);
        command.args(["-a", "127.0.0.1", "-p", &self.port.to_string()]);
        if self.jetstream {
            command.arg("-js").arg("-sd").arg(&self.store);
        }
        let child = command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {binary}: {e} (run scripts/dev-services)"))?;
        self.child = Some(child);
        let port = self.port;
        crate::polling::poll_until(std::time::Duration::from_secs(10), || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok().map(|_| ())
        })
        .await
        .map_err(|e| format!("private NATS on port {port}: {e}"))
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}
