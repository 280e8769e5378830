//! Whether a Model's API key is where its spec says: the `Ready` condition it adds up to.

use agentry_crds::{ConditionStatus, Model, reasons};
use k8s_openapi::api::core::v1::Secret;

use crate::secret_keys::has_key;

/// What the API-key check found: the `Ready` condition's status, reason and message.
pub fn key_check(model: &Model, secret: Option<&Secret>) -> (ConditionStatus, &'static str, String) {
    let Some(reference) = &model.spec.api_key_secret_ref else {
        let message = "no API key configured; requests carry none".into();
        return (ConditionStatus::True, reasons::NO_KEY_REQUIRED, message);
    };
    let Some(secret) = secret else {
        let message = format!("Secret {} not found; create it with key {}", reference.name, reference.key);
        return (ConditionStatus::False, reasons::SECRET_NOT_FOUND, message);
    };
    if has_key(secret, &reference.key) {
        let message = format!("API key found in Secret {} key {}", reference.name, reference.key);
        (ConditionStatus::True, reasons::KEY_FOUND, message)
    } else {
        let message = format!("Secret {} has no non-empty key {}; add it", reference.name, reference.key);
        (ConditionStatus::False, reasons::KEY_MISSING, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn model(secret_ref: Option<serde_json::Value>) -> Model {
        serde_json::from_value(json!({
            "apiVersion": "agentry.dev/v1alpha1", "kind": "Model",
            "metadata": {"name": "m", "namespace": "ns"},
            "spec": {"provider": "openai", "model": "gpt", "apiKeySecretRef": secret_ref}
        }))
        .expect("model")
    }

    #[test]
    fn each_outcome_has_its_reason_and_names_the_secret() {
        let keyed = model(Some(json!({"name": "openai", "key": "api-key"})));
        assert_eq!(key_check(&model(None), None).1, "NoKeyRequired");
        let (status, reason, message) = key_check(&keyed, None);
        assert_eq!((status, reason), (ConditionStatus::False, "SecretNotFound"));
        assert!(message.contains("Secret openai") && message.contains("api-key"), "{message}");
        let mut secret = Secret {
            string_data: Some([("other".to_string(), "x".to_string())].into()),
            ..Default::default()
        };
        assert_eq!(key_check(&keyed, Some(&secret)).1, "KeyMissing");
        secret.string_data = Some([("api-key".to_string(), "x".to_string())].into());
        assert_eq!(key_check(&keyed, Some(&secret)).0, ConditionStatus::True);
    }
}
