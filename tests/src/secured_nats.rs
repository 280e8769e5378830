//! A nats-server of a test's own in operator mode (decentralized JWT authentication): the test
//! gives the trust configuration (`operator`, `system_account`, `resolver: MEMORY`,
//! `resolver_preload`, as `agentry-bus-identity` renders it); the fixture adds a free loopback
//! port and JetStream with a temporary store, waits for the server to greet a client, and kills
//! it on drop.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::AsyncReadExt as _;

/// How long the server gets to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A running operator-mode nats-server.
pub struct SecuredNats {
    port: u16,
    dir: PathBuf,
    child: Option<std::process::Child>,
}

impl SecuredNats {
    /// Starts nats-server with `trust` (the operator-mode fragment) and JetStream.
    pub async fn start(trust: &str) -> Result<Self, String> {
        let port = crate::service_process::free_port().map_err(|e| format!("no free port: {e}"))?;
        let dir = std::env::temp_dir().join(format!("agentry-secured-nats-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let config = format!(
            "listen: \"127.0.0.1:{port}\"\njetstream: {{ store_dir: \"{}\" }}\n{trust}",
            dir.join("store").display()
        );
        let config_path = dir.join("nats-server.conf");
        std::fs::write(&config_path, config)
            .map_err(|e| format!("writing {}: {e}", config_path.display()))?;
        let log =
            std::fs::File::create(dir.join("server.log")).map_err(|e| format!("creating the log: {e}"))?;
        let child = std::process::Command::new(binary())
            .arg("-c")
            .arg(&config_path)
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binary()))?;
        let mut nats = Self { port, dir, child: Some(child) };
        nats.wait_for_greeting().await?;
        Ok(nats)
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// What the server logged so far (for a failing assertion's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// Waits until the server sends its `INFO` line to a new connection, or fails with its log.
    async fn wait_for_greeting(&mut self) -> Result<(), String> {
        let port = self.port;
        let greeted = crate::polling::poll_until(START_TIMEOUT, || async move {
            let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
            let mut first = [0_u8; 4];
            tokio::time::timeout(Duration::from_secs(1), stream.read_exact(&mut first)).await.ok()?.ok()?;
            (&first == b"INFO").then_some(())
        })
        .await;
        if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
            return Err(format!("nats-server exited ({status}):\n{}", self.log()));
        }
        greeted.map_err(|e| format!("operator-mode nats-server on port {port}: {e}\n{}", self.log()))
    }
}

fn binary() -> &'static str {
    ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .into_iter()
        .find(|b| std::path::Path::new(b).exists())
        .unwrap_or("nats-server")
}

impl Drop for SecuredNats {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
