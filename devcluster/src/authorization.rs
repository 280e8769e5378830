//! SubjectAccessReview (`POST /apis/authorization.k8s.io/v1/subjectaccessreviews`), answered as
//! kube-apiserver's authorizer chain answers it: `system:masters` is allowed everything, then the
//! RBAC authorizer over the Roles, ClusterRoles and their bindings stored here, then a test's
//! `ReviewPolicy` (standing in for a webhook authorizer). Every request with a bearer token is
//! authorized by the same chain (`request_access`), lists and watches included.

mod aggregation;
mod bootstrap_policy;
mod rbac;
mod request_access;
mod request_attributes;
mod self_subject_access_review;
mod subject_access_review;

pub(crate) use request_access::{Caller, authorize_create_on_update, request_access};
pub(crate) use self_subject_access_review::self_subject_access_review;
pub(crate) use subject_access_review::subject_access_review;

/// What a request asks to do, and who asks (`authorizer.Attributes`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Attributes {
    /// The user's name.
    pub(crate) user: String,
    /// The user's groups.
    pub(crate) groups: Vec<String>,
    /// The verb, e.g. `get`, `create`.
    pub(crate) verb: String,
    /// A resource request (`resourceAttributes`), or a non-resource one (a URL path).
    pub(crate) resource_request: bool,
    /// The namespace; empty for cluster-scoped requests.
    pub(crate) namespace: String,
    /// The API group; empty for core.
    pub(crate) group: String,
    /// The resource (plural).
    pub(crate) resource: String,
    /// The subresource, e.g. `status`, `proxy`.
    pub(crate) subresource: String,
    /// The object's name; empty for collections.
    pub(crate) name: String,
    /// The URL path of a non-resource request.
    pub(crate) path: String,
}
