//! What the kubelet would give a container, resolved from the pod template and the cluster:
//! args with `$(VAR)` expanded, env (`envFrom`, literal values, `valueFrom` secretKeyRef /
//! configMapKeyRef / fieldRef, `optional` honoured) and the files of ConfigMap, Secret and
//! emptyDir volumes, placed under the pod's root directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::base64;
use crate::resources::StorageKey;
use crate::storage::cluster_state::ClusterState;

/// The pod a container belongs to.
pub(crate) struct PodContext<'a> {
    /// Namespace.
    pub(crate) namespace: &'a str,
    /// Pod name.
    pub(crate) name: &'a str,
    /// Pod uid.
    pub(crate) uid: &'a str,
    /// The pod template (metadata and spec).
    pub(crate) template: &'a Value,
    /// The pod's root directory; mount paths are created below it.
    pub(crate) root: &'a Path,
}

/// A container ready to start.
#[derive(Debug, Default)]
pub(crate) struct ContainerConfig {
    /// Arguments.
    pub(crate) args: Vec<String>,
    /// Environment, in definition order.
    pub(crate) env: Vec<(String, String)>,
    /// Files to write: absolute path (under the pod root) and contents.
    pub(crate) files: Vec<(PathBuf, Vec<u8>)>,
    /// Directories to create (emptyDir volumes, mount points).
    pub(crate) dirs: Vec<PathBuf>,
}

/// Why a container cannot start yet, as the kubelet reports it in `state.waiting`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Waiting {
    /// `CreateContainerConfigError` (env) or `ContainerCreating` (volumes).
    pub(crate) reason: String,
    /// What is missing, e.g. `secret "x" not found`.
    pub(crate) message: String,
}

