//! Where requests go: through the apiserver's service proxy to the API's Service, or straight to
//! `--api-url`; and how a request's query is written.

use serde::Serialize;

/// The API's location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ApiEndpoint {
    /// `{apiserver}/api/v1/namespaces/<namespace>/services/http:<service>:http/proxy<path>`.
    Proxy {
        /// The Service's namespace.
        namespace: String,
        /// The Service's name.
        service: String,
    },
    /// `<--api-url><path>`.
    Direct,
}

/// The Service's port name the proxy path selects.
const PORT_NAME: &str = "http";

impl ApiEndpoint {
    /// The service proxy to `service` in `namespace`, both checked to be Kubernetes names.
    pub(crate) fn proxy(namespace: &str, service: &str) -> Result<Self, String> {
        for (flag, value) in [("--api-namespace", namespace), ("--api-service", service)] {
            if !is_dns_label(value) {
                return Err(format!(
                    "{flag} `{value}` is not a Kubernetes name (lowercase letters, digits and '-', at most 63)"
                ));
            }
        }
        Ok(Self::Proxy { namespace: namespace.into(), service: service.into() })
    }

    /// What to put before an API path: the proxy path, or nothing (the direct URL is the base).
    pub(crate) fn path_prefix(&self) -> String {
        match self {
            Self::Proxy { namespace, service } => {
                format!("/api/v1/namespaces/{namespace}/services/http:{service}:{PORT_NAME}/proxy")
            }
            Self::Direct => String::new(),
        }
    }
}

fn is_dns_label(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 63
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-')
}

/// `query`'s fields as `?name=value&...` (by name, percent-encoded, absent fields left out), or `""`.
///
/// The API's query structs are flat: strings, numbers and booleans only.
pub(crate) fn query_string<T: Serialize>(query: &T) -> Result<String, serde_json::Error> {
    let serde_json::Value::Object(fields) = serde_json::to_value(query)? else {
        return Ok(String::new());
    };
    let mut fields: Vec<_> = fields.into_iter().collect();
    // By name: the same query is the same URL, whatever order serde_json keeps maps in.
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    let mut pairs = Vec::new();
    for (name, value) in fields {
        let value = match value {
            serde_json::Value::Null => continue,
            serde_json::Value::String(text) => text,
            other => other.to_string(),
        };
        pairs.push(format!("{}={}", encode(&name), encode(&value)));
    }
    Ok(if pairs.is_empty() { String::new() } else { format!("?{}", pairs.join("&")) })
}

fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentry_api_contract::history::InteractionListQuery;

    #[test]
    fn the_proxy_path_names_the_service_and_its_http_port() {
        let endpoint = ApiEndpoint::proxy("agentry-system", "agentry-api").unwrap();
        assert_eq!(
            endpoint.path_prefix(),
            "/api/v1/namespaces/agentry-system/services/http:agentry-api:http/proxy"
        );
        assert_eq!(ApiEndpoint::Direct.path_prefix(), "");
    }

    #[test]
    fn proxy_names_must_be_kubernetes_names() {
        assert!(
            ApiEndpoint::proxy("Agentry", "agentry-api").unwrap_err().contains("--api-namespace `Agentry`")
        );
        assert!(ApiEndpoint::proxy("ns", "a/b").unwrap_err().contains("--api-service"));
        assert!(ApiEndpoint::proxy("ns", "").is_err());
    }

    #[test]
    fn query_strings_carry_only_given_fields_encoded() {
        let query = InteractionListQuery {
            from: Some("sales bot".into()),
            r#type: Some("query".into()),
            since: Some("2026-11-30T10:00:00+01:00".into()),
            limit: Some(20),
            ..Default::default()
        };
        assert_eq!(
            query_string(&query).unwrap(),
            "?from=sales%20bot&limit=20&since=2026-11-30T10%3A00%3A00%2B01%3A00&type=query"
        );
        assert_eq!(query_string(&InteractionListQuery::default()).unwrap(), "");
    }
}
