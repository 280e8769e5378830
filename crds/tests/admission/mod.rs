//! Admission of manifests as the API server would do it: the generated CRDs' schemas, compiled
//! by devcluster's `CrdSchema` (structural validation, pruning, defaults and CEL rules).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use agentry_devcluster::CrdSchema;

/// The compiled schema of every Agentry kind, by kind.
pub(crate) fn schemas() -> BTreeMap<String, CrdSchema> {
    agentry_crds::all_crds()
        .into_iter()
        .map(|crd| {
            let version = &crd.spec.versions[0];
            let schema = version
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .expect("every version has an openAPIV3Schema");
            let schema = serde_json::to_value(schema).expect("schema serializes");
            let compiled = CrdSchema::compile(&schema)
                .unwrap_or_else(|err| panic!("{} schema does not compile: {err}", crd.spec.names.kind));
            (crd.spec.names.kind.clone(), compiled)
        })
        .collect()
}

/// Every YAML document in `dir`'s `.yaml` files (kustomization files excepted), with its file.
pub(crate) fn documents(dir: &Path) -> Vec<(PathBuf, String, serde_json::Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .filter(|p| p.file_name().is_some_and(|n| n != "kustomization.yaml"))
        .collect();
    files.sort();
    let mut docs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable file");
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value: serde_json::Value = serde::Deserialize::deserialize(doc)
                .unwrap_or_else(|err| panic!("{}: not YAML: {err}", file.display()));
            if value.is_null() {
                continue;
            }
            docs.push((file.clone(), text.clone(), value));
        }
    }
    docs
}

/// The repository's root directory.
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("crate lives in the workspace").to_path_buf()
}
