//! The generated CRDs follow the rules the API server and `kubectl` hold them to.

use serde_json::Value;

/// Walks a schema and reports each node with neither a `type` nor a Kubernetes extension
/// standing in for one, and each free-form object, by path.
fn walk(node: &Value, path: &str, untyped: &mut Vec<String>, free_form: &mut Vec<String>) {
    let typed = node.get("type").is_some()
        || node.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
        || node.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if !typed {
        untyped.push(path.to_string());
    }
    if node.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        free_form.push(path.to_string());
    }
    for keyword in ["anyOf", "oneOf", "allOf", "not"] {
        // Structural schemas may use junctors only for value validation, never for types.
        if let Some(branches) = node.get(keyword).and_then(Value::as_array) {
            for branch in branches {
                assert!(
                    branch.get("type").is_none() && branch.get("properties").is_none(),
                    "{path}: {keyword} declares types, which a structural schema forbids"
                );
            }
        }
    }
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        for (name, child) in props {
            walk(child, &format!("{path}.{name}"), untyped, free_form);
        }
    }
    if let Some(items) = node.get("items") {
        walk(items, &format!("{path}[]"), untyped, free_form);
    }
    if let Some(values) = node.get("additionalProperties").filter(|v| v.is_object()) {
        walk(values, &format!("{path}{{}}"), untyped, free_form);
    }
}

#[test]
fn every_crd_has_a_structural_schema() {
    let mut free_form = Vec::new();
    for crd in agentry_crds::all_crds() {
        let kind = crd.spec.names.kind.clone();
        let version = &crd.spec.versions[0];
        let schema = serde_json::to_value(
            version.schema.as_ref().and_then(|s| s.open_api_v3_schema.as_ref()).expect("schema"),
        )
        .expect("schema serializes");
        let mut untyped = Vec::new();
        let mut kind_free_form = Vec::new();
        walk(&schema, &kind, &mut untyped, &mut kind_free_form);
        assert!(untyped.is_empty(), "untyped schema nodes: {untyped:?}");
        free_form.extend(kind_free_form);
    }
    free_form.sort();
    assert_eq!(
        free_form,
        ["Session.spec.context", "Tool.spec.inputSchema"],
        "only a Tool's inputSchema and a Session's context may be free-form"
    );
}

#[test]
fn every_crd_follows_the_api_conventions() {
    let crds = agentry_crds::all_crds();
    assert_eq!(crds.len(), 5);
    for crd in crds {
        let names = &crd.spec.names;
        let kind = &names.kind;
        assert_eq!(crd.spec.group, agentry_crds::GROUP);
        assert_eq!(crd.spec.scope, "Namespaced", "{kind}");
        assert_eq!(names.categories.as_deref(), Some(&["agentry".to_string()][..]), "{kind} category");
        assert!(names.short_names.as_ref().is_some_and(|s| !s.is_empty()), "{kind} has a short name");
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, agentry_crds::VERSION);
        assert!(version.served && version.storage);
        assert!(
            version.subresources.as_ref().and_then(|s| s.status.as_ref()).is_some(),
            "{kind} has a status subresource"
        );
        let columns: Vec<&str> = version
            .additional_printer_columns
            .iter()
            .flatten()
            .filter(|c| c.priority.unwrap_or(0) == 0)
            .map(|c| c.name.as_str())
            .collect();
        assert!(columns.contains(&"Age"), "{kind} shows Age: {columns:?}");
        assert!(
            columns.contains(&"Ready") || columns.contains(&"Phase"),
            "{kind} shows Ready or Phase: {columns:?}"
        );
        let schema = serde_json::to_value(&version.schema).expect("schema serializes");
        let status = &schema["openAPIV3Schema"]["properties"]["status"]["properties"];
        assert!(status["observedGeneration"].is_object(), "{kind} status has observedGeneration");
        let conditions = &status["conditions"];
        assert_eq!(conditions["x-kubernetes-list-type"], "map", "{kind} conditions merge by type");
        assert_eq!(conditions["x-kubernetes-list-map-keys"], serde_json::json!(["type"]));
        assert_eq!(
            conditions["items"]["properties"]["status"]["enum"],
            serde_json::json!(["True", "False", "Unknown"])
        );
    }
}

#[test]
fn agent_and_session_columns_tell_the_state_at_a_glance() {
    let columns = |kind: &str| -> Vec<String> {
        let crd = agentry_crds::all_crds().into_iter().find(|c| c.spec.names.kind == kind).expect("kind");
        crd.spec.versions[0].additional_printer_columns.iter().flatten().map(|c| c.name.clone()).collect()
    };
    let agent = columns("Agent");
    for want in ["Ready", "Phase", "Model", "Replicas", "Runners Ready", "Age"] {
        assert!(agent.iter().any(|c| c == want), "Agent lacks column {want}: {agent:?}");
    }
    let ready = crd_column("Agent", "Ready");
    assert_eq!(
        ready, ".status.conditions[?(@.type==\"Ready\")].status",
        "Agent's Ready column reads the condition"
    );
    let session = columns("Session");
    for want in ["Agent", "Phase", "Cost", "Age"] {
        assert!(session.iter().any(|c| c == want), "Session lacks column {want}: {session:?}");
    }
}

fn crd_column(kind: &str, name: &str) -> String {
    let crd = agentry_crds::all_crds().into_iter().find(|c| c.spec.names.kind == kind).expect("kind");
    let columns = crd.spec.versions[0].additional_printer_columns.clone().unwrap_or_default();
    columns.into_iter().find(|c| c.name == name).map(|c| c.json_path).unwrap_or_default()
}