/// Resolve `container` of the pod.
pub(crate) fn resolve(
    state: &ClusterState,
    pod: &PodContext<'_>,
    container: &Value,
) -> Result<ContainerConfig, Waiting> {
    let env = resolve_env(state, pod, container)?;
    let mut config = ContainerConfig::default();
    let mounts = resolve_mounts(state, pod, container, &mut config)?;
    config.env = env
        .into_iter()
        .map(|(k, v)| {
            let v = rewrite_mount_paths(&v, &mounts, pod.root);
            (k, v)
        })
        .collect();
    config.args = container["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|a| rewrite_mount_paths(&expand(a, &config.env), &mounts, pod.root))
        .collect();
    Ok(config)
}

/// Set `key` to `value`, a later definition replacing an earlier one.
fn set_env(env: &mut Vec<(String, String)>, key: String, value: String) {
    env.retain(|(k, _)| *k != key);
    env.push((key, value));
}

fn env_error(message: String) -> Waiting {
    Waiting { reason: "CreateContainerConfigError".into(), message }
}

/// The environment: `envFrom` sources first, then `env` entries in order.
fn resolve_env(
    state: &ClusterState,
    pod: &PodContext<'_>,
    container: &Value,
) -> Result<Vec<(String, String)>, Waiting> {
    let mut env: Vec<(String, String)> = Vec::new();
    for source in container["envFrom"].as_array().into_iter().flatten() {
        let prefix = source["prefix"].as_str().unwrap_or_default();
        let (kind, reference) = if source["secretRef"].is_object() {
            ("secrets", &source["secretRef"])
        } else {
            ("configmaps", &source["configMapRef"])
        };
        let name = reference["name"].as_str().unwrap_or_default();
        match data_of(state, pod.namespace, kind, name) {
            Some(data) => {
                for (k, v) in data {
                    set_env(&mut env, format!("{prefix}{k}"), String::from_utf8_lossy(&v).into_owned());
                }
            }
            None if reference["optional"].as_bool() == Some(true) => {}
            None => return Err(env_error(format!("{} \"{name}\" not found", singular(kind)))),
        }
    }
    for var in container["env"].as_array().into_iter().flatten() {
        let name = var["name"].as_str().unwrap_or_default().to_owned();
        if let Some(value) = var["value"].as_str() {
            let expanded = expand(value, &env);
            set_env(&mut env, name, expanded);
            continue;
        }
        if let Some(value) = value_from(state, pod, &var["valueFrom"])? {
            set_env(&mut env, name, value);
        }
    }
    Ok(env)
}

/// An `env[].valueFrom`: a field of the pod, or a key of a Secret or ConfigMap (`None` when an
/// optional source or key is missing).
fn value_from(state: &ClusterState, pod: &PodContext<'_>, from: &Value) -> Result<Option<String>, Waiting> {
    if from["fieldRef"].is_object() {
        return Ok(Some(field_ref(pod, from["fieldRef"]["fieldPath"].as_str().unwrap_or_default())));
    }
    let (kind, reference) = if from["secretKeyRef"].is_object() {
        ("secrets", &from["secretKeyRef"])
    } else if from["configMapKeyRef"].is_object() {
        ("configmaps", &from["configMapKeyRef"])
    } else {
        // resourceFieldRef and the like: not simulated.
        return Ok(None);
    };
    let object_name = reference["name"].as_str().unwrap_or_default();
    let key = reference["key"].as_str().unwrap_or_default();
    let optional = reference["optional"].as_bool() == Some(true);
    match data_of(state, pod.namespace, kind, object_name) {
        Some(data) => match data.get(key) {
            Some(v) => Ok(Some(String::from_utf8_lossy(v).into_owned())),
            None if optional => Ok(None),
            None => {
                let kind_name = if kind == "secrets" { "Secret" } else { "ConfigMap" };
                Err(env_error(format!(
                    "couldn't find key {key} in {kind_name} {}/{object_name}",
                    pod.namespace
                )))
            }
        },
        None if optional => Ok(None),
        None => Err(env_error(format!("{} \"{object_name}\" not found", singular(kind)))),
    }
}

/// The files and directories of the container's volume mounts, added to `config`; returns the
/// mount paths (for rewriting values that name them).
fn resolve_mounts(
    state: &ClusterState,
    pod: &PodContext<'_>,
    container: &Value,
    config: &mut ContainerConfig,
) -> Result<Vec<String>, Waiting> {
    let spec = &pod.template["spec"];
    let mut mounts: Vec<String> = Vec::new();
    for mount in container["volumeMounts"].as_array().into_iter().flatten() {
        let mount_path = mount["mountPath"].as_str().unwrap_or_default();
        let target = under_root(pod.root, mount_path);
        mounts.push(mount_path.trim_end_matches('/').to_owned());
        let volume_name = mount["name"].as_str().unwrap_or_default();
        let Some(volume) = spec["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["name"].as_str() == Some(volume_name))
        else {
            return Err(Waiting {
                reason: "CreateContainerConfigError".into(),
                message: format!("cannot find volume \"{volume_name}\" to mount into container"),
            });
        };
        let files = volume_files(state, pod.namespace, volume)?;
        match mount["subPath"].as_str().filter(|s| !s.is_empty()) {
            Some(sub) => {
                if let Some((_, bytes)) = files.into_iter().find(|(p, _)| p == sub) {
                    config.files.push((target, bytes));
                }
            }
            None => {
                config.dirs.push(target.clone());
                config.files.extend(files.into_iter().map(|(p, b)| (target.join(p), b)));
            }
        }
    }
    Ok(mounts)
}

fn singular(kind: &str) -> &'static str {
    if kind == "secrets" { "secret" } else { "configmap" }
}

/// The files of a volume (relative path → bytes); emptyDir has none.
fn volume_files(
    state: &ClusterState,
    namespace: &str,
    volume: &Value,
) -> Result<Vec<(String, Vec<u8>)>, Waiting> {
    let (kind, source) = if volume["configMap"].is_object() {
        ("configmaps", &volume["configMap"])
    } else if volume["secret"].is_object() {
        ("secrets", &volume["secret"])
    } else {
        return Ok(Vec::new());
    };
    let name = source["name"].as_str().or_else(|| source["secretName"].as_str()).unwrap_or_default();
    let Some(data) = data_of(state, namespace, kind, name) else {
        if source["optional"].as_bool() == Some(true) {
            return Ok(Vec::new());
        }
        return Err(Waiting {
            reason: "ContainerCreating".into(),
            message: format!(
                "MountVolume.SetUp failed for volume \"{}\" : {} \"{name}\" not found",
                volume["name"].as_str().unwrap_or_default(),
                singular(kind)
            ),
        });
    };
    match source["items"].as_array() {
        Some(items) => Ok(items
            .iter()
            .filter_map(|item| {
                let key = item["key"].as_str()?;
                Some((item["path"].as_str().unwrap_or(key).to_owned(), data.get(key)?.clone()))
            })
            .collect()),
        None => Ok(data.into_iter().collect()),
    }
}

/// The data of a ConfigMap (`data` and `binaryData`) or Secret (`data`, decoded), if it exists.
fn data_of(
    state: &ClusterState,
    namespace: &str,
    plural: &str,
    name: &str,
) -> Option<BTreeMap<String, Vec<u8>>> {
    let key = StorageKey { group: String::new(), plural: plural.into() };
    let object = state.store.get(&key, namespace, name)?;
    let mut data = BTreeMap::new();
    for (k, v) in object["data"].as_object().into_iter().flatten() {
        let text = v.as_str().unwrap_or_default();
        let bytes = if plural == "secrets" {
            base64::decode(text).unwrap_or_default()
        } else {
            text.as_bytes().to_vec()
        };
        data.insert(k.clone(), bytes);
    }
    for (k, v) in object["binaryData"].as_object().into_iter().flatten() {
        data.insert(k.clone(), base64::decode(v.as_str().unwrap_or_default()).unwrap_or_default());
    }
    Some(data)
}

/// `fieldRef` values as the kubelet gives them (the pod's IP is the loopback address).
fn field_ref(pod: &PodContext<'_>, path: &str) -> String {
    let meta = &pod.template["metadata"];
    let quoted = |prefix: &str| path.strip_prefix(prefix).map(|k| k.trim_end_matches("']").to_owned());
    if let Some(key) = quoted("metadata.labels['") {
        return meta["labels"][key].as_str().unwrap_or_default().to_owned();
    }
    if let Some(key) = quoted("metadata.annotations['") {
        return meta["annotations"][key].as_str().unwrap_or_default().to_owned();
    }
    match path {
        "metadata.name" => pod.name.to_owned(),
        "metadata.namespace" => pod.namespace.to_owned(),
        "metadata.uid" => pod.uid.to_owned(),
        "status.podIP" | "status.hostIP" => "127.0.0.1".to_owned(),
        "spec.nodeName" => "devcluster".to_owned(),
        "spec.serviceAccountName" => {
            pod.template["spec"]["serviceAccountName"].as_str().unwrap_or("default").to_owned()
        }
        _ => String::new(),
    }
}

/// `$(VAR)` references expanded from `env` (unknown ones kept, `$$` escapes), as the kubelet does.
pub(crate) fn expand(text: &str, env: &[(String, String)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
        {
            let name = &inner[..end];
            match env.iter().rev().find(|(k, _)| k == name) {
                Some((_, v)) => out.push_str(v),
                None => out.push_str(&format!("$({name})")),
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The one deviation from a kubelet: volumes are written below the pod's root directory, so a
/// value that names a mount path (`/etc/agentry/config.json`, or `--flag=/etc/agentry/...`) is
/// rewritten to the same path below the root.
pub(crate) fn rewrite_mount_paths(value: &str, mounts: &[String], root: &Path) -> String {
    let rewrite = |path: &str| -> Option<String> {
        mounts.iter().filter(|m| !m.is_empty()).find_map(|m| {
            let rest = path.strip_prefix(m.as_str())?;
            (rest.is_empty() || rest.starts_with('/'))
                .then(|| format!("{}{rest}", under_root(root, m).display()))
        })
    };
    if let Some(rewritten) = rewrite(value) {
        return rewritten;
    }
    if let Some((flag, path)) = value.split_once('=')
        && let Some(rewritten) = rewrite(path)
    {
        return format!("{flag}={rewritten}");
    }
    value.to_owned()
}

fn under_root(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_references_expand_as_the_kubelet_does() {
        let env = vec![("A".to_owned(), "1".to_owned())];
        assert_eq!(expand("x-$(A)-$(B)-$$(A)", &env), "x-1-$(B)-$(A)");
    }

    #[test]
    fn values_under_mount_paths_are_rewritten() {
        let mounts = vec!["/etc/agentry".to_owned()];
        let root = Path::new("/tmp/pod");
        assert_eq!(
            rewrite_mount_paths("/etc/agentry/config.json", &mounts, root),
            "/tmp/pod/etc/agentry/config.json"
        );
        assert_eq!(
            rewrite_mount_paths("--config=/etc/agentry/c", &mounts, root),
            "--config=/tmp/pod/etc/agentry/c"
        );
        assert_eq!(rewrite_mount_paths("/etc/agentryx", &mounts, root), "/etc/agentryx");
        assert_eq!(rewrite_mount_paths("plain", &mounts, root), "plain");
    }
}
