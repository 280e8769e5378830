//! The Helm chart installed for real: `scripts/chart render` (helm-python-sdk) renders it with
//! its NATS and PostgreSQL Secrets pointing at the local services, every object is applied to
//! devcluster, and the pod simulator runs the chart's operator and recorder pods from the
//! binaries built from this tree. The samples then become Ready through that operator (no
//! operator process of the test's own), an agent answers, and the chart's recorder stores the
//! answer in PostgreSQL.

use std::path::Path;
use std::time::Duration;

use agentry_crds::{AgentPhase, MemoryStore, Model, Session, SessionPhase, Tool};
use agentry_devcluster::ImageBinary;
use agentry_protocol::AgentRequest;
use agentry_tests::nats_fixture;
use agentry_tests::operator_world::{World, apply, condition_of, database_url, session_sample};
use agentry_tests::recorder_fixture::ScratchSchema;
use agentry_tests::scripted_model::Step;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// The kinds a cluster keeps outside namespaces; Helm applies every other kind in the release's.
const CLUSTER_SCOPED: [&str; 2] = ["ClusterRole", "ClusterRoleBinding"];

/// The chart's manifests rendered by `scripts/chart render` with `values`, in namespace `ns`.
pub(crate) fn render_chart(values: &serde_json::Value, ns: &str) -> Vec<serde_json::Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let values_file = std::env::temp_dir().join(format!("agentry-chart-values-{ns}.json"));
    std::fs::write(&values_file, values.to_string()).expect("values file written");
    let output = std::process::Command::new("python3")
        .arg(root.join("scripts/chart"))
        .args(["render", "--name", "agentry", "--namespace", ns, "--values"])
        .arg(&values_file)
        .output()
        .unwrap_or_else(|err| panic!("running python3 scripts/chart render: {err}"));
    let _ = std::fs::remove_file(&values_file);
    assert!(
        output.status.success(),
        "scripts/chart render failed (scripts/dev-services installs helm-python-sdk):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("UTF-8 manifests");
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| serde::Deserialize::deserialize(doc).expect("a rendered manifest"))
        .filter(|doc: &serde_json::Value| !doc.is_null())
        .collect()
}

/// Values for devcluster: every simulated pod shares 127.0.0.1 (a kubelet gives each its own
/// network namespace), so the operator replicas' API listeners take a free loopback port each;
/// the health/metrics listener is the simulator's (`AGENTRY_HTTP_LISTEN`). The history schema
/// and the recorder's consumer are the test's own (NATS and PostgreSQL are shared). devcluster has
/// no Prometheus Operator CRDs, so no PrometheusRule.
pub(crate) fn devcluster_values(schema: &str, ns: &str) -> serde_json::Value {
    serde_json::json!({
        "database": {"schema": schema},
        "operator": {"apiListen": "127.0.0.1:0", "leaderElection": {"leaseDurationSeconds": 5}},
        "recorder": {"consumer": format!("agentry-recorder-{ns}")},
        "monitoring": {"prometheusRule": {"enabled": false}},
    })
}

pub(crate) fn secret(ns: &str, name: &str, url: &str) -> serde_json::Value {
    serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns},
                       "type": "Opaque", "stringData": {"url": url}})
}

