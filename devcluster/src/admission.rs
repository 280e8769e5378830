//! What the apiserver checks and fills in on every write before storing: object names, the CRD
//! schema of custom resources, and the defaults and invariants of the built-in kinds we serve
//! (CustomResourceDefinitions themselves are checked by `crd_validation`).

mod builtin_defaults;
mod builtin_validation;
pub(crate) mod crd_validation;
mod deployment;
mod object_names;
mod pod_defaults;

use serde_json::Value;

use crate::api_error::{ApiError, ApiResult};
use crate::crd_schema::Invalid;
use crate::resources::ResourceDesc;

/// Validate and default `object` (being created when `old` is none); returns what to store.
pub(crate) fn admit(desc: &ResourceDesc, mut object: Value, old: Option<&Value>) -> ApiResult<Value> {
    let name = object["metadata"]["name"].as_str().unwrap_or_default().to_owned();
    match (desc.group.as_str(), desc.kind.as_str()) {
        ("", "Secret") => builtin_validation::check_base64(desc, &object, "data")?,
        ("", "ConfigMap") => builtin_validation::check_base64(desc, &object, "binaryData")?,
        _ => {}
    }
    let mut causes = if old.is_none() { object_names::name_causes(desc, &name) } else { Vec::new() };
    causes.extend(builtin_validation::label_causes(&object["metadata"]["labels"], "metadata.labels"));
    if !causes.is_empty() {
        return Err(ApiError::invalid(desc, &name, &Invalid { causes }));
    }
    if let Some(schema) = &desc.schema {
        object = schema.admit(&object, old).map_err(|invalid| ApiError::invalid(desc, &name, &invalid))?;
    }
    let causes = match (desc.group.as_str(), desc.kind.as_str()) {
        ("", "Secret") => {
            builtin_defaults::secret(&mut object);
            data_causes(&object, old, &["data"])
        }
        ("", "ConfigMap") => data_causes(&object, old, &["data", "binaryData"]),
        ("", "Namespace") => {
            builtin_defaults::namespace(&mut object, &name);
            Vec::new()
        }
        ("", "Service") => {
            builtin_defaults::service(&mut object, old);
            Vec::new()
        }
        ("", "Pod") => {
            if old.is_none() {
                builtin_defaults::pod(&mut object);
                if let Some(spec) = object.get_mut("spec") {
                    pod_defaults::default_pod_spec(spec);
                }
            }
            builtin_validation::container_causes(&object["spec"], "spec")
        }
        ("apps", "Deployment") => {
            deployment::admit(desc, &mut object, old, &name)?;
            Vec::new()
        }
        _ => Vec::new(),
    };
    if !causes.is_empty() {
        return Err(ApiError::invalid(desc, &name, &Invalid { causes }));
    }
    Ok(object)
}

/// ConfigMap and Secret checks: valid keys in `fields`, which an `immutable` object keeps.
fn data_causes(object: &Value, old: Option<&Value>, fields: &[&str]) -> Vec<crate::crd_schema::FieldCause> {
    let mut causes = builtin_validation::data_key_causes(object, fields);
    causes.extend(builtin_validation::immutable_causes(object, old, fields));
    causes
}
