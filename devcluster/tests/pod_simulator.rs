//! The pod simulator runs the runner binary (here the `fake-runner` test binary) for each
//! replica of a runner Deployment, as the kubelet would run the pod template's container.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use agentry_devcluster::{DevCluster, DevClusterOptions};
use common::{Kubectl, eventually};
use futures::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::api::{Api, DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use serde_json::json;

const DEADLINE: Duration = Duration::from_secs(30);

fn deployment(replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": "agent"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {
                "metadata": {"labels": {"app": "agent"}, "annotations": {"agentry.dev/config-hash": "1"}},
                "spec": {
                    "containers": [{
                        "name": "runner",
                        "image": "registry.example/agentry/agentry-runner:dev",
                        "args": ["--config", "/etc/agentry/config.json", "--name=$(POD_NAME)"],
                        "env": [
                            {"name": "LITERAL", "value": "plain"},
                            {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "api-key"}}},
                            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}},
                            {"name": "ABSENT", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "nope", "optional": true}}},
                            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                            {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                            {"name": "AGENTRY_CONFIG", "value": "/etc/agentry/config.json"},
                        ],
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}},
                        "volumeMounts": [{"name": "config", "mountPath": "/etc/agentry", "readOnly": true}],
                    }],
                    "volumes": [{"name": "config", "configMap": {"name": "settings", "items": [{"key": "config.json", "path": "config.json"}]}}],
                },
            },
        },
    }))
    .expect("deployment")
}

fn alive(pid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// The pid and environment the fake runner printed at start, from the pod's log.
async fn runner_facts(pods: &Api<Pod>, pod: &str) -> Option<(i32, BTreeMap<String, String>, String)> {
    let log = pods.logs(pod, &Default::default()).await.ok()?;
    let pid = log.lines().find_map(|l| l.strip_prefix("pid "))?.trim().parse().ok()?;
    let env = log
        .lines()
        .filter_map(|l| l.strip_prefix("env ")?.split_once('='))
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    let args = log.lines().find_map(|l| l.strip_prefix("fake-runner starting with args "))?.to_owned();
    Some((pid, env, args))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_runs_restarts_scales_and_stops_runner_pods() {
    let options = DevClusterOptions {
        runner_binary: Some(env!("CARGO_BIN_EXE_fake-runner").into()),
        ..Default::default()
    };
    let cluster = DevCluster::start_with(options).await.expect("devcluster starts");
    let client = cluster.client();
    create_secret_and_settings(&client).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    deployments.create(&PostParams::default(), &deployment(3)).await.expect("deployment");

    let listed = three_ready_pods(&deployments, &pods).await;
    let pod_name = listed[0].metadata.name.clone().unwrap_or_default();
    let pid = container_sees_its_config(&pods, &pod_name).await;
    kubectl_sees_the_pods(&cluster, &pod_name).await;
    log_follows(&pods, &pod_name).await;
    killed_process_restarts(&cluster, &pods, &pod_name, pid).await;
    let pids = scale_down_to_one(&deployments, &pods, &listed).await;
    template_change_rolls_the_pod(&deployments, &pods).await;
    deleting_stops_everything(&deployments, &pods, &pids).await;
    cluster.shutdown().await;
}

/// The Secret and ConfigMap the Deployment's container reads.
async fn create_secret_and_settings(client: &kube::Client) {
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": "creds"}, "stringData": {"api-key": "sk-test"}}))
            .expect("secret");
    Api::<Secret>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret");
    let settings: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "settings"}, "data": {"mode": "fast", "config.json": "{\"agent\": \"a\"}"}})).expect("cm");
    Api::<ConfigMap>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &settings)
        .await
        .expect("cm");
}

/// Three processes; the Deployment reports them ready and available, Available=True; the pods
/// are owned by it, running and ready.
async fn three_ready_pods(deployments: &Api<Deployment>, pods: &Api<Pod>) -> Vec<Pod> {
    eventually("3 ready replicas", DEADLINE, || async {
        let status = deployments.get("agent").await.ok()?.status?;
        let available = status
            .conditions
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Available" && c.status == "True");
        (status.ready_replicas == Some(3)
            && status.available_replicas == Some(3)
            && status.updated_replicas == Some(3)
            && available)
            .then_some(())
    })
    .await;
    let listed = pods.list(&ListParams::default().labels("app=agent")).await.expect("pods");
    assert_eq!(listed.items.len(), 3);
    for pod in &listed.items {
        let owner = pod.metadata.owner_references.clone().unwrap_or_default();
        assert_eq!(owner.first().map(|o| o.kind.as_str()), Some("Deployment"));
        let status = pod.status.clone().expect("pod status");
        assert_eq!(status.phase.as_deref(), Some("Running"));
        assert!(
            status.conditions.unwrap_or_default().iter().any(|c| c.type_ == "Ready" && c.status == "True")
        );
    }
    listed.items
}

