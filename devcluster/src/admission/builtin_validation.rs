//! kube-apiserver's validation of the built-in kinds, for what tests most often get wrong: label
//! keys and values (every kind), ConfigMap and Secret data keys and `immutable`, the base64 of
//! their bytes, and containers without a name or image; worded as apimachinery words them.

use serde_json::Value;

use crate::api_error::{ApiError, ApiResult};
use crate::crd_schema::{CauseReason, FieldCause};
use crate::resources::ResourceDesc;

const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const QUALIFIED_NAME_MSG: &str = "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')";
const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const CONFIG_KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
const IMMUTABLE_MSG: &str = "Forbidden: field is immutable when `immutable` is set";

/// `Invalid value: "<text>": <why>` for `field`.
pub(crate) fn invalid_string(field: &str, text: &str, why: &str) -> FieldCause {
    FieldCause {
        field: field.to_owned(),
        reason: CauseReason::FieldValueInvalid,
        message: format!("Invalid value: {}: {why}", Value::from(text)),
    }
}

/// `ValidateLabels`: every key a qualified name, every value a label value (`path` names the map).
pub(crate) fn label_causes(labels: &Value, path: &str) -> Vec<FieldCause> {
    let mut causes = Vec::new();
    for (key, value) in labels.as_object().into_iter().flatten() {
        for why in qualified_name_errors(key) {
            causes.push(invalid_string(path, key, &why));
        }
        let value = value.as_str().unwrap_or_default();
        if value.len() > 63 {
            causes.push(invalid_string(path, value, "must be no more than 63 characters"));
        }
        if !is_name_part(value) && !value.is_empty() {
            causes.push(invalid_string(path, value, LABEL_VALUE_MSG));
        }
    }
    causes
}

/// `IsQualifiedName`: `[prefix/]name`, the prefix a DNS subdomain, the name at most 63 characters.
fn qualified_name_errors(key: &str) -> Vec<String> {
    let parts: Vec<&str> = key.split('/').collect();
    let (prefix, name) = match parts.as_slice() {
        [name] => (None, *name),
        [prefix, name] => (Some(*prefix), *name),
        _ => return vec![QUALIFIED_NAME_MSG.to_owned()],
    };
    let mut errors = Vec::new();
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            errors.push("prefix part must be non-empty".to_owned());
        } else if !is_subdomain(prefix) {
            errors.push(format!("prefix part {SUBDOMAIN_MSG}"));
        }
    }
    if name.is_empty() {
        errors.push("name part must be non-empty".to_owned());
    } else if name.len() > 63 {
        errors.push("name part must be no more than 63 characters".to_owned());
    }
    if !is_name_part(name) {
        errors.push(NAME_PART_MSG.to_owned());
    }
    errors
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`.
fn is_name_part(text: &str) -> bool {
    let bytes = text.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

fn is_subdomain(text: &str) -> bool {
    text.len() <= 253
        && text.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

/// ConfigMap and Secret keys (`IsConfigMapKey`) of the maps named by `fields`, under `data[<key>]`.
pub(crate) fn data_key_causes(object: &Value, fields: &[&str]) -> Vec<FieldCause> {
    let mut causes = Vec::new();
    for field in fields {
        for key in object[field].as_object().into_iter().flatten().map(|(k, _)| k) {
            let path = format!("{field}[{key}]");
            if key.len() > 253 {
                causes.push(invalid_string(&path, key, "must be no more than 253 characters"));
            }
            let allowed = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
            if key.is_empty() || !key.as_bytes().iter().all(allowed) {
                causes.push(invalid_string(&path, key, CONFIG_KEY_MSG));
            }
            let chdir = match key.as_str() {
                "." => Some("must not be '.'"),
                ".." => Some("must not be '..'"),
                k if k.starts_with("..") => Some("must not start with '..'"),
                _ => None,
            };
            if let Some(why) = chdir {
                causes.push(invalid_string(&path, key, why));
            }
        }
    }
    causes
}

/// An `immutable` ConfigMap or Secret keeps `immutable: true` and the maps in `fields`.
pub(crate) fn immutable_causes(object: &Value, old: Option<&Value>, fields: &[&str]) -> Vec<FieldCause> {
    let Some(old) = old.filter(|o| o["immutable"] == Value::Bool(true)) else { return Vec::new() };
    let forbidden = |field: &str| FieldCause {
        field: field.to_owned(),
        reason: CauseReason::FieldValueForbidden,
        message: IMMUTABLE_MSG.into(),
    };
    let mut causes = Vec::new();
    if object["immutable"] != Value::Bool(true) {
        causes.push(forbidden("immutable"));
    }
    for field in fields {
        if object[field] != old[field] {
            causes.push(forbidden(field));
        }
    }
    causes
}

/// Bytes fields (`data` of Secrets, `binaryData` of ConfigMaps) must be base64, or the body does
/// not decode: `Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3`.
pub(crate) fn check_base64(desc: &ResourceDesc, object: &Value, field: &str) -> ApiResult<()> {
    for value in object[field].as_object().into_iter().flatten().map(|(_, v)| v) {
        let offset = match value {
            Value::String(text) => crate::base64::go_corrupt_offset(text),
            Value::Null => None,
            _ => Some(0),
        };
        if let Some(offset) = offset {
            return Err(ApiError::bad_request(format!(
                "{kind} in version \"{version}\" cannot be handled as a {kind}: illegal base64 data at input byte {offset}",
                kind = desc.kind,
                version = desc.version,
            )));
        }
    }
    Ok(())
}

/// Every container (and init container) of a pod spec at `path` has a name and an image.
pub(crate) fn container_causes(pod_spec: &Value, path: &str) -> Vec<FieldCause> {
    let mut causes = Vec::new();
    for list in ["initContainers", "containers"] {
        for (i, container) in pod_spec[list].as_array().into_iter().flatten().enumerate() {
            for field in ["name", "image"] {
                if container[field].as_str().is_none_or(str::is_empty) {
                    causes.push(FieldCause {
                        field: format!("{path}.{list}[{i}].{field}"),
                        reason: CauseReason::FieldValueRequired,
                        message: "Required value".into(),
                    });
                }
            }
        }
    }
    causes
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn label_keys_and_values_are_checked() {
        assert!(label_causes(&json!({"app": "web", "example.com/tier": "", "a.b_c": "X-1"}), "m").is_empty());
        let causes = label_causes(&json!({"app": "bad value!"}), "metadata.labels");
        assert_eq!(causes.len(), 1);
        assert!(causes[0].message.starts_with("Invalid value: \"bad value!\": a valid label must be"));
        let causes = label_causes(&json!({"Bad.Prefix/x": "v", "a/b/c": "v"}), "m");
        assert_eq!(causes.len(), 2, "{:?}", causes.iter().map(|c| &c.message).collect::<Vec<_>>());
    }

    #[test]
    fn config_keys_and_immutability_are_checked() {
        assert!(data_key_causes(&json!({"data": {"config.json": "x", "A_B-c": "y"}}), &["data"]).is_empty());
        let causes = data_key_causes(&json!({"data": {"bad key": "x", "..x": "y"}}), &["data"]);
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["data[..x]", "data[bad key]"]);
        let old = json!({"immutable": true, "data": {"a": "1"}});
        assert!(immutable_causes(&old, Some(&old), &["data"]).is_empty());
        let new = json!({"immutable": true, "data": {"a": "2"}});
        assert_eq!(immutable_causes(&new, Some(&old), &["data"])[0].field, "data");
    }
}
