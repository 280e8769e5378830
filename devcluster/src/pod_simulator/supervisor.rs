//! One simulated container: the process of the binary its image maps to, restarted with exponential backoff when it
//! exits (Deployments' pods restart always), its output kept for `pods/log`, its readiness
//! probed over HTTP on the pod's own port.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::container_config::{self, PodContext, Waiting};
use super::service_account;
use crate::api_server::ApiServer;

/// How often readiness is probed until the first success (the kubelet waits `periodSeconds`
/// from the start; tests want pods ready fast). After that, the probe's own period applies.
const PROBE_INTERVAL: Duration = Duration::from_millis(250);
/// The first restart delay; it doubles per crash up to `MAX_BACKOFF`, and resets after a run of `BACKOFF_RESET`.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
const BACKOFF_RESET: Duration = Duration::from_secs(10);

/// How a finished run ended.
#[derive(Clone, Debug)]
pub(crate) struct Terminated {
    /// Exit code (128 + signal when killed by one).
    pub(crate) exit_code: i32,
    /// When it started.
    pub(crate) started_at: String,
    /// When it ended.
    pub(crate) finished_at: String,
}

/// The container's state, as the Pod's `containerStatuses[]` reports it.
#[derive(Clone, Debug, Default)]
pub(crate) struct RunStatus {
    /// Why it is not running.
    pub(crate) waiting: Option<Waiting>,
    /// When the current run started.
    pub(crate) running_since: Option<String>,
    /// Whether the readiness probe passes.
    pub(crate) ready: bool,
    /// Restarts so far.
    pub(crate) restart_count: u32,
    /// The previous run.
    pub(crate) last_terminated: Option<Terminated>,
    /// The current process id.
    pub(crate) pid: Option<u32>,
}

/// What to run.
pub(crate) struct LaunchSpec {
    /// The binary the container's image maps to.
    pub(crate) binary: PathBuf,
    /// Namespace of the pod.
    pub(crate) namespace: String,
    /// Pod name.
    pub(crate) pod_name: String,
    /// Pod uid.
    pub(crate) pod_uid: String,
    /// The pod template.
    pub(crate) template: Value,
    /// The container of the template to run.
    pub(crate) container: Value,
    /// The pod's root directory.
    pub(crate) root: PathBuf,
    /// The HTTP port of the first start (`AGENTRY_HTTP_LISTEN`, where probes go); restarts pick a new one.
    pub(crate) port: u16,
}

/// A running supervisor.
pub(crate) struct Supervisor {
    /// The container's state.
    pub(crate) status: Arc<Mutex<RunStatus>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Supervisor {
    /// Start supervising.
    pub(crate) fn start(server: Arc<ApiServer>, spec: LaunchSpec) -> Self {
        let status = Arc::new(Mutex::new(RunStatus::default()));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(server, spec, status.clone(), stopped));
        Self { status, stop, task }
    }

    /// The current state.
    pub(crate) fn snapshot(&self) -> RunStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Stop the process (SIGTERM, then SIGKILL after the grace period) and wait for it.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }

    /// Ask to stop without waiting.
    pub(crate) fn request_stop(&self) {
        let _ = self.stop.send(true);
    }
}

fn update(status: &Mutex<RunStatus>, change: impl FnOnce(&mut RunStatus)) {
    if let Ok(mut s) = status.lock() {
        change(&mut s);
    }
}

