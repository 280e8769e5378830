//! The real `agentry-operator` binary as a child process, pointed at a cluster by `KUBECONFIG`:
//! its output kept in a log file, its exit noticed the moment it happens, SIGKILL or SIGTERM sent
//! on request, killed when dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::process::Command;
use tokio::sync::{mpsc, watch};

use crate::polling::poll_until;
use crate::runner_process::free_port;

/// How an operator process is started.
#[derive(Clone, Debug)]
pub struct OperatorOptions {
    /// With leader election: this replica's identity in the Lease. `None` runs without election.
    pub identity: Option<String>,
    /// Namespace of the leader Lease.
    pub lease_namespace: String,
    /// `--lease-duration-seconds`: how long a Lease stays valid without renewal.
    pub lease_duration_seconds: u64,
    /// `--runner-image`.
    pub runner_image: String,
    /// `--nats-url`.
    pub nats_url: String,
    /// `RUST_LOG` for the process.
    pub log_filter: String,
    /// `--database-url` and `--database-schema`: the recorder's history, for the API.
    pub history: Option<(String, String)>,
    /// More environment for the process (`OTEL_*`, say).
    pub env: Vec<(String, String)>,
    /// More flags, after the others (e.g. `--lease-renew-deadline-seconds 3`).
    pub extra_args: Vec<String>,
}

impl OperatorOptions {
    /// A single replica without leader election.
    pub fn single(runner_image: &str, nats_url: &str) -> Self {
        Self {
            identity: None,
            lease_namespace: "default".into(),
            lease_duration_seconds: 15,
            runner_image: runner_image.into(),
            nats_url: nats_url.into(),
            log_filter: std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            history: None,
            env: Vec::new(),
            extra_args: Vec::new(),
        }
    }

    /// The same, competing for the Lease in `namespace` as `identity`, renewing every
    /// `duration_seconds`.
    pub fn replica(self, identity: &str, namespace: &str, duration_seconds: u64) -> Self {
        Self {
            identity: Some(identity.into()),
            lease_namespace: namespace.into(),
            lease_duration_seconds: duration_seconds,
            ..self
        }
    }
}

/// How an operator process ended.
#[derive(Clone, Debug)]
pub struct Exit {
    /// The exit status as the OS reported it (`exit status: 1`, `signal: 9 (SIGKILL)`).
    pub status: String,
    /// Whether it exited with status 0.
    pub success: bool,
    /// When the exit was noticed.
    pub at: tokio::time::Instant,
}

/// The operator ended when no test asked it to.
#[derive(Debug, thiserror::Error)]
#[error("operator {name} died ({status}); the end of its log ({log}):\n{tail}")]
pub struct OperatorDied {
    /// Which operator.
    pub name: String,
    /// Its exit status.
    pub status: String,
    /// Where its whole log is.
    pub log: String,
    /// The last lines of its log.
    pub tail: String,
}

/// What a test may check about an operator without owning it: whether it died unasked.
#[derive(Clone)]
pub struct Liveness {
    name: String,
    log: PathBuf,
    exit: watch::Receiver<Option<Exit>>,
    expected: Arc<AtomicBool>,
}

impl Liveness {
    /// Which operator, and where its log is (kept when the test fails).
    pub fn describe(&self) -> String {
        format!("{}: {}", self.name, self.log.display())
    }

    /// `Err` when the process has exited although no one killed or stopped it.
    pub fn check(&self) -> Result<(), OperatorDied> {
        let exit = self.exit.borrow().clone();
        match exit {
            Some(exit) if !self.expected.load(Ordering::SeqCst) => Err(OperatorDied {
                name: self.name.clone(),
                status: exit.status,
                log: self.log.display().to_string(),
                tail: log_tail(&self.log, 40),
            }),
            _ => Ok(()),
        }
    }
}

