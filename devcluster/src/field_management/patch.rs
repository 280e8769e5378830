//! PATCH bodies other than server-side apply: JSON patch (RFC 6902, `test` op included), JSON
//! merge patch (RFC 7386), and strategic merge patch for built-in kinds.

use serde_json::Value;

use crate::api_error::ApiError;
use crate::resources::ResourceDesc;

/// The patch types of the `Content-Type` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PatchType {
    /// `application/json-patch+json`.
    Json,
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchType {
    /// From a `Content-Type` value (parameters ignored).
    pub(crate) fn from_content_type(content_type: &str) -> Result<Self, ApiError> {
        match content_type.split(';').next().unwrap_or_default().trim() {
            "application/json-patch+json" => Ok(Self::Json),
            "application/merge-patch+json" => Ok(Self::Merge),
            "application/strategic-merge-patch+json" => Ok(Self::Strategic),
            "application/apply-patch+yaml"
            | "application/apply-patch+json"
            | "application/apply-patch+cbor" => Ok(Self::Apply),
            other => Err(ApiError::unsupported_media_type(other)),
        }
    }
}

/// Apply a JSON, merge or strategic patch to `current`, returning the patched object.
pub(crate) fn apply(
    desc: &ResourceDesc,
    current: &Value,
    patch_type: PatchType,
    body: &[u8],
) -> Result<Value, ApiError> {
    let mut object = current.clone();
    match patch_type {
        PatchType::Json => {
            let patch: json_patch::Patch =
                serde_json::from_slice(body).map_err(|e| ApiError::bad_request(e.to_string()))?;
            json_patch::patch(&mut object, &patch.0)
                .map_err(|e| ApiError::custom(422, "Invalid", e.to_string(), None))?;
        }
        PatchType::Merge => {
            let patch: Value =
                serde_json::from_slice(body).map_err(|e| ApiError::bad_request(e.to_string()))?;
            json_patch::merge(&mut object, &patch);
        }
        PatchType::Strategic => {
            if desc.custom {
                return Err(ApiError::unsupported_media_type("application/strategic-merge-patch+json"));
            }
            let patch: Value =
                serde_json::from_slice(body).map_err(|e| ApiError::bad_request(e.to_string()))?;
            super::strategic_merge::apply(desc, &mut object, &patch)?;
        }
        PatchType::Apply => return Err(ApiError::internal("apply patches are handled by server-side apply")),
    }
    Ok(object)
}
