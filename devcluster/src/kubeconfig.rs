//! The kubeconfig a client (kubectl, kube-rs) uses to reach devcluster.

use std::path::Path;

/// A kubeconfig for `url` with context `devcluster` and default namespace `default`.
pub(crate) fn render(url: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: devcluster
  cluster:
    server: {url}
users:
- name: devcluster
  user: {{}}
contexts:
- name: devcluster
  context:
    cluster: devcluster
    user: devcluster
    namespace: default
current-context: devcluster
preferences: {{}}
"
    )
}

/// Write the kubeconfig for `url` to `path`, creating its directory.
pub(crate) fn write(path: &Path, url: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, render(url))
}
