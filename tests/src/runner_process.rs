//! Runs the real `agentry-runner` binary for a test: config written to a file, secrets in the
//! environment, and everything a [`ServiceProcess`] does (output captured, readiness polled,
//! SIGTERM or SIGKILL on request, killed when dropped).

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::time::Duration;

use agentry_protocol::RunnerConfig;

pub use crate::service_process::free_port;
use crate::service_process::{ServiceProcess, free_local_addr};

/// A running runner process; it derefs to its [`ServiceProcess`].
pub struct RunnerProcess {
    process: ServiceProcess,
    config_path: PathBuf,
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
        let http = free_local_addr()?;
        let config_path = std::env::temp_dir().join(format!("agentry-runner-{}.json", uuid::Uuid::new_v4()));
        let json = serde_json::to_vec_pretty(config).map_err(|e| e.to_string())?;
        std::fs::write(&config_path, json).map_err(|e| format!("writing {}: {e}", config_path.display()))?;
        let mut command = ServiceProcess::command(binary);
        command
            .env("AGENTRY_CONFIG", &config_path)
            .env("AGENTRY_HTTP_LISTEN", http.to_string())
            .envs(env.iter().copied());
        let process = ServiceProcess::spawn(command, binary, http, "runner")?;
        Ok(Self { process, config_path })
    }
}

impl Deref for RunnerProcess {
    type Target = ServiceProcess;
    fn deref(&self) -> &ServiceProcess {
        &self.process
    }
}

impl DerefMut for RunnerProcess {
    fn deref_mut(&mut self) -> &mut ServiceProcess {
        &mut self.process
    }
}

impl Drop for RunnerProcess {
    fn drop(&mut self) {
        self.process.start_kill();
        let _ = std::fs::remove_file(&self.config_path);
    }
}
