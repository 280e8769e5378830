//! The `devcluster` binary: writes a kubeconfig, prints `ready`, serves kubectl, and exits on SIGTERM.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::Kubectl;
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_serves_kubectl_until_sigterm() {
    let dir = std::env::temp_dir().join(format!("devcluster-bin-{}", uuid::Uuid::new_v4()));
    let kubeconfig = dir.join("kubeconfig");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_devcluster"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("devcluster starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("a line in time")
        .expect("readable");
    assert_eq!(first.as_deref(), Some("ready"));

    let kubectl = Kubectl::new(&kubeconfig);
    let out = kubectl.ok(&["get", "namespaces"]).await;
    assert!(out.contains("default") && out.contains("kube-system"), "{out}");
    let manifest = dir.join("cm.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello\ndata:\n  greeting: hi\n",
    )
    .expect("manifest");
    let out = kubectl.ok(&["create", "-f", manifest.to_str().unwrap_or_default()]).await;
    assert!(out.contains("configmap/hello created"), "{out}");
    let out = kubectl.ok(&["get", "configmap", "hello", "-o", "jsonpath={.data.greeting}"]).await;
    assert_eq!(out, "hi");

    let pid = i32::try_from(child.id().expect("running")).expect("pid");
    // SAFETY: kill(2) on the child we started.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits in time")
        .expect("waited");
    assert!(status.success(), "{status:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