/// A running `agentry-operator` process.
pub struct OperatorProcess {
    name: String,
    pid: u32,
    /// Where its `/healthz`, `/readyz`, `/leader` and `/metrics` are.
    pub http: SocketAddr,
    /// Where its HTTP API is.
    pub api: SocketAddr,
    log: PathBuf,
    exit: watch::Receiver<Option<Exit>>,
    expected: Arc<AtomicBool>,
    /// Dropping this (with the process) makes the monitor kill the process.
    kill: mpsc::Sender<()>,
}

impl OperatorProcess {
    /// Starts `binary` against the cluster of `kubeconfig`; returns once it serves `/healthz`.
    pub async fn start(binary: &Path, kubeconfig: &Path, options: &OperatorOptions) -> Result<Self, String> {
        let process = Self::spawn(binary, kubeconfig, options)?;
        let client = crate::service_process::http_client();
        let url = format!("http://{}/healthz", process.http);
        let served = poll_until(Duration::from_secs(30), || async {
            if let Some(exit) = process.exit.borrow().clone() {
                return Some(Err(exit.status));
            }
            client.get(&url).send().await.ok().filter(|r| r.status().is_success()).map(|_| Ok(()))
        })
        .await;
        match served {
            Ok(Ok(())) => Ok(process),
            Ok(Err(status)) => Err(format!(
                "operator {} exited at start ({status}):\n{}",
                process.name,
                log_tail(&process.log, 40)
            )),
            Err(timed_out) => Err(format!(
                "operator {} not serving /healthz: {timed_out}:\n{}",
                process.name,
                log_tail(&process.log, 40)
            )),
        }
    }

    /// Starts `binary` without waiting for it to serve.
    pub fn spawn(binary: &Path, kubeconfig: &Path, options: &OperatorOptions) -> Result<Self, String> {
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        let http: SocketAddr = ([127, 0, 0, 1], port).into();
        let api: SocketAddr = ([127, 0, 0, 1], free_port().map_err(|e| format!("no free port: {e}"))?).into();
        let name = options.identity.clone().unwrap_or_else(|| "operator".into());
        let log = std::env::temp_dir().join(format!("agentry-operator-{name}-{}.log", uuid::Uuid::new_v4()));
        let file = std::fs::File::create(&log).map_err(|e| format!("creating {}: {e}", log.display()))?;
        let stderr = file.try_clone().map_err(|e| format!("duplicating {}: {e}", log.display()))?;
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", &options.log_filter)
            .envs(options.env.iter().map(|(k, v)| (k, v)))
            .args(["--runner-image", &options.runner_image, "--nats-url", &options.nats_url])
            .args(["--http-listen", &http.to_string(), "--api-listen", &api.to_string()])
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true);
        if let Some((url, schema)) = &options.history {
            command.env("AGENTRY_DATABASE_URL", url).args(["--database-schema", schema]);
        }
        match &options.identity {
            Some(identity) => {
                command.args(["--identity", identity, "--lease-namespace", &options.lease_namespace]);
                command.args(["--lease-duration-seconds", &options.lease_duration_seconds.to_string()]);
            }
            None => {
                command.arg("--no-leader-election");
            }
        }
        command.args(&options.extra_args);
        let mut child = command.spawn().map_err(|e| format!("spawning {}: {e}", binary.display()))?;
        let pid = child.id().ok_or("the operator exited at once")?;
        let (exit_tx, exit) = watch::channel(None);
        let (kill, mut killed) = mpsc::channel::<()>(1);
        // The monitor owns the child: it reports the exit the moment it happens, and kills the
        // process when asked or when the handle is dropped (the channel closes).
        tokio::spawn(async move {
            let status = tokio::select! {
                status = child.wait() => status,
                _ = killed.recv() => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            let (status, success) = match status {
                Ok(status) => (status.to_string(), status.success()),
                Err(err) => (format!("unknown: {err}"), false),
            };
            exit_tx.send_replace(Some(Exit { status, success, at: tokio::time::Instant::now() }));
        });
        Ok(Self { name, pid, http, api, log, exit, expected: Arc::new(AtomicBool::new(false)), kill })
    }

