//! The description of one served resource (a built-in kind or a CRD version): the object store
//! is generic; what differs per kind (scope, status subresource, validation, printer columns) is
//! read from here.

use std::sync::Arc;

use serde_json::Value;

use crate::crd_schema::CrdSchema;

/// A column of `kubectl get`'s table: a CRD's `additionalPrinterColumns` entry or a built-in one.
#[derive(Clone, Debug)]
pub(crate) struct PrinterColumn {
    /// Column header.
    pub(crate) name: String,
    /// OpenAPI type: `string`, `integer`, `number`, `boolean` or `date`.
    pub(crate) type_: String,
    /// OpenAPI format, e.g. `name` for the name column.
    pub(crate) format: String,
    /// Description shown by `kubectl explain`-like tools.
    pub(crate) description: String,
    /// 0 = shown by default, higher = only with `-o wide`.
    pub(crate) priority: i64,
    /// A JSONPath (subset: `.a.b`, `.a[0].b`, `.a[*].b`) into the object.
    pub(crate) json_path: String,
}

/// Where objects of a resource are kept: one store entry per group and plural, whatever the version.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct StorageKey {
    /// API group, empty for core.
    pub(crate) group: String,
    /// Plural resource name.
    pub(crate) plural: String,
}

/// Where a resource with a `scale` subresource keeps the numbers a Scale shows, as JSON paths
/// (`.spec.replicas`): a CRD's `subresources.scale`, or Deployments' own fields.
#[derive(Clone, Debug)]
pub(crate) struct ScalePaths {
    /// The desired replicas (`specReplicasPath`).
    pub(crate) spec_replicas: String,
    /// The observed replicas (`statusReplicasPath`).
    pub(crate) status_replicas: String,
    /// The label selector (`labelSelectorPath`: a string; for Deployments the structured selector).
    pub(crate) label_selector: Option<String>,
}

/// One served resource at one group/version.
#[derive(Clone)]
pub(crate) struct ResourceDesc {
    /// API group, empty for the core group.
    pub(crate) group: String,
    /// API version, e.g. `v1`.
    pub(crate) version: String,
    /// Plural resource name (URL segment).
    pub(crate) plural: String,
    /// Singular name.
    pub(crate) singular: String,
    /// Kind.
    pub(crate) kind: String,
    /// Namespaced or cluster-scoped.
    pub(crate) namespaced: bool,
    /// Short names for kubectl.
    pub(crate) short_names: Vec<String>,
    /// Categories (e.g. `all`, `agentry`) for `kubectl get <category>`.
    pub(crate) categories: Vec<String>,
    /// Whether `/status` is a subresource (main writes then ignore status).
    pub(crate) status_subresource: bool,
    /// The `scale` subresource, if served.
    pub(crate) scale: Option<ScalePaths>,
    /// Only `create` is served (TokenReview, SubjectAccessReview).
    pub(crate) create_only: bool,
    /// Whether the server maintains `metadata.generation`.
    pub(crate) generation: bool,
    /// Fields usable in `fieldSelector` beyond `metadata.name` and `metadata.namespace`.
    pub(crate) field_selectors: Vec<String>,
    /// The CRD version's compiled schema, for admission.
    pub(crate) schema: Option<Arc<CrdSchema>>,
    /// The CRD version's `openAPIV3Schema`, for OpenAPI documents and `kubectl explain`.
    pub(crate) openapi_schema: Option<Value>,
    /// Table columns after `Name`.
    pub(crate) printer_columns: Vec<PrinterColumn>,
    /// Served from a CustomResourceDefinition (uses JSON merge patch, not strategic merge).
    pub(crate) custom: bool,
}

impl ResourceDesc {
    /// `apiVersion` of objects: `v1` or `group/version`.
    pub(crate) fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }

    /// `configmaps` or `agents.agentry.dev`, as error messages name resources.
    pub(crate) fn group_resource(&self) -> String {
        if self.group.is_empty() { self.plural.clone() } else { format!("{}.{}", self.plural, self.group) }
    }

    /// `ConfigMap` or `Agent.agentry.dev`, as `Invalid` errors name kinds.
    pub(crate) fn group_kind(&self) -> String {
        if self.group.is_empty() { self.kind.clone() } else { format!("{}.{}", self.kind, self.group) }
    }

    /// The store key of this resource (events.k8s.io Events are stored as core Events).
    pub(crate) fn storage_key(&self) -> StorageKey {
        if super::event_conversion::is_events_view(&self.group, &self.plural) {
            return StorageKey { group: String::new(), plural: self.plural.clone() };
        }
        StorageKey { group: self.group.clone(), plural: self.plural.clone() }
    }

    /// Whether this is the events.k8s.io view of core Events (converted on the way in and out).
    pub(crate) fn is_events_view(&self) -> bool {
        super::event_conversion::is_events_view(&self.group, &self.plural)
    }

    /// The URL path of the collection in `namespace` (ignored for cluster-scoped resources).
    pub(crate) fn collection_path(&self, namespace: Option<&str>) -> String {
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
