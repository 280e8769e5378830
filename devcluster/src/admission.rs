//! What the apiserver checks and fills in on every write before storing: object names, the CRD
//! schema of custom resources, and the defaults and invariants of the built-in kinds we serve
//! (CustomResourceDefinitions themselves are checked by `crd_validation`).

mod builtin_defaults;
pub(crate) mod crd_validation;
mod deployment;
mod object_names;

use serde_json::Value;

use crate::api_error::{ApiError, ApiResult};
use crate::crd_schema::Invalid;
use crate::resources::ResourceDesc;

/// Validate and default `object` (being created when `old` is none); returns what to store.
pub(crate) fn admit(desc: &ResourceDesc, mut object: Value, old: Option<&Value>) -> ApiResult<Value> {
    let name = object["metadata"]["name"].as_str().unwrap_or_default().to_owned();
    if old.is_none() {
        let causes = object_names::name_causes(desc, &name);
        if !causes.is_empty() {
            return Err(ApiError::invalid(desc, &name, &Invalid { causes }));
        }
    }
    if let Some(schema) = &desc.schema {
        object = schema.admit(&object, old).map_err(|invalid| ApiError::invalid(desc, &name, &invalid))?;
    }
    match (desc.group.as_str(), desc.kind.as_str()) {
        ("", "Secret") => builtin_defaults::secret(&mut object),
        ("", "Namespace") => builtin_defaults::namespace(&mut object, &name),
        ("", "Service") => builtin_defaults::service(&mut object, old),
        ("", "Pod") if old.is_none() => builtin_defaults::pod(&mut object),
        ("apps", "Deployment") => deployment::admit(desc, &mut object, &name)?,
        _ => {}
    }
    Ok(object)
}