    /// Its name in messages: the Lease identity, or `operator`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The file its stdout and stderr go to.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A handle telling whether it died unasked, for waits that do not own it.
    pub fn liveness(&self) -> Liveness {
        Liveness {
            name: self.name.clone(),
            log: self.log.clone(),
            exit: self.exit.clone(),
            expected: self.expected.clone(),
        }
    }

    /// How it ended, once it has.
    pub fn exit(&self) -> Option<Exit> {
        self.exit.borrow().clone()
    }

    /// Whether its controllers run: `/leader` answers 200 only while it leads (or, without
    /// election, once started).
    pub async fn leading(&self) -> bool {
        self.answers_200("/leader").await
    }

    /// Whether it serves (its HTTP API and metrics listen, the API server answers): `/readyz`
    /// answers 200 on every such replica, leader or not.
    pub async fn ready(&self) -> bool {
        self.answers_200("/readyz").await
    }

    async fn answers_200(&self, path: &str) -> bool {
        let url = format!("http://{}{path}", self.http);
        match crate::service_process::http_client().get(&url).timeout(Duration::from_secs(2)).send().await {
            Ok(response) => response.status().is_success(),
            Err(_) => false,
        }
    }

    /// The text of `/metrics`.
    pub async fn metrics(&self) -> Result<String, String> {
        let url = format!("http://{}/metrics", self.http);
        let response =
            crate::service_process::http_client().get(&url).send().await.map_err(|e| e.to_string())?;
        response.text().await.map_err(|e| e.to_string())
    }

    /// Reconciles run by `controller` (`agent`, `model`, `tool`, `memorystore`) so far.
    pub async fn reconciles(&self, controller: &str) -> Result<f64, String> {
        let text = self.metrics().await?;
        Ok(crate::metrics_text::metric_value(
            &text,
            "agentry_operator_reconciles_total",
            &[("controller", controller)],
        )
        .unwrap_or(0.0))
    }

    /// SIGKILL, as when a node dies or the OOM killer strikes: nothing is released. Returns once
    /// the process is gone.
    pub async fn kill(&mut self) -> Result<Exit, String> {
        self.expected.store(true, Ordering::SeqCst);
        // The monitor may have exited already (then the process is gone too).
        let _ = self.kill.try_send(());
        self.wait_exit(Duration::from_secs(10)).await
    }

    /// SIGTERM, as the kubelet sends on a pod's deletion; fails unless it then exits with
    /// status 0 within `timeout`.
    pub async fn stop(self, timeout: Duration) -> Result<Exit, String> {
        self.expected.store(true, Ordering::SeqCst);
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .map_err(|e| format!("running kill: {e}"))?;
        if !sent.success() && self.exit().is_none() {
            return Err(format!("kill -TERM {} failed", self.pid));
        }
        let exit = self.wait_exit(timeout).await?;
        if exit.success {
            Ok(exit)
        } else {
            Err(format!("operator {} stopped with {}:\n{}", self.name, exit.status, log_tail(&self.log, 40)))
        }
    }

    async fn wait_exit(&self, timeout: Duration) -> Result<Exit, String> {
        let mut exit = self.exit.clone();
        match tokio::time::timeout(timeout, exit.wait_for(Option::is_some)).await {
            Ok(Ok(done)) => done.clone().ok_or_else(|| "no exit recorded".to_string()),
            Ok(Err(_)) => Err(format!("operator {}: its monitor is gone", self.name)),
            Err(_) => Err(format!("operator {} still running after {timeout:?}", self.name)),
        }
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        // Dropping `kill` closes the channel, which makes the monitor kill the process. A test
        // that failed keeps the log for a person to read.
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// The last `lines` lines of the file at `path`.
fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(lines).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
}
