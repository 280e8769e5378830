//! Helpers shared by devcluster's integration tests.
#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Poll `check` (with the shared polling helper) until it returns `Some`, or panic naming `what`
/// after `timeout`.
pub(crate) async fn eventually<T, F, Fut>(what: &str, timeout: Duration, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    match agentry_tests::polling::poll_until(timeout, check).await {
        Ok(value) => value,
        Err(timed_out) => panic!("waiting for {what}: {timed_out}"),
    }
}

/// The repository root.
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("crate in workspace").to_path_buf()
}

/// The output of one kubectl run.
pub(crate) struct Output {
    /// Exit success.
    pub(crate) success: bool,
    /// Standard output.
    pub(crate) stdout: String,
    /// Standard error.
    pub(crate) stderr: String,
}

/// Runs the real kubectl against a devcluster, with a discovery cache of its own.
pub(crate) struct Kubectl {
    kubeconfig: PathBuf,
    cache: PathBuf,
}

impl Kubectl {
    /// kubectl for the cluster whose kubeconfig is at `kubeconfig`.
    pub(crate) fn new(kubeconfig: &Path) -> Self {
        let cache = std::env::temp_dir().join(format!("devcluster-kubectl-cache-{}", uuid::Uuid::new_v4()));
        Self { kubeconfig: kubeconfig.to_path_buf(), cache }
    }

    /// Run kubectl with `args`.
    pub(crate) async fn run(&self, args: &[&str]) -> Output {
        let output = tokio::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args)
            .current_dir(repo_root())
            .output()
            .await
            .expect("kubectl runs");
        Output {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Run kubectl, which must succeed; its standard output.
    pub(crate) async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(out.success, "kubectl {args:?} failed:\n{}\n{}", out.stdout, out.stderr);
        out.stdout
    }
}

impl Drop for Kubectl {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.cache);
    }
}
