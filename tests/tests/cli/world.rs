//! The world the CLI runs against, installed as a cluster would have it: the real operator
//! serving the API with the recorder's history, reached through devcluster's service proxy by
//! the Service `agentry-system/agentry-api` and its Endpoints, the example API ClusterRoles, and
//! two ServiceAccounts with tokens from TokenRequest: `asker` (bound to `agentry-api-user` in the
//! test's namespace) and `outsider` (bound to nothing).

use std::path::{Path, PathBuf};
use std::time::Duration;

use agentry_crds::AgentPhase;
use agentry_tests::namespace_recorder::NamespaceRecorder;
use agentry_tests::operator_process::OperatorProcess;
use agentry_tests::operator_world::{World, apply};
use agentry_tests::recorder_fixture;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};

/// The namespace and name of the API's Service, as the chart installs it.
pub(crate) const API_NAMESPACE: &str = "agentry-system";
/// The API's Service.
pub(crate) const API_SERVICE: &str = "agentry-api";
/// The agent the tests ask.
pub(crate) const HELPER: &str = "helper";
/// A second agent, so lists have more than one row.
pub(crate) const REVIEWER: &str = "reviewer";
/// How long the operator may take to stop on SIGTERM.
const STOP: Duration = Duration::from_secs(20);

/// Everything the CLI talks to, and the tokens it talks with.
pub(crate) struct CliWorld {
    /// Devcluster, the scripted model, the test's namespace.
    pub(crate) world: World,
    /// The operator serving the API.
    pub(crate) operator: OperatorProcess,
    /// The recorder of the namespace's history, which the API reads.
    pub(crate) recorder: NamespaceRecorder,
    /// The token files of the ServiceAccounts.
    pub(crate) tokens: TokenFiles,
}

impl CliWorld {
    /// Starts everything and waits until both agents are Ready.
    ///
    /// # Panics
    /// When any part cannot start: there is no test without it.
    pub(crate) async fn start(prefix: &str) -> Self {
        let world = World::start(prefix).await;
        let recorder = NamespaceRecorder::start(&world.binaries().recorder, &world.ns)
            .await
            .unwrap_or_else(|e| panic!("starting the recorder: {e}"));
        let mut options = world.operator_options();
        options.history = Some((recorder_fixture::database_url(), recorder.schema().to_owned()));
        let operator = world.start_operator_with(&options).await;
        install_api_service(&world, operator.api.port()).await;
        let tokens = grant_access(&world).await;
        for doc in agents(&world) {
            world.apply(&doc).await;
        }
        for agent in [HELPER, REVIEWER] {
            world.wait_agent(agent, AgentPhase::Ready).await;
        }
        Self { world, operator, recorder, tokens }
    }

    /// The test's namespace.
    pub(crate) fn ns(&self) -> &str {
        &self.world.ns
    }

    /// Stops the operator (it must exit 0 on SIGTERM), the recorder and the cluster.
    pub(crate) async fn stop(self) {
        let Self { world, operator, recorder, tokens } = self;
        operator.stop(STOP).await.unwrap_or_else(|e| panic!("{e}"));
        recorder.stop().await.unwrap_or_else(|e| panic!("{e}"));
        world.shutdown().await;
        drop(tokens);
    }
}

/// The Service `agentry-api` (port `http`) in `agentry-system`, and Endpoints naming the same
/// port at the operator's API address: devcluster has no Endpoints controller, and a named
/// Service port is resolved through the Endpoints port of that name, as kube-apiserver does.
async fn install_api_service(world: &World, api_port: u16) {
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": API_NAMESPACE}});
    let service = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": API_SERVICE, "namespace": API_NAMESPACE},
        "spec": {"selector": {"app.kubernetes.io/name": "agentry-operator"},
                 "ports": [{"name": "http", "port": 80, "targetPort": 8081}]},
    });
    let endpoints = json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": API_SERVICE, "namespace": API_NAMESPACE},
        "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "http", "port": api_port}]}],
    });
    for doc in [namespace, service, endpoints] {
        world.apply(&doc).await;
    }
}

/// The example API ClusterRoles, ServiceAccounts `asker` (may use the API in the test's
/// namespace) and `outsider` (may not), and a token of each in a file.
async fn grant_access(world: &World) -> TokenFiles {
    for role in agentry_operator::rbac::api_user_roles() {
        apply(&world.client, &serde_json::to_value(role).expect("a ClusterRole as JSON")).await;
    }
    let ns = &world.ns;
    for account in ["asker", "outsider"] {
        world
            .apply(&json!({"apiVersion": "v1", "kind": "ServiceAccount",
                           "metadata": {"name": account, "namespace": ns}}))
            .await;
    }
    world
        .apply(&json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "asker-uses-the-api", "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "agentry-api-user"},
            "subjects": [{"kind": "ServiceAccount", "name": "asker", "namespace": ns}],
        }))
        .await;
    let dir = TokenFiles::create();
    dir.write("asker", &token_of(world, "asker").await);
    dir.write("outsider", &token_of(world, "outsider").await);
    dir
}

/// A fresh token of ServiceAccount `name` in the test's namespace (TokenRequest, as
/// `kubectl create token` asks for it).
async fn token_of(world: &World, name: &str) -> String {
    let accounts: Api<ServiceAccount> = Api::namespaced(world.client.clone(), &world.ns);
    let request = TokenRequest {
        spec: TokenRequestSpec { expiration_seconds: Some(3600), ..Default::default() },
        ..Default::default()
    };
    let issued = accounts
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .unwrap_or_else(|e| panic!("a token of ServiceAccount {name}: {e}"));
    issued.status.map(|s| s.token).filter(|t| !t.is_empty()).expect("an issued token")
}

/// A Model on the scripted server, priced so interactions cost something, and the two Agents.
fn agents(world: &World) -> Vec<Value> {
    let ns = &world.ns;
    let model = json!({
        "apiVersion": "agentry.dev/v1alpha1", "kind": "Model",
        "metadata": {"name": "scripted", "namespace": ns},
        "spec": {"provider": "openai-compatible", "model": "m", "baseUrl": world.model.base_url(),
                 "pricing": {"inputPerMillionTokens": 0.15, "outputPerMillionTokens": 0.6}},
    });
    let agent = |name: &str, role: &str, capability: &str| {
        json!({
            "apiVersion": "agentry.dev/v1alpha1", "kind": "Agent",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"role": role, "modelRef": "scripted", "capabilities": [capability],
                     "systemPrompt": "Answer briefly."},
        })
    };
    vec![model, agent(HELPER, "worker", "answers"), agent(REVIEWER, "domain", "reviews")]
}

/// A private directory of token files, removed with everything in it when dropped.
pub(crate) struct TokenFiles {
    dir: PathBuf,
}

impl TokenFiles {
    fn create() -> Self {
        let dir = std::env::temp_dir().join(format!("agentry-cli-e2e-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        restrict(&dir, 0o700);
        Self { dir }
    }

    fn write(&self, account: &str, token: &str) {
        let path = self.path(account);
        std::fs::write(&path, format!("{token}\n")).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        restrict(&path, 0o600);
    }

    /// The file holding ServiceAccount `account`'s token.
    pub(crate) fn path(&self, account: &str) -> PathBuf {
        self.dir.join(account)
    }

    /// A home directory for the CLI (nothing in it: the kubeconfig comes from `KUBECONFIG`).
    pub(crate) fn home(&self) -> &Path {
        &self.dir
    }
}

impl Drop for TokenFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Only the owner may read what holds a token.
fn restrict(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}
