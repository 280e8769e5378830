//! The processes `agentry dev` runs: each with its output in `<dir>/<name>.log` and in a
//! process group of its own (so a terminal's Ctrl-C reaches `agentry dev` alone, which then
//! stops them in order), watched for an early exit, and stopped last-started first with SIGTERM
//! (then SIGKILL to the whole group after a grace period).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::process::{Child, Command};

/// How long a child gets to stop after SIGTERM before its group is killed.
const STOP_GRACE: Duration = Duration::from_secs(20);
/// How often a wait re-checks.
const POLL: Duration = Duration::from_millis(100);

/// One running child.
#[derive(Debug)]
struct Running {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

/// Every child started so far, in start order.
#[derive(Debug)]
pub(crate) struct Children {
    dir: PathBuf,
    running: Vec<Running>,
}

impl Children {
    /// No children yet; their logs will go to `dir`.
    pub(crate) fn new(dir: &Path) -> Self {
        Self { dir: dir.to_path_buf(), running: Vec::new() }
    }

    /// Starts `command` as `name`, its stdout and stderr to `<dir>/<name>.log`.
    pub(crate) fn spawn(&mut self, name: &'static str, command: &mut Command) -> anyhow::Result<()> {
        let log = self.dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let stderr = file.try_clone().with_context(|| format!("opening {}", log.display()))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(stderr))
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        println!(
            "agentry dev: started {name} (pid {}, log {})",
            child.id().unwrap_or_default(),
            log.display()
        );
        self.running.push(Running { name, child, log });
        Ok(())
    }

    /// Waits until `ready` holds, failing if the last child started exits first or `timeout` passes.
    pub(crate) async fn wait_until<F, Fut>(
        &mut self,
        timeout: Duration,
        what: &str,
        mut ready: F,
    ) -> anyhow::Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if ready().await {
                return Ok(());
            }
            if let Some(last) = self.running.last_mut()
                && let Some(status) = last.child.try_wait().context("checking a child")?
            {
                anyhow::bail!("{} exited ({status}) before {what}:\n{}", last.name, tail(&last.log));
            }
            anyhow::ensure!(tokio::time::Instant::now() < deadline, "no {what} within {timeout:?}");
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until any child exits; says which, how, and the end of its log.
    pub(crate) async fn first_exit(&mut self) -> anyhow::Error {
        loop {
            for running in &mut self.running {
                match running.child.try_wait() {
                    Ok(Some(status)) => {
                        return anyhow::anyhow!(
                            "{} exited ({status}):\n{}",
                            running.name,
                            tail(&running.log)
                        );
                    }
                    Ok(None) => {}
                    Err(err) => return anyhow::anyhow!("checking {}: {err}", running.name),
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Stops every child, the last started first.
    pub(crate) async fn stop_all(&mut self) {
        while let Some(mut running) = self.running.pop() {
            stop(&mut running).await;
        }
    }
}

/// SIGTERM, then SIGKILL to its process group if it has not exited within [`STOP_GRACE`].
async fn stop(running: &mut Running) {
    let Some(pid) = running.child.id().and_then(|pid| i32::try_from(pid).ok()) else {
        return; // Already exited and reaped.
    };
    signal(pid, libc::SIGTERM);
    match tokio::time::timeout(STOP_GRACE, running.child.wait()).await {
        Ok(Ok(status)) if status.success() => println!("agentry dev: stopped {}", running.name),
        Ok(Ok(status)) => {
            println!("agentry dev: {} stopped ({status}); log {}", running.name, running.log.display())
        }
        Ok(Err(err)) => eprintln!("agentry dev: waiting for {}: {err}", running.name),
        Err(_) => {
            eprintln!("agentry dev: {} still running {STOP_GRACE:?} after SIGTERM: killing it", running.name);
            signal(-pid, libc::SIGKILL);
            let _ = running.child.wait().await;
        }
    }
}

/// Sends `signal` to `pid` (a process group when negative).
fn signal(pid: i32, signal: i32) {
    // SAFETY: kill(2) takes plain integers and touches no memory of ours; `pid` is a child we
    // have not reaped yet (or its group), so it names no other process.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// The last lines of a log, for an error message.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Ctrl-C (SIGINT) and SIGTERM, listened for from the start so that neither kills `agentry dev`
/// before it has stopped its children.
pub(crate) struct ShutdownSignal {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignal {
    /// Starts listening.
    pub(crate) fn listen() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("listening for SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
        })
    }

    /// Completes on the first of them.
    pub(crate) async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        println!("agentry dev: stopping");
    }
}
