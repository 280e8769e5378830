//! The Pod objects and Deployment status the simulator writes, shaped as the kubelet and the
//! deployment controller write them.

use serde_json::{Value, json};

use super::supervisor::RunStatus;

/// A simulated pod's identity.
pub(crate) struct PodIdentity<'a> {
    /// Namespace.
    pub(crate) namespace: &'a str,
    /// Pod name.
    pub(crate) name: &'a str,
    /// The owning Deployment.
    pub(crate) deployment: &'a Value,
    /// The pod-template hash.
    pub(crate) hash: &'a str,
    /// Which container of the template is the simulated one.
    pub(crate) runner_container: &'a str,
}

/// The Pod to create: the template, owned by the Deployment (there are no ReplicaSets).
pub(crate) fn pod_object(pod: &PodIdentity<'_>) -> Value {
    let template = &pod.deployment["spec"]["template"];
    let mut metadata = json!({
        "name": pod.name,
        "namespace": pod.namespace,
        "labels": template["metadata"]["labels"],
        "ownerReferences": [{
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": pod.deployment["metadata"]["name"],
            "uid": pod.deployment["metadata"]["uid"],
            "controller": true,
            "blockOwnerDeletion": true,
        }],
    });
    if !metadata["labels"].is_object() {
        metadata["labels"] = json!({});
    }
    metadata["labels"]["pod-template-hash"] = json!(pod.hash);
    if template["metadata"]["annotations"].is_object() {
        metadata["annotations"] = template["metadata"]["annotations"].clone();
    }
    let mut spec = template["spec"].clone();
    spec["nodeName"] = json!("devcluster");
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec})
}

/// The Pod's status from its runner container's state.
pub(crate) fn pod_status(pod: &PodIdentity<'_>, run: &RunStatus, start_time: &str) -> Value {
    let containers =
        pod.deployment["spec"]["template"]["spec"]["containers"].as_array().cloned().unwrap_or_default();
    let statuses: Vec<Value> = containers
        .iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap_or_default();
            if name == pod.runner_container {
                container_status(c, run)
            } else {
                // Containers other than the runner are not run; they are reported as running.
                json!({"name": name, "image": c["image"], "imageID": "", "ready": true, "restartCount": 0,
                       "started": true, "state": {"running": {"startedAt": start_time}}})
            }
        })
        .collect();
    let ready = run.ready;
    let started = run.running_since.is_some() || run.restart_count > 0;
    let condition = |type_: &str, status: bool| json!({"type": type_, "status": if status { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": start_time});
    json!({
        "phase": if started { "Running" } else { "Pending" },
        "conditions": [
            condition("PodReadyToStartContainers", true),
            condition("Initialized", true),
            condition("Ready", ready),
            condition("ContainersReady", ready),
            condition("PodScheduled", true),
        ],
        "hostIP": "127.0.0.1",
        "hostIPs": [{"ip": "127.0.0.1"}],
        "podIP": "127.0.0.1",
        "podIPs": [{"ip": "127.0.0.1"}],
        "startTime": start_time,
        "qosClass": "BestEffort",
        "containerStatuses": statuses,
    })
}

fn container_status(container: &Value, run: &RunStatus) -> Value {
    let state = match (&run.running_since, &run.waiting) {
        (Some(since), _) => json!({"running": {"startedAt": since}}),
        (None, Some(waiting)) => json!({"waiting": {"reason": waiting.reason, "message": waiting.message}}),
        (None, None) => json!({"waiting": {"reason": "ContainerCreating"}}),
    };
    let mut status = json!({
        "name": container["name"],
        "image": container["image"],
        "imageID": "",
        "ready": run.ready,
        "restartCount": run.restart_count,
        "started": run.running_since.is_some(),
        "state": state,
    });
    if let Some(last) = &run.last_terminated {
        status["lastState"] = json!({"terminated": {
            "exitCode": last.exit_code,
            "reason": if last.exit_code == 0 { "Completed" } else { "Error" },
            "startedAt": last.started_at,
            "finishedAt": last.finished_at,
        }});
    }
    status
}

/// Counts of a Deployment's pods.
pub(crate) struct PodCounts {
    /// All pods (any template).
    pub(crate) total: i64,
    /// Pods of the current template.
    pub(crate) updated: i64,
    /// Ready pods.
    pub(crate) ready: i64,
    /// Ready pods of the current template.
    pub(crate) updated_ready: i64,
}

/// The Deployment's status, keeping condition transition times that did not change.
pub(crate) fn deployment_status(deployment: &Value, counts: &PodCounts, hash: &str) -> Value {
    let desired = deployment["spec"]["replicas"].as_i64().unwrap_or(1);
    let name = deployment["metadata"]["name"].as_str().unwrap_or_default();
    let max_unavailable =
        max_unavailable(&deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], desired);
    let available = counts.ready >= desired - max_unavailable;
    let complete = counts.updated == desired && counts.updated_ready == desired && counts.total == desired;
    let now = crate::time::now();
    let previous = deployment["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let condition = |type_: &str, status: bool, reason: &str, message: String| {
        let status_text = if status { "True" } else { "False" };
        let old = previous.iter().find(|c| c["type"] == type_);
        let same = old.is_some_and(|c| c["status"] == status_text && c["reason"] == reason);
        let transition = match old {
            Some(c) if c["status"] == status_text => c["lastTransitionTime"].clone(),
            _ => json!(now),
        };
        let updated =
            if same { old.map(|c| c["lastUpdateTime"].clone()).unwrap_or(json!(now)) } else { json!(now) };
        json!({"type": type_, "status": status_text, "lastUpdateTime": updated, "lastTransitionTime": transition, "reason": reason, "message": message})
    };
    let replica_set = format!("{name}-{hash}");
    let mut status = json!({
        "observedGeneration": deployment["metadata"]["generation"],
        "replicas": counts.total,
        "updatedReplicas": counts.updated,
        "readyReplicas": counts.ready,
        "availableReplicas": counts.ready,
        "conditions": [
            if available {
                condition("Available", true, "MinimumReplicasAvailable", "Deployment has minimum availability.".into())
            } else {
                condition("Available", false, "MinimumReplicasUnavailable", "Deployment does not have minimum availability.".into())
            },
            if complete {
                condition("Progressing", true, "NewReplicaSetAvailable", format!("ReplicaSet \"{replica_set}\" has successfully progressed."))
            } else {
                condition("Progressing", true, "ReplicaSetUpdated", format!("ReplicaSet \"{replica_set}\" is progressing."))
            },
        ],
    });
    // The deployment controller omits zero counts (omitempty).
    for field in ["replicas", "updatedReplicas", "readyReplicas", "availableReplicas"] {
        if status[field] == json!(0) {
            status.as_object_mut().map(|s| s.remove(field));
        }
    }
    if counts.total > counts.ready {
        status["unavailableReplicas"] = json!(counts.total - counts.ready);
    }
    status
}

/// `maxUnavailable` (an int or a percentage, rounded down; default 25%) of `desired`.
fn max_unavailable(value: &Value, desired: i64) -> i64 {
    match value {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => {
            let percent: i64 = s.trim_end_matches('%').parse().unwrap_or(25);
            desired * percent / 100
        }
        _ => desired * 25 / 100,
    }
}
