//! Reading one key of a Secret the way every controller must: from `data`, or from `stringData`,
//! which a real API server folds into `data` but simpler servers may keep.

use k8s_openapi::api::core::v1::Secret;

/// The bytes under `key`, if the Secret holds it.
pub fn value(secret: &Secret, key: &str) -> Option<Vec<u8>> {
    let in_data = secret.data.as_ref().and_then(|d| d.get(key)).map(|v| v.0.clone());
    in_data.or_else(|| secret.string_data.as_ref().and_then(|d| d.get(key)).map(|s| s.clone().into_bytes()))
}

/// Whether `secret` holds a non-empty value under `key`.
pub fn has_key(secret: &Secret, key: &str) -> bool {
    value(secret, key).is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    #[test]
    fn data_and_string_data_both_count_and_empty_does_not() {
        let secret = Secret {
            data: Some(
                [("a".to_string(), ByteString(b"x".to_vec())), ("e".into(), ByteString(vec![]))].into(),
            ),
            string_data: Some([("b".to_string(), "y".to_string())].into()),
            ..Default::default()
        };
        assert!(has_key(&secret, "a"));
        assert!(has_key(&secret, "b"));
        assert!(!has_key(&secret, "e"));
        assert!(!has_key(&secret, "c"));
        assert_eq!(value(&secret, "b"), Some(b"y".to_vec()));
    }
}
