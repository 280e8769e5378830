//! What the apiserver checks and fills in on every write before storing: object names, the CRD
//! schema of custom resources, and the defaults and invariants of the built-in kinds we serve.

use serde_json::{Value, json};

use crate::api_error::{ApiError, ApiResult};
use crate::crd_schema::{CauseReason, FieldCause, Invalid};
use crate::resources::ResourceDesc;

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

/// Validate and default `object` (being created when `old` is none); returns what to store.
pub fn admit(desc: &ResourceDesc, mut object: Value, old: Option<&Value>) -> ApiResult<Value> {
    let name = object["metadata"]["name"].as_str().unwrap_or_default().to_owned();
    if old.is_none() {
        let causes = name_causes(desc, &name);
        if !causes.is_empty() {
            return Err(ApiError::invalid(desc, &name, &Invalid { causes }));
        }
    }
    if let Some(schema) = &desc.schema {
        object = schema.admit(&object, old).map_err(|invalid| ApiError::invalid(desc, &name, &invalid))?;
    }
    match (desc.group.as_str(), desc.kind.as_str()) {
        ("", "Secret") => secret(&mut object),
        ("", "Namespace") => namespace(&mut object, &name),
        ("", "Service") => service(&mut object, old),
        ("", "Pod") if old.is_none() => pod(&mut object),
        ("apps", "Deployment") => deployment(desc, &mut object, &name)?,
        _ => {}
    }
    Ok(object)
}

/// `metadata.name` must be a DNS subdomain (a DNS label for namespaces), as `ValidateObjectMeta` checks.
fn name_causes(desc: &ResourceDesc, name: &str) -> Vec<FieldCause> {
    let cause = |reason, message: String| vec![FieldCause { field: "metadata.name".into(), reason, message }];
    if name.is_empty() {
        return cause(
            CauseReason::FieldValueRequired,
            "Required value: name or generateName is required".into(),
        );
    }
    let label = desc.kind == "Namespace";
    let max = if label { 63 } else { 253 };
    let mut problems = Vec::new();
    if name.len() > max {
        problems.push(format!("must be no more than {max} characters"));
    }
    let valid_part = |part: &str| {
        !part.is_empty()
            && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !part.starts_with('-')
            && !part.ends_with('-')
    };
    let valid = if label { valid_part(name) } else { name.split('.').all(valid_part) };
    if !valid {
        problems.push(if label { LABEL_MSG } else { SUBDOMAIN_MSG }.to_owned());
    }
    problems
        .into_iter()
        .flat_map(|p| cause(CauseReason::FieldValueInvalid, format!("Invalid value: {name:?}: {p}")))
        .collect()
}

/// `stringData` is write-only: merged into `data` base64-encoded; `type` defaults to `Opaque`.
fn secret(object: &mut Value) {
    if let Some(Value::Object(string_data)) = object.as_object_mut().and_then(|o| o.remove("stringData")) {
        for (key, value) in string_data {
            let text = value.as_str().unwrap_or_default();
            object["data"][key] = json!(base64_encode(text.as_bytes()));
        }
    }
    if object.get("type").is_none_or(Value::is_null) {
        object["type"] = json!("Opaque");
    }
}

fn namespace(object: &mut Value, name: &str) {
    object["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
    if object["spec"]["finalizers"].is_null() {
        object["spec"]["finalizers"] = json!(["kubernetes"]);
    }
    if object["status"]["phase"].is_null() {
        object["status"]["phase"] = json!("Active");
    }
}

fn service(object: &mut Value, old: Option<&Value>) {
    if object["spec"]["type"].is_null() {
        object["spec"]["type"] = json!("ClusterIP");
    }
    if object["spec"]["clusterIP"].is_null() {
        // Keep the address allocated at creation; a fresh one is derived from the uid-less name.
        let ip = old.map(|o| o["spec"]["clusterIP"].clone()).filter(|v| !v.is_null());
        object["spec"]["clusterIP"] = ip.unwrap_or_else(|| {
            let hash = object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .bytes()
                .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
            json!(format!("10.96.{}.{}", (hash >> 8) % 255, hash % 254 + 1))
        });
    }
    if let Some(ports) = object["spec"]["ports"].as_array_mut() {
        for port in ports {
            if port["protocol"].is_null() {
                port["protocol"] = json!("TCP");
            }
            if port["targetPort"].is_null() {
                port["targetPort"] = port["port"].clone();
            }
        }
    }
}

fn pod(object: &mut Value) {
    if object["status"]["phase"].is_null() {
        object["status"]["phase"] = json!("Pending");
    }
}

/// Defaults of `apps/v1` Deployments, and the selector must select the template's labels.
fn deployment(desc: &ResourceDesc, object: &mut Value, name: &str) -> ApiResult<()> {
    let spec = &mut object["spec"];
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
    let selector = spec["selector"]["matchLabels"].as_object().cloned().unwrap_or_default();
    let labels = &spec["template"]["metadata"]["labels"];
    let mut causes = Vec::new();
    if spec["selector"].is_null() {
        causes.push(FieldCause {
            field: "spec.selector".into(),
            reason: CauseReason::FieldValueRequired,
            message: "Required value".into(),
        });
    } else if selector.iter().any(|(k, v)| labels.get(k) != Some(v)) {
        causes.push(FieldCause {
            field: "spec.template.metadata.labels".into(),
            reason: CauseReason::FieldValueInvalid,
            message: format!("Invalid value: {}: `selector` does not match template `labels`", labels),
        });
    }
    // As `ValidateTolerations`: operator and effect are closed sets.
    let tolerations = spec["template"]["spec"]["tolerations"].as_array().cloned().unwrap_or_default();
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
    if spec["template"]["spec"]["containers"].as_array().is_none_or(Vec::is_empty) {
        causes.push(FieldCause {
            field: "spec.template.spec.containers".into(),
            reason: CauseReason::FieldValueRequired,
            message: "Required value".into(),
        });
    }
    if causes.is_empty() { Ok(()) } else { Err(ApiError::invalid(desc, name, &Invalid { causes })) }
}

/// Standard base64 with padding, as Secret `data` holds it.
pub fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decode standard base64 (Secret `data`); `None` if malformed.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut buffer = 0u32;
    let mut bits = 0;
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for text in ["", "a", "ab", "abc", "sk-test-123", "ünïcödé"] {
            let encoded = base64_encode(text.as_bytes());
            assert_eq!(base64_decode(&encoded).as_deref(), Some(text.as_bytes()), "{encoded}");
        }
        assert_eq!(base64_encode(b"hello"), "aGVsbG8=");
    }
}
