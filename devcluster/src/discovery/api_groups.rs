//! Discovery documents (`/api`, `/apis`, `/apis/<g>`, `/api/v1`, `/apis/<g>/<v>`), the
//! unaggregated form: kubectl and client-go ask for aggregated discovery with a plain JSON
//! fallback in the same `Accept` header, and use the legacy documents when answered with them;
//! kube-rs uses only these.

use serde_json::{Value, json};

use crate::resources::{Registry, ResourceDesc};

/// `/api`.
pub(crate) fn core_versions(address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    })
}

/// `/apis`.
pub(crate) fn groups(registry: &Registry) -> Value {
    let groups: Vec<Value> = registry
        .group_versions()
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, versions)| group_json(&g, &versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`.
pub(crate) fn group(registry: &Registry, group: &str) -> Option<Value> {
    let (g, versions) = registry.group_versions().into_iter().find(|(g, _)| g == group && !g.is_empty())?;
    let mut doc = group_json(&g, &versions);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

fn group_json(group: &str, versions: &[String]) -> Value {
    let gv = |v: &String| json!({"groupVersion": format!("{group}/{v}"), "version": v});
    json!({
        "name": group,
        "versions": versions.iter().map(gv).collect::<Vec<_>>(),
        "preferredVersion": versions.first().map(gv),
    })
}

/// `/api/v1` or `/apis/<group>/<version>`.
pub(crate) fn resources(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let descs: Vec<&std::sync::Arc<ResourceDesc>> =
        registry.all().filter(|d| d.group == group && d.version == version).collect();
    if descs.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for desc in descs {
        resources.push(resource_json(desc));
        if desc.status_subresource {
            resources.push(subresource_json(desc, "status", &["get", "patch", "update"]));
        }
        if desc.scale.is_some() {
            let mut scale = subresource_json(desc, "scale", &["get", "patch", "update"]);
            scale["group"] = json!("autoscaling");
            scale["version"] = json!("v1");
            scale["kind"] = json!("Scale");
            resources.push(scale);
        }
        if desc.group.is_empty() && desc.kind == "Pod" {
            resources.push(subresource_json(desc, "log", &["get"]));
        }
        if desc.group.is_empty() && desc.kind == "ServiceAccount" {
            let mut token = subresource_json(desc, "token", &["create"]);
            token["group"] = json!("authentication.k8s.io");
            token["version"] = json!("v1");
            token["kind"] = json!("TokenRequest");
            resources.push(token);
        }
        if desc.group.is_empty() && desc.kind == "Service" {
            let verbs = ["create", "delete", "get", "patch", "update"];
            resources.push(subresource_json(desc, "proxy", &verbs));
        }
    }
    let group_version = if group.is_empty() { version.to_owned() } else { format!("{group}/{version}") };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}),
    )
}

fn resource_json(desc: &ResourceDesc) -> Value {
    let verbs: &[&str] = if desc.create_only {
        &["create"]
    } else {
        &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
    };
    let mut doc = json!({
        "name": desc.plural,
        "singularName": desc.singular,
        "namespaced": desc.namespaced,
        "kind": desc.kind,
        "verbs": verbs,
    });
    if !desc.short_names.is_empty() {
        doc["shortNames"] = json!(desc.short_names);
    }
    if !desc.categories.is_empty() {
        doc["categories"] = json!(desc.categories);
    }
    doc
}

fn subresource_json(desc: &ResourceDesc, sub: &str, verbs: &[&str]) -> Value {
    json!({
        "name": format!("{}/{sub}", desc.plural),
        "singularName": "",
        "namespaced": desc.namespaced,
        "kind": desc.kind,
        "verbs": verbs,
    })
}
