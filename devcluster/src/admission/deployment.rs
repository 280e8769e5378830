//! `apps/v1` Deployments: the defaults the apiserver fills in and the invariants it checks.

use serde_json::{Value, json};

use crate::api_error::{ApiError, ApiResult};
use crate::crd_schema::{CauseReason, FieldCause, Invalid};
use crate::resources::ResourceDesc;

/// Default the Deployment, then check its selector, tolerations and containers.
pub(crate) fn admit(desc: &ResourceDesc, object: &mut Value, name: &str) -> ApiResult<()> {
    let spec = &mut object["spec"];
    fill_defaults(spec);
    let mut causes = selector_causes(spec);
    causes.extend(toleration_causes(spec));
    if spec["template"]["spec"]["containers"].as_array().is_none_or(Vec::is_empty) {
        causes.push(FieldCause {
            field: "spec.template.spec.containers".into(),
            reason: CauseReason::FieldValueRequired,
            message: "Required value".into(),
        });
    }
    if causes.is_empty() { Ok(()) } else { Err(ApiError::invalid(desc, name, &Invalid { causes })) }
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
    if spec["strategy"].is_null() {
        spec["strategy"] =
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}});
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
