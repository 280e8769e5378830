//! The kubeconfig, read like kubectl reads it: `--kubeconfig`, else `$KUBECONFIG` (several files
//! merged), else `~/.kube/config`; `--context`, else its current context.

use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};

/// What the kubeconfig says about reaching the cluster.
pub(crate) struct ClusterAccess {
    /// kube-rs's client configuration: server, TLS and credentials of the context.
    pub(crate) config: kube::Config,
    /// The context's user entry name, for messages.
    pub(crate) user_name: Option<String>,
}

/// The kubeconfig cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot use the kubeconfig ({location}): {cause}")]
pub(crate) struct KubeconfigLoadError {
    location: String,
    cause: kube::config::KubeconfigError,
}

/// Load the kubeconfig at `path` (or the default places) for `context` (or the current one).
pub(crate) async fn load(
    path: Option<&Path>,
    context: Option<&str>,
) -> Result<ClusterAccess, KubeconfigLoadError> {
    let location = match path {
        Some(path) => path.display().to_string(),
        None => default_location(),
    };
    let fail = |cause| KubeconfigLoadError { location: location.clone(), cause };
    let kubeconfig = match path {
        Some(path) => Kubeconfig::read_from(path),
        None => Kubeconfig::read(),
    }
    .map_err(fail)?;
    let user_name = user_of_context(&kubeconfig, context);
    let options = KubeConfigOptions { context: context.map(str::to_string), cluster: None, user: None };
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options).await.map_err(fail)?;
    // kube-rs retries 429, 503 and 504 by default; an invocation must not run twice because the
    // agent was slow (504) or the operator was down (503), and the user should see why at once.
    config.default_retry = false;
    Ok(ClusterAccess { config, user_name })
}

fn default_location() -> String {
    match std::env::var_os("KUBECONFIG") {
        Some(value) if !value.is_empty() => format!("KUBECONFIG={}", PathBuf::from(value).display()),
        _ => "~/.kube/config".into(),
    }
}

fn user_of_context(kubeconfig: &Kubeconfig, context: Option<&str>) -> Option<String> {
    let name = context.or(kubeconfig.current_context.as_deref())?;
    let named = kubeconfig.contexts.iter().find(|c| c.name == name)?;
    named.context.as_ref()?.user.clone()
}
