//! Descriptions of the resources the server serves (built-in kinds and those of CRDs), and the
//! registry that maps URL paths to them. The object store is generic; what differs per kind
//! (scope, status subresource, validation, printer columns) is read from here.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::crd_schema::CrdSchema;

/// A column of `kubectl get`'s table: a CRD's `additionalPrinterColumns` entry or a built-in one.
#[derive(Clone, Debug)]
pub struct PrinterColumn {
    /// Column header.
    pub name: String,
    /// OpenAPI type: `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: String,
    /// OpenAPI format, e.g. `name` for the name column.
    pub format: String,
    /// Description shown by `kubectl explain`-like tools.
    pub description: String,
    /// 0 = shown by default, higher = only with `-o wide`.
    pub priority: i64,
    /// A JSONPath (subset: `.a.b`, `.a[0].b`, `.a[*].b`) into the object.
    pub json_path: String,
}

/// Where objects of a resource are kept: one store entry per group and plural, whatever the version.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StorageKey {
    /// API group, empty for core.
    pub group: String,
    /// Plural resource name.
    pub plural: String,
}

/// One served resource at one group/version.
#[derive(Clone)]
pub struct ResourceDesc {
    /// API group, empty for the core group.
    pub group: String,
    /// API version, e.g. `v1`.
    pub version: String,
    /// Plural resource name (URL segment).
    pub plural: String,
    /// Singular name.
    pub singular: String,
    /// Kind.
    pub kind: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Short names for kubectl.
    pub short_names: Vec<String>,
    /// Categories (e.g. `all`, `agentry`) for `kubectl get <category>`.
    pub categories: Vec<String>,
    /// Whether `/status` is a subresource (main writes then ignore status).
    pub status_subresource: bool,
    /// Only `create` is served (TokenReview, SubjectAccessReview).
    pub create_only: bool,
    /// Whether the server maintains `metadata.generation`.
    pub generation: bool,
    /// Fields usable in `fieldSelector` beyond `metadata.name` and `metadata.namespace`.
    pub field_selectors: Vec<String>,
    /// The CRD version's compiled schema, for admission.
    pub schema: Option<Arc<CrdSchema>>,
    /// The CRD version's `openAPIV3Schema`, for OpenAPI documents and `kubectl explain`.
    pub openapi_schema: Option<Value>,
    /// Table columns after `Name`.
    pub printer_columns: Vec<PrinterColumn>,
    /// Served from a CustomResourceDefinition (uses JSON merge patch, not strategic merge).
    pub custom: bool,
}

impl ResourceDesc {
    /// `apiVersion` of objects: `v1` or `group/version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }

    /// `configmaps` or `agents.agentry.dev`, as error messages name resources.
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() { self.plural.clone() } else { format!("{}.{}", self.plural, self.group) }
    }

    /// `ConfigMap` or `Agent.agentry.dev`, as `Invalid` errors name kinds.
    pub fn group_kind(&self) -> String {
        if self.group.is_empty() { self.kind.clone() } else { format!("{}.{}", self.kind, self.group) }
    }

    /// The store key of this resource (events.k8s.io Events are stored as core Events).
    pub fn storage_key(&self) -> StorageKey {
        if crate::event_conversion::is_events_view(&self.group, &self.plural) {
            return StorageKey { group: String::new(), plural: self.plural.clone() };
        }
        StorageKey { group: self.group.clone(), plural: self.plural.clone() }
    }

    /// Whether this is the events.k8s.io view of core Events (converted on the way in and out).
    pub fn is_events_view(&self) -> bool {
        crate::event_conversion::is_events_view(&self.group, &self.plural)
    }

    /// The URL path of the collection in `namespace` (ignored for cluster-scoped resources).
    pub fn collection_path(&self, namespace: Option<&str>) -> String {
        let prefix = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match namespace {
            Some(ns) if self.namespaced => format!("{prefix}/namespaces/{ns}/{}", self.plural),
            _ => format!("{prefix}/{}", self.plural),
        }
    }
}

/// The resources being served: the built-in ones, plus those of established CRDs.
#[derive(Default)]
pub struct Registry {
    /// By (group, version, plural).
    resources: BTreeMap<(String, String, String), Arc<ResourceDesc>>,
    /// Which CRD (by name) contributed which resources, to remove them when it goes.
    by_crd: BTreeMap<String, Vec<(String, String, String)>>,
}

impl Registry {
    /// A registry with the built-in kinds.
    pub fn with_builtins() -> Self {
        let mut registry = Self::default();
        for desc in crate::builtin_kinds::all() {
            registry.insert(desc);
        }
        registry
    }

    fn insert(&mut self, desc: ResourceDesc) {
        let key = (desc.group.clone(), desc.version.clone(), desc.plural.clone());
        self.resources.insert(key, Arc::new(desc));
    }

    /// The resource at `group/version/plural`.
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceDesc>> {
        self.resources.get(&(group.to_owned(), version.to_owned(), plural.to_owned())).cloned()
    }

    /// The resource serving `apiVersion`/`kind`, for objects that name themselves.
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceDesc>> {
        self.resources.values().find(|d| d.api_version() == api_version && d.kind == kind).cloned()
    }

    /// The preferred (first served) version of a stored resource, for internal reads.
    pub fn by_storage(&self, key: &StorageKey) -> Option<Arc<ResourceDesc>> {
        self.resources.values().find(|d| d.storage_key() == *key && !d.is_events_view()).cloned()
    }

    /// Every served resource.
    pub fn all(&self) -> impl Iterator<Item = &Arc<ResourceDesc>> {
        self.resources.values()
    }

    /// The served group versions, group by group: `(group, [versions])`, core group first.
    pub fn group_versions(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for (group, version, _) in self.resources.keys() {
            match out.iter_mut().find(|(g, _)| g == group) {
                Some((_, versions)) if !versions.contains(version) => versions.push(version.clone()),
                Some(_) => {}
                None => out.push((group.clone(), vec![version.clone()])),
            }
        }
        for (_, versions) in &mut out {
            versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        }
        out
    }

    /// Replace the resources served for CRD `crd_name` with `descs`.
    pub fn set_crd(&mut self, crd_name: &str, descs: Vec<ResourceDesc>) {
        self.remove_crd(crd_name);
        let keys = descs.iter().map(|d| (d.group.clone(), d.version.clone(), d.plural.clone())).collect();
        for desc in descs {
            self.insert(desc);
        }
        self.by_crd.insert(crd_name.to_owned(), keys);
    }

    /// Stop serving CRD `crd_name`'s resources.
    pub fn remove_crd(&mut self, crd_name: &str) {
        for key in self.by_crd.remove(crd_name).unwrap_or_default() {
            self.resources.remove(&key);
        }
    }
}

/// Kubernetes version priority: GA > beta > alpha, higher numbers first (`v2` > `v1` > `v1beta2`).
pub fn version_priority(version: &str) -> (u8, u32, u32) {
    let rest = version.strip_prefix('v').unwrap_or(version);
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let major = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    let (stage, minor) = if tail.is_empty() {
        (3, 0)
    } else if let Some(n) = tail.strip_prefix("beta") {
        (2, n.parse().unwrap_or(0))
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n.parse().unwrap_or(0))
    } else {
        (0, 0)
    };
    (stage, major, minor)
}
