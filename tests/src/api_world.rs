//! The HTTP API served in-process over real HTTP on 127.0.0.1, backed by real things: devcluster
//! answering its TokenReviews, SubjectAccessReviews and Agent reads, a real runner process
//! answering on NATS, and the real recorder writing that runner's events to a PostgreSQL schema
//! the API reads.

use std::time::Duration;

use agentry_api::{ApiSettings, ApiState};
use agentry_devcluster::{DevCluster, Permission, ReviewPolicy, UserInfo};
use agentry_process::AdminEndpoint;
use agentry_protocol::RunnerConfig;
use serde_json::Value;

use crate::binaries::Binaries;
use crate::namespace_recorder::NamespaceRecorder;
use crate::operator_world::manifests::apply;
use crate::runner_fixture::{AGENT, OneAgent};

/// A token allowed everything the API offers in the test's namespace.
pub const ADMIN_TOKEN: &str = "admin-token";
/// A token allowed only to read (`get`, `list`).
pub const VIEWER_TOKEN: &str = "viewer-token";
/// A token the cluster knows, allowed nothing.
pub const NOBODY_TOKEN: &str = "nobody-token";

/// The API and everything behind it.
pub struct ApiWorld {
    /// The cluster the API authenticates and authorizes against.
    pub cluster: DevCluster,
    /// The agent `worker` (a real runner) and its scripted model.
    pub agent: OneAgent,
    /// The recorder of the namespace's events.
    pub recorder: NamespaceRecorder,
    /// The API's HTTP endpoint.
    pub endpoint: AdminEndpoint,
    /// An HTTP client.
    pub http: reqwest::Client,
}

impl ApiWorld {
    /// Starts everything; `adjust` changes the runner's config first.
    ///
    /// # Panics
    /// When any part cannot start: there is no test without it.
    pub async fn start(binaries: &Binaries, prefix: &str, adjust: impl FnOnce(&mut RunnerConfig)) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let cluster = DevCluster::start().await.expect("devcluster");
        let agent = OneAgent::start(&binaries.runner, prefix, adjust).await;
        let recorder =
            NamespaceRecorder::start(&binaries.recorder, &agent.ns).await.unwrap_or_else(|e| panic!("{e}"));
        cluster.set_review_policy(policy(&agent.ns));
        let client = cluster.client();
        for crd in agentry_crds::all_crds() {
            let crds = kube::Api::<
                k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
            >::all(client.clone());
            crds.create(&kube::api::PostParams::default(), &crd).await.expect("CRD created");
        }
        apply(
            &client,
            &serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": agent.ns}}),
        )
        .await;
        apply(&client, &agent_manifest(&agent.ns)).await;
        let settings = ApiSettings {
            database_url: Some(crate::recorder_fixture::database_url()),
            database_schema: recorder.schema().to_owned(),
        };
        let state = ApiState::new(client, agent.nats.clone(), &settings).expect("API state");
        let endpoint =
            AdminEndpoint::start("127.0.0.1:0", agentry_api::router(state)).await.expect("API endpoint");
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("HTTP client");
        Self { cluster, agent, recorder, endpoint, http }
    }

    /// The test's namespace.
    pub fn ns(&self) -> &str {
        &self.agent.ns
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.endpoint.local_addr())
    }

    /// Sends `method path` with `token` and an optional JSON body; the status and the body as
    /// JSON (`Null` when it is not JSON).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `GET path` as the admin.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, Some(ADMIN_TOKEN), None).await
    }

    /// `POST path` with `body` as the admin.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(ADMIN_TOKEN), Some(body)).await
    }

    /// Creates Agent `name` with `capabilities`, Ready with `ready` replicas (its status written
    /// as the operator would).
    pub async fn add_agent(&self, name: &str, capabilities: &[&str], ready: i32) {
        let mut manifest = agent_manifest(self.ns());
        manifest["metadata"]["name"] = name.into();
        manifest["spec"]["capabilities"] = capabilities.into();
        apply(&self.cluster.client(), &manifest).await;
        self.mark_ready(name, ready).await;
    }

    /// Writes Agent `name`'s status: Ready with `ready` replicas.
    pub async fn mark_ready(&self, name: &str, ready: i32) {
        let agents: kube::Api<agentry_crds::Agent> = kube::Api::namespaced(self.cluster.client(), self.ns());
        let status =
            serde_json::json!({"status": {"phase": "Ready", "replicas": ready, "readyReplicas": ready}});
        agents
            .patch_status(name, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&status))
            .await
            .unwrap_or_else(|e| panic!("status of {name}: {e}"));
    }

    /// Stops the recorder and the cluster.
    pub async fn stop(self) {
        self.endpoint.stop().await;
        self.recorder.stop().await.unwrap_or_else(|e| panic!("{e}"));
        self.cluster.shutdown().await;
    }
}

/// The Agent object of the runner, so the API's agent endpoints find it.
fn agent_manifest(ns: &str) -> Value {
    serde_json::json!({
        "apiVersion": "agentry.dev/v1alpha1", "kind": "Agent",
        "metadata": {"name": AGENT, "namespace": ns},
        "spec": {"role": "worker", "modelRef": "primary", "capabilities": ["arithmetic", "summaries"]},
    })
}

/// Three users: an admin of the namespace's API, a viewer, and one allowed nothing.
fn policy(ns: &str) -> ReviewPolicy {
    let user = |name: &str| UserInfo {
        username: name.into(),
        uid: format!("uid-{name}"),
        groups: vec!["system:authenticated".into()],
    };
    let mut policy = ReviewPolicy::default();
    policy
        .add_token(ADMIN_TOKEN, user("alice"))
        .add_token(VIEWER_TOKEN, user("victor"))
        .add_token(NOBODY_TOKEN, user("nobody"));
    let permission = |verbs: &[&str]| Permission {
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        group: "agentry.dev".into(),
        resource: "*".into(),
        namespace: Some(ns.to_owned()),
    };
    policy.allow("alice", permission(&["*"])).allow("victor", permission(&["get", "list"]));
    policy
}
