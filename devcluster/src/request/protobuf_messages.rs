//! The protobuf messages devcluster decodes: the built-in kinds kubectl's generators and typed
//! clients send (`kubectl create namespace|secret|configmap|serviceaccount|deployment|service|
//! role|rolebinding|clusterrole|clusterrolebinding|token`, `kubectl auth can-i`, the scale
//! subresource), with the field numbers of k8s.io/api's `generated.proto` and the JSON names of
//! the Go types. Only the fields these clients fill in are described; any other field that is set
//! makes the body refused rather than silently dropped.

/// A message: its proto name (for errors) and the fields described.
pub(crate) struct Message {
    /// The proto message name.
    pub(crate) name: &'static str,
    /// The fields devcluster reads.
    pub(crate) fields: &'static [Field],
}

/// One field of a message.
pub(crate) struct Field {
    /// The proto field number.
    pub(crate) number: u64,
    /// The field's JSON name.
    pub(crate) json: &'static str,
    /// How it is encoded and becomes JSON.
    pub(crate) kind: FieldKind,
}

/// How a field is encoded, and how Go's JSON encoding writes it.
#[derive(Clone, Copy)]
pub(crate) enum FieldKind {
    /// A string, omitted when empty (`omitempty`).
    String,
    /// A repeated string (empty strings kept: `apiGroups: [""]`).
    StringList,
    /// An integer, omitted when zero.
    Int,
    /// An integer behind a pointer (or without `omitempty`): kept even when zero.
    KeptInt,
    /// A bool, omitted when false.
    Bool,
    /// A `*bool`: kept even when false.
    KeptBool,
    /// A nested message.
    Message(&'static Message),
    /// A repeated nested message.
    MessageList(&'static Message),
    /// An embedded struct whose fields JSON inlines into the parent (`LocalObjectReference`).
    Inline(&'static Message),
    /// `map<string, string>`.
    StringMap,
    /// `map<string, bytes>`: base64 in JSON.
    BytesMap,
    /// `map<string, Quantity>` (resource lists).
    QuantityMap,
    /// `metav1.Time`.
    Time,
    /// `intstr.IntOrString`.
    IntOrString,
    /// Read and dropped: a status, which the server resets on create.
    Ignored,
}

use FieldKind::{
    Bool, Ignored, Int, IntOrString, KeptBool, KeptInt, MessageList, String, StringList, StringMap, Time,
};

mod pod;

const fn f(number: u64, json: &'static str, kind: FieldKind) -> Field {
    Field { number, json, kind }
}

const fn m(message: &'static Message) -> FieldKind {
    FieldKind::Message(message)
}

/// The message of `kind` in `api_version`, if devcluster decodes it.
pub(crate) fn message_of(api_version: &str, kind: &str) -> Option<&'static Message> {
    Some(match (api_version, kind) {
        ("v1", "Namespace") => &NAMESPACE,
        ("v1", "Secret") => &SECRET,
        ("v1", "ConfigMap") => &CONFIG_MAP,
        ("v1", "ServiceAccount") => &SERVICE_ACCOUNT,
        ("v1", "Service") => &SERVICE,
        ("apps/v1", "Deployment") => &DEPLOYMENT,
        ("autoscaling/v1", "Scale") => &SCALE,
        ("authentication.k8s.io/v1", "TokenRequest") => &TOKEN_REQUEST,
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => &SELF_SUBJECT_ACCESS_REVIEW,
        ("rbac.authorization.k8s.io/v1", "Role" | "ClusterRole") => &ROLE,
        ("rbac.authorization.k8s.io/v1", "RoleBinding" | "ClusterRoleBinding") => &ROLE_BINDING,
        _ => return None,
    })
}

static OBJECT_META: Message = Message {
    name: "ObjectMeta",
    fields: &[
        f(1, "name", String),
        f(2, "generateName", String),
        f(3, "namespace", String),
        f(4, "selfLink", String),
        f(5, "uid", String),
        f(6, "resourceVersion", String),
        f(7, "generation", Int),
        f(8, "creationTimestamp", Time),
        f(9, "deletionTimestamp", Time),
        f(10, "deletionGracePeriodSeconds", KeptInt),
        f(11, "labels", StringMap),
        f(12, "annotations", StringMap),
        f(13, "ownerReferences", MessageList(&OWNER_REFERENCE)),
        f(14, "finalizers", StringList),
    ],
};

static OWNER_REFERENCE: Message = Message {
    name: "OwnerReference",
    fields: &[
        f(1, "kind", String),
        f(3, "name", String),
        f(4, "uid", String),
        f(5, "apiVersion", String),
        f(6, "controller", KeptBool),
        f(7, "blockOwnerDeletion", KeptBool),
    ],
};

static LABEL_SELECTOR: Message = Message {
    name: "LabelSelector",
    fields: &[f(1, "matchLabels", StringMap), f(2, "matchExpressions", MessageList(&SELECTOR_REQUIREMENT))],
};

static SELECTOR_REQUIREMENT: Message = Message {
    name: "LabelSelectorRequirement",
    fields: &[f(1, "key", String), f(2, "operator", String), f(3, "values", StringList)],
};

static NAMESPACE: Message = Message {
    name: "Namespace",
    fields: &[f(1, "metadata", m(&OBJECT_META)), f(2, "spec", m(&NAMESPACE_SPEC)), f(3, "status", Ignored)],
};

static NAMESPACE_SPEC: Message = Message { name: "NamespaceSpec", fields: &[f(1, "finalizers", StringList)] };

static SECRET: Message = Message {
    name: "Secret",
    fields: &[
        f(1, "metadata", m(&OBJECT_META)),
        f(2, "data", FieldKind::BytesMap),
        f(3, "type", String),
        f(4, "stringData", StringMap),
        f(5, "immutable", KeptBool),
    ],
};

static CONFIG_MAP: Message = Message {
    name: "ConfigMap",
    fields: &[
        f(1, "metadata", m(&OBJECT_META)),
        f(2, "data", StringMap),
        f(3, "binaryData", FieldKind::BytesMap),
        f(4, "immutable", KeptBool),
    ],
};

static SERVICE_ACCOUNT: Message = Message {
    name: "ServiceAccount",
    fields: &[
        f(1, "metadata", m(&OBJECT_META)),
        f(2, "secrets", MessageList(&OBJECT_REFERENCE)),
        f(3, "imagePullSecrets", MessageList(&LOCAL_OBJECT_REFERENCE)),
        f(4, "automountServiceAccountToken", KeptBool),
    ],
};

static OBJECT_REFERENCE: Message = Message {
    name: "ObjectReference",
    fields: &[
        f(1, "kind", String),
        f(2, "namespace", String),
        f(3, "name", String),
        f(4, "uid", String),
        f(5, "apiVersion", String),
        f(6, "resourceVersion", String),
        f(7, "fieldPath", String),
    ],
};

static LOCAL_OBJECT_REFERENCE: Message =
    Message { name: "LocalObjectReference", fields: &[f(1, "name", String)] };

static SERVICE: Message = Message {
    name: "Service",
    fields: &[f(1, "metadata", m(&OBJECT_META)), f(2, "spec", m(&SERVICE_SPEC)), f(3, "status", Ignored)],
};

static SERVICE_SPEC: Message = Message {
    name: "ServiceSpec",
    fields: &[
        f(1, "ports", MessageList(&SERVICE_PORT)),
        f(2, "selector", StringMap),
        f(3, "clusterIP", String),
        f(4, "type", String),
        f(5, "externalIPs", StringList),
        f(7, "sessionAffinity", String),
        f(10, "externalName", String),
        f(11, "externalTrafficPolicy", String),
        f(17, "ipFamilyPolicy", String),
        f(18, "clusterIPs", StringList),
        f(19, "ipFamilies", StringList),
        f(22, "internalTrafficPolicy", String),
    ],
};

static SERVICE_PORT: Message = Message {
    name: "ServicePort",
    fields: &[
        f(1, "name", String),
        f(2, "protocol", String),
        f(3, "port", KeptInt),
        f(4, "targetPort", IntOrString),
        f(5, "nodePort", Int),
        f(6, "appProtocol", String),
    ],
};

static DEPLOYMENT: Message = Message {
    name: "Deployment",
    fields: &[f(1, "metadata", m(&OBJECT_META)), f(2, "spec", m(&DEPLOYMENT_SPEC)), f(3, "status", Ignored)],
};

static DEPLOYMENT_SPEC: Message = Message {
    name: "DeploymentSpec",
    fields: &[
        f(1, "replicas", KeptInt),
        f(2, "selector", m(&LABEL_SELECTOR)),
        f(3, "template", m(&pod::POD_TEMPLATE_SPEC)),
        f(4, "strategy", m(&DEPLOYMENT_STRATEGY)),
        f(5, "minReadySeconds", Int),
        f(6, "revisionHistoryLimit", KeptInt),
        f(7, "paused", Bool),
        f(9, "progressDeadlineSeconds", KeptInt),
    ],
};

static DEPLOYMENT_STRATEGY: Message = Message {
    name: "DeploymentStrategy",
    fields: &[f(1, "type", String), f(2, "rollingUpdate", m(&ROLLING_UPDATE))],
};

static ROLLING_UPDATE: Message = Message {
    name: "RollingUpdateDeployment",
    fields: &[f(1, "maxUnavailable", IntOrString), f(2, "maxSurge", IntOrString)],
};

static SCALE: Message = Message {
    name: "Scale",
    fields: &[f(1, "metadata", m(&OBJECT_META)), f(2, "spec", m(&SCALE_SPEC)), f(3, "status", Ignored)],
};

static SCALE_SPEC: Message = Message { name: "ScaleSpec", fields: &[f(1, "replicas", KeptInt)] };

static TOKEN_REQUEST: Message = Message {
    name: "TokenRequest",
    fields: &[
        f(1, "metadata", m(&OBJECT_META)),
        f(2, "spec", m(&TOKEN_REQUEST_SPEC)),
        f(3, "status", Ignored),
    ],
};

static TOKEN_REQUEST_SPEC: Message = Message {
    name: "TokenRequestSpec",
    fields: &[
        f(1, "audiences", StringList),
        f(3, "boundObjectRef", m(&BOUND_OBJECT_REFERENCE)),
        f(4, "expirationSeconds", KeptInt),
    ],
};

static BOUND_OBJECT_REFERENCE: Message = Message {
    name: "BoundObjectReference",
    fields: &[f(1, "kind", String), f(2, "apiVersion", String), f(3, "name", String), f(4, "uid", String)],
};

static SELF_SUBJECT_ACCESS_REVIEW: Message = Message {
    name: "SelfSubjectAccessReview",
    fields: &[
        f(1, "metadata", m(&OBJECT_META)),
        f(2, "spec", m(&ACCESS_REVIEW_SPEC)),
        f(3, "status", Ignored),
    ],
};

static ACCESS_REVIEW_SPEC: Message = Message {
    name: "SelfSubjectAccessReviewSpec",
    fields: &[
        f(1, "resourceAttributes", m(&RESOURCE_ATTRIBUTES)),
        f(2, "nonResourceAttributes", m(&NON_RESOURCE_ATTRIBUTES)),
    ],
};

static RESOURCE_ATTRIBUTES: Message = Message {
    name: "ResourceAttributes",
    fields: &[
        f(1, "namespace", String),
        f(2, "verb", String),
        f(3, "group", String),
        f(4, "version", String),
        f(5, "resource", String),
        f(6, "subresource", String),
        f(7, "name", String),
    ],
};

static NON_RESOURCE_ATTRIBUTES: Message =
    Message { name: "NonResourceAttributes", fields: &[f(1, "path", String), f(2, "verb", String)] };

static ROLE: Message = Message {
    name: "Role",
    fields: &[f(1, "metadata", m(&OBJECT_META)), f(2, "rules", MessageList(&POLICY_RULE))],
};

static POLICY_RULE: Message = Message {
    name: "PolicyRule",
    fields: &[
        f(1, "verbs", StringList),
        f(2, "apiGroups", StringList),
        f(3, "resources", StringList),
        f(4, "resourceNames", StringList),
        f(5, "nonResourceURLs", StringList),
    ],
};

static ROLE_BINDING: Message = Message {
    name: "RoleBinding",
    fields: &[
        f(1, "metadata", m(&OBJECT_META)),
        f(2, "subjects", MessageList(&SUBJECT)),
        f(3, "roleRef", m(&ROLE_REF)),
    ],
};

static SUBJECT: Message = Message {
    name: "Subject",
    fields: &[
        f(1, "kind", String),
        f(2, "apiGroup", String),
        f(3, "name", String),
        f(4, "namespace", String),
    ],
};

static ROLE_REF: Message = Message {
    name: "RoleRef",
    fields: &[f(1, "apiGroup", String), f(2, "kind", String), f(3, "name", String)],
};
