//! The corpus in `crds/tests/invalid/`: each file holds one mistake, named in its
//! `# expect: <field>` header, and must be refused with a message naming that field.

mod admission;

#[test]
fn every_invalid_manifest_is_refused_naming_the_field() {
    let schemas = admission::schemas();
    let dir = admission::repo_root().join("crds/tests/invalid");
    let docs = admission::documents(&dir);
    let mut refused = 0;
    let mut failures = Vec::new();
    for (file, text, doc) in &docs {
        let expect = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} has no '# expect: <field>' header", file.display()))
            .trim();
        let kind = doc["kind"].as_str().unwrap_or_default();
        let schema = schemas.get(kind).unwrap_or_else(|| panic!("{}: unknown kind {kind}", file.display()));
        match schema.admit(doc, None) {
            Ok(_) => {
                failures.push(format!("{}: admitted, expected a refusal naming {expect}", file.display()))
            }
            Err(err) => {
                let message = err.to_string();
                let names_field = err.causes.iter().any(|c| c.field == expect || c.message.contains(expect))
                    || message.contains(&format!("{expect}:"))
                    || message.contains(&format!("{expect} "));
                if names_field {
                    refused += 1;
                    println!("refused {}: {message}", file.file_name().unwrap_or_default().display());
                } else {
                    failures.push(format!("{}: refused, but not naming {expect}: {message}", file.display()));
                }
            }
        }
    }
    println!("{refused} of {} invalid manifests refused with the field named", docs.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(docs.len() >= 25, "the corpus must hold at least 25 manifests, has {}", docs.len());
}
