//! One request on a resource path, and what the verbs read from it besides the path: the body,
//! the field manager, dry run, strict field validation and the table form.

use std::sync::Arc;

use axum::http::{HeaderMap, header};
use bytes::Bytes;
use serde_json::Value;

use crate::api_error::{ApiError, ApiResult};
use crate::api_server::ApiServer;
use crate::authorization::Caller;
use crate::field_management::Scope;
use crate::request::Query;
use crate::request::query::is_dry_run;
use crate::resources::ResourceDesc;
use crate::storage::object_lifecycle::WriteOptions;

/// A request on a resource, its resource resolved.
pub(crate) struct ResourceRequest<'a> {
    /// The server.
    pub(crate) server: &'a Arc<ApiServer>,
    /// Who asks (already authorized for the request itself).
    pub(crate) caller: &'a Caller,
    /// The resource the path names.
    pub(crate) desc: &'a Arc<ResourceDesc>,
    /// The namespace the path names.
    pub(crate) namespace: Option<&'a str>,
    /// Main resource or `/status`.
    pub(crate) scope: Scope,
    /// Query parameters.
    pub(crate) query: &'a Query,
    /// Request headers.
    pub(crate) headers: &'a HeaderMap,
    /// Request body.
    pub(crate) body: &'a Bytes,
}

impl ResourceRequest<'_> {
    /// The body as JSON (or YAML, as kubectl may send).
    pub(crate) fn parse_body(&self) -> ApiResult<Value> {
        parse_body(self.body)
    }

    /// The `Content-Type` header, empty when absent.
    pub(crate) fn content_type(&self) -> &str {
        self.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    /// The bearer token of the `Authorization` header, if any.
    pub(crate) fn bearer_token(&self) -> Option<&str> {
        let value = self.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())?;
        value.strip_prefix("Bearer ").map(str::trim)
    }

    /// Whether the client asked for a `meta.k8s.io` Table (kubectl get).
    pub(crate) fn wants_table(&self) -> bool {
        self.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("as=Table"))
    }

    /// How a write is made: the field manager (`fieldManager`, else the user agent's program),
    /// the scope, and dry run.
    pub(crate) fn write_options(&self) -> WriteOptions {
        let manager =
            self.query.get("fieldManager").filter(|m| !m.is_empty()).cloned().unwrap_or_else(|| {
                let agent =
                    self.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("unknown");
                agent.split('/').next().unwrap_or(agent).to_owned()
            });
        WriteOptions {
            manager,
            scope: self.scope,
            dry_run: is_dry_run(self.query),
            managed_precomputed: false,
        }
    }

    /// An object to store must be an object with an object (or no) `metadata`, as the
    /// apiserver's decoder insists; a patch can make either something else.
    pub(crate) fn check_shape(&self, object: &Value) -> ApiResult<()> {
        let desc = self.desc;
        let refused = |why: String| {
            ApiError::bad_request(format!(
                "{kind} in version \"{version}\" cannot be handled as a {kind}: {why}",
                kind = desc.kind,
                version = desc.version,
            ))
        };
        match (object, &object["metadata"]) {
            (Value::Object(_), Value::Object(_) | Value::Null) => Ok(()),
            (Value::Object(_), metadata) => Err(refused(format!(
                "json: cannot unmarshal {} into Go struct field {}.metadata of type v1.ObjectMeta",
                go_type(metadata),
                desc.kind
            ))),
            (other, _) => Err(refused(format!(
                "json: cannot unmarshal {} into Go value of type {}",
                go_type(other),
                desc.kind
            ))),
        }
    }

    /// `fieldValidation=Strict` refuses unknown fields of custom resources (`Warn` and `Ignore`
    /// prune them).
    pub(crate) fn check_unknown_fields(&self, object: &Value) -> ApiResult<()> {
        let (Some(schema), Some("Strict")) =
            (&self.desc.schema, self.query.get("fieldValidation").map(String::as_str))
        else {
            return Ok(());
        };
        let unknown = schema.unknown_fields(object);
        if unknown.is_empty() {
            return Ok(());
        }
        let fields: Vec<String> = unknown.iter().map(|f| format!("unknown field \"{f}\"")).collect();
        let desc = self.desc;
        Err(ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
            fields.join(", "),
            kind = desc.kind,
            version = desc.version,
        )))
    }
}

/// A body as JSON, else YAML: an object (or empty), as every body the API takes is.
pub(crate) fn parse_body(body: &Bytes) -> ApiResult<Value> {
    let value: Value = serde_json::from_slice(body)
        .or_else(|_| serde_yaml::from_slice(body))
        .map_err(|e| ApiError::bad_request(format!("the body of the request could not be decoded: {e}")))?;
    match value {
        Value::Object(_) | Value::Null => Ok(value),
        other => Err(ApiError::bad_request(format!(
            "couldn't get version/kind; json parse error: json: cannot unmarshal {} into Go value of type \
             struct {{ APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \
             \"json:\\\"kind,omitempty\\\"\" }}",
            go_type(&other)
        ))),
    }
}

/// The JSON type as Go's decoder names it in its errors.
fn go_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
