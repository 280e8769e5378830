//! The corpus in `crds/tests/invalid/`: each file holds one mistake and must be refused with
//! exactly the causes its header lists, while its corrected twin is admitted.
//!
//! Header lines (before the manifest):
//! - `# mistake: <what is wrong>`
//! - `# expect: <field> <Reason>[: <text>]`, one per cause, in the order of the refusal's
//!   `details.causes`: the field as kube-apiserver prints it (`spec.tools[1]`, `<nil>` for the
//!   object as a whole), the `StatusCause` reason, and optionally text the cause's message must
//!   contain. The causes are the ones a real kube-apiserver returned for the file (after a
//!   missing, mistyped or unsupported value it adds `<nil>`: "some validation rules were not
//!   checked").
//! - `# corrected: <field> = <JSON value>` or `# corrected: remove <field>`: the control, the
//!   same manifest with only the offending field fixed, which must be admitted.

mod admission;

use std::path::Path;

use serde_json::Value;

/// One step of a field path: a property or a list index.
#[derive(Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// `spec.memory.blocks[1].label` as steps.
fn steps(field: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    for part in field.split('.') {
        let (name, indexes) = part.split_once('[').map_or((part, ""), |(n, rest)| (n, rest));
        steps.push(Step::Key(name.to_string()));
        for index in indexes.split('[').filter(|i| !i.is_empty()) {
            let index = index.trim_end_matches(']');
            steps.push(Step::Index(index.parse().unwrap_or_else(|_| panic!("bad index in {field}"))));
        }
    }
    steps
}

/// The manifest with `correction` applied: `<field> = <JSON value>` sets (or adds) the field,
/// `remove <field>` removes it; the parent must exist.
fn corrected(doc: &Value, correction: &str, file: &Path) -> Value {
    let fail = |why: &str| -> ! { panic!("{}: correction {correction:?}: {why}", file.display()) };
    let (field, value) = match correction.strip_prefix("remove ") {
        Some(field) => (field.trim(), None),
        None => {
            let (field, json) = correction.split_once(" = ").unwrap_or_else(|| fail("not `field = value`"));
            let value: Value = serde_json::from_str(json).unwrap_or_else(|e| fail(&format!("value: {e}")));
            (field.trim(), Some(value))
        }
    };
    let mut steps = steps(field);
    let last = steps.pop().unwrap_or_else(|| fail("no field"));
    let mut twin = doc.clone();
    let mut parent = &mut twin;
    for step in &steps {
        parent = match step {
            Step::Key(key) => parent.get_mut(key),
            Step::Index(index) => parent.get_mut(*index),
        }
        .unwrap_or_else(|| fail(&format!("no {step:?} in the manifest")));
    }
    match (last, value) {
        (Step::Key(key), Some(value)) => {
            parent.as_object_mut().unwrap_or_else(|| fail("parent is not an object")).insert(key, value);
        }
        (Step::Key(key), None) => {
            let object = parent.as_object_mut().unwrap_or_else(|| fail("parent is not an object"));
            object.remove(&key).unwrap_or_else(|| fail("nothing to remove"));
        }
        (Step::Index(index), Some(value)) => {
            *parent.get_mut(index).unwrap_or_else(|| fail("no such item")) = value;
        }
        (Step::Index(_), None) => fail("removing list items is not supported"),
    }
    assert_ne!(&twin, doc, "{}: the correction changes nothing", file.display());
    twin
}

/// An expected cause: field, reason and text the message must contain.
#[derive(Debug)]
struct Expected {
    field: String,
    reason: String,
    text: Option<String>,
}

fn expected(line: &str, file: &Path) -> Expected {
    let (field, rest) = line
        .split_once(' ')
        .unwrap_or_else(|| panic!("{}: `# expect: {line}` has no reason", file.display()));
    let (reason, text) = match rest.split_once(": ") {
        Some((reason, text)) => (reason, Some(text.to_string())),
        None => (rest, None),
    };
    Expected { field: field.to_string(), reason: reason.to_string(), text }
}

fn header<'a>(text: &'a str, key: &str) -> impl Iterator<Item = &'a str> {
    let prefix = format!("# {key}: ");
    text.lines().filter_map(move |l| l.strip_prefix(prefix.as_str()).map(str::trim))
}

#[test]
fn every_invalid_manifest_is_refused_with_its_causes_and_its_corrected_twin_admitted() {
    let schemas = admission::schemas();
    let dir = admission::repo_root().join("crds/tests/invalid");
    let docs = admission::documents(&dir);
    let mut failures = Vec::new();
    for (file, text, doc) in &docs {
        let name = file.file_name().unwrap_or_default().display().to_string();
        let expected: Vec<Expected> = header(text, "expect").map(|l| expected(l, file)).collect();
        assert!(!expected.is_empty(), "{name} has no '# expect: <field> <Reason>' header");
        let corrections: Vec<&str> = header(text, "corrected").collect();
        assert_eq!(corrections.len(), 1, "{name} needs exactly one '# corrected: ' header");
        let kind = doc["kind"].as_str().unwrap_or_default();
        let schema = schemas.get(kind).unwrap_or_else(|| panic!("{name}: unknown kind {kind}"));

        match schema.admit(doc, None) {
            Ok(_) => failures.push(format!("{name}: admitted, expected {expected:?}")),
            Err(err) => {
                let got: Vec<(&str, &str)> =
                    err.causes.iter().map(|c| (c.field.as_str(), c.reason.as_str())).collect();
                let want: Vec<(&str, &str)> =
                    expected.iter().map(|e| (e.field.as_str(), e.reason.as_str())).collect();
                if got != want {
                    failures.push(format!("{name}: causes {got:?}, expected {want:?}: {err}"));
                }
                for (cause, expected) in err.causes.iter().zip(&expected) {
                    if let Some(text) = &expected.text
                        && !cause.message.contains(text.as_str())
                    {
                        failures.push(format!(
                            "{name}: {} message {:?} lacks {text:?}",
                            cause.field, cause.message
                        ));
                    }
                }
            }
        }

        let twin = corrected(doc, corrections[0], file);
        if let Err(err) = schema.admit(&twin, None) {
            failures.push(format!("{name}: the corrected twin ({}) is refused: {err}", corrections[0]));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(docs.len() >= 25, "the corpus must hold at least 25 manifests, has {}", docs.len());
}

#[test]
fn field_paths_parse_as_kube_apiserver_prints_them() {
    use Step::{Index, Key};
    assert_eq!(
        steps("spec.memory.blocks[1].label"),
        [Key("spec".into()), Key("memory".into()), Key("blocks".into()), Index(1), Key("label".into())]
    );
    assert_eq!(steps("metadata.name"), [Key("metadata".into()), Key("name".into())]);
    let doc = serde_json::json!({"spec": {"tools": ["a", "a"], "x": 1}});
    let file = Path::new("inline");
    assert_eq!(
        corrected(&doc, r#"spec.tools[1] = "b""#, file),
        serde_json::json!({"spec": {"tools": ["a", "b"], "x": 1}})
    );
    assert_eq!(corrected(&doc, "remove spec.x", file), serde_json::json!({"spec": {"tools": ["a", "a"]}}));
    assert_eq!(
        corrected(&doc, r#"spec.y = {"z": true}"#, file),
        serde_json::json!({"spec": {"tools": ["a", "a"], "x": 1, "y": {"z": true}}})
    );
}