/// Applies the rendered chart in `ns`: namespaced objects go to the release namespace, as Helm
/// puts them.
pub(crate) async fn install(world: &World, manifests: Vec<serde_json::Value>) -> Vec<String> {
    let mut applied = Vec::new();
    for mut doc in manifests {
        let kind = doc["kind"].as_str().unwrap_or_default().to_owned();
        if !CLUSTER_SCOPED.contains(&kind.as_str()) {
            doc["metadata"]["namespace"] = world.ns.clone().into();
        }
        apply(&world.client, &doc).await;
        applied.push(format!("{kind}/{}", doc["metadata"]["name"].as_str().unwrap_or_default()));
    }
    applied
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_installs_on_devcluster_and_its_operator_readies_the_samples() {
    let world = World::start_simulating("chart", |built| {
        vec![
            ImageBinary { image_suffix: "agentry-operator".into(), binary: built.operator.clone() },
            ImageBinary { image_suffix: "agentry-recorder".into(), binary: built.recorder.clone() },
        ]
    })
    .await;
    let ns = world.ns.clone();
    let history = ScratchSchema::new(&database_url());
    world.apply(&secret(&ns, "agentry-nats", &nats_fixture::nats_url())).await;
    world.apply(&secret(&ns, "agentry-database", &database_url())).await;
    let manifests = render_chart(&devcluster_values(&history.name, &ns), &ns);
    let applied = install(&world, manifests).await;
    for expected in [
        "Deployment/agentry-operator",
        "Deployment/agentry-recorder",
        "ClusterRole/agentry-operator",
        "RoleBinding/agentry-operator",
        "RoleBinding/agentry-operator-secrets",
        "PodDisruptionBudget/agentry-operator",
        "NetworkPolicy/agentry-operator",
        "Service/agentry-operator",
    ] {
        assert!(applied.iter().any(|a| a == expected), "{expected} not rendered: {applied:?}");
    }

    let deployments: Api<Deployment> = Api::namespaced(world.client.clone(), &ns);
    for name in ["agentry-operator", "agentry-recorder"] {
        world
            .eventually_explained(Duration::from_secs(90), &format!("{name} has a ready replica"), || async {
                let status = deployments.get(name).await.map_err(|e| e.to_string())?.status;
                let ready = status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0);
                if ready >= 1 { Ok(()) } else { Err(format!("{status:?}\n{}", pod_logs(&world, name).await)) }
            })
            .await;
    }
    let leader = leader_is_an_operator_pod(&world).await;
    secrets_are_read_only_in_the_release_namespace(&world).await;

    world.apply_samples().await;
    for name in ["gpt-4o-mini", "llama-local"] {
        world
            .wait_object::<Model>(name, "Ready", |o| condition_of(o, "Ready").is_some_and(|c| c.is_true()))
            .await;
    }
    for name in ["vehicle-telemetry", "ask-finance", "calculator"] {
        world
            .wait_object::<Tool>(name, "Ready", |o| condition_of(o, "Ready").is_some_and(|c| c.is_true()))
            .await;
    }
    world
        .wait_object::<MemoryStore>("fleet-memory", "Ready", |o| {
            condition_of(o, "Ready").is_some_and(|c| c.is_true())
        })
        .await;
    let mut agents = Vec::new();
    for name in ["fleet-manager", "finance-officer", "sales-agent"] {
        // Agents get a `Ready` condition separately (issue 11 part 4); until then phase Ready and
        // Available=True are what tells an Agent can answer.
        let agent = world.wait_agent(name, AgentPhase::Ready).await;
        let conditions = agent.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default();
        for wanted in ["Available", "Ready"] {
            assert!(
                conditions.iter().any(|c| c.type_ == wanted && c.is_true()),
                "{name} {wanted}: {conditions:#?}"
            );
        }
        agents.push(agent);
    }
    assert!(!leader.is_empty());

    world.model.push(Step::Text("412,300 USD remains.".into()));
    let request_id = format!("chart-{}", uuid::Uuid::new_v4().simple());
    let subject = agents[1].status.as_ref().and_then(|s| s.subject.clone()).expect("status.subject");
    // The status names the query root; the caller (the test, as the API) appends its token.
    let subject = format!("{subject}.{}", agentry_protocol::PlatformIdentity::Api.token());
    let request = AgentRequest::new(request_id.clone(), "Budget left?");
    let reply = world
        .nats
        .send_request(
            subject,
            async_nats::Request::new()
                .payload(serde_json::to_vec(&request).expect("json").into())
                .timeout(Some(Duration::from_secs(30))),
        )
        .await
        .expect("the runner answers");
    let reply: agentry_protocol::AgentReply = serde_json::from_slice(&reply.payload).expect("an AgentReply");
    assert_eq!(reply.output.as_deref(), Some("412,300 USD remains."), "{reply:?}");
    recorded(&world, &history.name, &request_id).await;
    a_session_runs_and_is_deleted_after_its_ttl(&world).await;
    no_request_was_forbidden(&world).await;
    world.shutdown().await;
}

/// devcluster enforces the chart's RBAC on the operator's token; the account it binds may read
/// Secrets in the release namespace (the default `secretNamespaces`) and nowhere else.
async fn secrets_are_read_only_in_the_release_namespace(world: &World) {
    let reviews: Api<SubjectAccessReview> = Api::all(world.client.clone());
    let ns = &world.ns;
    for (namespace, expected) in [(ns.as_str(), true), ("", false), ("kube-system", false)] {
        let review: SubjectAccessReview = serde_json::from_value(serde_json::json!({"spec": {
            "user": format!("system:serviceaccount:{ns}:agentry-operator"),
            "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{ns}"), "system:authenticated"],
            "resourceAttributes": {"verb": "list", "resource": "secrets", "namespace": namespace},
        }}))
        .expect("a review");
        let answer = reviews.create(&Default::default(), &review).await.expect("review answered");
        let allowed = answer.status.map(|s| s.allowed);
        assert_eq!(allowed, Some(expected), "list secrets in {namespace:?}");
    }
}

