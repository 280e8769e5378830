//! Runs the real `agentry-recorder` binary for a test: flags given, the database URL in the
//! environment (never in argv), output captured, readiness and metrics read over HTTP, stopped
//! with SIGTERM or SIGKILL on request, killed when dropped.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::BufReader;
use tokio::process::{Child, Command};

use crate::polling::poll_until;
use crate::runner_process::{capture, free_port, http_client, send_sigterm, wait_for_exit};

/// A running recorder process.
pub struct RecorderProcess {
    child: Child,
    /// Where its `/healthz`, `/readyz` and `/metrics` are.
    pub http: SocketAddr,
    output: Arc<Mutex<String>>,
}

impl RecorderProcess {
    /// Starts `binary` with `args` (besides `--http-listen`, which it picks) and
    /// `AGENTRY_DATABASE_URL=database_url`, without waiting for readiness.
    pub fn spawn(binary: &Path, args: &[String], database_url: &str) -> Result<Self, String> {
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        let http: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AGENTRY_DATABASE_URL", database_url)
            .env("RUST_LOG", "info")
            .arg("--http-listen")
            .arg(http.to_string())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| format!("spawning {}: {e}", binary.display()))?;
        let output = Arc::new(Mutex::new(String::new()));
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(capture(BufReader::new(stdout), output.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(capture(BufReader::new(stderr), output.clone()));
        }
        Ok(Self { child, http, output })
    }

    /// Polls `/readyz` until it answers 200.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), String> {
        poll_until(timeout, || async { self.ready().await.filter(|ready| *ready) })
            .await
            .map(|_| ())
            .map_err(|_| format!("recorder not ready within {timeout:?}; output:\n{}", self.output()))
    }

    /// Whether `/readyz` says ready; `None` when it does not answer.
    pub async fn ready(&self) -> Option<bool> {
        let response = http_client().get(format!("http://{}/readyz", self.http)).send().await.ok()?;
        Some(response.status().is_success())
    }

    /// The text of `/metrics`.
    pub async fn metrics(&self) -> Result<String, String> {
        let response = http_client()
            .get(format!("http://{}/metrics", self.http))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        response.text().await.map_err(|e| e.to_string())
    }

    /// Everything the process has written to stdout and stderr so far.
    pub fn output(&self) -> String {
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }

    /// Sends SIGTERM, as the kubelet does when a pod is deleted.
    pub fn terminate(&self) -> Result<(), String> {
        send_sigterm(self.child.id())
    }

    /// Kills it with SIGKILL, as a crash or an OOM kill would, and waits for it to be gone.
    pub async fn kill(&mut self) -> Result<(), String> {
        self.child.kill().await.map_err(|e| format!("kill -9: {e}"))
    }

    /// Waits for the process to exit.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        wait_for_exit(&mut self.child, timeout, "recorder").await
    }
}
