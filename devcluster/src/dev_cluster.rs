//! The handle a test (or `agentry dev`) starts: the API server on a random loopback port, its
//! kubeconfig, a kube-rs client for it, and the pod simulator.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::api_server::ApiServer;
use crate::auth_reviews::ReviewPolicy;
use crate::pod_simulator::{PodSimulator, SimulatorOptions};
use crate::storage::cluster_state::ClusterState;

/// How often the namespace controller takes a step for each terminating namespace (its contents
/// deleted, then its `kubernetes` finalizer removed, then the namespace removed).
const NAMESPACE_SYNC: Duration = Duration::from_millis(300);

/// How to start a devcluster.
#[derive(Clone, Debug)]
pub struct DevClusterOptions {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Where to write the kubeconfig; `None` writes it into the cluster's temporary directory.
    pub kubeconfig_path: Option<PathBuf>,
    /// The binary the pod simulator runs for runner containers; `None` disables the simulator.
    pub runner_binary: Option<PathBuf>,
    /// Containers whose image repository ends with this run `runner_binary` (e.g. `agentry-runner`).
    pub runner_image_suffix: String,
    /// More images the pod simulator runs (the operator's, the recorder's, ...), after the runner's.
    pub image_binaries: Vec<ImageBinary>,
    /// Changes kept per resource for watches to resume from.
    pub watch_history: usize,
    /// How often watches that allow bookmarks get one.
    pub bookmark_interval: Duration,
}

impl Default for DevClusterOptions {
    fn default() -> Self {
        Self {
            port: 0,
            kubeconfig_path: None,
            runner_binary: None,
            runner_image_suffix: "agentry-runner".into(),
            image_binaries: Vec::new(),
            watch_history: 10_000,
            bookmark_interval: Duration::from_secs(10),
        }
    }
}

/// A binary the pod simulator runs for containers of an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageBinary {
    /// Containers whose image repository (without tag or digest) ends with this run `binary`.
    pub image_suffix: String,
    /// The binary (an absolute path: pods run in their own directories).
    pub binary: PathBuf,
}

impl std::str::FromStr for ImageBinary {
    type Err = String;

    /// `IMAGE_SUFFIX=PATH`, e.g. `agentry-operator=/usr/local/bin/agentry-operator`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once('=') {
            Some((suffix, path)) if !suffix.is_empty() && !path.is_empty() => {
                Ok(Self { image_suffix: suffix.to_owned(), binary: PathBuf::from(path) })
            }
            _ => Err(format!(
                "{text:?} is not IMAGE_SUFFIX=PATH (e.g. agentry-operator=/path/to/agentry-operator)"
            )),
        }
    }
}

/// Why a devcluster could not start.
#[derive(Debug, thiserror::Error)]
pub enum DevClusterError {
    /// The listening socket could not be opened.
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        /// The port asked for.
        port: u16,
        /// The cause.
        source: std::io::Error,
    },
    /// The kubeconfig or temporary directory could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// kube-rs refused the client configuration.
    #[error("cannot build a kube client: {0}")]
    Client(#[from] kube::Error),
}

/// A running devcluster. Dropping it stops the server and the simulated pods.
pub struct DevCluster {
    server: Arc<ApiServer>,
    admin_token: String,
    url: String,
    kubeconfig: PathBuf,
    temp_dir: PathBuf,
    client: kube::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    simulator: Option<PodSimulator>,
}

impl DevCluster {
    /// Start with default options (no pod simulator).
    pub async fn start() -> Result<Self, DevClusterError> {
        Self::start_with(DevClusterOptions::default()).await
    }

