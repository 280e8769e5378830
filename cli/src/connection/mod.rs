//! Reaching the Agentry API: the kubeconfig, the bearer token, the endpoint (service proxy or
//! direct URL) and the requests themselves.

mod api_client;
mod endpoint;
mod exec_credential;
mod failure;
mod kubeconfig;
mod token;

use std::time::Duration;

use anyhow::{Context, bail};

pub(crate) use api_client::{ApiClient, RequestError};
pub(crate) use failure::ApiFailure;

use crate::args::GlobalArgs;
use endpoint::ApiEndpoint;

/// How long an ordinary request may take; commands that wait for an agent set their own.
const DEFAULT_DEADLINE: Duration = Duration::from_secs(60);

/// A client for the API as the global flags describe it.
pub(crate) async fn connect(global: &GlobalArgs) -> anyhow::Result<ApiClient> {
    match &global.api_url {
        Some(url) => connect_direct(global, url).await,
        None => connect_through_proxy(global).await,
    }
}

/// Through the apiserver's service proxy: the kubeconfig is required.
async fn connect_through_proxy(global: &GlobalArgs) -> anyhow::Result<ApiClient> {
    let endpoint =
        ApiEndpoint::proxy(&global.api_namespace, &global.api_service).map_err(anyhow::Error::msg)?;
    let access = kubeconfig::load(global.kubeconfig.as_deref(), global.context.as_deref()).await?;
    let (token, source) = token::resolve(
        global.token.as_deref(),
        global.token_file.as_deref(),
        Some(&access.config.auth_info),
        access.user_name.as_deref(),
    )?;
    note_token_source(global, &source);
    let namespace = global.namespace.clone().unwrap_or_else(|| access.config.default_namespace.clone());
    let target = access.config.cluster_url.to_string();
    let http = kube::Client::try_from(access.config)
        .context("cannot set up the connection to the Kubernetes API server")?;
    Ok(ApiClient {
        http,
        endpoint,
        target,
        token,
        namespace,
        verbose: global.verbose,
        deadline: DEFAULT_DEADLINE,
    })
}

/// Straight to `--api-url`: the kubeconfig, when there is one, still gives the namespace and token.
async fn connect_direct(global: &GlobalArgs, url: &str) -> anyhow::Result<ApiClient> {
    let uri: http::Uri = url.parse().with_context(|| format!("--api-url `{url}` is not a URL"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
        bail!("--api-url `{url}` must be an http:// or https:// URL with a host");
    }
    let access = kubeconfig::load(global.kubeconfig.as_deref(), global.context.as_deref()).await;
    let (user, user_name, context_namespace) = match &access {
        Ok(a) => {
            (Some(&a.config.auth_info), a.user_name.as_deref(), Some(a.config.default_namespace.clone()))
        }
        Err(_) => (None, None, None),
    };
    let token = match token::resolve(global.token.as_deref(), global.token_file.as_deref(), user, user_name) {
        Ok((token, source)) => {
            note_token_source(global, &source);
            token
        }
        Err(missing) => match access {
            Err(kubeconfig) => bail!("{missing} ({kubeconfig})"),
            Ok(_) => return Err(missing.into()),
        },
    };
    let namespace = global.namespace.clone().or(context_namespace).unwrap_or_else(|| "default".into());
    let mut config = kube::Config::new(uri);
    // See kubeconfig::load: no automatic retries of requests that may run an agent.
    config.default_retry = false;
    let http = kube::Client::try_from(config).context("cannot set up the connection to --api-url")?;
    Ok(ApiClient {
        http,
        endpoint: ApiEndpoint::Direct,
        target: url.to_string(),
        token,
        namespace,
        verbose: global.verbose,
        deadline: DEFAULT_DEADLINE,
    })
}

/// With `-v`: where the token came from (never the token).
fn note_token_source(global: &GlobalArgs, source: &token::TokenSource) {
    if global.verbose {
        eprintln!("* bearer token from {source}");
    }
}
