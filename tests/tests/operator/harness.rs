//! A devcluster with the pod simulator running the real runner binary, the Agentry CRDs, the
//! operator in-process, real NATS and PostgreSQL, and a scripted model behind every Model.

use std::time::Duration;

use agentry_crds::{Agent, AgentPhase};
use agentry_devcluster::{DevCluster, DevClusterOptions};
use agentry_operator::operator_runtime::{self, Handles, LeaseSettings};
use agentry_operator::settings::OperatorSettings;
use agentry_tests::binaries::workspace_binary;
use agentry_tests::nats_fixture;
use agentry_tests::scripted_model::{Flavor, ScriptedModel};
use futures::channel::oneshot;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::{Api, Client};

/// The runner image the operator writes; the simulator runs the runner binary for it.
pub const RUNNER_IMAGE: &str = "ghcr.io/agentry-dev/agentry-runner:test";
/// How long convergence may take before a test fails.
pub const CONVERGE: Duration = Duration::from_secs(60);

/// The PostgreSQL the MemoryStore sample is pointed at.
pub fn database_url() -> String {
    std::env::var("AGENTRY_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// An operator running in-process until stopped or dropped.
pub struct OperatorProcess {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    /// Its metrics and leadership flag.
    pub handles: std::sync::Arc<Handles>,
}

impl OperatorProcess {
    /// Stops it gracefully (releasing its Lease).
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(20), &mut self.task).await;
    }

    /// Kills it without letting it release anything, as a crashed pod would.
    pub fn kill(self) {
        self.task.abort();
    }

    /// Whether its controllers are running.
    pub fn leading(&self) -> bool {
        self.handles.leading.is_open()
    }
}

/// One test's world.
pub struct World {
    /// The API server, kept alive for the test's duration.
    _cluster: DevCluster,
    /// A client for it.
    pub client: Client,
    /// The test's namespace (unique, since NATS is shared between tests).
    pub ns: String,
    /// The model every sample Model points at.
    pub model: ScriptedModel,
    /// A NATS connection.
    pub nats: async_nats::Client,
}

