//! Defaults the apiserver fills in for the simple built-in kinds (Secret, Namespace, Service, Pod).

use serde_json::{Value, json};

/// `stringData` is write-only: merged into `data` base64-encoded; `type` defaults to `Opaque`.
pub(crate) fn secret(object: &mut Value) {
    if let Some(Value::Object(string_data)) = object.as_object_mut().and_then(|o| o.remove("stringData")) {
        for (key, value) in string_data {
            let text = value.as_str().unwrap_or_default();
            object["data"][key] = json!(crate::base64::encode(text.as_bytes()));
        }
    }
    if object.get("type").is_none_or(Value::is_null) {
        object["type"] = json!("Opaque");
    }
}

/// A namespace's name label, `kubernetes` finalizer and `Active` phase.
pub(crate) fn namespace(object: &mut Value, name: &str) {
    object["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
    if object["spec"]["finalizers"].is_null() {
        object["spec"]["finalizers"] = json!(["kubernetes"]);
    }
    if object["status"]["phase"].is_null() {
        object["status"]["phase"] = json!("Active");
    }
}

/// A Service's type, a stable cluster IP, and its ports' protocol and target port.
pub(crate) fn service(object: &mut Value, old: Option<&Value>) {
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

/// A new Pod starts `Pending`.
pub(crate) fn pod(object: &mut Value) {
    if object["status"]["phase"].is_null() {
        object["status"]["phase"] = json!("Pending");
    }
}
