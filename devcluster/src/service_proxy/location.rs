//! Where a Service's proxy sends a request (kube-apiserver's service `ResourceLocation`): the
//! Service's port is named by name or number; an address of the Endpoints object of the same
//! name with an endpoint port of that name (the endpoints controller gives endpoint ports the
//! Service ports' names and the resolved target port numbers).

use serde_json::Value;

use crate::api_error::{ApiError, ApiResult};
use crate::storage::cluster_state::ClusterState;

/// Where to send a proxied request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    /// `http` or `https`.
    pub(crate) scheme: String,
    /// `ip:port`.
    pub(crate) address: String,
}

/// Resolve `service` (`name`, `name:port` or `scheme:name:port`) in `namespace`.
pub(crate) fn locate(state: &ClusterState, namespace: &str, service: &str) -> ApiResult<Target> {
    let (scheme, name, mut port) = split_scheme_name_port(service)
        .ok_or_else(|| ApiError::bad_request(format!("invalid service request {}", quoted(service))))?;
    let desc = |plural: &str| state.resource("", "v1", plural).ok_or_else(ApiError::no_route);
    // A port number names the Service port of that number; only then is the Service read.
    if let Ok(number) = port.parse::<i64>() {
        let svc = state.get(&*desc("services")?, Some(namespace), &name)?;
        let ports = svc["spec"]["ports"].as_array().cloned().unwrap_or_default();
        let declared = ports.iter().find(|p| p["port"].as_i64() == Some(number)).ok_or_else(|| {
            unavailable(format!("no service port {number} found for service {}", quoted(&name)))
        })?;
        port = declared["name"].as_str().unwrap_or_default().to_owned();
    }
    let endpoints = state.get(&*desc("endpoints")?, Some(namespace), &name)?;
    let subsets = endpoints["subsets"].as_array().cloned().unwrap_or_default();
    if subsets.is_empty() {
        return Err(no_endpoints(&name));
    }
    // kube-apiserver picks a subset and an address at random; the first is as good here.
    for subset in &subsets {
        let Some(address) = subset["addresses"].as_array().and_then(|a| a.first()) else { continue };
        let ports = subset["ports"].as_array().cloned().unwrap_or_default();
        if let Some(p) = ports.iter().find(|p| p["name"].as_str().unwrap_or_default() == port) {
            let ip = address["ip"].as_str().unwrap_or_default();
            let number = p["port"].as_i64().unwrap_or(0);
            let scheme = if scheme.is_empty() { "http".to_owned() } else { scheme };
            return Ok(Target { scheme, address: format!("{ip}:{number}") });
        }
    }
    Err(no_endpoints(service))
}

/// `SplitSchemeNamePort`: `name`, `name:port` or `scheme:name:port`, the scheme empty, `http`
/// or `https`.
fn split_scheme_name_port(id: &str) -> Option<(String, String, String)> {
    let parts: Vec<&str> = id.split(':').collect();
    let (scheme, name, port) = match parts.as_slice() {
        [name] => ("", *name, ""),
        [name, port] => ("", *name, *port),
        [scheme, name, port] => (*scheme, *name, *port),
        _ => return None,
    };
    (!name.is_empty() && matches!(scheme, "" | "http" | "https"))
        .then(|| (scheme.to_owned(), name.to_owned(), port.to_owned()))
}

fn no_endpoints(service: &str) -> ApiError {
    unavailable(format!("no endpoints available for service {}", quoted(service)))
}

/// `errors.NewServiceUnavailable`.
pub(crate) fn unavailable(message: String) -> ApiError {
    ApiError::custom(503, "ServiceUnavailable", message, None)
}

fn quoted(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}
