//! One operator end-to-end test's world: a devcluster whose pod simulator runs the runner binary
//! built from this tree, the Agentry CRDs, a namespace of the test's own, a scripted model,
//! real NATS, and the real `agentry-operator` binary as a process (or several, for leader
//! election). Every wait here also watches the operators: one that dies fails the test at once
//! with its exit status and the end of its log, instead of a timeout a minute later.
//!
//! ```ignore
//! let world = World::start("roll").await;
//! let _operator = world.start_operator().await;
//! world.apply_samples().await;
//! let agent = world.wait_agent("finance-officer", AgentPhase::Ready).await;
//! ```

mod condition_history;
pub mod manifests;
mod samples;

use std::fmt::Debug;
use std::future::Future;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use agentry_crds::{Agent, AgentPhase, Condition};
use agentry_devcluster::{DevCluster, DevClusterOptions, ImageBinary};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::PostParams;
use kube::{Api, Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use condition_history::ConditionHistory;
pub use manifests::apply;
pub use samples::{samples, schema_for, session_sample, without_memory};

use crate::binaries::{self, Binaries};
use crate::nats_fixture;
use crate::operator_process::{Liveness, OperatorOptions, OperatorProcess};
use crate::scripted_model::{Flavor, ScriptedModel};

/// The runner image the operator writes; the simulator runs the runner binary for it.
pub const RUNNER_IMAGE: &str = "ghcr.io/agentry-dev/agentry-runner:test";
/// How long convergence may take before a test fails.
pub const CONVERGE: Duration = Duration::from_secs(60);
/// How often conditions are re-checked while waiting.
pub const POLL: Duration = Duration::from_millis(50);

/// The PostgreSQL MemoryStores are pointed at: `AGENTRY_TEST_DATABASE_URL`, or the local default.
pub fn database_url() -> String {
    std::env::var("AGENTRY_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// One test's world. Tests own the operators they start; the world keeps a [`Liveness`] of each.
pub struct World {
    cluster: DevCluster,
    /// A client for the devcluster.
    pub client: Client,
    /// The test's namespace (unique, since NATS and PostgreSQL are shared between tests).
    pub ns: String,
    /// The model every sample Model points at.
    pub model: ScriptedModel,
    /// A NATS connection.
    pub nats: async_nats::Client,
    binaries: &'static Binaries,
    operators: Mutex<Vec<Liveness>>,
}

impl World {
    /// Builds the binaries if this test executable has not yet, starts the cluster, installs the
    /// CRDs and creates the namespace (`<prefix>-<random>`).
    ///
    /// # Panics
    /// When any of that fails: there is no test without it.
    pub async fn start(prefix: &str) -> World {
        Self::start_simulating(prefix, |_| Vec::new()).await
    }

    /// [`start`](Self::start), with the pod simulator also running the binaries `images` maps
    /// images to (e.g. the operator's and recorder's, to install the Helm chart).
    ///
    /// # Panics
    /// As [`start`](Self::start).
    pub async fn start_simulating(prefix: &str, images: impl FnOnce(&Binaries) -> Vec<ImageBinary>) -> World {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let binaries = tokio::task::spawn_blocking(binaries::built)
            .await
            .expect("the build task")
            .unwrap_or_else(|err| panic!("building the binaries under test: {err}"));
        let cluster = DevCluster::start_with(DevClusterOptions {
            runner_binary: Some(binaries.runner.clone()),
            image_binaries: images(binaries),
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
        World { cluster, client, ns, model, nats, binaries, operators: Mutex::new(Vec::new()) }
    }

    /// Stops the simulated pods gracefully and then the devcluster (dropping the world kills
    /// them instead).
    pub async fn shutdown(self) {
        self.cluster.shutdown().await;
    }

    /// The devcluster.
    pub fn cluster(&self) -> &DevCluster {
        &self.cluster
    }

    /// The kubeconfig pointing at the devcluster.
    pub fn kubeconfig(&self) -> &Path {
        self.cluster.kubeconfig_path()
    }

    /// The binaries under test.
    pub fn binaries(&self) -> &Binaries {
        self.binaries
    }

    /// Options for a single operator without leader election, writing [`RUNNER_IMAGE`] and the
    /// test NATS URL into runner configs.
    pub fn operator_options(&self) -> OperatorOptions {
        OperatorOptions::single(RUNNER_IMAGE, &nats_fixture::nats_url())
    }

    /// Starts a single operator without leader election.
    pub async fn start_operator(&self) -> OperatorProcess {
        self.start_operator_with(&self.operator_options()).await
    }

    /// Starts an operator replica competing as `identity` for a Lease in the test namespace that
    /// is valid `lease_seconds` without renewal.
    pub async fn start_replica(&self, identity: &str, lease_seconds: u64) -> OperatorProcess {
        let options = self.operator_options().replica(identity, &self.ns, lease_seconds);
        self.start_operator_with(&options).await
    }

    /// Starts an operator with `options`; returns once it serves `/healthz`. Every wait of this
    /// world fails at once should it die unasked.
    ///
    /// # Panics
    /// When it cannot be started or exits before serving.
    pub async fn start_operator_with(&self, options: &OperatorOptions) -> OperatorProcess {
        let process = OperatorProcess::start(&self.binaries.operator, self.kubeconfig(), options)
            .await
            .unwrap_or_else(|err| panic!("starting the operator: {err}"));
        self.watch_operator(&process);
        process
    }

    /// Makes every wait of this world fail at once when `process` dies unasked.
    pub fn watch_operator(&self, process: &OperatorProcess) {
        if let Ok(mut operators) = self.operators.lock() {
            operators.push(process.liveness());
        }
    }

    /// Fails the test, with the operator's exit status and the end of its log, when one of the
    /// operators it started has died without being killed or stopped.
    ///
    /// # Panics
    /// Exactly then.
    pub fn check_operators(&self) {
        for operator in self.operators() {
            if let Err(died) = operator.check() {
                panic!("{died}");
            }
        }
    }

    fn operators(&self) -> Vec<Liveness> {
        self.operators.lock().map(|o| o.clone()).unwrap_or_default()
    }

    /// Where the operators' logs are, for a failure message (a failed test keeps them).
    fn operator_logs(&self) -> String {
        let logs: Vec<String> = self.operators().iter().map(Liveness::describe).collect();
        if logs.is_empty() { String::new() } else { format!("\noperator logs: {}", logs.join(", ")) }
    }

    /// Calls `check` until it returns `Some`, checking the operators between calls; fails the
    /// test after [`CONVERGE`] saying `what` never happened.
    pub async fn eventually<T, F, Fut>(&self, what: &str, check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        self.eventually_within(CONVERGE, what, check).await
    }

    /// [`eventually`](Self::eventually) with another deadline.
    pub async fn eventually_within<T, F, Fut>(&self, timeout: Duration, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        self.eventually_explained(timeout, what, || {
            let checked = check();
            async move { checked.await.ok_or_else(String::new) }
        })
        .await
    }

    /// Calls `check` until it returns `Ok`, checking the operators between calls; fails the
    /// test after `timeout` saying `what` never happened and what the last `Err` said was
    /// found instead.
    pub async fn eventually_explained<T, F, Fut>(&self, timeout: Duration, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            self.check_operators();
            let found = match check().await {
                Ok(value) => return value,
                Err(found) => found,
            };
            if tokio::time::Instant::now() >= deadline {
                let found = if found.is_empty() { found } else { format!("; last found: {found}") };
                panic!("never within {timeout:?}: {what}{found}{}", self.operator_logs());
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the `K` called `name` in the test namespace satisfies `check`; `what`
    /// describes it for the failure message, which shows the object's last status.
    pub async fn wait_object<K>(&self, name: &str, what: &str, check: impl Fn(&K) -> bool) -> K
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + Debug
            + DeserializeOwned
            + Serialize,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), &self.ns);
        let deadline = tokio::time::Instant::now() + CONVERGE;
        let mut last = None;
        loop {
            self.check_operators();
            if let Ok(Some(object)) = api.get_opt(name).await {
                if check(&object) {
                    return object;
                }
                last = Some(object);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} {name} never reached {what}; last status: {:#}{}",
                K::kind(&()),
                last.map(|o| status_of(&o)).unwrap_or_else(|| "(the object does not exist)".into()),
                self.operator_logs()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the `K` called `name` has condition `type_` with `reason`; returns the
    /// condition.
    pub async fn wait_reason<K>(&self, name: &str, type_: &str, reason: &str) -> Condition
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + Debug
            + DeserializeOwned
            + Serialize,
    {
        let what = format!("{type_} with reason {reason}");
        let object = self
            .wait_object::<K>(name, &what, |o| condition_of(o, type_).is_some_and(|c| c.reason == reason))
            .await;
        condition_of(&object, type_).expect("the condition just seen")
    }

    /// Records every version of condition `type_` of the `K` called `name` from now on (see
    /// [`ConditionHistory`]).
    pub async fn record_condition<K>(&self, name: &str, type_: &str) -> ConditionHistory
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + Debug
            + DeserializeOwned
            + Serialize
            + Send
            + 'static,
    {
        ConditionHistory::record::<K>(&self.client, &self.ns, name, type_).await
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
        self.wait_object::<Agent>(name, what, check).await
    }

    /// Every sample of `config/samples/`, moved into this test's namespace (see [`samples`]).
    pub fn samples(&self) -> Vec<serde_json::Value> {
        samples(&self.ns, &self.model.base_url(), &database_url())
    }

    /// Applies every sample.
    pub async fn apply_samples(&self) {
        for doc in self.samples() {
            apply(&self.client, &doc).await;
        }
    }

    /// Applies the samples without the MemoryStore (and the Agents' references to it).
    pub async fn apply_samples_without_memory(&self) {
        for doc in without_memory(self.samples()) {
            apply(&self.client, &doc).await;
        }
    }

    /// Applies one manifest (see [`apply`]).
    pub async fn apply(&self, doc: &serde_json::Value) {
        apply(&self.client, doc).await;
    }
}

/// The condition of `type_` in an object's `status.conditions`, for any kind that has them.
pub fn condition_of<K: Serialize>(object: &K, type_: &str) -> Option<Condition> {
    let value = serde_json::to_value(object).ok()?;
    let conditions = value.get("status")?.get("conditions")?.as_array()?.clone();
    conditions
        .into_iter()
        .filter_map(|c| serde_json::from_value::<Condition>(c).ok())
        .find(|c| c.type_ == type_)
}

/// The condition of `type_` in an Agent's status.
///
/// # Panics
/// When it has none.
pub fn condition(agent: Agent, type_: &str) -> Condition {
    condition_of(&agent, type_).unwrap_or_else(|| panic!("no {type_} condition"))
}

fn status_of<K: Serialize>(object: &K) -> String {
    serde_json::to_value(object)
        .ok()
        .and_then(|v| v.get("status").cloned())
        .map(|s| serde_json::to_string_pretty(&s).unwrap_or_default())
        .unwrap_or_else(|| "(none)".into())
}
