//! The RBAC authorizer (`plugin/pkg/auth/authorizer/rbac`): the rules of the roles bound to the
//! user, ClusterRoleBindings first, then the RoleBindings of the request's namespace; the first
//! rule that allows the request decides, and its binding is named in the reason. The bootstrap
//! policy (`bootstrap_policy`) is consulted as if stored.

use serde_json::Value;

use super::{Attributes, aggregation, bootstrap_policy};
use crate::resources::StorageKey;
use crate::storage::store::Store;

/// RBAC's answer: allowed with the reason naming the binding, or not, with the errors met
/// resolving bindings (a role that does not exist) as the reason.
pub(crate) enum Decision {
    /// `RBAC: allowed by …`.
    Allowed(String),
    /// No opinion; the reason is empty unless bindings could not be resolved.
    NoOpinion(String),
}

const GROUP: &str = "rbac.authorization.k8s.io";

fn key(plural: &str) -> StorageKey {
    StorageKey { group: GROUP.into(), plural: plural.into() }
}

/// Authorize `attrs` against the RBAC objects in `store`.
pub(crate) fn authorize(store: &Store, attrs: &Attributes) -> Decision {
    let mut errors: Vec<String> = Vec::new();
    let mut bindings: Vec<(&Value, String)> =
        cluster_role_bindings(store).into_iter().map(|b| (b, String::new())).collect();
    if !attrs.namespace.is_empty() {
        let namespace = attrs.namespace.as_str();
        bindings.extend(store.list(&key("rolebindings"), Some(namespace)).map(|b| (b, namespace.to_owned())));
    }
    for (binding, namespace) in bindings {
        let subjects = binding["subjects"].as_array().map(Vec::as_slice).unwrap_or_default();
        let Some(subject) = subjects.iter().find(|s| applies_to(attrs, s, &namespace)) else { continue };
        let rules = match role_rules(store, &binding["roleRef"], &namespace) {
            Ok(rules) => rules,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        if rules.iter().any(|rule| rule_allows(attrs, rule)) {
            return Decision::Allowed(format!("RBAC: allowed by {}", describe(binding, subject, &namespace)));
        }
    }
    // Listed once each, as apimachinery's aggregate error does.
    let mut seen = std::collections::HashSet::new();
    errors.retain(|e| seen.insert(e.clone()));
    let reason = match errors.len() {
        0 => String::new(),
        1 => format!("RBAC: {}", errors[0]),
        _ => format!("RBAC: [{}]", errors.join(", ")),
    };
    Decision::NoOpinion(reason)
}

/// The stored ClusterRoleBindings and the bootstrap ones not stored under the same name, in
/// name order as the apiserver's cache lists them.
fn cluster_role_bindings(store: &Store) -> Vec<&Value> {
    let stored: Vec<&Value> = store.list(&key("clusterrolebindings"), None).collect();
    let name = |b: &Value| b["metadata"]["name"].as_str().unwrap_or_default().to_owned();
    let mut all: Vec<&Value> = bootstrap_policy::cluster_role_bindings()
        .iter()
        .filter(|b| !stored.iter().any(|s| name(s) == name(b)))
        .chain(stored.iter().copied())
        .collect();
    all.sort_by_key(|b| name(b));
    all
}

/// The rules of the role `role_ref` names: a Role in the binding's namespace, or a ClusterRole.
fn role_rules(store: &Store, role_ref: &Value, namespace: &str) -> Result<Vec<Value>, String> {
    let name = role_ref["name"].as_str().unwrap_or_default();
    match role_ref["kind"].as_str().unwrap_or_default() {
        "Role" => {
            let role = store.get(&key("roles"), namespace, name).ok_or_else(|| not_found("role", name))?;
            Ok(role["rules"].as_array().cloned().unwrap_or_default())
        }
        "ClusterRole" => {
            let role = store
                .get(&key("clusterroles"), "", name)
                .or_else(|| bootstrap_policy::cluster_role(name))
                .ok_or_else(|| not_found("clusterrole", name))?;
            Ok(aggregation::cluster_role_rules(role, store.list(&key("clusterroles"), None)))
        }
        other => Err(format!("unsupported role reference kind: {}", Value::String(other.into()))),
    }
}

/// The NotFound of an RBAC lister: `role.rbac.authorization.k8s.io "x" not found`.
fn not_found(resource: &str, name: &str) -> String {
    format!("{resource}.{GROUP} \"{name}\" not found")
}

/// `appliesToUser`: a User by name, a Group by membership, a ServiceAccount by its username
/// (its namespace defaulting to the RoleBinding's).
fn applies_to(attrs: &Attributes, subject: &Value, binding_namespace: &str) -> bool {
    let name = subject["name"].as_str().unwrap_or_default();
    match subject["kind"].as_str().unwrap_or_default() {
        "User" => attrs.user == name,
        "Group" => attrs.groups.iter().any(|g| g == name),
        "ServiceAccount" => {
            let namespace =
                subject["namespace"].as_str().filter(|n| !n.is_empty()).unwrap_or(binding_namespace);
            !namespace.is_empty() && attrs.user == format!("system:serviceaccount:{namespace}:{name}")
        }
        _ => false,
    }
}

/// `RuleAllows`: verbs, API groups, resources (`resource/subresource`, `*`, `*/subresource`) and
/// resource names for resource requests; verbs and URL paths (`*` suffix) for the others.
fn rule_allows(attrs: &Attributes, rule: &Value) -> bool {
    let list = |field: &str| -> Vec<&str> {
        rule[field].as_array().into_iter().flatten().filter_map(Value::as_str).collect()
    };
    let verb_ok = list("verbs").iter().any(|v| *v == "*" || *v == attrs.verb);
    if !attrs.resource_request {
        return verb_ok
            && list("nonResourceURLs").iter().any(|url| {
                *url == "*"
                    || *url == attrs.path
                    || url.strip_suffix('*').is_some_and(|prefix| attrs.path.starts_with(prefix))
            });
    }
    let combined = if attrs.subresource.is_empty() {
        attrs.resource.clone()
    } else {
        format!("{}/{}", attrs.resource, attrs.subresource)
    };
    let resource_ok = list("resources").iter().any(|r| {
        *r == "*"
            || *r == combined
            || (!attrs.subresource.is_empty() && r.strip_prefix("*/") == Some(attrs.subresource.as_str()))
    });
    let names = list("resourceNames");
    verb_ok
        && list("apiGroups").iter().any(|g| *g == "*" || *g == attrs.group)
        && resource_ok
        && (names.is_empty() || names.contains(&attrs.name.as_str()))
}

/// The describers of `VisitRulesFor`: `RoleBinding "x/ns" of Role "y" to User "z"`,
/// `ClusterRoleBinding "x" of ClusterRole "y" to Group "g"`.
fn describe(binding: &Value, subject: &Value, namespace: &str) -> String {
    let quoted = |s: &str| Value::String(s.to_owned()).to_string();
    let binding_name = binding["metadata"]["name"].as_str().unwrap_or_default();
    let role_kind = binding["roleRef"]["kind"].as_str().unwrap_or_default();
    let role_name = binding["roleRef"]["name"].as_str().unwrap_or_default();
    let kind = subject["kind"].as_str().unwrap_or_default();
    let name = subject["name"].as_str().unwrap_or_default();
    let subject = if kind == "ServiceAccount" {
        let sa_namespace = subject["namespace"].as_str().filter(|n| !n.is_empty()).unwrap_or(namespace);
        format!("{kind} {}", quoted(&format!("{name}/{sa_namespace}")))
    } else {
        format!("{kind} {}", quoted(name))
    };
    let role = format!("{role_kind} {}", quoted(role_name));
    if namespace.is_empty() {
        format!("ClusterRoleBinding {} of {role} to {subject}", quoted(binding_name))
    } else {
        format!("RoleBinding {} of {role} to {subject}", quoted(&format!("{binding_name}/{namespace}")))
    }
}