/// The sample Session runs to its end and, its TTL passed, is deleted: the Session verbs of the
/// generated role (finalizer patch, status, delete) are exercised under RBAC.
async fn a_session_runs_and_is_deleted_after_its_ttl(world: &World) {
    let mut sample = session_sample(&world.ns);
    sample["spec"]["ttlSecondsAfterFinished"] = 1.into();
    let name = sample["metadata"]["name"].as_str().expect("name").to_owned();
    world.apply(&sample).await;
    crate::session_fixtures::wait_phase(world, &name, SessionPhase::Succeeded).await;
    let sessions: Api<Session> = Api::namespaced(world.client.clone(), &world.ns);
    world
        .eventually_explained(Duration::from_secs(60), "the finished Session is deleted", || async {
            match sessions.get_opt(&name).await.map_err(|e| e.to_string())? {
                None => Ok(()),
                Some(session) => Err(format!("{:?}", session.status)),
            }
        })
        .await;
}

/// The generated role was enough: no operator pod logged a refusal from the API server.
async fn no_request_was_forbidden(world: &World) {
    let pods: Api<Pod> = Api::namespaced(world.client.clone(), &world.ns);
    let selector = ListParams::default().labels("app.kubernetes.io/component=operator");
    let listed = pods.list(&selector).await.expect("operator pods").items;
    assert!(!listed.is_empty());
    for pod in listed {
        let name = pod.metadata.name.unwrap_or_default();
        let log = pods.logs(&name, &Default::default()).await.expect("operator log");
        let refused: Vec<&str> =
            log.lines().filter(|l| l.contains("forbidden") || l.contains("Forbidden")).collect();
        assert!(refused.is_empty(), "{name} was refused under the chart's role:\n{}", refused.join("\n"));
    }
}

/// The Lease the chart's operator replicas compete for is held by one of its pods.
async fn leader_is_an_operator_pod(world: &World) -> String {
    let leases: Api<Lease> = Api::namespaced(world.client.clone(), &world.ns);
    let pods: Api<Pod> = Api::namespaced(world.client.clone(), &world.ns);
    world
        .eventually_explained(Duration::from_secs(60), "an operator pod holds the Lease", || async {
            let holder = leases
                .get_opt("agentry-operator")
                .await
                .map_err(|e| e.to_string())?
                .and_then(|l| l.spec?.holder_identity)
                .ok_or("no Lease holder yet")?;
            let selector = ListParams::default().labels("app.kubernetes.io/component=operator");
            let names: Vec<String> = pods
                .list(&selector)
                .await
                .map_err(|e| e.to_string())?
                .items
                .into_iter()
                .filter_map(|p| p.metadata.name)
                .collect();
            if names.contains(&holder) {
                Ok(holder)
            } else {
                Err(format!("holder {holder}, operator pods {names:?}"))
            }
        })
        .await
}

/// The chart's recorder stored the interaction of `request_id` in `schema`.
async fn recorded(world: &World, schema: &str, request_id: &str) {
    world
        .eventually_explained(Duration::from_secs(60), "the recorder stores the interaction", || async {
            let mut conn = PgConnection::connect(&database_url()).await.map_err(|e| e.to_string())?;
            let query = format!("SELECT count(*) FROM \"{schema}\".interactions WHERE request_id = $1");
            let count: i64 = sqlx::query_scalar(AssertSqlSafe(query))
                .bind(request_id)
                .fetch_one(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            let _ = conn.close().await;
            if count == 1 { Ok(()) } else { Err(format!("{count} rows")) }
        })
        .await;
}

/// The logs of the pods of Deployment `name`, for a failure message.
pub(crate) async fn pod_logs(world: &World, name: &str) -> String {
    let pods: Api<Pod> = Api::namespaced(world.client.clone(), &world.ns);
    let mut out = String::new();
    let listed = pods.list(&ListParams::default()).await.map(|l| l.items).unwrap_or_default();
    for pod in listed.iter().filter(|p| p.metadata.name.as_deref().is_some_and(|n| n.starts_with(name))) {
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let log = pods.logs(&pod_name, &Default::default()).await.unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        out.push_str(&format!(
            "--- {pod_name} {:?}\n{}\n",
            pod.status.as_ref().map(|s| &s.container_statuses),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    out
}