/// The container's env and args as the kubelet resolves them; mount paths prefixed by the pod
/// root. Returns the process id.
async fn container_sees_its_config(pods: &Api<Pod>, pod_name: &str) -> i32 {
    let (pid, env, args) = eventually("the runner's log", DEADLINE, || runner_facts(pods, pod_name)).await;
    assert_eq!(env["LITERAL"], "plain");
    assert_eq!(env["API_KEY"], "sk-test");
    assert_eq!(env["MODE"], "fast");
    assert!(!env.contains_key("ABSENT"), "an optional missing key sets no variable");
    assert_eq!(env["POD_NAME"], pod_name);
    assert_eq!(env["POD_NAMESPACE"], "default");
    assert_eq!(env["POD_IP"], "127.0.0.1");
    assert!(env["AGENTRY_HTTP_LISTEN"].starts_with("127.0.0.1:"));
    let config_path = &env["AGENTRY_CONFIG"];
    assert!(config_path.ends_with("/etc/agentry/config.json") && config_path != "/etc/agentry/config.json");
    assert_eq!(std::fs::read_to_string(config_path).expect("mounted file"), "{\"agent\": \"a\"}");
    assert!(args.contains(&format!("--name={pod_name}")) && args.contains(config_path.as_str()), "{args}");
    pid
}

/// kubectl logs and kubectl get pods work on the simulated pods.
async fn kubectl_sees_the_pods(cluster: &DevCluster, pod_name: &str) {
    let kubectl = Kubectl::new(cluster.kubeconfig_path());
    let logs = kubectl.ok(&["logs", pod_name]).await;
    assert!(logs.contains("fake-runner starting"), "{logs}");
    let table = kubectl.ok(&["get", "pods"]).await;
    assert!(
        table
            .lines()
            .filter(|l| l.starts_with("agent-") && l.contains("1/1") && l.contains("Running"))
            .count()
            == 3,
        "{table}"
    );
}

/// `follow=true` streams the log (kubectl logs -f).
async fn log_follows(pods: &Api<Pod>, pod_name: &str) {
    let params = LogParams { follow: true, ..LogParams::default() };
    let mut lines = pods.log_stream(pod_name, &params).await.expect("log stream").lines();
    let first = tokio::time::timeout(DEADLINE, lines.next()).await.expect("a line in time");
    assert!(first.and_then(Result::ok).is_some_and(|l| l.contains("fake-runner starting")));
}

/// A process killed through the test hook, as a crash would, is restarted in the same pod:
/// restartCount goes up, the last state says SIGKILL, the pod becomes ready again.
async fn killed_process_restarts(cluster: &DevCluster, pods: &Api<Pod>, pod_name: &str, pid: i32) {
    assert_eq!(cluster.kill_pod_process("default", "no-such-pod"), None);
    let killed = cluster.kill_pod_process("default", pod_name).expect("the pod has a process");
    assert_eq!(i32::try_from(killed).ok(), Some(pid), "the hook kills the pod's own process");
    eventually("the killed process is gone", DEADLINE, || async { (!alive(pid)).then_some(()) }).await;
    eventually("the restart", DEADLINE, || async {
        let pod = pods.get(pod_name).await.ok()?;
        let status = pod.status?.container_statuses?.into_iter().next()?;
        let last = status.last_state?.terminated?;
        (status.restart_count >= 1 && status.ready && last.exit_code == 137).then_some(())
    })
    .await;
}

/// Scale down: two pods and their processes go. Returns every pod's current process id.
async fn scale_down_to_one(
    deployments: &Api<Deployment>,
    pods: &Api<Pod>,
    listed: &[Pod],
) -> Vec<(String, i32)> {
    let pids: Vec<(String, i32)> = futures::future::join_all(listed.iter().map(|p| {
        let name = p.metadata.name.clone().unwrap_or_default();
        let pods = pods.clone();
        async move { (name.clone(), eventually("log", DEADLINE, || runner_facts(&pods, &name)).await.0) }
    }))
    .await;
    deployments
        .patch("agent", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 1}})))
        .await
        .expect("scaled");
    eventually("scale down to 1", DEADLINE, || async {
        let running = pids.iter().filter(|(_, pid)| alive(*pid)).count();
        let items = pods.list(&ListParams::default().labels("app=agent")).await.ok()?.items;
        (running == 1 && items.len() == 1 && deployments.get("agent").await.ok()?.status?.replicas == Some(1))
            .then_some(())
    })
    .await;
    pids
}

