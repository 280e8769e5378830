//! The authorizer attributes of an HTTP request, as kube-apiserver's `RequestInfoFactory` reads
//! them from the method, path and query: resource requests (`/api/v1/...`, `/apis/<g>/<v>/...`)
//! with their verb, namespace, resource, subresource and name; everything else is a
//! non-resource request (a URL path and the lower-cased method).

use axum::http::Method;

use super::Attributes;
use crate::request::Query;
use crate::request::path::{self as api_path, ApiPath};
use crate::request::query::is_true;

/// The attributes of `method path?query` (user and groups left empty).
pub(crate) fn request_attributes(method: &Method, path: &str, query: &Query) -> Attributes {
    if let Some(proxy) = crate::service_proxy::proxy_path(path) {
        // `services/<name>/proxy`: the verb is the method's, the name the whole path segment
        // (`https:api:8443` included), as RequestInfoFactory reads it.
        return Attributes {
            verb: method_verb(method, true).to_owned(),
            resource_request: true,
            namespace: proxy.namespace,
            resource: "services".into(),
            subresource: "proxy".into(),
            name: proxy.service,
            ..Attributes::default()
        };
    }
    let ApiPath::Object(object) = api_path::parse(path) else {
        return Attributes {
            verb: method.as_str().to_lowercase(),
            path: path.to_owned(),
            ..Attributes::default()
        };
    };
    let mut attrs = Attributes {
        resource_request: true,
        namespace: object.namespace.unwrap_or_default(),
        group: object.group,
        resource: object.plural,
        subresource: object.subresource.unwrap_or_default(),
        name: object.name.unwrap_or_default(),
        ..Attributes::default()
    };
    // `/api/v1/namespaces/<name>` is the namespace `<name>` in its own namespace.
    if attrs.group.is_empty() && attrs.resource == "namespaces" && attrs.namespace.is_empty() {
        attrs.namespace = attrs.name.clone();
    }
    attrs.verb = method_verb(method, !attrs.name.is_empty()).to_owned();
    if attrs.verb == "list" {
        if is_true(query.get("watch")) {
            attrs.verb = "watch".into();
        }
        // A list or watch of one object by `metadata.name` is authorized as on that name.
        if let Some(name) = query.get("fieldSelector").and_then(|s| exact_name(s)) {
            attrs.name = name;
        }
    }
    attrs
}

/// The verb of a resource request: `get`/`list`, `create`, `update`, `patch`,
/// `delete`/`deletecollection`; other methods keep their lower-cased name.
fn method_verb(method: &Method, named: bool) -> &'static str {
    match *method {
        Method::GET | Method::HEAD if named => "get",
        Method::GET | Method::HEAD => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if named => "delete",
        Method::DELETE => "deletecollection",
        Method::OPTIONS => "options",
        Method::CONNECT => "connect",
        _ => "unknown",
    }
}

/// The name a field selector requires (`metadata.name=x` or `==x`, among other terms).
fn exact_name(selector: &str) -> Option<String> {
    selector.split(',').find_map(|term| {
        let value = term.trim().strip_prefix("metadata.name")?;
        let value = value.strip_prefix("==").or_else(|| value.strip_prefix('='))?;
        (!value.is_empty() && !value.contains('/') && value != "." && value != "..").then(|| value.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(method: Method, path: &str, query: &[(&str, &str)]) -> Attributes {
        let query: Query = query.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        request_attributes(&method, path, &query)
    }

    fn summary(a: &Attributes) -> (String, String, String, String, String, String) {
        (
            a.verb.clone(),
            a.namespace.clone(),
            a.group.clone(),
            a.resource.clone(),
            a.subresource.clone(),
            a.name.clone(),
        )
    }

    fn s(v: [&str; 6]) -> (String, String, String, String, String, String) {
        (v[0].into(), v[1].into(), v[2].into(), v[3].into(), v[4].into(), v[5].into())
    }

    #[test]
    fn verbs_and_resources_are_read_as_request_info_reads_them() {
        let get = attrs(Method::GET, "/api/v1/namespaces/fleet/pods/p/log", &[]);
        assert_eq!(summary(&get), s(["get", "fleet", "", "pods", "log", "p"]));
        let watch = attrs(Method::GET, "/apis/apps/v1/deployments", &[("watch", "true")]);
        assert_eq!(summary(&watch), s(["watch", "", "apps", "deployments", "", ""]));
        let one =
            attrs(Method::GET, "/api/v1/namespaces/a/configmaps", &[("fieldSelector", "metadata.name=c")]);
        assert_eq!(summary(&one), s(["list", "a", "", "configmaps", "", "c"]));
        let apply = attrs(Method::PATCH, "/apis/agentry.dev/v1alpha1/namespaces/a/agents/x/status", &[]);
        assert_eq!(summary(&apply), s(["patch", "a", "agentry.dev", "agents", "status", "x"]));
        let collection = attrs(Method::DELETE, "/api/v1/namespaces/a/secrets", &[]);
        assert_eq!(collection.verb, "deletecollection");
        let namespace = attrs(Method::GET, "/api/v1/namespaces/fleet", &[]);
        assert_eq!(summary(&namespace), s(["get", "fleet", "", "namespaces", "", "fleet"]));
        let proxy = attrs(Method::POST, "/api/v1/namespaces/a/services/http:api:80/proxy/v1/x", &[]);
        assert_eq!(summary(&proxy), s(["create", "a", "", "services", "proxy", "http:api:80"]));
        let version = attrs(Method::GET, "/version", &[]);
        assert!(!version.resource_request);
        assert_eq!((version.verb.as_str(), version.path.as_str()), ("get", "/version"));
        assert!(!attrs(Method::GET, "/apis/apps/v1", &[]).resource_request);
    }
}
