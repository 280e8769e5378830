//! Secret-looking values in tool-call arguments are replaced before they reach the audit table.

use serde_json::Value;

/// What a redacted value becomes.
pub(crate) const REDACTED: &str = "[redacted]";

/// Replaces, at any depth, the value of every object key that looks like it names a secret
/// (`password`, `secret`, `token`, `api_key`/`api-key`/`apikey`, `authorization`, in any case,
/// anywhere in the key). Errs on the side of hiding: `max_tokens` is hidden too.
pub(crate) fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                if names_a_secret(key) {
                    *inner = Value::String(REDACTED.to_string());
                } else {
                    redact(inner);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// Whether `key` matches `password|secret|token|api[_-]?key|authorization`, ignoring case.
fn names_a_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "token", "apikey", "api_key", "api-key", "authorization"]
        .iter()
        .any(|word| key.contains(word))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secrets_are_hidden_at_any_depth_and_the_rest_is_kept() {
        let mut arguments = json!({
            "url": "https://example.invalid",
            "Password": "hunter2",
            "headers": {"Authorization": "Bearer abc", "X-Api-Key": "k1", "accept": "json"},
            "items": [{"client_secret": {"nested": "s"}}, {"apikey": 7}, "plain"],
            "ACCESS_TOKEN": ["t"],
            "api-key": null
        });
        redact(&mut arguments);
        assert_eq!(
            arguments,
            json!({
                "url": "https://example.invalid",
                "Password": REDACTED,
                "headers": {"Authorization": REDACTED, "X-Api-Key": REDACTED, "accept": "json"},
                "items": [{"client_secret": REDACTED}, {"apikey": REDACTED}, "plain"],
                "ACCESS_TOKEN": REDACTED,
                "api-key": REDACTED
            })
        );
    }

    #[test]
    fn values_that_are_not_objects_are_left_alone() {
        let mut text = json!("password=hunter2");
        redact(&mut text);
        assert_eq!(text, json!("password=hunter2"), "only keys say what a value is");
        assert!(!names_a_secret("api"));
        assert!(!names_a_secret("keyboard"));
        assert!(names_a_secret("apiKey"));
    }
}