    /// Start with `options`.
    pub async fn start_with(options: DevClusterOptions) -> Result<Self, DevClusterError> {
        let temp_dir = std::env::temp_dir().join(format!("devcluster-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&temp_dir)
            .map_err(|source| DevClusterError::Write { path: temp_dir.clone(), source })?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port))
            .await
            .map_err(|source| DevClusterError::Bind { port: options.port, source })?;
        let address =
            listener.local_addr().map_err(|source| DevClusterError::Bind { port: options.port, source })?;
        let url = format!("http://{address}");
        let server = Arc::new(ApiServer::new(
            ClusterState::with_builtin_namespaces(options.watch_history),
            options.bookmark_interval,
        ));
        if let Ok(mut a) = server.address.lock() {
            *a = address.to_string();
        }
        let kubeconfig = options.kubeconfig_path.clone().unwrap_or_else(|| temp_dir.join("kubeconfig"));
        let admin_token = server.lock().tokens.admin().to_owned();
        crate::kubeconfig::write(&kubeconfig, &url, &admin_token)
            .map_err(|source| DevClusterError::Write { path: kubeconfig.clone(), source })?;

        crate::garbage_collection::namespace_controller::spawn(Arc::downgrade(&server), NAMESPACE_SYNC);
        let (shutdown, stopped) = oneshot::channel::<()>();
        let app = crate::router::router(server.clone());
        let task = tokio::spawn(async move {
            // The peer address is kept for the service proxy's `X-Forwarded-For`.
            let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
            let serving = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(err) = serving.await {
                tracing::error!(%err, "devcluster server failed");
            }
        });
        let mut config = kube::Config::new(url.parse().map_err(|_| DevClusterError::Write {
            path: kubeconfig.clone(),
            source: std::io::Error::other("bad url"),
        })?);
        config.default_namespace = "default".into();
        // The client presents the kubeconfig's credential, as kubectl does.
        config.auth_info.token = Some(admin_token.clone().into());
        let client = kube::Client::try_from(config)?;
        let images: Vec<(String, PathBuf)> = options
            .runner_binary
            .iter()
            .map(|binary| (options.runner_image_suffix.clone(), binary.clone()))
            .chain(options.image_binaries.iter().map(|i| (i.image_suffix.clone(), i.binary.clone())))
            .collect();
        let simulator = (!images.is_empty()).then(|| {
            PodSimulator::start(server.clone(), SimulatorOptions { images, root: temp_dir.join("pods") })
        });
        tracing::info!(%url, kubeconfig = %kubeconfig.display(), "devcluster ready");
        Ok(Self {
            server,
            admin_token,
            url,
            kubeconfig,
            temp_dir,
            client,
            shutdown: Some(shutdown),
            task: Some(task),
            simulator,
        })
    }

    /// The server's URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The kubeconfig file pointing at this cluster (`kubectl --kubeconfig <path>`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// A kube-rs client for this cluster (default namespace `default`).
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// Set a policy of tokens and permissions that TokenReviews and SubjectAccessReviews also
    /// honour, besides ServiceAccount tokens, the admin token and the RBAC objects.
    pub fn set_review_policy(&self, policy: ReviewPolicy) {
        self.server.lock().reviews = policy;
    }

    /// The admin bearer token the kubeconfig and [`DevCluster::client`] present. A TokenReview
    /// of it authenticates user `devcluster-admin` in groups `system:masters` and
    /// `system:authenticated`, who is allowed everything.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// Test hook: ServiceAccount token expiry is judged as if `by` had passed (kube-apiserver
    /// refuses tokens a minute after their `exp`; TokenRequests cannot ask for less than ten
    /// minutes, so tests move the clock instead of waiting).
    pub fn advance_token_clock(&self, by: Duration) {
        let seconds = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
        self.server.lock().tokens.advance_clock(seconds);
    }

    /// Test hook: forget all watch history and end every open watch with `410 Gone`, as when the
    /// apiserver's watch cache falls behind; clients must relist.
    pub fn expire_watches(&self) {
        self.server.lock().store.expire_watches();
    }

    /// Test hook: SIGKILL the process of simulated pod `namespace/name`, as when its container
    /// crashes. The simulator restarts it in the same pod, as the kubelet restarts a crashed
    /// container of a Deployment's pod (`restartPolicy: Always`): the Pod's `restartCount` goes
    /// up and its `lastState` shows exit code 137. Returns the pid killed; `None` when there is
    /// no such pod, no simulator, or the pod has no process running (e.g. it is backing off).
    pub fn kill_pod_process(&self, namespace: &str, name: &str) -> Option<u32> {
        self.simulator.as_ref()?.kill_pod(namespace, name)
    }

    /// Test hook: cut the API off (`false`) or bring it back (`true`), keeping its storage. While
    /// off, every request answers `503 ServiceUnavailable` and open watches end, as during an
    /// apiserver outage behind a load balancer; simulated pods keep running.
    pub fn set_available(&self, available: bool) {
        self.server.unavailable.store(!available, std::sync::atomic::Ordering::SeqCst);
        // Open watches end as their connections would; new ones are refused until it is back.
        self.server.closing.send_replace(!available);
    }

    /// The current `resourceVersion` of the store.
    pub fn resource_version(&self) -> u64 {
        self.server.lock().store.current_rv()
    }

    /// Stop the simulated pods and the server, and wait for the server to finish.
    pub async fn shutdown(mut self) {
        if let Some(simulator) = self.simulator.take() {
            simulator.stop().await;
        }
        self.server.closing.send_replace(true);
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            // Idle keep-alive connections can hold graceful shutdown; do not wait long for them.
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        }
    }
}

impl Drop for DevCluster {
    fn drop(&mut self) {
        if let Some(simulator) = self.simulator.take() {
            simulator.kill_all();
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
        let _ = std::fs::remove_dir_all(&self.temp_dir);
    }
}
