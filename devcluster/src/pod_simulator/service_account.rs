//! The pod's ServiceAccount credentials, as the kubelet mounts them: a token from a TokenRequest
//! for the pod's account, the namespace, and, since devcluster serves plain HTTP on loopback
//! rather than `https://kubernetes.default.svc`, a kubeconfig at `$HOME/.kube/config` (the pod's
//! root is its HOME) pointing at the server with that token. Clients that infer their
//! configuration (kube-rs, client-go, kubectl) find it there.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::authentication::token_request;
use crate::storage::cluster_state::ClusterState;

/// Where the kubelet mounts the token, below the pod's root.
const TOKEN_DIR: &str = "var/run/secrets/kubernetes.io/serviceaccount";
/// Validity asked for; the kubelet asks for about an hour and refreshes, a simulated pod's token
/// simply lasts longer than any test.
const EXPIRATION_SECONDS: i64 = 24 * 3600;

/// The files giving the pod its account's credentials; none when the pod or its account opts
/// out of the token (`automountServiceAccountToken: false`) or the account does not exist.
pub(crate) fn credential_files(
    state: &mut ClusterState,
    namespace: &str,
    template: &Value,
    root: &Path,
    server_url: &str,
) -> Vec<(PathBuf, Vec<u8>)> {
    let spec = &template["spec"];
    let name = spec["serviceAccountName"].as_str().unwrap_or("default");
    let Some(accounts) = state.resource("", "v1", "serviceaccounts") else { return Vec::new() };
    let Ok(account) = state.get(&accounts, Some(namespace), name) else { return Vec::new() };
    let automount =
        spec["automountServiceAccountToken"].as_bool().or(account["automountServiceAccountToken"].as_bool());
    if automount == Some(false) {
        return Vec::new();
    }
    let request = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                         "spec": {"expirationSeconds": EXPIRATION_SECONDS}});
    let Ok(answer) = token_request(state, &accounts, namespace, name, &request) else { return Vec::new() };
    let Some(token) = answer["status"]["token"].as_str() else { return Vec::new() };
    let kubeconfig = crate::kubeconfig::render(server_url, token)
        .replace("namespace: default", &format!("namespace: {namespace}"));
    vec![
        (root.join(TOKEN_DIR).join("token"), token.as_bytes().to_vec()),
        (root.join(TOKEN_DIR).join("namespace"), namespace.as_bytes().to_vec()),
        (root.join(".kube/config"), kubeconfig.into_bytes()),
    ]
}
