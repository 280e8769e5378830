//! OpenAPI v3 documents (`/openapi/v3` and one per group version), enough for kubectl: `explain`
//! reads a kind's schema (the CRD's `openAPIV3Schema`, or a shallow one for built-in kinds), and
//! `apply` checks the PATCH operations for the `fieldValidation` parameter to rely on
//! server-side field validation. PATCH operations declare no strategic-merge request body, so
//! kubectl computes strategic merge patches of built-in kinds from its compiled-in types.

use std::hash::{Hash, Hasher};

use serde_json::{Value, json};

use crate::resources::{Registry, ResourceDesc};

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// `/openapi/v2` as JSON: an empty document (kubectl then finds no client-side schema and relies
/// on the server, `fieldValidation`, as for CRDs).
pub(crate) fn v2() -> Value {
    json!({"swagger": "2.0", "info": {"title": "devcluster", "version": "v1.33.0"}, "paths": {}, "definitions": {}})
}

/// `/openapi/v3`: the group versions and where their documents are.
pub(crate) fn root(registry: &Registry) -> Value {
    let mut paths = serde_json::Map::new();
    for (group, versions) in registry.group_versions() {
        for version in versions {
            let key =
                if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") };
            let hash = group_version(registry, &group, &version).map(|doc| {
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                doc.to_string().hash(&mut hasher);
                format!("{:016X}", hasher.finish())
            });
            let url = format!("/openapi/v3/{key}?hash={}", hash.unwrap_or_default());
            paths.insert(key, json!({"serverRelativeURL": url}));
        }
    }
    json!({"paths": paths})
}

/// The document of one group version.
pub(crate) fn group_version(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let descs: Vec<_> = registry.all().filter(|d| d.group == group && d.version == version).collect();
    if descs.is_empty() {
        return None;
    }
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    schemas.insert(OBJECT_META.into(), object_meta());
    for desc in descs {
        let gvk = json!({"group": desc.group, "version": desc.version, "kind": desc.kind});
        let item_path = if desc.namespaced {
            format!("{}/{{name}}", desc.collection_path(Some("{namespace}")))
        } else {
            format!("{}/{{name}}", desc.collection_path(None))
        };
        let response = json!({"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{}", schema_name(desc))}}}}});
        let query = |name: &str| json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}});
        paths.insert(
            item_path,
            json!({
                "get": {"x-kubernetes-action": "get", "x-kubernetes-group-version-kind": gvk, "responses": response},
                "patch": {
                    "x-kubernetes-action": "patch",
                    "x-kubernetes-group-version-kind": gvk,
                    "parameters": [query("dryRun"), query("fieldManager"), query("fieldValidation"), query("force")],
                    "responses": response,
                },
            }),
        );
        schemas.insert(schema_name(desc), kind_schema(desc));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// `dev.agentry.v1alpha1.Agent`, `io.k8s.api.core.v1.ConfigMap`: the names kube-apiserver uses.
fn schema_name(desc: &ResourceDesc) -> String {
    if desc.custom {
        let reversed: Vec<&str> = desc.group.split('.').rev().collect();
        return format!("{}.{}.{}", reversed.join("."), desc.version, desc.kind);
    }
    let group = match desc.group.as_str() {
        "" => "core",
        g => g.split('.').next().unwrap_or(g),
    };
    let prefix = if desc.group == "apiextensions.k8s.io" {
        "io.k8s.apiextensions-apiserver.pkg.apis"
    } else {
        "io.k8s.api"
    };
    format!("{prefix}.{group}.{}.{}", desc.version, desc.kind)
}

fn kind_schema(desc: &ResourceDesc) -> Value {
    let mut schema = desc.openapi_schema.clone().unwrap_or_else(|| {
        json!({"type": "object", "description": format!("{} is a built-in kind served by devcluster.", desc.kind), "x-kubernetes-preserve-unknown-fields": true})
    });
    schema["x-kubernetes-group-version-kind"] =
        json!([{"group": desc.group, "version": desc.version, "kind": desc.kind}]);
    if !schema["properties"].is_object() {
        schema["properties"] = json!({});
    }
    schema["properties"]["apiVersion"] = json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"});
    schema["properties"]["kind"] = json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"});
    schema["properties"]["metadata"] = json!({
        "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
        "allOf": [{"$ref": format!("#/components/schemas/{OBJECT_META}")}],
    });
    schema
}

fn object_meta() -> Value {
    let string = |d: &str| json!({"type": "string", "description": d});
    let map = |d: &str| json!({"type": "object", "description": d, "additionalProperties": {"type": "string", "default": ""}});
    json!({
        "type": "object",
        "description": "ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.",
        "properties": {
            "name": string("Name must be unique within a namespace."),
            "generateName": string("GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name field has not been provided."),
            "namespace": string("Namespace defines the space within which each name must be unique."),
            "uid": string("UID is the unique in time and space value for this object."),
            "resourceVersion": string("An opaque value that represents the internal version of this object."),
            "generation": {"type": "integer", "format": "int64", "description": "A sequence number representing a specific generation of the desired state."},
            "creationTimestamp": {"type": "string", "format": "date-time", "description": "CreationTimestamp is a timestamp representing the server time when this object was created."},
            "deletionTimestamp": {"type": "string", "format": "date-time", "description": "DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted."},
            "labels": map("Map of string keys and values that can be used to organize and categorize (scope and select) objects."),
            "annotations": map("Annotations is an unstructured key value map stored with a resource."),
            "finalizers": {"type": "array", "items": {"type": "string", "default": ""}, "description": "Must be empty before the object is deleted from the registry.", "x-kubernetes-list-type": "set"},
            "ownerReferences": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}, "description": "List of objects depended by this object."},
            "managedFields": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}, "description": "ManagedFields maps workflow-id and version to the set of fields that are managed by that workflow."},
        },
    })
}
