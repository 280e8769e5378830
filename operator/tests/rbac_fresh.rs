//! `config/rbac/role.yaml` is what `rbac.rs` generates; edit the code, then run rbacgen.

use agentry_operator::rbac::SAMPLE_SECRET_NAMESPACES;

#[test]
fn checked_in_rbac_matches_the_code() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let path = root.join("config/rbac/role.yaml");
    let on_disk = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let generated = agentry_operator::rbac::manifests_yaml("agentry-system", SAMPLE_SECRET_NAMESPACES)
        .expect("RBAC renders");
    assert!(
        on_disk == generated,
        "{} is stale; run `cargo run -p agentry-operator --bin rbacgen -- config/rbac/role.yaml`",
        path.display()
    );
}

/// Children go with their owner (garbage collection), so the operator deletes nothing itself
/// but Sessions whose `ttlSecondsAfterFinished` has passed, as Kubernetes' TTL controller does
/// for Jobs.
#[test]
fn the_operator_may_not_write_secrets_or_delete_anything_but_finished_sessions() {
    let role = agentry_operator::rbac::cluster_role();
    for rule in role.rules.unwrap_or_default() {
        let resources = rule.resources.unwrap_or_default();
        assert!(!rule.verbs.iter().any(|v| v == "*"), "{resources:?} grants {:?}", rule.verbs);
        if rule.verbs.iter().any(|v| v == "delete") {
            assert_eq!(resources, ["sessions"], "only Sessions may be deleted");
        }
        assert!(!resources.iter().any(|r| r == "secrets"), "the cluster-wide role reads no Secrets");
    }
}

/// Secrets are read (and the Agents' NATS credentials written) only in the namespaces listed: a
/// RoleBinding in each, no ClusterRoleBinding of the Secret reader.
#[test]
fn secrets_are_readable_only_in_the_listed_namespaces() {
    let manifests = agentry_operator::rbac::manifests("agentry-system", &["fleet", "team-b"]);
    let secret_bindings: Vec<(String, String)> = manifests
        .iter()
        .filter(|m| m["roleRef"]["name"] == agentry_operator::rbac::SECRETS_NAME)
        .map(|m| {
            (
                m["kind"].as_str().unwrap_or("").to_string(),
                m["metadata"]["namespace"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let expected =
        [("RoleBinding", "fleet"), ("RoleBinding", "team-b")].map(|(k, n)| (k.to_string(), n.to_string()));
    assert_eq!(secret_bindings, expected);
    let secret_rules: Vec<_> = manifests
        .iter()
        .filter(|m| m["kind"] == "ClusterRole" || m["kind"] == "Role")
        .flat_map(|m| m["rules"].as_array().cloned().unwrap_or_default())
        .filter(|r| r["resources"].as_array().is_some_and(|rs| rs.iter().any(|x| x == "secrets")))
        .collect();
    // Written only where read: the Agents' NATS credentials (`<agent>-nats`) are applied there.
    assert_eq!(
        secret_rules,
        [
            serde_json::json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}),
            serde_json::json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "patch"]}),
        ]
    );
}
