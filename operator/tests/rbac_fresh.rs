//! `config/rbac/role.yaml` is what `rbac.rs` generates; edit the code, then run rbacgen.

#[test]
fn checked_in_rbac_matches_the_code() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let path = root.join("config/rbac/role.yaml");
    let on_disk = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let generated = agentry_operator::rbac::manifests_yaml("agentry-system").expect("RBAC renders");
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
        if resources.iter().any(|r| r == "secrets") {
            assert_eq!(rule.verbs, ["get", "list", "watch"]);
        }
    }
}
