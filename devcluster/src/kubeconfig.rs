//! The kubeconfig a client (kubectl, kube-rs) uses to reach devcluster.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// A kubeconfig for `url` with context `devcluster` and default namespace `default`, whose user
/// presents the admin bearer `token`.
pub(crate) fn render(url: &str, token: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: devcluster
  cluster:
    server: {url}
users:
- name: devcluster
  user:
    token: {token}
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

/// Write the kubeconfig for `url` and the admin `token` to `path`, creating its directory.
pub(crate) fn write(path: &Path, url: &str, token: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    // It holds a credential: readable by its owner only, as kubeadm writes admin.conf.
    let mut file =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(render(url, token).as_bytes())
}