impl World {
    /// Starts the cluster, installs the CRDs and creates the namespace.
    pub async fn start(prefix: &str) -> World {
        let _ = rustls::crypto::ring::default_provider().install_default();
        // `AGENTRY_TEST_LOG=<file>` writes the in-process operator's logs there (RUST_LOG filters).
        if let Ok(path) = std::env::var("AGENTRY_TEST_LOG")
            && let Ok(file) = std::fs::File::create(path)
        {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_writer(std::sync::Mutex::new(file))
                .with_ansi(false)
                .try_init();
        }
        let runner = workspace_binary("agentry-runner", "agentry-runner").expect("runner binary");
        let cluster = DevCluster::start_with(DevClusterOptions {
            runner_binary: Some(runner),
            ..DevClusterOptions::default()
        })
        .await
        .expect("devcluster");
        let client = cluster.client();
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        for crd in agentry_crds::all_crds() {
            crds.create(&PostParams::default(), &crd).await.expect("CRD created");
        }
        let ns = nats_fixture::unique_namespace(prefix);
        apply(
            &client,
            &serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .await;
        let model = ScriptedModel::start(Flavor::OpenAi).await;
        let nats = nats_fixture::connect().await.expect("nats");
        World { _cluster: cluster, client, ns, model, nats }
    }

    /// Starts an operator; with `lease`, it competes for leadership under `identity`.
    pub async fn start_operator(&self, lease: Option<&str>) -> OperatorProcess {
        let settings = OperatorSettings::new(RUNNER_IMAGE, nats_fixture::nats_url());
        let lease = lease.map(|identity| LeaseSettings {
            namespace: self.ns.clone(),
            name: "agentry-operator".into(),
            identity: identity.into(),
            duration_seconds: 3,
            grace_seconds: 1,
        });
        let handles = std::sync::Arc::new(Handles::new().expect("metrics"));
        let (stop, stopped) = oneshot::channel::<()>();
        let client = self.client.clone();
        let task_handles = handles.clone();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(err) = operator_runtime::run(client, settings, lease, &task_handles, shutdown).await {
                panic!("operator failed: {err}");
            }
        });
        OperatorProcess { stop: Some(stop), task, handles }
    }

    /// Every document of `config/samples/`, moved into this test's namespace, with Models
    /// pointed at the scripted model and the MemoryStore at the test PostgreSQL.
    pub fn samples(&self) -> Vec<serde_json::Value> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/samples");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("samples dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml") && !p.ends_with("kustomization.yaml"))
            .collect();
        files.sort();
        let mut docs = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("sample");
            for doc in serde_yaml::Deserializer::from_str(&text) {
                let mut value: serde_json::Value = serde::Deserialize::deserialize(doc).expect("yaml");
                if value.is_null() || value["kind"] == "Namespace" {
                    continue;
                }
                value["metadata"]["namespace"] = self.ns.clone().into();
                match value["kind"].as_str() {
                    Some("Model") => value["spec"]["baseUrl"] = self.model.base_url().into(),
                    Some("Secret") if value["metadata"]["name"] == "fleet-memory-db" => {
                        value["stringData"]["uri"] = database_url().into();
                    }
                    Some("MemoryStore") => {
                        value["spec"]["postgres"]["schema"] =
                            format!("agentry_{}", self.ns.replace('-', "_")).into();
                    }
                    _ => {}
                }
                docs.push(value);
            }
        }
        docs
    }

    /// Applies every sample.
    pub async fn apply_samples(&self) {
        for doc in self.samples() {
            apply(&self.client, &doc).await;
        }
    }

    /// Applies the samples without the MemoryStore (and the Agents' references to it).
    pub async fn apply_samples_without_memory(&self) {
        for mut doc in self.samples() {
            if doc["kind"] == "MemoryStore" {
                continue;
            }
            if doc["kind"] == "Agent"
                && let Some(memory) = doc["spec"]["memory"].as_object_mut()
            {
                memory.remove("storeRef");
            }
            apply(&self.client, &doc).await;
        }
    }

    /// Waits until Agent `name` reaches `phase`; returns it.
    pub async fn wait_agent(&self, name: &str, phase: AgentPhase) -> Agent {
        self.wait_agent_where(name, &format!("phase {phase:?}"), |a| {
            a.status.as_ref().and_then(|s| s.phase) == Some(phase)
        })
        .await
    }

    /// Waits until Agent `name` satisfies `check`; `what` describes it for the failure message.
    pub async fn wait_agent_where(&self, name: &str, what: &str, check: impl Fn(&Agent) -> bool) -> Agent {
        let api: Api<Agent> = Api::namespaced(self.client.clone(), &self.ns);
        let deadline = tokio::time::Instant::now() + CONVERGE;
        let mut last = None;
        loop {
            if let Ok(Some(agent)) = api.get_opt(name).await {
                if check(&agent) {
                    return agent;
                }
                last = Some(agent);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "Agent {name} never reached {what}; last status: {:#?}",
                last.and_then(|a| a.status)
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

/// The condition of `type_` in an Agent's status.
pub fn condition(agent: Agent, type_: &str) -> agentry_crds::Condition {
    agent
        .status
        .and_then(|s| s.conditions.into_iter().find(|c| c.type_ == type_))
        .unwrap_or_else(|| panic!("no {type_} condition"))
}

/// How often conditions are re-checked while waiting.
pub const POLL: Duration = Duration::from_millis(50);

/// Applies one manifest with server-side apply, as `kubectl apply --server-side` does.
pub async fn apply(client: &Client, doc: &serde_json::Value) {
    let api_version = doc["apiVersion"].as_str().expect("apiVersion");
    let kind = doc["kind"].as_str().expect("kind");
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    let name = doc["metadata"]["name"].as_str().expect("name");
    let api: Api<DynamicObject> = match doc["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    api.patch(name, &PatchParams::apply("e2e-test").force(), &Patch::Apply(doc))
        .await
        .unwrap_or_else(|err| panic!("applying {kind} {name}: {err}"));
}
