//! `apps/v1` Deployments: the defaults the apiserver fills in and the invariants it checks.

use serde_json::{Value, json};

use super::builtin_validation::{container_causes, label_causes};
use crate::api_error::{ApiError, ApiResult};
use crate::crd_schema::{CauseReason, FieldCause, Invalid};
use crate::resources::ResourceDesc;

/// The annotation the deployment controller numbers the Deployment's pod templates with.
const REVISION: &str = "deployment.kubernetes.io/revision";

/// Default the Deployment, then check its selector, tolerations and containers.
pub(crate) fn admit(
    desc: &ResourceDesc,
    object: &mut Value,
    old: Option<&Value>,
    name: &str,
) -> ApiResult<()> {
    let spec = &mut object["spec"];
    fill_defaults(spec);
    let mut causes = selector_causes(spec);
    if let Some(old) = old
        && old["spec"]["selector"] != spec["selector"]
    {
        causes.push(FieldCause {
            field: "spec.selector".into(),
            reason: CauseReason::FieldValueInvalid,
            message: format!("Invalid value: {}: field is immutable", go_label_selector(&spec["selector"])),
        });
    }
    let template = &spec["template"];
    causes.extend(label_causes(&template["metadata"]["labels"], "spec.template.metadata.labels"));
    causes.extend(label_causes(&spec["selector"]["matchLabels"], "spec.selector.matchLabels"));
    causes.extend(container_causes(&template["spec"], "spec.template.spec"));
    causes.extend(toleration_causes(spec));
    if spec["template"]["spec"]["containers"].as_array().is_none_or(Vec::is_empty) {
        causes.push(FieldCause {
            field: "spec.template.spec.containers".into(),
            reason: CauseReason::FieldValueRequired,
            message: "Required value".into(),
        });
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid(desc, name, &Invalid { causes }));
    }
    number_revision(object, old);
    Ok(())
}

/// The revision the deployment controller writes: 1 for the first template, one more for each
/// new one, kept otherwise (the controller writes it back if a client drops it).
fn number_revision(object: &mut Value, old: Option<&Value>) {
    let old_revision =
        old.and_then(|o| o["metadata"]["annotations"][REVISION].as_str()).and_then(|r| r.parse::<u64>().ok());
    let revision = match (old, old_revision) {
        (Some(old), Some(r)) if old["spec"]["template"] == object["spec"]["template"] => r,
        (_, Some(r)) => r + 1,
        (_, None) => 1,
    };
    if !object["metadata"]["annotations"].is_object() {
        object["metadata"]["annotations"] = json!({});
    }
    object["metadata"]["annotations"][REVISION] = json!(revision.to_string());
}

/// A `*metav1.LabelSelector` as Go's `%#v` prints it in `field is immutable` errors.
fn go_label_selector(selector: &Value) -> String {
    if selector.is_null() {
        return "null".into();
    }
    let quoted = |v: &Value| Value::from(v.as_str().unwrap_or_default()).to_string();
    let labels = match selector["matchLabels"].as_object() {
        Some(map) => {
            let pairs: Vec<String> =
                map.iter().map(|(k, v)| format!("{}:{}", Value::from(k.as_str()), quoted(v))).collect();
            format!("map[string]string{{{}}}", pairs.join(", "))
        }
        None => "map[string]string(nil)".into(),
    };
    let expressions = match selector["matchExpressions"].as_array() {
        Some(list) => {
            let items: Vec<String> = list
                .iter()
                .map(|e| {
                    let values = match e["values"].as_array() {
                        Some(v) => {
                            format!("[]string{{{}}}", v.iter().map(quoted).collect::<Vec<_>>().join(", "))
                        }
                        None => "[]string(nil)".into(),
                    };
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{values}}}",
                        quoted(&e["key"]),
                        quoted(&e["operator"])
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", items.join(", "))
        }
        None => "[]v1.LabelSelectorRequirement(nil)".into(),
    };
    format!("v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{expressions}}}")
}

/// Replicas, history limit, progress deadline and a rolling-update strategy.
fn fill_defaults(spec: &mut Value) {
    if spec["replicas"].is_null() {
        spec["replicas"] = json!(1);
    }
    for (field, default) in [("revisionHistoryLimit", 10), ("progressDeadlineSeconds", 600)] {
        if spec[field].is_null() {
            spec[field] = json!(default);
        }
    }
    if !spec["strategy"].is_object() {
        spec["strategy"] = json!({});
    }
    let strategy = &mut spec["strategy"];
    if strategy["type"].as_str().is_none_or(str::is_empty) {
        strategy["type"] = json!("RollingUpdate");
    }
    if strategy["type"] == "RollingUpdate" {
        for field in ["maxUnavailable", "maxSurge"] {
            if strategy["rollingUpdate"][field].is_null() {
                strategy["rollingUpdate"][field] = json!("25%");
            }
        }
    }
    if spec["template"]["spec"].is_object() {
        super::pod_defaults::default_pod_spec(&mut spec["template"]["spec"]);
    }
}

/// The selector is required and must select the template's labels.
fn selector_causes(spec: &Value) -> Vec<FieldCause> {
    let selector = spec["selector"]["matchLabels"].as_object().cloned().unwrap_or_default();
    let labels = &spec["template"]["metadata"]["labels"];
    if spec["selector"].is_null() {
        return vec![FieldCause {
            field: "spec.selector".into(),
            reason: CauseReason::FieldValueRequired,
            message: "Required value".into(),
        }];
    }
    if selector.iter().any(|(k, v)| labels.get(k) != Some(v)) {
        return vec![FieldCause {
            field: "spec.template.metadata.labels".into(),
            reason: CauseReason::FieldValueInvalid,
            message: format!("Invalid value: {}: `selector` does not match template `labels`", labels),
        }];
    }
    Vec::new()
}

/// As `ValidateTolerations`: operator and effect are closed sets.
fn toleration_causes(spec: &Value) -> Vec<FieldCause> {
    let tolerations = spec["template"]["spec"]["tolerations"].as_array().cloned().unwrap_or_default();
    let mut causes = Vec::new();
    for (i, toleration) in tolerations.iter().enumerate() {
        let checks: [(&str, &[&str]); 2] = [
            ("operator", &["Equal", "Exists"]),
            ("effect", &["NoExecute", "NoSchedule", "PreferNoSchedule"]),
        ];
        for (field, supported) in checks {
            let value = toleration[field].as_str().unwrap_or_default();
            if !value.is_empty() && !supported.contains(&value) {
                let listed: Vec<String> = supported.iter().map(|v| format!("{v:?}")).collect();
                causes.push(FieldCause {
                    field: format!("spec.template.spec.tolerations[{i}].{field}"),
                    reason: CauseReason::FieldValueNotSupported,
                    message: format!("Unsupported value: {value:?}: supported values: {}", listed.join(", ")),
                });
            }
        }
    }
    causes
}
