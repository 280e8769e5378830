//! What a caller may do: one SubjectAccessReview per (caller, verb, resource, namespace), on
//! resources of `agentry.dev`, so plain RBAC Roles grant API access. Answers are cached briefly.

use std::time::Duration;

use agentry_api_contract::ApiErrorCode;
use k8s_openapi::api::authorization::v1::{ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec};
use kube::Api;
use kube::api::PostParams;

use crate::answer_cache::AnswerCache;
use crate::api_error::ApiError;
use crate::authentication::Caller;

/// The API group every permission is on.
pub(crate) const GROUP: &str = "agentry.dev";
/// How long an answer holds without asking again: a revoked Role takes effect within it.
const ANSWER_HOLDS_FOR: Duration = Duration::from_secs(10);

/// One permission an endpoint needs: `verb` on `resource` (`agents/invoke` for a subresource)
/// in `namespace`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Access {
    /// `get`, `list`, `create`, `update` or `delete`.
    pub verb: &'static str,
    /// The resource, with `/subresource` when there is one.
    pub resource: &'static str,
    /// The namespace of the request.
    pub namespace: String,
}

impl Access {
    /// `verb` on `resource` in `namespace`.
    pub fn new(verb: &'static str, resource: &'static str, namespace: &str) -> Self {
        Self { verb, resource, namespace: namespace.to_owned() }
    }
}

type Decision = Result<(), String>;

/// SubjectAccessReviews with a short cache.
#[derive(Clone)]
pub(crate) struct AccessReviews {
    kube: kube::Client,
    cache: AnswerCache<(Caller, Access), Decision>,
}

impl AccessReviews {
    pub(crate) fn new(kube: kube::Client) -> Self {
        Self { kube, cache: AnswerCache::new() }
    }

    /// Ok when `caller` may do `access`; 403 naming what was refused otherwise.
    pub(crate) async fn require(&self, caller: &Caller, access: Access) -> Result<(), ApiError> {
        let key = (caller.clone(), access);
        let decision = match self.cache.get(&key) {
            Some(decision) => decision,
            None => {
                let decision = self.review(&key.0, &key.1).await?;
                self.cache.insert(key.clone(), decision.clone(), ANSWER_HOLDS_FOR);
                decision
            }
        };
        decision.map_err(|reason| forbidden(&key.0, &key.1, &reason))
    }

    async fn review(&self, caller: &Caller, access: &Access) -> Result<Decision, ApiError> {
        let (resource, subresource) = match access.resource.split_once('/') {
            Some((resource, sub)) => (resource, Some(sub.to_owned())),
            None => (access.resource, None),
        };
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(caller.username.clone()),
                uid: Some(caller.uid.clone()).filter(|u| !u.is_empty()),
                groups: Some(caller.groups.clone()),
                resource_attributes: Some(ResourceAttributes {
                    group: Some(GROUP.to_owned()),
                    resource: Some(resource.to_owned()),
                    subresource,
                    verb: Some(access.verb.to_owned()),
                    namespace: Some(access.namespace.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let answered = Api::<SubjectAccessReview>::all(self.kube.clone())
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| ApiError::unavailable("the Kubernetes API (SubjectAccessReview)", &e))?;
        let status = answered.status.unwrap_or_default();
        if status.allowed {
            Ok(Ok(()))
        } else {
            Ok(Err(status.reason.or(status.evaluation_error).unwrap_or_default()))
        }
    }
}

/// 403 in the words of the Kubernetes API server, plus the RBAC rule that would allow it.
fn forbidden(caller: &Caller, access: &Access, reason: &str) -> ApiError {
    let mut message = format!(
        "{user:?} cannot {verb} resource {resource:?} in API group {GROUP:?} in the namespace {ns:?}; a Role needs \
         `apiGroups: [{GROUP}], resources: [{resource}], verbs: [{verb}]`",
        user = caller.username,
        verb = access.verb,
        resource = access.resource,
        ns = access.namespace,
    );
    if !reason.is_empty() {
        message.push_str(&format!(" ({reason})"));
    }
    ApiError::new(ApiErrorCode::Forbidden, message)
}
