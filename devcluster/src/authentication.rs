//! Bearer-token authentication as kube-apiserver does it, for TokenReview: ServiceAccount tokens
//! issued by the TokenRequest subresource (`serviceaccounts/<name>/token`), the admin token the
//! kubeconfig carries, and the tokens of a test's `ReviewPolicy`.
//!
//! The same authenticators decide who a request is (`crate::authorization::request_access`):
//! a request with a bearer token is that token's user, refused (401) when the token is not
//! valid; a request with none is the admin, as devcluster has always served kubectl over HTTP.

mod token_request;
mod token_review;
mod tokens;

pub(crate) use token_request::token_request;
pub(crate) use token_review::{authenticate_request, token_review};
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
