//! Who is calling: the bearer token checked with a Kubernetes TokenReview, answers cached
//! briefly so a burst of requests costs one review.
//!
//! The token is read from `X-Agentry-Authorization` first, then `Authorization`: the
//! kube-apiserver's service proxy deletes `Authorization` once it has authenticated the caller,
//! so a client going through it (the `agentry` CLI) sends its token in the first header.

use std::time::Duration;

use agentry_api_contract::{ApiErrorCode, PROXIED_AUTHORIZATION_HEADER as PROXIED_AUTHORIZATION};
use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use kube::Api;
use kube::api::PostParams;
use sha2::{Digest, Sha256};

use crate::answer_cache::AnswerCache;
use crate::api_error::ApiError;
use crate::api_state::ApiState;

/// How long an accepted token is trusted without asking again.
const ACCEPTED_FOR: Duration = Duration::from_secs(30);
/// How long a refused token is refused without asking again.
const REFUSED_FOR: Duration = Duration::from_secs(5);

/// The authenticated caller of a request.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Caller {
    /// The user name the token authenticates as.
    pub username: String,
    /// Its uid.
    pub uid: String,
    /// Its groups.
    pub groups: Vec<String>,
}

type Answer = Result<Caller, String>;

/// TokenReviews with a short cache keyed by the token's hash (the token itself is not kept).
#[derive(Clone)]
pub(crate) struct TokenReviews {
    kube: kube::Client,
    cache: AnswerCache<[u8; 32], Answer>,
}

impl TokenReviews {
    pub(crate) fn new(kube: kube::Client) -> Self {
        Self { kube, cache: AnswerCache::new() }
    }

    /// Who `token` is, or 401.
    pub(crate) async fn authenticate(&self, token: &str) -> Result<Caller, ApiError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let answer = match self.cache.get(&key) {
            Some(answer) => answer,
            None => {
                let answer = self.review(token).await?;
                let ttl = if answer.is_ok() { ACCEPTED_FOR } else { REFUSED_FOR };
                self.cache.insert(key, answer.clone(), ttl);
                answer
            }
        };
        answer.map_err(|reason| {
            ApiError::new(
                ApiErrorCode::Unauthenticated,
                format!("the bearer token was not accepted: {reason}"),
            )
        })
    }

    async fn review(&self, token: &str) -> Result<Answer, ApiError> {
        let review = TokenReview {
            spec: TokenReviewSpec { token: Some(token.to_owned()), audiences: None },
            ..Default::default()
        };
        let answered = Api::<TokenReview>::all(self.kube.clone())
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| ApiError::unavailable("the Kubernetes API (TokenReview)", &e))?;
        let status = answered.status.unwrap_or_default();
        if status.authenticated != Some(true) {
            return Ok(Err(status.error.unwrap_or_else(|| "the cluster does not know it".into())));
        }
        let user = status.user.unwrap_or_default();
        Ok(Ok(Caller {
            username: user.username.unwrap_or_default(),
            uid: user.uid.unwrap_or_default(),
            groups: user.groups.unwrap_or_default(),
        }))
    }
}

/// The bearer token of `headers`, if any.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    [PROXIED_AUTHORIZATION, "authorization"].into_iter().find_map(|name| {
        let value = headers.get(name)?.to_str().ok()?.trim();
        let (scheme, token) = value.split_once(' ')?;
        (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim())
    })
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let token = bearer_token(&parts.headers).ok_or_else(|| {
            ApiError::new(
                ApiErrorCode::Unauthenticated,
                "no bearer token: send `Authorization: Bearer <token>` (or `X-Agentry-Authorization` through the Kubernetes API server's proxy)",
            )
        })?;
        state.token_reviews.authenticate(token).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxied_header_wins_and_only_bearer_counts() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Basic abc".parse().expect("header"));
        assert_eq!(bearer_token(&headers), None);
        headers.insert("authorization", "Bearer apiserver-token".parse().expect("header"));
        assert_eq!(bearer_token(&headers), Some("apiserver-token"));
        headers.insert(PROXIED_AUTHORIZATION, "bearer user-token".parse().expect("header"));
        assert_eq!(bearer_token(&headers), Some("user-token"));
        headers.insert(PROXIED_AUTHORIZATION, "Bearer ".parse().expect("header"));
        assert_eq!(bearer_token(&headers), Some("apiserver-token"));
    }
}
