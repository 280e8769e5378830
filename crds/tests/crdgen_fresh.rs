//! The CRD YAML checked in under `config/crd/` and `charts/agentry/crds/` is what the types
//! generate; a change to the types without `crdgen --write` fails here.

#[test]
fn checked_in_crds_match_the_types() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let generated = agentry_crds::crds_yaml().expect("CRDs render as YAML");
    let mut stale = Vec::new();
    for dir in ["config/crd", "charts/agentry/crds"] {
        for (name, yaml) in &generated {
            let path = root.join(dir).join(name);
            match std::fs::read_to_string(&path) {
                Ok(on_disk) if on_disk == *yaml => {}
                Ok(_) => stale.push(format!("{} differs", path.display())),
                Err(err) => stale.push(format!("{}: {err}", path.display())),
            }
        }
    }
    assert!(
        stale.is_empty(),
        "CRD YAML is stale; run `cargo run -p agentry-crds --bin crdgen -- --write config/crd charts/agentry/crds`:\n{}",
        stale.join("\n")
    );
}
