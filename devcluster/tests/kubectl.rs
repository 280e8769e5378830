//! The real `kubectl` (v1.32) against devcluster, with our CRDs and samples.

mod common;

use std::time::Duration;

use agentry_devcluster::DevCluster;
use common::{Kubectl, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_manages_agentry_resources() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let kubectl = Kubectl::new(cluster.kubeconfig_path());
    crds_are_established(&kubectl).await;
    client_side_apply_creates_then_is_unchanged(&kubectl).await;
    get_prints_tables_short_names_and_categories(&kubectl).await;
    explain_and_describe_read_schema_and_object(&kubectl).await;
    invalid_and_unknown_fields_are_refused(&kubectl).await;
    server_side_apply_records_the_manager(&kubectl).await;
    deletes_wait_and_namespaces_empty(&kubectl).await;
    cluster.shutdown().await;
}

/// CRDs are served once established: `kubectl wait` reads the Established condition, which
/// the apiextensions controller sets after accepting the names.
async fn crds_are_established(kubectl: &Kubectl) {
    let out = kubectl.ok(&["apply", "-k", "config/crd"]).await;
    assert!(
        out.contains("customresourcedefinition.apiextensions.k8s.io/agents.agentry.dev created"),
        "{out}"
    );
    kubectl.ok(&["wait", "--for", "condition=Established", "--timeout=30s", "crd/agents.agentry.dev"]).await;
    let out = kubectl.ok(&["get", "crd"]).await;
    assert!(out.contains("agents.agentry.dev") && out.contains("sessions.agentry.dev"), "{out}");
}

/// Client-side apply creates (POST) what is absent, and re-applying an unchanged manifest is
/// reported "unchanged" (kubectl computes an empty patch from the last-applied annotation).
async fn client_side_apply_creates_then_is_unchanged(kubectl: &Kubectl) {
    let out = kubectl.ok(&["apply", "-k", "config/samples"]).await;
    assert!(out.contains("agent.agentry.dev/fleet-manager created"), "{out}");
    assert!(out.contains("namespace/fleet created"), "{out}");
    let out = kubectl.ok(&["apply", "-k", "config/samples"]).await;
    assert!(out.contains("agent.agentry.dev/fleet-manager unchanged"), "{out}");
}

/// `kubectl get` asks for a Table: the Name column, then the CRD's additionalPrinterColumns
/// (priority 0 only; `-o wide` adds the others).
async fn get_prints_tables_short_names_and_categories(kubectl: &Kubectl) {
    let out = kubectl.ok(&["get", "agents", "-n", "fleet"]).await;
    let header = out.lines().next().unwrap_or_default();
    for column in ["NAME", "PHASE", "MODEL", "REPLICAS", "READY", "AGE"] {
        assert!(header.contains(column), "missing {column}: {out}");
    }
    assert!(!header.contains("ROLE"), "priority-1 column shown without -o wide: {out}");
    assert!(out.lines().any(|l| l.starts_with("fleet-manager") && l.contains("gpt-4o-mini")), "{out}");
    let wide = kubectl.ok(&["get", "agents", "-n", "fleet", "-o", "wide"]).await;
    assert!(wide.lines().next().unwrap_or_default().contains("ROLE"), "{wide}");
    // Short names come from discovery.
    let short = kubectl.ok(&["get", "ag", "-n", "fleet", "-o", "name"]).await;
    assert!(short.contains("agent.agentry.dev/fleet-manager"), "{short}");

    // A category expands to every resource that lists it in discovery.
    let out = kubectl.ok(&["get", "agentry", "-n", "fleet"]).await;
    for kind in [
        "agent.agentry.dev/",
        "model.agentry.dev/",
        "tool.agentry.dev/",
        "memorystore.agentry.dev/",
        "session.agentry.dev/",
    ] {
        assert!(out.contains(kind), "`get agentry` lacks {kind}: {out}");
    }
}