/// Keep the container running until stopped: resolve its configuration, start the process, probe
/// it, and restart it with backoff when it exits.
async fn run(
    server: Arc<ApiServer>,
    spec: LaunchSpec,
    status: Arc<Mutex<RunStatus>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = FIRST_BACKOFF;
    let mut restarts: u32 = 0;
    loop {
        if *stop.borrow() {
            return;
        }
        let config = match prepare(&server, &spec) {
            Ok(config) => config,
            Err(waiting) => {
                update(&status, |s| s.waiting = Some(waiting));
                if wait_or_stop(&mut stop, Duration::from_millis(500)).await {
                    return;
                }
                continue;
            }
        };
        // The first start uses the port chosen with the pod; a restart takes a fresh one, since
        // a crash may come from the port having been taken (it is picked by binding port 0
        // and releasing it, so an outgoing connection can grab it before the process binds).
        let port = if restarts == 0 { spec.port } else { free_port() };
        restarts += 1;
        let mut child = match command(&spec, &config, port).spawn() {
            Ok(child) => child,
            Err(err) => {
                let message = format!("failed to start {}: {err}", spec.binary.display());
                update(&status, |s| {
                    s.waiting = Some(Waiting { reason: "RunContainerError".into(), message })
                });
                if wait_or_stop(&mut stop, backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let started = started(&server, &spec, &status, &mut child);
        let Some(exit) = supervise(&spec, &status, &mut child, port, &mut stop).await else {
            return;
        };
        if started.at.elapsed() > BACKOFF_RESET {
            backoff = FIRST_BACKOFF;
        }
        exited(&server, &spec, &status, started, exit, backoff);
        if wait_or_stop(&mut stop, backoff).await {
            return;
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// The container's configuration resolved from the cluster, its files written under the pod's root.
fn prepare(server: &ApiServer, spec: &LaunchSpec) -> Result<container_config::ContainerConfig, Waiting> {
    let url = server.address.lock().map(|a| format!("http://{a}")).unwrap_or_default();
    let config = {
        let mut state = server.lock();
        let pod = PodContext {
            namespace: &spec.namespace,
            name: &spec.pod_name,
            uid: &spec.pod_uid,
            template: &spec.template,
            root: &spec.root,
        };
        let mut config = container_config::resolve(&state, &pod, &spec.container)?;
        config.files.extend(service_account::credential_files(
            &mut state,
            &spec.namespace,
            &spec.template,
            &spec.root,
            &url,
        ));
        config
    };
    write_files(&config)?;
    Ok(config)
}

/// The process as the kubelet would start the container: its args and env only, in the
/// pod's root directory, output piped for `pods/log`.
fn command(
    spec: &LaunchSpec,
    config: &container_config::ContainerConfig,
    port: u16,
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(&spec.binary);
    command
        .args(&config.args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &spec.root)
        .env("HOSTNAME", &spec.pod_name)
        .env("AGENTRY_MOUNT_ROOT", &spec.root)
        .envs(config.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AGENTRY_HTTP_LISTEN", format!("127.0.0.1:{port}"))
        .current_dir(&spec.root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Ok(filter) = std::env::var("RUST_LOG") {
        command.env("RUST_LOG", filter);
    }
    // A kubelet's containers die with their node; ours die with devcluster, even when it is
    // killed without running its destructors (a SIGKILLed test, an interrupted benchmark).
    // SAFETY: prctl with PR_SET_PDEATHSIG only sets a flag on the child; it is
    // async-signal-safe, as code between fork and exec must be.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

/// When the current run started.
struct Started {
    /// As the Pod's status shows it.
    timestamp: String,
    /// For the backoff reset.
    at: Instant,
}

/// The process started: report it running, and keep its output for `pods/log`.
fn started(
    server: &ApiServer,
    spec: &LaunchSpec,
    status: &Mutex<RunStatus>,
    child: &mut tokio::process::Child,
) -> Started {
    let started = Started { timestamp: crate::time::now(), at: Instant::now() };
    let pid = child.id();
    tracing::info!(pod = %spec.pod_name, ?pid, "simulated pod process started");
    update(status, |s| {
        s.waiting = None;
        s.running_since = Some(started.timestamp.clone());
        s.pid = pid;
        s.ready = false;
    });
    for stream in [child.stdout.take().map(boxed), child.stderr.take().map(boxed)].into_iter().flatten() {
        let (logs, ns, pod) = (server.pod_logs.clone(), spec.namespace.clone(), spec.pod_name.clone());
        tokio::spawn(pump(stream, move |bytes| logs.append(&ns, &pod, bytes)));
    }
    started
}

/// Probe the running process until it exits (its exit) or the pod is stopped (`None`, after
/// SIGTERM and, past the grace period, SIGKILL).
async fn supervise(
    spec: &LaunchSpec,
    status: &Mutex<RunStatus>,
    child: &mut tokio::process::Child,
    port: u16,
    stop: &mut watch::Receiver<bool>,
) -> Option<std::io::Result<std::process::ExitStatus>> {
    let mut readiness = Readiness::new(&spec.container["readinessProbe"]);
    loop {
        tokio::select! {
            exit = child.wait() => return Some(exit),
            () = tokio::time::sleep(readiness.next_probe) => {
                let passed = probe_ready(&spec.container, port).await;
                if let Some(ready) = readiness.record(passed) {
                    update(status, |s| s.ready = ready);
                }
            }
            _ = stop.changed() => {
                terminate(spec, child).await;
                update(status, |s| { s.ready = false; s.pid = None; s.running_since = None; });
                return None;
            }
        }
    }
}

/// SIGTERM, then SIGKILL after the pod's grace period (at most 10 s).
async fn terminate(spec: &LaunchSpec, child: &mut tokio::process::Child) {
    let grace = spec.template["spec"]["terminationGracePeriodSeconds"].as_u64().unwrap_or(30).min(10);
    if let Some(pid) = child.id() {
        signal(pid, libc::SIGTERM);
    }
    if tokio::time::timeout(Duration::from_secs(grace), child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}

/// The readiness probe's state, as the kubelet keeps it: after `failureThreshold` failures in a
/// row a ready pod turns unready.
struct Readiness {
    period: Duration,
    failure_threshold: u64,
    next_probe: Duration,
    was_ready: bool,
    failures: u64,
}

impl Readiness {
    fn new(probe: &Value) -> Self {
        Self {
            period: Duration::from_secs(probe["periodSeconds"].as_u64().unwrap_or(10).max(1)),
            failure_threshold: probe["failureThreshold"].as_u64().unwrap_or(3).max(1),
            next_probe: Duration::ZERO,
            was_ready: false,
            failures: 0,
        }
    }

    /// Record a probe's result; the readiness to report, if it is to be reported.
    fn record(&mut self, passed: bool) -> Option<bool> {
        let report = if passed {
            self.failures = 0;
            self.was_ready = true;
            Some(true)
        } else {
            self.failures += 1;
            if !self.was_ready || self.failures >= self.failure_threshold {
                self.was_ready = false;
                Some(false)
            } else {
                None
            }
        };
        self.next_probe = if self.was_ready { self.period } else { PROBE_INTERVAL };
        report
    }
}

/// The process exited: report the terminated run and the back-off before the restart.
fn exited(
    server: &ApiServer,
    spec: &LaunchSpec,
    status: &Mutex<RunStatus>,
    started: Started,
    exit: std::io::Result<std::process::ExitStatus>,
    backoff: Duration,
) {
    let exit_code = match exit {
        Ok(status) => status.code().unwrap_or_else(|| {
            use std::os::unix::process::ExitStatusExt;
            128 + status.signal().unwrap_or(0)
        }),
        Err(_) => -1,
    };
    tracing::info!(pod = %spec.pod_name, exit_code, "simulated pod process exited; restarting");
    update(status, |s| {
        s.ready = false;
        s.pid = None;
        s.running_since = None;
        s.restart_count += 1;
        s.last_terminated =
            Some(Terminated { exit_code, started_at: started.timestamp, finished_at: crate::time::now() });
        s.waiting = Some(Waiting {
            reason: "CrashLoopBackOff".into(),
            message: format!("back-off {}ms restarting failed container", backoff.as_millis()),
        });
    });
    server.pod_logs.restarted(&spec.namespace, &spec.pod_name);
}

fn boxed(stream: impl AsyncRead + Unpin + Send + 'static) -> Box<dyn AsyncRead + Unpin + Send> {
    Box::new(stream)
}

async fn pump(mut stream: Box<dyn AsyncRead + Unpin + Send>, sink: impl Fn(&[u8])) {
    let mut buffer = vec![0u8; 8192];
    while let Ok(n) = stream.read(&mut buffer).await {
        if n == 0 {
            break;
        }
        sink(&buffer[..n]);
    }
}

/// Whether to stop: waits `duration` unless stopped first.
async fn wait_or_stop(stop: &mut watch::Receiver<bool>, duration: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(duration) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

fn write_files(config: &container_config::ContainerConfig) -> Result<(), Waiting> {
    let fail = |e: std::io::Error| Waiting { reason: "ContainerCreating".into(), message: e.to_string() };
    for dir in &config.dirs {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    for (path, bytes) in &config.files {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(fail)?;
        }
        std::fs::write(path, bytes).map_err(fail)?;
    }
    Ok(())
}

/// The readiness probe: `httpGet` (sent to the pod's port whatever port it names), `tcpSocket`;
/// no probe means ready once running.
async fn probe_ready(container: &Value, port: u16) -> bool {
    let probe = &container["readinessProbe"];
    if probe.is_null() {
        return true;
    }
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        if probe["httpGet"].is_null() {
            return Some(true);
        }
        let path = probe["httpGet"]["path"].as_str().unwrap_or("/");
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: kube-probe/1.33\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 16];
        let n = stream.read(&mut head).await.ok()?;
        let line = String::from_utf8_lossy(&head[..n]);
        let code: u16 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some((200..400).contains(&code))
    };
    tokio::time::timeout(Duration::from_secs(1), attempt).await.ok().flatten().unwrap_or(false)
}

/// SIGKILL the process `pid` (one of the simulator's children).
pub(crate) fn kill(pid: u32) {
    signal(pid, libc::SIGKILL);
}

fn signal(pid: u32, signal: i32) {
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is our own child's.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// Pod ports come from below Linux's default ephemeral range (32768–60999), so the outgoing
/// connections of a thousand runners cannot take a port between its choice and its bind.
const POD_PORTS: std::ops::Range<u16> = 20_000..32_000;
static NEXT_POD_PORT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(POD_PORTS.start);

/// A free port on 127.0.0.1 for a pod.
pub(crate) fn free_port() -> u16 {
    use std::sync::atomic::Ordering;
    let span = POD_PORTS.end - POD_PORTS.start;
    for _ in 0..span {
        let offset = NEXT_POD_PORT.fetch_add(1, Ordering::Relaxed).wrapping_sub(POD_PORTS.start) % span;
        let port = POD_PORTS.start + offset;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    // Every port of the range is busy: let the kernel choose.
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}
