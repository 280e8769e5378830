//! Bearer-token authentication as kube-apiserver does it, for TokenReview: ServiceAccount tokens
//! issued by the TokenRequest subresource (`serviceaccounts/<name>/token`), the admin token the
//! kubeconfig carries, and the tokens of a test's `ReviewPolicy`.
//!
//! devcluster serves every request whatever its credentials; these answer only TokenReviews, so
//! a server that delegates authentication to the apiserver (as Agentry's API does) sees what it
//! would see on a real cluster.

mod token_request;
mod token_review;
mod tokens;

pub(crate) use token_request::token_request;
pub(crate) use token_review::token_review;
pub(crate) use tokens::Tokens;

/// The apiserver's own audience: `--api-audiences`, which defaults to the first
/// `--service-account-issuer`, as kubeadm and kind set it.
pub(crate) const API_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";

/// The name the admin token authenticates as.
pub(crate) const ADMIN_USER: &str = "devcluster-admin";

/// The group kube-apiserver's privileged-group authorizer allows everything.
pub(crate) const MASTERS_GROUP: &str = "system:masters";

/// The group every authenticated user is put in.
pub(crate) const AUTHENTICATED_GROUP: &str = "system:authenticated";
