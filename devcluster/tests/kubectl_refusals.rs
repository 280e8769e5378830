//! The invalid-manifest corpus (`crds/tests/invalid/`) applied with the real kubectl: each refusal
//! must read exactly as a real kube-apiserver's did (`tests/data/kube-apiserver-refusals.txt`,
//! recorded from kube-apiserver 1.36 with kubectl 1.32; line breaks folded into spaces).

mod common;

use agentry_devcluster::DevCluster;
use common::{Kubectl, repo_root};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_manifests_are_refused_in_kube_apiservers_words() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let kubectl = Kubectl::new(cluster.kubeconfig_path());
    kubectl.ok(&["apply", "-k", "config/crd"]).await;
    kubectl.ok(&["wait", "--for", "condition=Established", "--timeout=30s", "crd", "--all"]).await;
    kubectl.ok(&["create", "namespace", "fleet"]).await;

    let recorded =
        std::fs::read_to_string(repo_root().join("devcluster/tests/data/kube-apiserver-refusals.txt"))
            .expect("recorded refusals");
    let mut differing = Vec::new();
    let mut checked = 0;
    for line in recorded.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let Some((file, expected)) = line.split_once(": ") else { continue };
        let path = format!("crds/tests/invalid/{file}");
        let out = kubectl.run(&["apply", "-n", "fleet", "-f", &path]).await;
        assert!(!out.success, "{file} was accepted");
        let folded = out.stderr.replace('\n', " ");
        if folded.trim() != expected.trim() {
            differing.push(format!(
                "{file}\n  real:       {}\n  devcluster: {}",
                expected.trim(),
                folded.trim()
            ));
        }
        checked += 1;
    }
    assert_eq!(checked, 46, "the recorded corpus has 46 manifests");
    assert!(
        differing.is_empty(),
        "{} of {checked} refusals differ:\n{}",
        differing.len(),
        differing.join("\n")
    );

    // kubectl's default strict field validation: the decoding error's prefix names kind and version.
    let unknown = std::env::temp_dir().join(format!("devcluster-bogus-{}.yaml", uuid::Uuid::new_v4()));
    std::fs::write(
        &unknown,
        "apiVersion: agentry.dev/v1alpha1\nkind: Model\nmetadata:\n  name: odd\n  namespace: fleet\nspec:\n  provider: openai\n  model: gpt-4o\n  bogusField: 1\n",
    )
    .expect("temp manifest");
    let path = unknown.to_str().unwrap_or_default().to_owned();
    let out = kubectl.run(&["apply", "-f", &path]).await;
    let _ = std::fs::remove_file(&unknown);
    assert_eq!(
        out.stderr.trim_end(),
        format!(
            "Error from server (BadRequest): error when creating \"{path}\": Model in version \"v1alpha1\" cannot \
             be handled as a Model: strict decoding error: unknown field \"spec.bogusField\""
        )
    );
    cluster.shutdown().await;
}
