//! Where and how spans are exported, read from the standard `OTEL_*` environment variables.

use std::fmt;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};

/// The signal path appended to `OTEL_EXPORTER_OTLP_ENDPOINT` (the traces endpoint is used as is).
const TRACES_PATH: &str = "v1/traces";

/// Why the `OTEL_*` variables cannot be used; it names the variable and, for headers, the key,
/// never a header's value (it may be a secret).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    /// An endpoint that is not an http(s) URL.
    #[error("{var} is not an http:// or https:// URL")]
    BadEndpoint {
        /// The variable.
        var: &'static str,
    },
    /// A protocol this exporter does not speak.
    #[error(
        "{var}={value:?} is not supported: traces are exported over OTLP/HTTP (http/json or http/protobuf)"
    )]
    UnsupportedProtocol {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
    },
    /// A `key=value` list entry that does not parse.
    #[error("{var}: entry {position} is not key=value{key}")]
    BadEntry {
        /// The variable.
        var: &'static str,
        /// Its 1-based position in the list.
        position: usize,
        /// ` (key "…")` when the key could be read.
        key: String,
    },
    /// A header whose name or value HTTP does not allow.
    #[error("{var}: header {key:?} is not a valid HTTP header name or value")]
    BadHeader {
        /// The variable.
        var: &'static str,
        /// The header's name.
        key: String,
    },
    /// A number that does not parse or is zero.
    #[error("{var}={value:?} is not a positive whole number")]
    BadNumber {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
    },
}

/// Everything the exporter needs; `Debug` leaves the headers' values out.
#[derive(Clone)]
pub struct ExportSettings {
    /// The URL spans are POSTed to.
    pub endpoint: Url,
    /// Extra request headers (`OTEL_EXPORTER_OTLP_HEADERS`), typically an API key.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Resource attributes, `service.name` included.
    pub resource: Vec<(String, String)>,
    /// Finished spans held while the exporter is busy or down; more are dropped and counted.
    pub max_queue_size: usize,
    /// Spans sent in one request at most.
    pub max_batch_size: usize,
    /// The longest a finished span waits before it is sent.
    pub schedule_delay: Duration,
    /// The longest one export request may take.
    pub timeout: Duration,
    /// A note worth logging about the settings (a protocol asked for but not spoken).
    pub note: Option<String>,
}

impl fmt::Debug for ExportSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("ExportSettings")
            .field("endpoint", &self.endpoint.as_str())
            .field("header_names", &header_names)
            .field("resource", &self.resource)
            .field("max_queue_size", &self.max_queue_size)
            .field("max_batch_size", &self.max_batch_size)
            .field("schedule_delay", &self.schedule_delay)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl ExportSettings {
    /// Reads the settings through `var` (the process environment in a binary); `None` when no
    /// endpoint is set or the SDK is disabled: then nothing is exported. `service` is the
    /// `service.name` unless `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES` names one.
    pub fn from_env(
        service: &str,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, SettingsError> {
        let var = |name: &str| var(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
            || var("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"))
        {
            return Ok(None);
        }
        let Some(endpoint) = endpoint(&var)? else { return Ok(None) };
        let note = protocol_note(&var)?;
        let mut headers = Vec::new();
        for name in ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"] {
            for (key, value) in key_values(name, var(name).as_deref())? {
                let bad = || SettingsError::BadHeader { var: name, key: key.clone() };
                let header = HeaderName::try_from(key.as_str()).map_err(|_| bad())?;
                let mut value = HeaderValue::try_from(value).map_err(|_| bad())?;
                value.set_sensitive(true);
                // The traces-specific list overrides the general one, key by key.
                headers.retain(|(existing, _)| *existing != header);
                headers.push((header, value));
            }
        }
        Ok(Some(Self {
            endpoint,
            headers,
            resource: resource(service, &var)?,
            max_queue_size: number(&var, "OTEL_BSP_MAX_QUEUE_SIZE", 2048)?,
            max_batch_size: number(&var, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512)?,
            schedule_delay: Duration::from_millis(number(&var, "OTEL_BSP_SCHEDULE_DELAY", 5000)?),
            timeout: Duration::from_millis(match var("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") {
                Some(_) => number(&var, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", 10_000)?,
                None => number(&var, "OTEL_EXPORTER_OTLP_TIMEOUT", 10_000)?,
            }),
            note,
        }))
    }
}

fn endpoint(var: &impl Fn(&str) -> Option<String>) -> Result<Option<Url>, SettingsError> {
    let (name, url) = match (var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), var("OTEL_EXPORTER_OTLP_ENDPOINT")) {
        (Some(traces), _) => ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", traces),
        (None, Some(base)) => {
            ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("{}/{TRACES_PATH}", base.trim_end_matches('/')))
        }
        (None, None) => return Ok(None),
    };
    let bad = SettingsError::BadEndpoint { var: name };
    let url = Url::parse(&url).map_err(|_| bad.clone())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(bad);
    }
    Ok(Some(url))
}