/// A template change (e.g. a new config hash) rolls the pod.
async fn template_change_rolls_the_pod(deployments: &Api<Deployment>, pods: &Api<Pod>) {
    let survivor = pods.list(&ListParams::default()).await.expect("pods").items[0]
        .metadata
        .name
        .clone()
        .unwrap_or_default();
    let roll = json!({"spec": {"template": {"metadata": {"annotations": {"agentry.dev/config-hash": "2"}}}}});
    deployments.patch("agent", &PatchParams::default(), &Patch::Merge(roll)).await.expect("rolled");
    eventually("the rolled pod", DEADLINE, || async {
        let items = pods.list(&ListParams::default()).await.ok()?.items;
        let names: Vec<String> = items.iter().filter_map(|p| p.metadata.name.clone()).collect();
        let status = deployments.get("agent").await.ok()?.status?;
        (names.len() == 1
            && names[0] != survivor
            && status.ready_replicas == Some(1)
            && status.observed_generation == Some(3))
        .then_some(())
    })
    .await;
}

/// Deleting the Deployment stops every process and its pods are collected.
async fn deleting_stops_everything(deployments: &Api<Deployment>, pods: &Api<Pod>, pids: &[(String, i32)]) {
    let last = pods.list(&ListParams::default()).await.expect("pods").items[0]
        .metadata
        .name
        .clone()
        .unwrap_or_default();
    let (last_pid, _, _) = eventually("log", DEADLINE, || runner_facts(pods, &last)).await;
    deployments.delete("agent", &DeleteParams::default()).await.expect("deleted");
    eventually("everything stopped", DEADLINE, || async {
        let items = pods.list(&ListParams::default()).await.ok()?.items;
        (items.is_empty() && !alive(last_pid) && pids.iter().all(|(_, p)| !alive(*p))).then_some(())
    })
    .await;
}

/// A Deployment of the image `image` running as ServiceAccount `account`.
fn deployment_of(name: &str, image: &str, account: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "serviceAccountName": account,
                    "containers": [{"name": "main", "image": image}],
                },
            },
        },
    }))
    .expect("deployment")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapped_images_run_their_binary_with_their_service_account() {
    let options = DevClusterOptions {
        image_binaries: vec![
            "agentry-operator=/nonexistent/first-match-wins".parse().expect("image binary"),
            format!("example/agentry-operator={}", env!("CARGO_BIN_EXE_fake-runner"))
                .parse()
                .expect("image binary"),
        ]
        .into_iter()
        .rev()
        .collect(),
        ..Default::default()
    };
    let cluster = DevCluster::start_with(options).await.expect("devcluster starts");
    let client = cluster.client();
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(client.clone(), "default");
    accounts
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "op"}})).expect("sa"),
        )
        .await
        .expect("service account");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mapped = deployment_of("op", "registry.example/example/agentry-operator:1.0", "op");
    let unmapped = deployment_of("other", "registry.example/example/nginx:1.0", "op");
    deployments.create(&PostParams::default(), &mapped).await.expect("deployment");
    deployments.create(&PostParams::default(), &unmapped).await.expect("deployment");

    let pod = eventually("the operator pod ready", DEADLINE, || async {
        let listed = pods.list(&ListParams::default().labels("app=op")).await.ok()?;
        let pod = listed.items.into_iter().next()?;
        let ready = pod
            .status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        ready.then_some(pod)
    })
    .await;
    let name = pod.metadata.name.clone().unwrap_or_default();
    let (_, env, _) = eventually("the process's log", DEADLINE, || runner_facts(&pods, &name)).await;
    // Its credentials: a kubeconfig in $HOME presenting a token that authenticates as the account.
    let home = std::path::PathBuf::from(&env["HOME"]);
    let kubeconfig =
        std::fs::read_to_string(home.join(".kube/config")).expect("kubeconfig in the pod's HOME");
    assert!(kubeconfig.contains(cluster.url()) && kubeconfig.contains("namespace: default"), "{kubeconfig}");
    let token_file = home.join("var/run/secrets/kubernetes.io/serviceaccount/token");
    let token = std::fs::read_to_string(token_file).expect("token file");
    assert!(kubeconfig.contains(&token));
    let review: k8s_openapi::api::authentication::v1::TokenReview = serde_json::from_value(json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}
    }))
    .expect("review");
    let reviewed = Api::<k8s_openapi::api::authentication::v1::TokenReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .expect("token review");
    let user = reviewed.status.and_then(|s| s.user).and_then(|u| u.username);
    assert_eq!(user.as_deref(), Some("system:serviceaccount:default:op"));

    // An image mapped to no binary is not simulated.
    let others = pods.list(&ListParams::default().labels("app=other")).await.expect("pods");
    assert!(others.items.is_empty(), "{:?}", others.items);
    cluster.shutdown().await;
}

#[test]
fn image_binaries_parse_from_suffix_equals_path() {
    let parsed: agentry_devcluster::ImageBinary = "agentry-recorder=/bin/rec".parse().expect("parses");
    assert_eq!(parsed.image_suffix, "agentry-recorder");
    assert_eq!(parsed.binary, std::path::PathBuf::from("/bin/rec"));
    for bad in ["agentry-recorder", "=/bin/rec", "agentry-recorder="] {
        let err = bad.parse::<agentry_devcluster::ImageBinary>().expect_err(bad);
        assert!(err.contains("IMAGE_SUFFIX=PATH"), "{err}");
    }
}
