//! Each test states the kube-apiserver behaviour it checks; expected messages are the apiserver's
//! (apimachinery `field.Error`, kube-openapi and apiextensions-apiserver wording, Kubernetes 1.33).

use serde_json::{Value, json};

use super::{CauseReason, CrdSchema, SchemaError};

/// A resource schema with `spec` as given.
fn with_spec(spec: Value) -> CrdSchema {
    CrdSchema::compile(&json!({"type": "object", "properties": {"spec": spec}})).unwrap()
}

fn object(spec: Value) -> Value {
    json!({"apiVersion": "agentry.dev/v1alpha1", "kind": "Agent", "metadata": {"name": "a"}, "spec": spec})
}

/// The causes as kube-apiserver prints them (`field: message`).
fn refusal(schema: &CrdSchema, spec: Value) -> Vec<String> {
    let invalid = schema.admit(&object(spec), None).unwrap_err();
    invalid.causes.iter().map(ToString::to_string).collect()
}

#[test]
fn unknown_fields_are_pruned_except_under_preserve_unknown_fields() {
    // The apiserver drops fields the schema does not declare, keeps apiVersion/kind/metadata at the
    // root as they are, and keeps everything under x-kubernetes-preserve-unknown-fields.
    let schema = with_spec(json!({
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "context": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }));
    let mut input = object(json!({
        "name": "x", "bogus": 1,
        "context": {"anything": {"deep": [1, 2]}},
        "labels": {"team": "a"},
    }));
    input["junk"] = json!(true);
    input["metadata"]["annotations"] = json!({"a": "b"});

    let admitted = schema.admit(&input, None).unwrap();

    let mut expected = object(json!({
        "name": "x",
        "context": {"anything": {"deep": [1, 2]}},
        "labels": {"team": "a"},
    }));
    expected["metadata"]["annotations"] = json!({"a": "b"});
    assert_eq!(admitted, expected);
    assert_eq!(schema.unknown_fields(&input), ["junk", "spec.bogus"]);
}

#[test]
fn defaults_are_applied_including_inside_defaults_and_list_items() {
    // The apiserver fills absent fields (and non-nullable nulls) with their default, then keeps
    // defaulting inside the value it just set, and defaults inside list items.
    let schema = with_spec(json!({
        "type": "object",
        "default": {},
        "properties": {
            "replicas": {"type": "integer", "default": 1},
            "resilience": {
                "type": "object",
                "default": {},
                "properties": {"maxRetries": {"type": "integer", "default": 3}},
            },
            "tools": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "timeoutSeconds": {"type": "integer", "default": 30}},
                },
            },
        },
    }));
    let mut input = object(json!(null));
    input.as_object_mut().unwrap().remove("spec");
    let admitted = schema.admit(&input, None).unwrap();
    assert_eq!(admitted["spec"], json!({"replicas": 1, "resilience": {"maxRetries": 3}}));

    let admitted = schema.admit(&object(json!({"replicas": null, "tools": [{"name": "a"}]})), None).unwrap();
    assert_eq!(admitted["spec"]["replicas"], json!(1));
    assert_eq!(admitted["spec"]["tools"], json!([{"name": "a", "timeoutSeconds": 30}]));
}

#[test]
fn missing_required_field_is_refused() {
    // kube-openapi's required check becomes `field.Required`: "spec.modelRef: Required value".
    let schema = with_spec(json!({
        "type": "object",
        "required": ["modelRef"],
        "properties": {"modelRef": {"type": "string"}},
    }));
    let invalid = schema.admit(&object(json!({})), None).unwrap_err();
    assert_eq!(invalid.to_string(), "spec.modelRef: Required value");
    assert_eq!(invalid.causes[0].reason, CauseReason::FieldValueRequired);
    assert_eq!(invalid.causes[0].field, "spec.modelRef");
    assert_eq!(invalid.causes[0].message, "Required value");
}

