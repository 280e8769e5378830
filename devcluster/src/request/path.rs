//! The URL paths of the Kubernetes API, parsed.

/// What a request path names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ApiPath {
    /// `/version`.
    Version,
    /// `/healthz`, `/readyz`, `/livez`.
    Health,
    /// `/api`: the core group's versions.
    CoreVersions,
    /// `/apis`: every group.
    Groups,
    /// `/apis/<group>`.
    Group(String),
    /// `/api/v1` or `/apis/<group>/<version>`: an APIResourceList.
    Resources {
        /// Group, empty for core.
        group: String,
        /// Version.
        version: String,
    },
    /// `/openapi/v2`.
    OpenApiV2,
    /// `/openapi/v3`.
    OpenApiV3Root,
    /// `/openapi/v3/api/v1` or `/openapi/v3/apis/<group>/<version>`.
    OpenApiV3 {
        /// Group, empty for core.
        group: String,
        /// Version.
        version: String,
    },
    /// A collection, object or subresource.
    Object(ObjectPath),
    /// Nothing we serve.
    Unknown,
}

/// A resource path: collection (no name), object, or subresource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ObjectPath {
    /// Group, empty for core.
    pub(crate) group: String,
    /// Version.
    pub(crate) version: String,
    /// Plural resource.
    pub(crate) plural: String,
    /// Namespace, for namespaced paths.
    pub(crate) namespace: Option<String>,
    /// Object name.
    pub(crate) name: Option<String>,
    /// Subresource, e.g. `status`, `log`.
    pub(crate) subresource: Option<String>,
}

/// Parse a path.
pub(crate) fn parse(path: &str) -> ApiPath {
    let segments: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["version"] => ApiPath::Version,
        ["healthz" | "readyz" | "livez", ..] => ApiPath::Health,
        ["api"] => ApiPath::CoreVersions,
        ["apis"] => ApiPath::Groups,
        ["apis", group] => ApiPath::Group((*group).to_owned()),
        ["api", version] => ApiPath::Resources { group: String::new(), version: (*version).to_owned() },
        ["apis", group, version] => {
            ApiPath::Resources { group: (*group).to_owned(), version: (*version).to_owned() }
        }
        ["openapi", "v2"] => ApiPath::OpenApiV2,
        ["openapi", "v3"] => ApiPath::OpenApiV3Root,
        ["openapi", "v3", "api", version] => {
            ApiPath::OpenApiV3 { group: String::new(), version: (*version).to_owned() }
        }
        ["openapi", "v3", "apis", group, version] => {
            ApiPath::OpenApiV3 { group: (*group).to_owned(), version: (*version).to_owned() }
        }
        ["api", version, rest @ ..] => object_path("", version, rest),
        ["apis", group, version, rest @ ..] => object_path(group, version, rest),
        _ => ApiPath::Unknown,
    }
}

fn object_path(group: &str, version: &str, rest: &[&str]) -> ApiPath {
    let owned = |s: Option<&&str>| s.map(|s| (*s).to_owned());
    let (namespace, tail) = match rest {
        // `namespaces/<ns>/status` and `/finalize` are subresources of the namespace itself.
        ["namespaces", _, "status" | "finalize"] if group.is_empty() => (None, rest),
        ["namespaces", ns, tail @ ..] if !tail.is_empty() => (Some((*ns).to_owned()), tail),
        _ => (None, rest),
    };
    match tail {
        [plural, more @ ..] if more.len() <= 2 => ApiPath::Object(ObjectPath {
            group: group.to_owned(),
            version: version.to_owned(),
            plural: (*plural).to_owned(),
            namespace,
            name: owned(more.first()),
            subresource: owned(more.get(1)),
        }),
        _ => ApiPath::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(
        group: &str,
        plural: &str,
        namespace: Option<&str>,
        name: Option<&str>,
        sub: Option<&str>,
    ) -> ApiPath {
        ApiPath::Object(ObjectPath {
            group: group.into(),
            version: if group.is_empty() { "v1".into() } else { "v1alpha1".into() },
            plural: plural.into(),
            namespace: namespace.map(Into::into),
            name: name.map(Into::into),
            subresource: sub.map(Into::into),
        })
    }

    #[test]
    fn namespaces_and_namespaced_paths_are_told_apart() {
        assert_eq!(parse("/api/v1/namespaces"), object("", "namespaces", None, None, None));
        assert_eq!(parse("/api/v1/namespaces/fleet"), object("", "namespaces", None, Some("fleet"), None));
        assert_eq!(
            parse("/api/v1/namespaces/fleet/status"),
            object("", "namespaces", None, Some("fleet"), Some("status"))
        );
        assert_eq!(
            parse("/api/v1/namespaces/fleet/pods/p/log"),
            object("", "pods", Some("fleet"), Some("p"), Some("log"))
        );
        assert_eq!(
            parse("/apis/agentry.dev/v1alpha1/namespaces/fleet/agents"),
            object("agentry.dev", "agents", Some("fleet"), None, None)
        );
        assert_eq!(
            parse("/apis/agentry.dev/v1alpha1/agents"),
            object("agentry.dev", "agents", None, None, None)
        );
        assert_eq!(
            parse("/openapi/v3/apis/agentry.dev/v1alpha1"),
            ApiPath::OpenApiV3 { group: "agentry.dev".into(), version: "v1alpha1".into() }
        );
        assert_eq!(parse("/nonsense"), ApiPath::Unknown);
    }
}