/// `kubectl explain` reads the kind's schema from the OpenAPI v3 document of its group version.
async fn explain_and_describe_read_schema_and_object(kubectl: &Kubectl) {
    let out = kubectl.ok(&["explain", "agent.spec"]).await;
    assert!(out.contains("KIND:       Agent") && out.contains("modelRef"), "{out}");

    // `kubectl describe` reads the object (and its events).
    let out = kubectl.ok(&["describe", "agent", "fleet-manager", "-n", "fleet"]).await;
    assert!(out.contains("Name:         fleet-manager") && out.contains("Model Ref"), "{out}");
}

/// An invalid object is refused by the server with 422 Invalid naming the field.
async fn invalid_and_unknown_fields_are_refused(kubectl: &Kubectl) {
    let out = kubectl.run(&["apply", "-f", "crds/tests/invalid/agent-negative-replicas.yaml"]).await;
    assert!(!out.success, "invalid manifest accepted: {}", out.stdout);
    // Worded as kubectl 1.32 printed a real kube-apiserver's refusal of this file.
    assert_eq!(
        out.stderr.trim_end(),
        "The Agent \"fleet-manager\" is invalid: spec.replicas: Invalid value: -1: \
         spec.replicas in body should be greater than or equal to 0",
        "{}",
        out.stderr
    );

    // kubectl's default --validate=strict becomes fieldValidation=Strict: unknown fields are refused.
    let unknown = std::env::temp_dir().join(format!("devcluster-unknown-{}.yaml", uuid::Uuid::new_v4()));
    std::fs::write(
        &unknown,
        "apiVersion: agentry.dev/v1alpha1\nkind: Model\nmetadata:\n  name: odd\n  namespace: fleet\nspec:\n  provider: openai\n  model: gpt-4o\n  colour: blue\n",
    )
    .expect("temp manifest");
    let out = kubectl.run(&["apply", "-f", unknown.to_str().unwrap_or_default()]).await;
    let _ = std::fs::remove_file(&unknown);
    assert!(
        !out.success && out.stderr.contains("unknown field \"spec.colour\""),
        "{}{}",
        out.stdout,
        out.stderr
    );
}

/// Server-side apply of the same manifests: `serverside-applied`, managed by the "kubectl" manager.
async fn server_side_apply_records_the_manager(kubectl: &Kubectl) {
    let out = kubectl.ok(&["apply", "--server-side", "-k", "config/samples"]).await;
    assert!(out.contains("agent.agentry.dev/fleet-manager serverside-applied"), "{out}");
    let out = kubectl
        .ok(&[
            "get",
            "agent",
            "fleet-manager",
            "-n",
            "fleet",
            "-o",
            "jsonpath={.metadata.managedFields[*].manager}",
            "--show-managed-fields",
        ])
        .await;
    assert!(out.contains("kubectl"), "{out}");
}

/// Delete: kubectl deletes, then waits (watching by metadata.name) until the object is gone.
async fn deletes_wait_and_namespaces_empty(kubectl: &Kubectl) {
    let out = kubectl.ok(&["delete", "agent", "sales-agent", "-n", "fleet"]).await;
    assert!(out.contains("agent.agentry.dev \"sales-agent\" deleted"), "{out}");
    let out = kubectl.run(&["get", "agent", "sales-agent", "-n", "fleet"]).await;
    assert!(!out.success && out.stderr.contains("NotFound"), "{}", out.stderr);

    // Deleting a namespace deletes everything in it, then the namespace.
    kubectl.ok(&["delete", "namespace", "fleet"]).await;
    eventually("namespace fleet to go", Duration::from_secs(20), || async {
        let out = kubectl.run(&["get", "agents", "-A", "-o", "name"]).await;
        (out.success && out.stdout.trim().is_empty()).then_some(())
    })
    .await;
    let out = kubectl.run(&["get", "namespace", "fleet"]).await;
    assert!(!out.success, "namespace still there: {}", out.stdout);
}