#[test]
fn value_outside_enum_is_unsupported() {
    // An enum failure becomes `field.NotSupported`, listing the values quoted.
    let schema = with_spec(json!({
        "type": "object",
        "properties": {"role": {"type": "string", "enum": ["domain", "orchestrator", "worker"]}},
    }));
    assert_eq!(
        refusal(&schema, json!({"role": "boss"})),
        [r#"spec.role: Unsupported value: "boss": supported values: "domain", "orchestrator", "worker""#]
    );
}

#[test]
fn numbers_outside_bounds_are_invalid() {
    // minimum/maximum failures become `field.Invalid` with kube-openapi's "in body should be" wording;
    // an exclusive bound says "greater than" / "less than".
    let schema = with_spec(json!({
        "type": "object",
        "properties": {
            "replicas": {"type": "integer", "minimum": 0, "maximum": 10},
            "temperature": {"type": "number", "minimum": 0, "exclusiveMinimum": true},
        },
    }));
    assert_eq!(
        refusal(&schema, json!({"replicas": -1})),
        ["spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0"]
    );
    assert_eq!(
        refusal(&schema, json!({"replicas": 11})),
        ["spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10"]
    );
    assert_eq!(
        refusal(&schema, json!({"temperature": 0})),
        ["spec.temperature: Invalid value: 0: spec.temperature in body should be greater than 0"]
    );
}

#[test]
fn string_not_matching_pattern_is_invalid() {
    // A pattern failure quotes the pattern in single quotes.
    let schema = with_spec(json!({
        "type": "object",
        "properties": {"name": {"type": "string", "pattern": "^[a-z]+$"}},
    }));
    assert_eq!(
        refusal(&schema, json!({"name": "a.b"})),
        [r#"spec.name: Invalid value: "a.b": spec.name in body should match '^[a-z]+$'"#]
    );
}

#[test]
fn value_of_wrong_type_is_type_invalid() {
    // A type failure becomes `field.TypeInvalid` whose bad value is the JSON type of the data.
    let schema = with_spec(json!({"type": "object", "properties": {"replicas": {"type": "integer"}}}));
    let invalid = schema.admit(&object(json!({"replicas": "3"})), None).unwrap_err();
    assert_eq!(
        invalid.to_string(),
        r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#
    );
    assert_eq!(invalid.causes[0].reason, CauseReason::FieldValueTypeInvalid);
    // 2.0 is an integer to kube-openapi, 2.5 is not.
    assert!(schema.admit(&object(json!({"replicas": 2.0})), None).is_ok());
    assert_eq!(
        refusal(&schema, json!({"replicas": 2.5})),
        [
            r#"spec.replicas: Invalid value: "number": spec.replicas in body must be of type integer: "number""#
        ]
    );
}

#[test]
fn string_longer_than_max_length_is_too_long() {
    // maxLength becomes `field.TooLong` ("may not be more than N bytes" since Kubernetes 1.32), and
    // kube-openapi reports only the first string failure (maxLength before minLength before pattern).
    let schema = with_spec(json!({
        "type": "object",
        "properties": {"systemPrompt": {"type": "string", "maxLength": 5, "pattern": "^[a-z]*$"}},
    }));
    let invalid = schema.admit(&object(json!({"systemPrompt": "Far Too Long"})), None).unwrap_err();
    assert_eq!(invalid.to_string(), "spec.systemPrompt: Too long: may not be more than 5 bytes");
    assert_eq!(invalid.causes[0].reason, CauseReason::FieldValueTooLong);
}

#[test]
fn null_is_kept_where_nullable_and_dropped_elsewhere() {
    // nullable: true admits null (and keeps it); elsewhere a null without default is dropped before
    // validation, so it reads as absent (and a required field is then missing).
    let schema = with_spec(json!({
        "type": "object",
        "required": ["modelRef"],
        "properties": {
            "description": {"type": "string", "nullable": true},
            "modelRef": {"type": "string"},
            "image": {"type": "string"},
        },
    }));
    let admitted =
        schema.admit(&object(json!({"description": null, "modelRef": "m", "image": null})), None).unwrap();
    assert_eq!(admitted["spec"], json!({"description": null, "modelRef": "m"}));
    assert_eq!(refusal(&schema, json!({"modelRef": null})), ["spec.modelRef: Required value"]);
}

#[test]
fn int_or_string_takes_either() {
    // x-kubernetes-int-or-string admits integers and strings; anything else is a type failure
    // naming both types.
    let schema = with_spec(json!({
        "type": "object",
        "properties": {"port": {"x-kubernetes-int-or-string": true}},
    }));
    assert!(schema.admit(&object(json!({"port": 8080})), None).is_ok());
    assert!(schema.admit(&object(json!({"port": "http"})), None).is_ok());
    assert_eq!(
        refusal(&schema, json!({"port": true})),
        [
            r#"spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean""#
        ]
    );
}

#[test]
fn set_list_with_duplicate_is_refused() {
    // x-kubernetes-list-type: set reports `field.Duplicate` at the second occurrence of each repeat.
    let schema = with_spec(json!({
        "type": "object",
        "properties": {
            "capabilities": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
        },
    }));
    let invalid = schema
        .admit(&object(json!({"capabilities": ["search", "code", "search", "search"]})), None)
        .unwrap_err();
    assert_eq!(invalid.to_string(), r#"spec.capabilities[2]: Duplicate value: "search""#);
    assert_eq!(invalid.causes[0].reason, CauseReason::FieldValueDuplicate);
}

#[test]
fn map_list_with_duplicate_key_is_refused() {
    // x-kubernetes-list-type: map reports `field.Duplicate` with the repeated key fields as the value.
    let schema = with_spec(json!({
        "type": "object",
        "properties": {
            "ports": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string"}, "port": {"type": "integer"}},
                },
            },
        },
    }));
    assert!(schema.admit(&object(json!({"ports": [{"name": "a"}, {"name": "b"}]})), None).is_ok());
    assert_eq!(
        refusal(&schema, json!({"ports": [{"name": "http", "port": 80}, {"name": "http", "port": 8080}]})),
        [r#"spec.ports[1]: Duplicate value: {"name":"http"}"#]
    );
}

fn tool_schema() -> CrdSchema {
    with_spec(json!({
        "type": "object",
        "properties": {
            "type": {"type": "string"},
            "http": {"type": "object", "properties": {"url": {"type": "string"}}},
            "name": {"type": "string", "pattern": "^[a-z]+$"},
            "secret": {"type": "string"},
        },
        "x-kubernetes-validations": [
            {"rule": "has(self.http) == (self.type == 'http')", "message": "http must be set exactly when type is http", "fieldPath": ".http"},
            {"rule": "self.type != 'wasm'", "message": "wasm tools are not supported yet"},
            {"rule": "!has(self.secret)", "message": "inline secrets are not allowed", "reason": "FieldValueForbidden", "fieldPath": ".secret"},
        ],
    }))
}

#[test]
fn cel_rule_failure_names_the_rule_field() {
    // A failing rule is `field.Invalid` at the node holding the rule, its bad value the node's type,
    // its detail the rule's message; fieldPath moves it to that field; reason picks the error type.
    let schema = tool_schema();
    assert_eq!(
        refusal(&schema, json!({"type": "http"})),
        [r#"spec.http: Invalid value: http must be set exactly when type is http"#]
    );
    assert_eq!(
        refusal(&schema, json!({"type": "wasm"})),
        [r#"spec: Invalid value: wasm tools are not supported yet"#]
    );
    let invalid = schema.admit(&object(json!({"type": "builtin", "secret": "x"})), None).unwrap_err();
    assert_eq!(invalid.to_string(), "spec.secret: Forbidden: inline secrets are not allowed");
    assert_eq!(invalid.causes[0].reason, CauseReason::FieldValueForbidden);
}

#[test]
fn cel_rules_on_items_and_map_values_use_bracketed_paths() {
    // The CEL validator prints list items as [i] and map values as [key]; a rule at the root without
    // fieldPath lands on no field, which kube-apiserver prints as <nil>.
    let schema = CrdSchema::compile(&json!({
        "type": "object",
        "x-kubernetes-validations": [{"rule": "has(self.spec)", "message": "spec is required"}],
        "properties": {"spec": {
            "type": "object",
            "properties": {
                "limits": {"type": "object", "additionalProperties": {
                    "type": "integer",
                    "x-kubernetes-validations": [{"rule": "self > 0", "message": "must be positive"}],
                }},
                "tools": {"type": "array", "items": {
                    "type": "string",
                    "x-kubernetes-validations": [{"rule": "self.size() > 1", "message": "too short"}],
                }},
            },
        }},
    }))
    .unwrap();
    let invalid =
        schema.admit(&object(json!({"limits": {"cpu": 0}, "tools": ["ok", "x"]})), None).unwrap_err();
    let printed: Vec<String> = invalid.causes.iter().map(ToString::to_string).collect();
    assert_eq!(
        printed,
        [
            r#"spec.limits[cpu]: Invalid value: 0: must be positive"#,
            r#"spec.tools[1]: Invalid value: "x": too short"#,
        ]
    );
    let invalid = schema.admit(&json!({"apiVersion": "v", "kind": "K"}), None).unwrap_err();
    assert_eq!(invalid.to_string(), r#"<nil>: Invalid value: spec is required"#);
}

#[test]
fn transition_rule_runs_only_on_update() {
    // Rules using oldSelf are transition rules: skipped on create, evaluated on update against the
    // correlated old value.
    let schema = with_spec(json!({
        "type": "object",
        "properties": {"storeRef": {
            "type": "string",
            "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "storeRef is immutable"}],
        }},
    }));
    let created = schema.admit(&object(json!({"storeRef": "a"})), None).unwrap();
    assert!(schema.admit(&object(json!({"storeRef": "a"})), Some(&created)).is_ok());
    let invalid = schema.admit(&object(json!({"storeRef": "b"})), Some(&created)).unwrap_err();
    assert_eq!(invalid.to_string(), r#"spec.storeRef: Invalid value: "b": storeRef is immutable"#);
}

#[test]
fn every_failure_is_reported() {
    // All schema failures come back together (the apiserver's order among them is Go map order, so
    // not fixed); after a missing, mistyped or unsupported value it does not run CEL rules and says
    // so in a cause of its own. Lesser failures (a pattern) do not stop the rules: both are reported.
    let schema = with_spec(json!({
        "type": "object",
        "required": ["modelRef"],
        "properties": {
            "modelRef": {"type": "string"},
            "role": {"type": "string", "enum": ["worker"]},
            "replicas": {"type": "integer"},
            "name": {"type": "string", "pattern": "^[a-z]+$"},
        },
        "x-kubernetes-validations": [{"rule": "self.name.size() > 3", "message": "name too short"}],
    }));
    let invalid =
        schema.admit(&object(json!({"name": "abcd", "role": "boss", "replicas": "two"})), None).unwrap_err();
    let printed: Vec<String> = invalid.causes.iter().map(ToString::to_string).collect();
    assert_eq!(
        printed,
        [
            "spec.modelRef: Required value",
            r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#,
            r#"spec.role: Unsupported value: "boss": supported values: "worker""#,
            r#"<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation"#,
        ]
    );
    assert!(invalid.to_string().starts_with("[spec.modelRef: Required value, spec.replicas: Invalid value"));

    assert_eq!(
        refusal(&schema, json!({"modelRef": "m", "name": "AB"})),
        [
            r#"spec.name: Invalid value: "AB": spec.name in body should match '^[a-z]+$'"#,
            r#"spec: Invalid value: name too short"#,
        ]
    );
}

#[test]
fn failures_in_unchanged_parts_are_ratcheted_on_update() {
    // Validation ratcheting (GA in 1.33): an update is not refused for values it did not change.
    let schema = with_spec(json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "pattern": "^[a-z]+$"},
            "replicas": {"type": "integer"},
        },
    }));
    let stored = object(json!({"name": "Legacy_Name", "replicas": 1}));
    assert!(schema.admit(&object(json!({"name": "Legacy_Name", "replicas": 2})), Some(&stored)).is_ok());
    assert_eq!(
        schema
            .admit(&object(json!({"name": "Other_Name", "replicas": 2})), Some(&stored))
            .unwrap_err()
            .causes
            .len(),
        1
    );
}

#[test]
fn schema_with_uncompilable_rule_is_refused_naming_it() {
    // The apiserver refuses such a CRD ("compilation failed"); compile fails naming the rule and place.
    let error = CrdSchema::compile(&json!({
        "type": "object",
        "properties": {"spec": {
            "type": "object",
            "x-kubernetes-validations": [{"rule": "self.replicas >= ", "message": "m"}],
        }},
    }))
    .err()
    .unwrap();
    match &error {
        SchemaError::Rule { location, rule, message } => {
            assert_eq!(location, "spec");
            assert_eq!(rule, "self.replicas >= ");
            assert!(message.starts_with("compilation failed"), "{message}");
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(error.to_string().contains("self.replicas >= "));

    // A fieldPath naming no field is refused as well.
    let error = CrdSchema::compile(&json!({
        "type": "object",
        "x-kubernetes-validations": [{"rule": "true", "fieldPath": ".nope"}],
        "properties": {"spec": {"type": "object"}},
    }))
    .err()
    .unwrap();
    assert!(error.to_string().contains("does not refer to a valid field"), "{error}");
}

#[test]
fn known_formats_are_checked_and_unknown_ones_ignored() {
    // Formats the apiserver validates become type failures naming the format; others pass.
    let schema = with_spec(json!({
        "type": "object",
        "properties": {
            "at": {"type": "string", "format": "date-time"},
            "id": {"type": "string", "format": "uuid"},
            "whatever": {"type": "string", "format": "agentry-thing"},
            "count": {"type": "integer", "format": "int32"},
        },
    }));
    assert!(schema
        .admit(&object(json!({"at": "2024-05-01T10:00:00Z", "id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "whatever": "x"})), None)
        .is_ok());
    assert_eq!(
        refusal(&schema, json!({"at": "yesterday"})),
        [r#"spec.at: Invalid value: "yesterday": spec.at in body must be of type date-time: "yesterday""#]
    );
    assert_eq!(
        refusal(&schema, json!({"count": 3_000_000_000_i64})),
        [
            r#"<nil>: Invalid value: "": Checked value must be of type integer with format int32 in spec.count"#
        ]
    );
}

#[test]
fn one_of_failure_is_reported_as_the_apiserver_does() {
    // kube-openapi reports a failed oneOf on no field, followed by the closest branch's failures.
    let schema = with_spec(json!({
        "type": "object",
        "properties": {"http": {"type": "object"}, "agent": {"type": "object"}},
        "oneOf": [{"required": ["http"]}, {"required": ["agent"]}],
    }));
    assert!(schema.admit(&object(json!({"http": {}})), None).is_ok());
    assert_eq!(
        refusal(&schema, json!({})),
        [
            r#"<nil>: Invalid value: "": "spec" must validate one and only one schema (oneOf). Found none valid"#,
            "spec.http: Required value",
        ]
    );
}

#[test]
fn embedded_resource_needs_api_version_and_kind() {
    // objectmeta.Validate requires apiVersion and kind in x-kubernetes-embedded-resource objects.
    let schema = with_spec(json!({
        "type": "object",
        "properties": {"template": {
            "type": "object",
            "x-kubernetes-embedded-resource": true,
            "x-kubernetes-preserve-unknown-fields": true,
        }},
    }));
    assert!(
        schema
            .admit(&object(json!({"template": {"apiVersion": "v1", "kind": "Pod", "spec": {}}})), None)
            .is_ok()
    );
    assert_eq!(
        refusal(&schema, json!({"template": {"apiVersion": "v1"}})),
        ["spec.template.kind: Required value"]
    );
}

#[test]
fn causes_serialize_as_status_causes() {
    // details.causes[] entries are {reason, message, field}, the message without the field.
    let schema = with_spec(json!({"type": "object", "required": ["modelRef"]}));
    let invalid = schema.admit(&object(json!({})), None).unwrap_err();
    assert_eq!(
        invalid.to_status_causes(),
        [json!({"reason": "FieldValueRequired", "message": "Required value", "field": "spec.modelRef"})]
    );
}

#[test]
fn compiled_schema_is_shareable_across_threads() {
    // The in-process API server admits from many request handlers at once.
    fn shareable<T: Send + Sync>() {}
    shareable::<CrdSchema>();
}

#[test]
fn cel_runtime_error_names_the_rule() {
    // A rule that fails to evaluate is `field.Invalid` at the rule's node: "<error> evaluating rule:
    // <message, else the rule>".
    let schema = with_spec(json!({
        "type": "object",
        "properties": {"limits": {"type": "object", "additionalProperties": {"type": "integer"}}},
        "x-kubernetes-validations": [{"rule": "self.limits['cpu'] > 0"}],
    }));
    let printed = refusal(&schema, json!({"limits": {"memory": 1}}));
    assert_eq!(printed.len(), 1);
    assert!(printed[0].starts_with(r#"spec: Invalid value: "#), "{printed:?}");
    assert!(printed[0].ends_with(" evaluating rule: self.limits['cpu'] > 0"), "{printed:?}");
}
