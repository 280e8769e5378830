//! `agentry-operator`: runs the Agentry controllers against the cluster of its kubeconfig or
//! service account, with leader election, until SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use agentry_api::{ApiSettings, ApiState};
use agentry_bus_identity::connection::BusAuth;
use agentry_bus_identity::{BusCredentials, CredentialArgs, UserIssuer, permissions};
use agentry_operator::http_endpoint;
use agentry_operator::operator_runtime::{self, Handles, LeaseSettings};
use agentry_operator::runtime::apiserver_probe;
use agentry_operator::runtime::lease_lock::LeaseTiming;
use agentry_operator::runtime::secret_caches::SecretScope;
use agentry_operator::settings::OperatorSettings;
use agentry_process::{AdminEndpoint, logging, runtime, shutdown};
use anyhow::Context;
use clap::Parser;

/// Command-line flags; each may also be given as an environment variable.
#[derive(Parser, Debug)]
#[command(name = "agentry-operator", version, about = "Runs AI agents on Kubernetes from Agentry manifests")]
struct Args {
    /// Image of the agent runner, used for Agents that name none.
    #[arg(long, env = "AGENTRY_RUNNER_IMAGE", default_value = "ghcr.io/agentry-dev/agentry-runner:0.1.0")]
    runner_image: String,
    /// NATS URL the runners connect to (credentials in it are used by the operator and never
    /// passed on; prefer the credential files).
    #[arg(long, env = "AGENTRY_NATS_URL", default_value = "nats://nats.agentry-system.svc:4222")]
    nats_url: String,
    /// The operator's own NATS credentials (identity `_operator`).
    #[command(flatten)]
    nats_credentials: CredentialArgs,
    /// A `.creds` file for the HTTP API's NATS connection (identity `_api`); without it the API
    /// connects with the operator's credentials.
    #[arg(long, env = "AGENTRY_NATS_API_CREDENTIALS_FILE")]
    nats_api_credentials_file: Option<PathBuf>,
    /// A file (a mounted Secret) holding the seed of the Agentry account's signing key: with it,
    /// each Agent gets its own NATS identity, minted into a Secret `<agent>-nats`.
    #[arg(long, env = "AGENTRY_NATS_ACCOUNT_SIGNING_KEY_FILE", requires = "nats_account")]
    nats_account_signing_key_file: Option<PathBuf>,
    /// The Agentry account's public key (`A…`), for --nats-account-signing-key-file.
    #[arg(long, env = "AGENTRY_NATS_ACCOUNT", requires = "nats_account_signing_key_file")]
    nats_account: Option<String>,
    /// Address of `/healthz`, `/readyz` (this replica serves), `/leader` (it leads) and `/metrics`.
    #[arg(long, env = "AGENTRY_HTTP_LISTEN", default_value = "0.0.0.0:8080")]
    http_listen: SocketAddr,
    /// Address of the HTTP API (`/api/v1`), served by every replica.
    #[arg(long, env = "AGENTRY_API_LISTEN", default_value = "0.0.0.0:8081")]
    api_listen: SocketAddr,
    /// PostgreSQL holding the recorder's history, for the API's history endpoints (give it from a
    /// Secret through the environment: it holds a password).
    #[arg(long, env = "AGENTRY_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The PostgreSQL schema the recorder writes (the recorder's `--schema`).
    #[arg(long, env = "AGENTRY_DATABASE_SCHEMA", default_value = ApiSettings::DEFAULT_SCHEMA)]
    database_schema: String,
    /// Namespaces whose Secrets the operator may read (comma-separated; the Agents, Models,
    /// Tools and MemoryStores there may name Secrets). Empty: every namespace, which needs a
    /// cluster-wide Secret grant (`rbacgen --secret-namespaces` writes the matching RBAC).
    #[arg(long, env = "AGENTRY_SECRET_NAMESPACES", default_value = "")]
    secret_namespaces: String,
    /// Run without leader election (a single replica only).
    #[arg(long, env = "AGENTRY_NO_LEADER_ELECTION")]
    no_leader_election: bool,
    /// Namespace of the leader Lease (the operator's own namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "agentry-system")]
    lease_namespace: String,
    /// Name of the leader Lease.
    #[arg(long, env = "AGENTRY_LEASE_NAME", default_value = "agentry-operator")]
    lease_name: String,
    /// This replica's identity in the Lease (its pod name).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Seconds a Lease is valid without renewal: the longest a standby waits to take over.
    #[arg(long, env = "AGENTRY_LEASE_DURATION_SECONDS", default_value_t = 15)]
    lease_duration_seconds: u64,
    /// Seconds the leader keeps leading without a successful renewal before it stops its
    /// controllers; shorter than the Lease duration (default: two thirds of it).
    #[arg(long, env = "AGENTRY_LEASE_RENEW_DEADLINE_SECONDS")]
    lease_renew_deadline_seconds: Option<f64>,
    /// Seconds between renewals, and between a standby's attempts to acquire; shorter than the
    /// renew deadline (default: a fifth of it).
    #[arg(long, env = "AGENTRY_LEASE_RETRY_PERIOD_SECONDS")]
    lease_retry_period_seconds: Option<f64>,
}

