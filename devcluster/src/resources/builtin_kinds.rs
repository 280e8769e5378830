//! The built-in kinds devcluster serves, with the scope, short names, categories, field selectors
//! and default table columns of kube-apiserver 1.33.

use super::description::{PrinterColumn, ResourceDesc, ScalePaths};

struct Kind {
    gv: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    status: bool,
    generation: bool,
    columns: &'static [(&'static str, &'static str, &'static str)],
    fields: &'static [&'static str],
}

const fn kind(gv: &'static str, plural: &'static str, kind: &'static str, namespaced: bool) -> Kind {
    Kind {
        gv,
        plural,
        kind,
        namespaced,
        short: &[],
        status: false,
        generation: false,
        columns: &[],
        fields: &[],
    }
}

/// Every built-in resource description.
pub(crate) fn all() -> Vec<ResourceDesc> {
    core_kinds().into_iter().chain(event_kinds()).chain(group_kinds()).map(describe).collect()
}

/// The core group's kinds but Events.
fn core_kinds() -> Vec<Kind> {
    vec![
        Kind {
            short: &["ns"],
            status: true,
            columns: &[("Status", "string", ".status.phase")],
            fields: &["status.phase"],
            ..kind("v1", "namespaces", "Namespace", false)
        },
        Kind {
            short: &["cm"],
            columns: &[("Data", "integer", "#data")],
            ..kind("v1", "configmaps", "ConfigMap", true)
        },
        Kind {
            columns: &[("Type", "string", ".type"), ("Data", "integer", "#data")],
            fields: &["type"],
            ..kind("v1", "secrets", "Secret", true)
        },
        Kind {
            short: &["svc"],
            status: true,
            columns: &[("Type", "string", ".spec.type"), ("Cluster-IP", "string", ".spec.clusterIP")],
            ..kind("v1", "services", "Service", true)
        },
        Kind { short: &["sa"], ..kind("v1", "serviceaccounts", "ServiceAccount", true) },
        Kind {
            short: &["ep"],
            columns: &[("Endpoints", "string", "#endpoints")],
            ..kind("v1", "endpoints", "Endpoints", true)
        },
        Kind {
            short: &["po"],
            status: true,
            columns: &[
                ("Ready", "string", "#podready"),
                ("Status", "string", ".status.phase"),
                ("Restarts", "integer", "#restarts"),
            ],
            fields: &[
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.serviceAccountName",
                "status.phase",
                "status.podIP",
            ],
            ..kind("v1", "pods", "Pod", true)
        },
    ]
}

/// Events, in the core group and as events.k8s.io sees them (one storage).
fn event_kinds() -> Vec<Kind> {
    vec![
        Kind {
            short: &["ev"],
            columns: &[
                ("Type", "string", ".type"),
                ("Reason", "string", ".reason"),
                ("Object", "string", "#involved"),
                ("Message", "string", ".message"),
            ],
            fields: &[
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
            ],
            ..kind("v1", "events", "Event", true)
        },
        Kind {
            short: &["ev"],
            columns: &[
                ("Type", "string", ".type"),
                ("Reason", "string", ".reason"),
                ("Note", "string", ".note"),
            ],
            ..kind("events.k8s.io/v1", "events", "Event", true)
        },
    ]
}

/// The kinds of the named groups.
fn group_kinds() -> Vec<Kind> {
    vec![
        Kind {
            short: &["deploy"],
            status: true,
            generation: true,
            columns: &[
                ("Ready", "string", "#ready"),
                ("Up-to-date", "integer", ".status.updatedReplicas"),
                ("Available", "integer", ".status.availableReplicas"),
            ],
            ..kind("apps/v1", "deployments", "Deployment", true)
        },
        kind("rbac.authorization.k8s.io/v1", "roles", "Role", true),
        kind("rbac.authorization.k8s.io/v1", "rolebindings", "RoleBinding", true),
        kind("rbac.authorization.k8s.io/v1", "clusterroles", "ClusterRole", false),
        kind("rbac.authorization.k8s.io/v1", "clusterrolebindings", "ClusterRoleBinding", false),
        Kind {
            short: &["netpol"],
            generation: true,
            ..kind("networking.k8s.io/v1", "networkpolicies", "NetworkPolicy", true)
        },
        Kind {
            short: &["pdb"],
            status: true,
            generation: true,
            columns: &[
                ("Min Available", "string", ".spec.minAvailable"),
                ("Max Unavailable", "string", ".spec.maxUnavailable"),
            ],
            ..kind("policy/v1", "poddisruptionbudgets", "PodDisruptionBudget", true)
        },
        Kind {
            columns: &[("Holder", "string", ".spec.holderIdentity")],
            ..kind("coordination.k8s.io/v1", "leases", "Lease", true)
        },
        Kind {
            short: &["crd", "crds"],
            status: true,
            generation: true,
            columns: &[("Created At", "date", ".metadata.creationTimestamp")],
            ..kind("apiextensions.k8s.io/v1", "customresourcedefinitions", "CustomResourceDefinition", false)
        },
        kind("authentication.k8s.io/v1", "tokenreviews", "TokenReview", false),
        kind("authorization.k8s.io/v1", "subjectaccessreviews", "SubjectAccessReview", false),
        kind("authorization.k8s.io/v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", false),
    ]
}

fn describe(k: Kind) -> ResourceDesc {
    let (group, version) = k.gv.split_once('/').unwrap_or(("", k.gv));
    let create_only =
        matches!(k.plural, "tokenreviews" | "subjectaccessreviews" | "selfsubjectaccessreviews");
    let all_category = matches!(k.plural, "pods" | "services" | "deployments");
    let mut columns: Vec<PrinterColumn> = k
        .columns
        .iter()
        .map(|(name, type_, path)| PrinterColumn {
            name: (*name).to_owned(),
            type_: (*type_).to_owned(),
            format: String::new(),
            description: String::new(),
            priority: 0,
            json_path: (*path).to_owned(),
        })
        .collect();
    if !columns.iter().any(|c| c.type_ == "date") {
        columns.push(PrinterColumn {
            name: "Age".into(),
            type_: "date".into(),
            format: String::new(),
            description:
                "CreationTimestamp is a timestamp representing the server time when this object was created."
                    .into(),
            priority: 0,
            json_path: ".metadata.creationTimestamp".into(),
        });
    }
    let scale = (k.kind == "Deployment").then(|| ScalePaths {
        spec_replicas: ".spec.replicas".into(),
        status_replicas: ".status.replicas".into(),
        label_selector: Some(".spec.selector".into()),
    });
    ResourceDesc {
        scale,
        group: group.to_owned(),
        version: version.to_owned(),
        plural: k.plural.to_owned(),
        singular: k.kind.to_lowercase(),
        kind: k.kind.to_owned(),
        namespaced: k.namespaced,
        short_names: k.short.iter().map(|s| (*s).to_owned()).collect(),
        categories: if all_category { vec!["all".to_owned()] } else { Vec::new() },
        status_subresource: k.status,
        create_only,
        generation: k.generation,
        field_selectors: k.fields.iter().map(|s| (*s).to_owned()).collect(),
        schema: None,
        openapi_schema: None,
        printer_columns: columns,
        custom: false,
    }
}
