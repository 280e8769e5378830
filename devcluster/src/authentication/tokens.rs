//! The tokens devcluster has handed out: the admin token made at start and the ServiceAccount
//! tokens issued by TokenRequests, each remembered with its ServiceAccount, audiences and expiry.

use std::collections::HashMap;

use serde_json::json;

use super::API_AUDIENCE;

/// What a ServiceAccount token is for.
#[derive(Clone, Debug)]
pub(crate) struct TokenGrant {
    /// The ServiceAccount's namespace.
    pub(crate) namespace: String,
    /// The ServiceAccount's name.
    pub(crate) name: String,
    /// The ServiceAccount's uid when the token was issued: a recreated account does not inherit it.
    pub(crate) uid: String,
    /// Who the token is for (`aud`).
    pub(crate) audiences: Vec<String>,
    /// The Pod or Secret the token lives only as long as, if bound to one.
    pub(crate) bound: Option<BoundObject>,
}

/// The object a token is bound to (`spec.boundObjectRef`, resolved).
#[derive(Clone, Debug)]
pub(crate) struct BoundObject {
    /// `Pod` or `Secret`.
    pub(crate) kind: String,
    /// Its name, in the ServiceAccount's namespace.
    pub(crate) name: String,
    /// Its uid when the token was issued.
    pub(crate) uid: String,
}

/// A ServiceAccount token as issued.
#[derive(Clone, Debug)]
pub(crate) struct IssuedToken {
    /// What it is for.
    pub(crate) grant: TokenGrant,
    /// When it expires, in seconds since the epoch (`exp`).
    pub(crate) expires: i64,
    /// Its id (`jti`), shown as the credential id of the user it authenticates.
    pub(crate) id: String,
}

/// The tokens of one devcluster.
pub(crate) struct Tokens {
    admin: String,
    issued: HashMap<String, IssuedToken>,
    /// Seconds added to the wall clock when judging expiry (test hook: time passing).
    clock_offset: i64,
}

impl Default for Tokens {
    fn default() -> Self {
        Self { admin: random_secret(), issued: HashMap::new(), clock_offset: 0 }
    }
}

impl Tokens {
    /// The admin token (`system:masters`), as written into the kubeconfig.
    pub(crate) fn admin(&self) -> &str {
        &self.admin
    }

    /// The issued ServiceAccount token `token`, if devcluster issued it.
    pub(crate) fn issued(&self, token: &str) -> Option<&IssuedToken> {
        self.issued.get(token)
    }

    /// Now, in seconds since the epoch, as token expiry sees it.
    pub(crate) fn now(&self) -> i64 {
        jiff::Timestamp::now().as_second() + self.clock_offset
    }

    /// Test hook: token expiry is judged `seconds` later than the wall clock says.
    pub(crate) fn advance_clock(&mut self, seconds: i64) {
        self.clock_offset += seconds;
    }

    /// Issue a token for `grant`, valid for `expiration_seconds`; returns it and its expiry.
    pub(crate) fn issue(&mut self, grant: TokenGrant, expiration_seconds: i64) -> (String, i64) {
        let now = self.now();
        let issued =
            IssuedToken { grant, expires: now + expiration_seconds, id: uuid::Uuid::new_v4().to_string() };
        let token = unsigned_jwt(&issued, now);
        let expires = issued.expires;
        self.issued.insert(token.clone(), issued);
        (token, expires)
    }
}

/// A JWT-shaped token with the claims kube-apiserver puts in ServiceAccount tokens, so that
/// tools decoding it find what they expect. It is NOT signed (`alg: none`, empty signature):
/// devcluster recognises the tokens it remembers, and `jti` (random) makes each unguessable.
fn unsigned_jwt(token: &IssuedToken, issued_at: i64) -> String {
    let header = json!({"alg": "none", "typ": "JWT"});
    let grant = &token.grant;
    let mut claims = json!({
        "aud": grant.audiences,
        "exp": token.expires,
        "iat": issued_at,
        "nbf": issued_at,
        "iss": API_AUDIENCE,
        "jti": token.id,
        "kubernetes.io": {
            "namespace": grant.namespace,
            "serviceaccount": {"name": grant.name, "uid": grant.uid},
        },
        "sub": format!("system:serviceaccount:{}:{}", grant.namespace, grant.name),
    });
    if let Some(bound) = &grant.bound {
        claims["kubernetes.io"][bound.kind.to_lowercase()] = json!({"name": bound.name, "uid": bound.uid});
    }
    format!("{}.{}.", base64_url(header.to_string().as_bytes()), base64_url(claims.to_string().as_bytes()))
}

/// 32 random bytes (from two v4 UUIDs, i.e. the OS's random source), base64url.
fn random_secret() -> String {
    let bytes: Vec<u8> =
        [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()].iter().flat_map(|u| u.as_bytes().to_vec()).collect();
    base64_url(&bytes)
}

/// Unpadded base64url, as JWTs encode their parts.
fn base64_url(bytes: &[u8]) -> String {
    crate::base64::encode(bytes).trim_end_matches('=').replace('+', "-").replace('/', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_distinct_unsigned_jwts_naming_their_account() {
        let mut tokens = Tokens::default();
        let grant = TokenGrant {
            namespace: "fleet".into(),
            name: "api".into(),
            uid: "uid-1".into(),
            audiences: vec!["agentry".into()],
            bound: None,
        };
        let (a, _) = tokens.issue(grant.clone(), 600);
        let (b, _) = tokens.issue(grant, 600);
        assert_ne!(a, b);
        assert_eq!(a.split('.').count(), 3);
        assert!(a.ends_with('.'), "no signature: {a}");
        let claims = a.split('.').nth(1).unwrap_or_default().replace('-', "+").replace('_', "/");
        let decoded = crate::base64::decode(&claims).unwrap_or_default();
        let claims: serde_json::Value = serde_json::from_slice(&decoded).unwrap_or_default();
        assert_eq!(claims["sub"], "system:serviceaccount:fleet:api");
        assert_eq!(tokens.issued(&a).map(|t| t.grant.uid.as_str()), Some("uid-1"));
        assert_ne!(tokens.admin(), Tokens::default().admin());
    }
}
