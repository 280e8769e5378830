//! Runs the real `agentry-runner` binary for a test: config written to a file, secrets in the
//! environment, output captured, readiness polled, SIGTERM sent on request, killed when dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentry_protocol::RunnerConfig;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::polling::poll_until;

/// A running runner process.
pub struct RunnerProcess {
    child: Child,
    /// Where its `/healthz`, `/readyz` and `/metrics` are.
    pub http: SocketAddr,
    config_path: PathBuf,
    output: Arc<Mutex<String>>,
}

/// A port free on 127.0.0.1 at the time of asking.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl RunnerProcess {
    /// Starts `binary` with `config` and the extra environment `env`; returns once it is ready.
    pub async fn start(binary: &Path, config: &RunnerConfig, env: &[(&str, &str)]) -> Result<Self, String> {
        let process = Self::spawn(binary, config, env)?;
        process.wait_ready(Duration::from_secs(20)).await?;
        Ok(process)
    }

    /// Starts `binary` without waiting for readiness.
    pub fn spawn(binary: &Path, config: &RunnerConfig, env: &[(&str, &str)]) -> Result<Self, String> {
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        let http: SocketAddr = ([127, 0, 0, 1], port).into();
        let config_path = std::env::temp_dir().join(format!("agentry-runner-{}.json", uuid::Uuid::new_v4()));
        let json = serde_json::to_vec_pretty(config).map_err(|e| e.to_string())?;
        std::fs::write(&config_path, json).map_err(|e| format!("writing {}: {e}", config_path.display()))?;
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AGENTRY_CONFIG", &config_path)
            .env("AGENTRY_HTTP_LISTEN", http.to_string())
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
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
        Ok(Self { child, http, config_path, output })
    }

    /// Polls `/readyz` until it answers 200.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), String> {
        let url = format!("http://{}/readyz", self.http);
        let client = http_client();
        poll_until(timeout, || async {
            client.get(&url).send().await.ok().filter(|r| r.status().is_success()).map(|_| ())
        })
        .await
        .map_err(|_| format!("runner not ready within {timeout:?}; output:\n{}", self.output()))
    }

    /// Polls `/readyz` until it no longer answers 200 (the runner is draining or gone).
    pub async fn wait_unready(&self, timeout: Duration) -> Result<(), String> {
        let url = format!("http://{}/readyz", self.http);
        let client = http_client();
        poll_until(timeout, || async {
            let ready = client.get(&url).send().await.is_ok_and(|r| r.status().is_success());
            (!ready).then_some(())
        })
        .await
        .map_err(|_| format!("runner still ready after {timeout:?}; output:\n{}", self.output()))
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

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Sends SIGTERM, as the kubelet does when a pod is deleted.
    pub fn terminate(&self) -> Result<(), String> {
        send_sigterm(self.pid())
    }

    /// Kills it with SIGKILL, as an OOM kill or a lost node would, and waits until it is gone.
    pub async fn kill(&mut self) -> Result<(), String> {
        self.child.kill().await.map_err(|e| format!("killing the runner: {e}"))
    }

    /// Waits for the process to exit.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        wait_for_exit(&mut self.child, timeout, "runner").await
    }
}

impl Drop for RunnerProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_file(&self.config_path);
    }
}

/// A plain-HTTP client; reqwest needs a rustls crypto provider installed even so.
pub(crate) fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

pub(crate) async fn capture<R: tokio::io::AsyncRead + Unpin>(
    reader: BufReader<R>,
    output: Arc<Mutex<String>>,
) {
    let mut lines = reader.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Ok(mut out) = output.lock() {
            out.push_str(&line);
            out.push('\n');
        }
    }
}

/// Sends SIGTERM to `pid` (`None`: the process has already exited).
pub(crate) fn send_sigterm(pid: Option<u32>) -> Result<(), String> {
    let pid = pid.ok_or("process already exited")?;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .map_err(|e| e.to_string())?;
    status.success().then_some(()).ok_or_else(|| format!("kill -TERM {pid} failed"))
}

/// Waits up to `timeout` for `child` (a `what`) to exit.
pub(crate) async fn wait_for_exit(
    child: &mut tokio::process::Child,
    timeout: Duration,
    what: &str,
) -> Result<ExitStatus, String> {
    tokio::time::timeout(timeout, child.wait())
        .await
        .map_err(|_| format!("{what} still running after {timeout:?}"))?
        .map_err(|e| e.to_string())
}