/// Spans go out as OTLP/HTTP JSON, which every OTLP/HTTP receiver takes on the same path as
/// protobuf; gRPC is another port and another framing, so asking for it is an error.
fn protocol_note(var: &impl Fn(&str) -> Option<String>) -> Result<Option<String>, SettingsError> {
    for name in ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"] {
        let Some(value) = var(name) else { continue };
        return match value.as_str() {
            "http/json" => Ok(None),
            "http/protobuf" => Ok(Some(format!(
                "{name}=http/protobuf: spans are sent as http/json, which OTLP/HTTP receivers accept on the same path"
            ))),
            _ => Err(SettingsError::UnsupportedProtocol { var: name, value }),
        };
    }
    Ok(None)
}

fn resource(
    service: &str,
    var: &impl Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, SettingsError> {
    let mut resource = key_values("OTEL_RESOURCE_ATTRIBUTES", var("OTEL_RESOURCE_ATTRIBUTES").as_deref())?;
    let name = var("OTEL_SERVICE_NAME")
        .or_else(|| resource.iter().find(|(k, _)| k == "service.name").map(|(_, v)| v.clone()))
        .unwrap_or_else(|| service.to_string());
    resource.retain(|(k, _)| k != "service.name");
    resource.insert(0, ("service.name".to_string(), name));
    if !resource.iter().any(|(k, _)| k == "service.version") {
        resource.push(("service.version".to_string(), env!("CARGO_PKG_VERSION").to_string()));
    }
    Ok(resource)
}

/// A `k1=v1,k2=v2` list (W3C baggage form: values percent-encoded).
fn key_values(name: &'static str, list: Option<&str>) -> Result<Vec<(String, String)>, SettingsError> {
    let Some(list) = list else { return Ok(Vec::new()) };
    let mut pairs = Vec::new();
    for (index, entry) in list.split(',').enumerate().filter(|(_, e)| !e.trim().is_empty()) {
        let position = index + 1;
        let (key, value) = entry.split_once('=').ok_or(SettingsError::BadEntry {
            var: name,
            position,
            key: String::new(),
        })?;
        let key = key.trim();
        let value = percent_decode(value.trim());
        match value {
            Some(value) if !key.is_empty() => pairs.push((key.to_string(), value)),
            _ => return Err(SettingsError::BadEntry { var: name, position, key: format!(" (key {key:?})") }),
        }
    }
    Ok(pairs)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn number<T: TryFrom<u64>>(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, SettingsError> {
    let Some(value) = var(name) else { return Ok(default) };
    value
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| T::try_from(n).ok())
        .ok_or(SettingsError::BadNumber { var: name, value })
}

/// The `OTEL_*` variables a process passes on to the processes it starts (the operator to its
/// runner pods) so they export where it does. Headers are left out: they may hold an API key,
/// which must reach a pod from a Secret, never as a literal in its spec. The service name is left
/// out too: each binary names itself.
pub const INHERITED_VARIABLES: &[&str] = &[
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_BSP_SCHEDULE_DELAY",
];

/// The [`INHERITED_VARIABLES`] that `var` sets (to something other than blanks), in that order.
pub fn inherited(var: impl Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    INHERITED_VARIABLES
        .iter()
        .filter_map(|name| var(name).filter(|v| !v.trim().is_empty()).map(|v| ((*name).to_owned(), v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<Option<ExportSettings>, SettingsError> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ExportSettings::from_env("agentry-test", move |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn nothing_is_exported_without_an_endpoint_or_when_disabled() {
        assert!(read(&[]).expect("no error").is_none());
        assert!(read(&[("OTEL_SERVICE_NAME", "x")]).expect("no error").is_none());
        let disabled = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_SDK_DISABLED", "true")];
        assert!(read(&disabled).expect("no error").is_none());
        let none = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_TRACES_EXPORTER", "none")];
        assert!(read(&none).expect("no error").is_none());
    }

    #[test]
    fn the_traces_path_is_appended_to_the_base_endpoint_only() {
        let base =
            read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")]).expect("ok").expect("set");
        assert_eq!(base.endpoint.as_str(), "http://collector:4318/v1/traces");
        let traces = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://traces.example:443/custom"),
        ])
        .expect("ok")
        .expect("set");
        assert_eq!(traces.endpoint.as_str(), "https://traces.example/custom");
        assert_eq!(
            read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")]).expect_err("no scheme"),
            SettingsError::BadEndpoint { var: "OTEL_EXPORTER_OTLP_ENDPOINT" }
        );
    }

    #[test]
    fn children_inherit_where_to_export_but_never_the_headers_or_the_name() {
        let vars = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=secret"),
            ("OTEL_SERVICE_NAME", "agentry-operator"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod"),
            ("OTEL_BSP_SCHEDULE_DELAY", " "),
        ];
        let got = inherited(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()));
        assert_eq!(
            got,
            vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT".to_string(), "http://c:4318".to_string()),
                ("OTEL_RESOURCE_ATTRIBUTES".to_string(), "deployment.environment=prod".to_string()),
            ]
        );
    }

    #[test]
    fn service_name_resource_and_headers_are_read() {
        let settings = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-resource, k8s.namespace.name=team%20a"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=s3cr%3Dt,x-tenant=a"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-tenant=b"),
        ])
        .expect("ok")
        .expect("set");
        assert_eq!(settings.resource[0], ("service.name".into(), "from-resource".into()));
        assert!(settings.resource.contains(&("k8s.namespace.name".into(), "team a".into())));
        let headers: Vec<(&str, &[u8])> =
            settings.headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())).collect();
        assert_eq!(headers, vec![("x-api-key", b"s3cr=t".as_slice()), ("x-tenant", b"b".as_slice())]);
        assert!(!format!("{settings:?}").contains("s3cr"), "Debug never shows a header's value");
        let named = read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_SERVICE_NAME", "svc")]);
        assert_eq!(named.expect("ok").expect("set").resource[0].1, "svc");
        let unnamed = read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")]).expect("ok").expect("set");
        assert_eq!(unnamed.resource[0].1, "agentry-test");
    }

    #[test]
    fn bad_values_are_named_without_secrets() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
        let err =
            read(&[endpoint, ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=ok,topsecret")]).expect_err("bad");
        assert_eq!(err.to_string(), "OTEL_EXPORTER_OTLP_HEADERS: entry 2 is not key=value");
        let err = read(&[endpoint, ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=%zz-secret")]).expect_err("bad");
        assert_eq!(
            err.to_string(),
            "OTEL_EXPORTER_OTLP_HEADERS: entry 1 is not key=value (key \"x-api-key\")"
        );
        let err = read(&[endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).expect_err("grpc");
        assert!(
            err.to_string().starts_with("OTEL_EXPORTER_OTLP_PROTOCOL=\"grpc\" is not supported"),
            "{err}"
        );
        let err = read(&[endpoint, ("OTEL_BSP_SCHEDULE_DELAY", "soon")]).expect_err("bad number");
        assert_eq!(err.to_string(), "OTEL_BSP_SCHEDULE_DELAY=\"soon\" is not a positive whole number");
        let json =
            read(&[endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]).expect("ok").expect("set");
        assert!(json.note.is_some(), "http/protobuf is noted: json is sent");
    }
}
