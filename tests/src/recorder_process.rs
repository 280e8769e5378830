//! Runs the real `agentry-recorder` binary for a test: flags given, the database URL in the
//! environment (never in argv), and everything a [`ServiceProcess`] does (output captured,
//! readiness and metrics read over HTTP, SIGTERM or SIGKILL on request, killed when dropped).

use std::ops::{Deref, DerefMut};
use std::path::Path;

use crate::service_process::{ServiceProcess, free_local_addr};

/// A running recorder process; it derefs to its [`ServiceProcess`].
pub struct RecorderProcess {
    process: ServiceProcess,
}

impl RecorderProcess {
    /// Starts `binary` with `args` (besides `--http-listen`, which it picks) and
    /// `AGENTRY_DATABASE_URL=database_url`, without waiting for readiness.
    pub fn spawn(binary: &Path, args: &[String], database_url: &str) -> Result<Self, String> {
        let http = free_local_addr()?;
        let mut command = ServiceProcess::command(binary);
        command
            .env("AGENTRY_DATABASE_URL", database_url)
            .arg("--http-listen")
            .arg(http.to_string())
            .args(args);
        Ok(Self { process: ServiceProcess::spawn(command, binary, http, "recorder")? })
    }
}

impl Deref for RecorderProcess {
    type Target = ServiceProcess;
    fn deref(&self) -> &ServiceProcess {
        &self.process
    }
}

impl DerefMut for RecorderProcess {
    fn deref_mut(&mut self) -> &mut ServiceProcess {
        &mut self.process
    }
}