fn main() -> ExitCode {
    // Kept to the end of `main`: dropping it sends the spans still queued.
    let _logging = match logging::init("agentry-operator") {
        Ok(logging) => logging,
        Err(err) => {
            eprintln!("agentry-operator: {err}");
            return ExitCode::FAILURE;
        }
    };
    let args = Args::parse();
    runtime::block_on("agentry-operator", None, run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = kube::Client::try_default().await.context("connecting to the Kubernetes API")?;
    let handles = Handles::new()?;
    let _admin = AdminEndpoint::start(args.http_listen, http_endpoint::router(&handles)).await?;
    let nats_credentials = args.nats_credentials.credentials().context("NATS credentials")?;
    let _api = start_api(&args, &nats_credentials, client.clone()).await?;
    handles.serving.open();
    let _probe = AbortOnDrop(tokio::spawn(apiserver_probe::run(client.clone(), handles.apiserver.clone())));
    let timing = lease_timing(&args)?;
    let nats_identity = nats_issuer(&args).await?;
    let mut settings = OperatorSettings::new(args.runner_image, args.nats_url);
    settings.nats_credentials = nats_credentials;
    settings.nats_identity = nats_identity;
    settings.secret_scope = SecretScope::parse(&args.secret_namespaces);
    settings.runner_trace_env = agentry_telemetry::inherited(|name| std::env::var(name).ok());
    let lease = (!args.no_leader_election).then(|| LeaseSettings {
        namespace: args.lease_namespace,
        name: args.lease_name,
        identity: args.identity.unwrap_or_else(|| settings.instance.clone()),
        timing,
    });
    operator_runtime::run(client, settings, lease, &handles, shutdown::signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// The election's timing from the flags: client-go's proportions unless given.
fn lease_timing(args: &Args) -> anyhow::Result<LeaseTiming> {
    let defaults =
        LeaseTiming::for_duration(args.lease_duration_seconds).context("--lease-duration-seconds")?;
    let seconds = |flag: &str, value: Option<f64>, default: Duration| match value {
        None => Ok(default),
        Some(s) => {
            Duration::try_from_secs_f64(s).with_context(|| format!("{flag} {s} is not a number of seconds"))
        }
    };
    let deadline = seconds(
        "--lease-renew-deadline-seconds",
        args.lease_renew_deadline_seconds,
        defaults.renew_deadline,
    )?;
    let retry = seconds("--lease-retry-period-seconds", args.lease_retry_period_seconds, deadline / 5)?;
    LeaseTiming::new(defaults.duration, deadline, retry).context("leader election timing")
}

/// Serves the HTTP API on every replica, leading or not. NATS is dialled in the background so a
/// NATS outage at start does not stop the operator; requests needing it answer 503 meanwhile.
async fn start_api(
    args: &Args,
    operator_credentials: &BusCredentials,
    client: kube::Client,
) -> anyhow::Result<AdminEndpoint> {
    let (credentials, identity) = match &args.nats_api_credentials_file {
        Some(path) => (BusCredentials::CredsFile(path.clone()), "_api"),
        None => (operator_credentials.clone(), "_operator"),
    };
    let auth = BusAuth::new(&args.nats_url, credentials, Some(permissions::platform_inbox_prefix(identity)));
    let options = async_nats::ConnectOptions::new().retry_on_initial_connect().name("agentry-operator-api");
    let nats = auth.connect(options).await.context("configuring the API's NATS connection")?;
    let settings = ApiSettings {
        database_url: args.database_url.clone(),
        database_schema: args.database_schema.clone(),
    };
    let state = ApiState::new(client, nats, &settings).context("configuring the API's PostgreSQL pool")?;
    Ok(AdminEndpoint::start(args.api_listen, agentry_api::router(state)).await?)
}

/// The issuer of Agents' NATS identities, when the account signing key is given.
async fn nats_issuer(args: &Args) -> anyhow::Result<Option<Arc<UserIssuer>>> {
    let (Some(path), Some(account)) = (&args.nats_account_signing_key_file, &args.nats_account) else {
        return Ok(None);
    };
    let seed = tokio::fs::read_to_string(path)
        .await
        .with_context(|| format!("reading the NATS account signing key from {}", path.display()))?;
    let issuer = UserIssuer::new(account, &seed, &path.display().to_string())
        .context("--nats-account-signing-key-file and --nats-account")?;
    tracing::info!(account = issuer.account(), "minting a NATS identity for each Agent");
    Ok(Some(Arc::new(issuer)))
}

/// Aborts its task when dropped, so the probe ends with `run`.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
