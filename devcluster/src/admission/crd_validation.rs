//! CustomResourceDefinitions the apiextensions-apiserver refuses: names that do not match, no
//! single storage version, a schema that does not compile.

use serde_json::Value;

use crate::api_error::{ApiError, ApiResult};
use crate::crd_schema::{CauseReason, CrdSchema, FieldCause, Invalid};
use crate::resources::ResourceDesc;

/// Refuse a CRD whose name, names, versions or schemas cannot be served.
pub(crate) fn validate(desc: &ResourceDesc, crd: &Value) -> ApiResult<()> {
    let name = crd["metadata"]["name"].as_str().unwrap_or_default();
    let spec = &crd["spec"];
    let mut causes = Vec::new();
    let mut cause = |field: &str, reason, message: String| {
        causes.push(FieldCause { field: field.into(), reason, message })
    };
    let group = spec["group"].as_str().unwrap_or_default();
    let plural = spec["names"]["plural"].as_str().unwrap_or_default();
    if group.is_empty() {
        cause("spec.group", CauseReason::FieldValueRequired, "Required value".into());
    }
    if plural.is_empty() {
        cause("spec.names.plural", CauseReason::FieldValueRequired, "Required value".into());
    }
    if spec["names"]["kind"].as_str().is_none_or(str::is_empty) {
        cause("spec.names.kind", CauseReason::FieldValueRequired, "Required value".into());
    }
    if name != format!("{plural}.{group}") {
        cause(
            "metadata.name",
            CauseReason::FieldValueInvalid,
            format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
        );
    }
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    if versions.is_empty() {
        cause(
            "spec.versions",
            CauseReason::FieldValueInvalid,
            "Invalid value: null: must have exactly one version marked as storage version".into(),
        );
    }
    if versions.iter().filter(|v| v["storage"].as_bool() == Some(true)).count() != 1 && !versions.is_empty() {
        cause(
            "spec.versions",
            CauseReason::FieldValueInvalid,
            format!(
                "Invalid value: {}: must have exactly one version marked as storage version",
                Value::Array(versions.clone())
            ),
        );
    }
    for (i, version) in versions.iter().enumerate() {
        let schema = &version["schema"]["openAPIV3Schema"];
        if schema.is_object()
            && let Err(err) = CrdSchema::compile(schema)
        {
            cause(
                &format!("spec.versions[{i}].schema.openAPIV3Schema"),
                CauseReason::FieldValueInvalid,
                format!("Invalid value: \"\": {err}"),
            );
        }
    }
    if causes.is_empty() { Ok(()) } else { Err(ApiError::invalid(desc, name, &Invalid { causes })) }
}
