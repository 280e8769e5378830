//! The defaults kube-apiserver fills into a pod spec (of a Pod, or a Deployment's template), as
//! core/v1's `SetDefaults_*` functions do, so code reading objects back sees what a cluster shows.

use serde_json::{Value, json};

/// Default a pod spec: its own fields, its containers and probes, and its volumes.
pub(crate) fn default_pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    for (field, value) in [
        ("dnsPolicy", json!("ClusterFirst")),
        ("restartPolicy", json!("Always")),
        ("terminationGracePeriodSeconds", json!(30)),
        ("schedulerName", json!("default-scheduler")),
        ("securityContext", json!({})),
    ] {
        set_if_absent(spec, field, value);
    }
    for list in ["initContainers", "containers"] {
        for container in items_mut(spec, list) {
            default_container(container);
        }
    }
    for volume in items_mut(spec, "volumes") {
        default_volume(volume);
    }
}

fn default_container(container: &mut Value) {
    let image = container["image"].as_str().unwrap_or_default();
    set_if_absent(container, "imagePullPolicy", json!(pull_policy(image)));
    set_if_absent(container, "terminationMessagePath", json!("/dev/termination-log"));
    set_if_absent(container, "terminationMessagePolicy", json!("File"));
    set_if_absent(container, "resources", json!({}));
    for port in items_mut(container, "ports") {
        set_if_absent(port, "protocol", json!("TCP"));
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if container[probe].is_object() {
            default_probe(&mut container[probe]);
        }
    }
    for env in items_mut(container, "env") {
        if env["valueFrom"]["fieldRef"].is_object() {
            set_if_absent(&mut env["valueFrom"]["fieldRef"], "apiVersion", json!("v1"));
        }
    }
}

/// `Always` for `:latest` or no tag, else `IfNotPresent` (a digest counts as a tag).
fn pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) if tag != "latest" => "IfNotPresent",
        _ => "Always",
    }
}

fn default_probe(probe: &mut Value) {
    for (field, value) in
        [("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1), ("failureThreshold", 3)]
    {
        set_if_absent(probe, field, json!(value));
    }
    if probe["httpGet"].is_object() {
        set_if_absent(&mut probe["httpGet"], "scheme", json!("HTTP"));
    }
}

/// Secret, ConfigMap, projected and downward API volumes get mode 0644 (420).
fn default_volume(volume: &mut Value) {
    for source in ["secret", "configMap", "projected", "downwardAPI"] {
        if volume[source].is_object() {
            set_if_absent(&mut volume[source], "defaultMode", json!(420));
        }
    }
    let downward = volume.get_mut("downwardAPI");
    for item in downward.map(|d| items_mut(d, "items")).into_iter().flatten() {
        if item["fieldRef"].is_object() {
            set_if_absent(&mut item["fieldRef"], "apiVersion", json!("v1"));
        }
    }
}

/// The items of list `field` of `object`, none if absent (without adding the field).
fn items_mut<'v>(object: &'v mut Value, field: &str) -> impl Iterator<Item = &'v mut Value> {
    object.get_mut(field).and_then(Value::as_array_mut).into_iter().flatten()
}

fn set_if_absent(object: &mut Value, field: &str, value: Value) {
    if object.is_object() && object[field].is_null() {
        object[field] = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_spec_gets_the_apiservers_defaults() {
        let mut spec = json!({
            "containers": [{"name": "a", "image": "nginx", "ports": [{"containerPort": 80}],
                "readinessProbe": {"httpGet": {"path": "/readyz", "port": 80}},
                "env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]},
                {"name": "b", "image": "r.io/b:1.2"}],
            "volumes": [{"name": "s", "secret": {"secretName": "s"}}, {"name": "e", "emptyDir": {}}],
        });
        default_pod_spec(&mut spec);
        let a = &spec["containers"][0];
        assert_eq!(
            (&a["imagePullPolicy"], &spec["containers"][1]["imagePullPolicy"]),
            (&json!("Always"), &json!("IfNotPresent"))
        );
        assert_eq!(a["readinessProbe"]["httpGet"]["scheme"], "HTTP");
        assert_eq!(a["readinessProbe"]["timeoutSeconds"], 1);
        assert_eq!(a["ports"][0]["protocol"], "TCP");
        assert_eq!(a["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
        assert_eq!(spec["volumes"][0]["secret"]["defaultMode"], 420);
        assert_eq!(spec["volumes"][1], json!({"name": "e", "emptyDir": {}}));
        assert_eq!((&spec["dnsPolicy"], &spec["securityContext"]), (&json!("ClusterFirst"), &json!({})));
    }
}
