//! Whether the runner can run a Tool: everything the runner refuses at start is refused here
//! first, so one bad Tool never crash-loops the runners of every Agent using it.

use agentry_crds::{ConditionStatus, Tool, ToolType, reasons};
use kube::ResourceExt;

/// What a `headersFrom` Secret holds: `None` when the Secret does not exist, else whether it has
/// a non-empty value under the key.
pub type SecretKeyLookup<'a> = &'a dyn Fn(&str, &str) -> Option<bool>;

/// Characters allowed in an HTTP header name (RFC 9110 token).
fn is_header_token(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

/// Whether every `{` of a URL template is closed before the next one opens.
fn balanced_placeholders(url: &str) -> bool {
    let mut open = false;
    for c in url.chars() {
        match (c, open) {
            ('{', false) => open = true,
            ('}', true) => open = false,
            ('{', true) | ('}', false) => return false,
            _ => {}
        }
    }
    !open
}

/// Whether `text` is an IPv4 or IPv6 CIDR (`10.0.0.0/8`), or a bare address (one host).
fn is_cidr(text: &str) -> bool {
    let (address, prefix) = text.split_once('/').map_or((text, None), |(a, p)| (a, Some(p)));
    let Ok(address) = address.parse::<std::net::IpAddr>() else { return false };
    let bits = if address.is_ipv4() { 32 } else { 128 };
    prefix.is_none_or(|p| p.parse::<u8>().is_ok_and(|p| p <= bits))
}

/// Why a Tool cannot run: the `Ready` reason and a message naming what to change.
type Refusal = (&'static str, String);

/// Whether the runner can run `tool`: `Ready`'s status, reason and message. Everything the
/// runner refuses at start is refused here first, so one bad Tool never crash-loops the
/// runners of every Agent using it.
pub fn check(tool: &Tool, secret_key: SecretKeyLookup<'_>) -> (ConditionStatus, &'static str, String) {
    let checked =
        check_name(&tool.name_any()).and_then(|()| check_schema(tool)).and_then(|()| match tool.spec.type_ {
            ToolType::Mcp | ToolType::Wasm => {
                let message =
                    format!("type {:?} is not supported by this version of the runner yet", tool.spec.type_);
                Err((reasons::UNSUPPORTED, message.to_lowercase()))
            }
            // The runner runs every builtin the API names.
            ToolType::Builtin => Ok(()),
            ToolType::Http => check_http(tool, secret_key),
            ToolType::Agent => Ok(()),
        });
    match checked {
        Ok(()) => {
            (ConditionStatus::True, reasons::VALID, "the input schema compiles and the tool can run".into())
        }
        Err((reason, message)) => (ConditionStatus::False, reason, message),
    }
}

/// Models call tools by function name: at most 64 letters, digits, `_` and `-`.
fn check_name(name: &str) -> Result<(), Refusal> {
    if name.len() > 64 {
        let message = format!(
            "tool name {name} is longer than the 64 characters model providers accept; rename the Tool"
        );
        return Err((reasons::INVALID_NAME, message));
    }
    if name.contains('.') {
        let message = format!(
            "tool name {name} contains '.', which model providers refuse in function names; rename the Tool"
        );
        return Err((reasons::INVALID_NAME, message));
    }
    Ok(())
}

fn check_schema(tool: &Tool) -> Result<(), Refusal> {
    let Some(schema) = &tool.spec.input_schema else { return Ok(()) };
    if schema.get("type").is_some_and(|t| t != "object") {
        return Err((reasons::INVALID_SCHEMA, "inputSchema must describe an object (type: object)".into()));
    }
    jsonschema::validator_for(schema)
        .map(|_| ())
        .map_err(|err| (reasons::INVALID_SCHEMA, format!("inputSchema is not a valid JSON Schema: {err}")))
}

fn check_http(tool: &Tool, secret_key: SecretKeyLookup<'_>) -> Result<(), Refusal> {
    let Some(http) = &tool.spec.http else {
        return Err((reasons::INVALID, "type http needs an http block".into()));
    };
    if !balanced_placeholders(&http.url) {
        let message = format!("http.url {} has an unclosed or nested {{placeholder}}", http.url);
        return Err((reasons::INVALID_URL, message));
    }
    if let Some(bad) = http.allow_private_networks.iter().find(|n| !is_cidr(n)) {
        let message =
            format!("http.allowPrivateNetworks {bad:?} is not a CIDR such as 10.0.0.0/8 or fd00::/8");
        return Err((reasons::INVALID, message));
    }
    for (header, value) in &http.headers {
        if !is_header_token(header) || value.contains(['\r', '\n']) {
            let message = format!("http.headers {header:?} is not a valid HTTP header name and value");
            return Err((reasons::INVALID_HEADER, message));
        }
    }
    for header in &http.headers_from {
        let reference = &header.secret_key_ref;
        match secret_key(&reference.name, &reference.key) {
            None => {
                let message = format!("Secret {} (header {}) not found", reference.name, header.name);
                return Err((reasons::SECRET_NOT_FOUND, message));
            }
            Some(false) => {
                let message = format!(
                    "Secret {} has no non-empty key {} (header {}); add it",
                    reference.name, reference.key, header.name
                );
                return Err((reasons::KEY_MISSING, message));
            }
            Some(true) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http_tool(name: &str, http: serde_json::Value) -> Tool {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "agentry.dev/v1alpha1", "kind": "Tool",
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"type": "http", "description": "d", "http": http}
        }))
        .expect("tool")
    }

    #[test]
    fn what_the_runner_refuses_is_not_ready() {
        let secrets = |name: &str, key: &str| match (name, key) {
            ("token", "value") => Some(true),
            ("token", _) => Some(false),
            _ => None,
        };
        let ok = http_tool(
            "fine",
            serde_json::json!({"url": "https://h/{id}", "headers": {"Accept": "x"},
            "headersFrom": [{"name": "Authorization", "secretKeyRef": {"name": "token", "key": "value"}}]}),
        );
        assert_eq!(check(&ok, &secrets).1, "Valid");
        let long = http_tool(&"a".repeat(65), serde_json::json!({"url": "https://h/"}));
        assert_eq!(check(&long, &secrets).1, "InvalidName");
        let unclosed = http_tool("t", serde_json::json!({"url": "https://h/{city"}));
        assert_eq!(check(&unclosed, &secrets).1, "InvalidUrl");
        let header = http_tool("t", serde_json::json!({"url": "https://h/", "headers": {"Bad Header": "x"}}));
        assert_eq!(check(&header, &secrets).1, "InvalidHeader");
        let newline = http_tool("t", serde_json::json!({"url": "https://h/", "headers": {"X": "a\nb"}}));
        assert_eq!(check(&newline, &secrets).1, "InvalidHeader");
        let missing_key = http_tool(
            "t",
            serde_json::json!({"url": "https://h/",
            "headersFrom": [{"name": "Authorization", "secretKeyRef": {"name": "token", "key": "other"}}]}),
        );
        assert_eq!(check(&missing_key, &secrets).1, "KeyMissing");
        let missing_secret = http_tool(
            "t",
            serde_json::json!({"url": "https://h/",
            "headersFrom": [{"name": "Authorization", "secretKeyRef": {"name": "nope", "key": "value"}}]}),
        );
        assert_eq!(check(&missing_secret, &secrets).1, "SecretNotFound");
        let networks = |list: serde_json::Value| {
            http_tool("t", serde_json::json!({"url": "https://h/", "allowPrivateNetworks": list}))
        };
        assert_eq!(
            check(&networks(serde_json::json!(["10.0.0.0/8", "fd00::/8", "127.0.0.1"])), &secrets).1,
            "Valid"
        );
        let (_, reason, message) = check(&networks(serde_json::json!(["10.0.0.0/33"])), &secrets);
        assert_eq!((reason, message.contains("10.0.0.0/33")), ("Invalid", true), "{message}");
        assert_eq!(check(&networks(serde_json::json!(["intranet"])), &secrets).1, "Invalid");
    }
}
