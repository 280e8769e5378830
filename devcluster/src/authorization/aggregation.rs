//! ClusterRole aggregation (`aggregationRule.clusterRoleSelectors`): an aggregated ClusterRole's
//! rules are those of every ClusterRole a selector matches. kube-apiserver's aggregation
//! controller writes that union into the role; devcluster computes it when the role is
//! consulted, so it is always current (one level: a matched role that aggregates in turn gives
//! the rules written in it).

use serde_json::{Map, Value};

/// The rules `role` grants, given every ClusterRole `all`.
pub(crate) fn cluster_role_rules<'a>(role: &Value, all: impl Iterator<Item = &'a Value>) -> Vec<Value> {
    let Some(selectors) = role["aggregationRule"]["clusterRoleSelectors"].as_array() else {
        return role["rules"].as_array().cloned().unwrap_or_default();
    };
    let mut rules: Vec<Value> = Vec::new();
    let empty = Map::new();
    for other in all.filter(|other| other["metadata"]["name"] != role["metadata"]["name"]) {
        let labels = other["metadata"]["labels"].as_object().unwrap_or(&empty);
        if !selectors.iter().any(|s| selector_matches(s, labels)) {
            continue;
        }
        for rule in other["rules"].as_array().into_iter().flatten() {
            if !rules.contains(rule) {
                rules.push(rule.clone());
            }
        }
    }
    rules
}

/// `metav1.LabelSelectorAsSelector(...).Matches`: every matchLabels pair and every expression;
/// an empty selector matches nothing here, as the aggregation controller skips it.
fn selector_matches(selector: &Value, labels: &Map<String, Value>) -> bool {
    let pairs = selector["matchLabels"].as_object();
    let expressions = selector["matchExpressions"].as_array();
    if pairs.is_none_or(Map::is_empty) && expressions.is_none_or(Vec::is_empty) {
        return false;
    }
    let pairs_match = pairs.into_iter().flatten().all(|(k, v)| labels.get(k) == Some(v));
    pairs_match
        && expressions.into_iter().flatten().all(|e| {
            let key = e["key"].as_str().unwrap_or_default();
            let values: Vec<&Value> = e["values"].as_array().into_iter().flatten().collect();
            let value = labels.get(key);
            match e["operator"].as_str().unwrap_or_default() {
                "In" => value.is_some_and(|v| values.contains(&v)),
                "NotIn" => value.is_none_or(|v| !values.contains(&v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn role(name: &str, labels: Value, rules: Value) -> Value {
        json!({"metadata": {"name": name, "labels": labels}, "rules": rules})
    }

    #[test]
    fn an_aggregated_role_has_the_rules_of_the_roles_its_selectors_match() {
        let read = json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]});
        let write = json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]});
        let roles = [
            role("reader", json!({"aggregate-to-view": "true"}), json!([read])),
            role("writer", json!({"aggregate-to-edit": "true", "tier": "b"}), json!([write, read])),
            role("other", json!({}), json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])),
        ];
        let view = json!({"metadata": {"name": "view"}, "rules": [{"stale": true}],
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"aggregate-to-view": "true"}}]}});
        assert_eq!(cluster_role_rules(&view, roles.iter()), vec![read.clone()]);
        let edit = json!({"metadata": {"name": "edit"}, "aggregationRule": {"clusterRoleSelectors": [
            {"matchLabels": {"aggregate-to-view": "true"}},
            {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]},
        ]}});
        assert_eq!(cluster_role_rules(&edit, roles.iter()), vec![read.clone(), write]);
        let nothing = json!({"metadata": {"name": "n"}, "aggregationRule": {"clusterRoleSelectors": [{}]}});
        assert!(cluster_role_rules(&nothing, roles.iter()).is_empty());
        assert_eq!(cluster_role_rules(&roles[0], roles.iter()), vec![read]);
    }
}
