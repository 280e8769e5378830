//! One of our binaries run as a child process with an admin endpoint: its output captured, its
//! `/readyz` and `/metrics` read over HTTP, stopped with SIGTERM or SIGKILL on request and killed
//! when dropped. The runner and recorder fixtures are this plus how each is configured.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::polling::poll_until;

/// A running binary serving `/healthz`, `/readyz` and `/metrics`.
pub struct ServiceProcess {
    child: Child,
    /// Where its `/healthz`, `/readyz` and `/metrics` are.
    pub http: SocketAddr,
    output: Arc<Mutex<String>>,
    /// What it is, for messages (`runner`, `recorder`).
    what: &'static str,
}

/// A port free on 127.0.0.1 at the time of asking.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A loopback address on a free port, for a process's admin endpoint.
pub(crate) fn free_local_addr() -> Result<SocketAddr, String> {
    let port = free_port().map_err(|e| format!("no free port: {e}"))?;
    Ok(([127, 0, 0, 1], port).into())
}

impl ServiceProcess {
    /// Spawns `command` (of `binary`, told to serve on `http`) with a clean environment but
    /// `PATH` and `RUST_LOG=info` besides what the command sets, capturing its output.
    pub(crate) fn spawn(
        mut command: Command,
        binary: &Path,
        http: SocketAddr,
        what: &'static str,
    ) -> Result<Self, String> {
        command.stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| format!("spawning {}: {e}", binary.display()))?;
        let output = Arc::new(Mutex::new(String::new()));
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(capture(BufReader::new(stdout), output.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(capture(BufReader::new(stderr), output.clone()));
        }
        Ok(Self { child, http, output, what })
    }

    /// A command for `binary` with a clean environment but `PATH` and `RUST_LOG=info`.
    pub(crate) fn command(binary: &Path) -> Command {
        let mut command = Command::new(binary);
        command.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).env("RUST_LOG", "info");
        command
    }

    /// Where its admin endpoint (`/healthz`, `/readyz`, `/metrics`) listens.
    pub fn http_addr(&self) -> SocketAddr {
        self.http
    }

    /// Whether `/readyz` says ready; `None` when it does not answer.
    pub async fn ready(&self) -> Option<bool> {
        let response = http_client().get(format!("http://{}/readyz", self.http)).send().await.ok()?;
        Some(response.status().is_success())
    }

    /// Polls `/readyz` until it answers 200.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), String> {
        poll_until(timeout, || async { self.ready().await.filter(|ready| *ready) })
            .await
            .map(|_| ())
            .map_err(|_| format!("{} not ready within {timeout:?}; output:\n{}", self.what, self.output()))
    }

    /// Polls `/readyz` until it no longer answers 200 (draining or gone).
    pub async fn wait_unready(&self, timeout: Duration) -> Result<(), String> {
        poll_until(timeout, || async { (self.ready().await != Some(true)).then_some(()) })
            .await
            .map_err(|_| format!("{} still ready after {timeout:?}; output:\n{}", self.what, self.output()))
    }

    /// The text of `/metrics`.
    pub async fn metrics(&self) -> Result<String, String> {
        let url = format!("http://{}/metrics", self.http);
        let response = http_client().get(&url).send().await.map_err(|e| e.to_string())?;
        response.text().await.map_err(|e| e.to_string())
    }

    /// Everything the process has written to stdout and stderr so far.
    pub fn output(&self) -> String {
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Sends SIGTERM, as the kubelet does when a pod is deleted.
    pub fn terminate(&self) -> Result<(), String> {
        let pid = self.pid().ok_or("process already exited")?;
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .map_err(|e| e.to_string())?;
        status.success().then_some(()).ok_or_else(|| format!("kill -TERM {pid} failed"))
    }

    /// Kills it with SIGKILL, as an OOM kill or a lost node would, and waits until it is gone.
    pub async fn kill(&mut self) -> Result<(), String> {
        self.child.kill().await.map_err(|e| format!("killing the {}: {e}", self.what))
    }

    /// Waits for the process to exit.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        tokio::time::timeout(timeout, self.child.wait())
            .await
            .map_err(|_| format!("{} still running after {timeout:?}", self.what))?
            .map_err(|e| e.to_string())
    }

    /// Starts killing it without waiting (for `Drop`).
    pub(crate) fn start_kill(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// A plain-HTTP client; reqwest needs a rustls crypto provider installed even so.
pub(crate) fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn capture<R: tokio::io::AsyncRead + Unpin>(reader: BufReader<R>, output: Arc<Mutex<String>>) {
    let mut lines = reader.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Ok(mut out) = output.lock() {
            out.push_str(&line);
            out.push('\n');
        }
    }
}
