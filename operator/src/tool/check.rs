//! Whether the runner can run a Tool: everything the runner refuses at start is refused here
//! first, so one bad Tool never crash-loops the runners of every Agent using it.

use agentry_crds::{BuiltinToolName, ConditionStatus, Tool, ToolType, reasons};
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

/// Whether the runner can run `tool`: `Ready`'s status, reason and message. Everything the
/// runner refuses at start is refused here first, so one bad Tool never crash-loops the
/// runners of every Agent using it.
pub fn check(tool: &Tool, secret_key: SecretKeyLookup<'_>) -> (ConditionStatus, &'static str, String) {
    let name = tool.name_any();
    if name.len() > 64 {
        return (
            ConditionStatus::False,
            reasons::INVALID_NAME,
            format!(
                "tool name {name} is longer than the 64 characters model providers accept; rename the Tool"
            ),
        );
    }
    // Models call tools by function name: letters, digits, `_` and `-` only.
    if name.contains('.') {
        return (
            ConditionStatus::False,
            reasons::INVALID_NAME,
            format!(
                "tool name {name} contains '.', which model providers refuse in function names; rename the Tool"
            ),
        );
    }
    if let Some(schema) = &tool.spec.input_schema {
        if schema.get("type").is_some_and(|t| t != "object") {
            return (
                ConditionStatus::False,
                reasons::INVALID_SCHEMA,
                "inputSchema must describe an object (type: object)".into(),
            );
        }
        if let Err(err) = jsonschema::validator_for(schema) {
            return (
                ConditionStatus::False,
                reasons::INVALID_SCHEMA,
                format!("inputSchema is not a valid JSON Schema: {err}"),
            );
        }
    }
    match tool.spec.type_ {
        ToolType::Mcp | ToolType::Wasm => {
            return (
                ConditionStatus::False,
                reasons::UNSUPPORTED,
                format!("type {:?} is not supported by this version of the runner yet", tool.spec.type_)
                    .to_lowercase(),
            );
        }
        ToolType::Builtin => {
            let memory = |b: &&agentry_crds::BuiltinTool| {
                matches!(b.name, BuiltinToolName::MemorySearch | BuiltinToolName::MemoryStore)
            };
            if tool.spec.builtin.as_ref().is_some_and(|b| memory(&b)) {
                return (
                    ConditionStatus::False,
                    reasons::UNSUPPORTED,
                    "the memory_search and memory_store builtins are not available in this runner version yet".into(),
                );
            }
        }
        ToolType::Http => {
            let Some(http) = &tool.spec.http else {
                return (ConditionStatus::False, reasons::INVALID, "type http needs an http block".into());
            };
            if !balanced_placeholders(&http.url) {
                return (
                    ConditionStatus::False,
                    reasons::INVALID_URL,
                    format!("http.url {} has an unclosed or nested {{placeholder}}", http.url),
                );
            }
            for (header, value) in &http.headers {
                if !is_header_token(header) || value.contains(['\r', '\n']) {
                    return (
                        ConditionStatus::False,
                        reasons::INVALID_HEADER,
                        format!("http.headers {header:?} is not a valid HTTP header name and value"),
                    );
                }
            }
            for header in &http.headers_from {
                let reference = &header.secret_key_ref;
                match secret_key(&reference.name, &reference.key) {
                    None => {
                        return (
                            ConditionStatus::False,
                            reasons::SECRET_NOT_FOUND,
                            format!("Secret {} (header {}) not found", reference.name, header.name),
                        );
                    }
                    Some(false) => {
                        return (
                            ConditionStatus::False,
                            reasons::KEY_MISSING,
                            format!(
                                "Secret {} has no non-empty key {} (header {}); add it",
                                reference.name, reference.key, header.name
                            ),
                        );
                    }
                    Some(true) => {}
                }
            }
        }
        ToolType::Agent => {}
    }
    (ConditionStatus::True, reasons::VALID, "the input schema compiles and the tool can run".into())
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
    }
}
