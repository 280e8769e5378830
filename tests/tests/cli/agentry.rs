//! The real `agentry` binary as a child process: `KUBECONFIG` pointing at the world's
//! devcluster, `-n <the test's namespace>`, no `--api-url` (so every request goes through the
//! service proxy), and a ServiceAccount's token given by `--token-file`, never in argv.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::world::CliWorld;

/// How long one CLI run may take before the test fails.
const RUN: Duration = Duration::from_secs(120);

/// Whose token the CLI sends to the API.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Caller {
    /// ServiceAccount `asker`, bound to `agentry-api-user`.
    Asker,
    /// ServiceAccount `outsider`, bound to nothing.
    Outsider,
    /// No `--token-file`: the kubeconfig's own token (devcluster's admin).
    Kubeconfig,
}

/// How a run ended.
#[derive(Debug)]
pub(crate) struct Run {
    /// The exit code (`None` when killed by a signal).
    pub(crate) code: Option<i32>,
    /// Everything printed on stdout.
    pub(crate) stdout: String,
    /// Everything printed on stderr.
    pub(crate) stderr: String,
}

impl Run {
    /// stdout, failing the test (with stderr) unless the run exited 0.
    pub(crate) fn ok(self) -> String {
        assert_eq!(self.code, Some(0), "agentry failed: {}", self.stderr);
        self.stdout
    }

    /// stdout as JSON of type `T`, failing the test unless the run exited 0 and printed it.
    pub(crate) fn json<T: serde::de::DeserializeOwned>(self) -> T {
        let stdout = self.ok();
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not the JSON expected ({e}): {stdout}"))
    }
}

impl CliWorld {
    /// `agentry -n <ns> [--token-file <caller's>] <args>`, its output piped, killed when dropped.
    pub(crate) fn agentry(&self, caller: Caller, args: &[&str]) -> Command {
        let mut command = Command::new(&self.world.binaries().cli);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.tokens.home())
            .env("KUBECONFIG", self.world.kubeconfig())
            .env("NO_COLOR", "1")
            .args(["-n", self.ns()]);
        let account = match caller {
            Caller::Asker => Some("asker"),
            Caller::Outsider => Some("outsider"),
            Caller::Kubeconfig => None,
        };
        if let Some(account) = account {
            command.arg("--token-file").arg(self.tokens.path(account));
        }
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Runs `agentry <args>` as `caller` to its end.
    pub(crate) async fn run(&self, caller: Caller, args: &[&str]) -> Run {
        let child = self.agentry(caller, args).spawn().expect("agentry starts");
        let output = tokio::time::timeout(RUN, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("agentry {args:?} still running after {RUN:?}"))
            .expect("agentry's output");
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs `agentry <args>` as the asker; its stdout, failing the test unless it exited 0.
    pub(crate) async fn succeed(&self, args: &[&str]) -> String {
        self.run(Caller::Asker, args).await.ok()
    }
}
