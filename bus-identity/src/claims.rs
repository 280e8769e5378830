//! The three kinds of claims NATS decentralized auth chains: the operator (self-signed), the
//! account (signed by the operator) and the user (signed by the account or one of its signing
//! keys). Limits use -1 for "no limit": a zero would mean none allowed.

use serde::Serialize;

use crate::jwt::{self, JwtError};
use crate::nkey::NKey;
use crate::permissions::{Permissions, SubjectRules};

/// No limit, as NATS JWTs spell it.
const NO_LIMIT: i64 = -1;

#[derive(Serialize)]
struct OperatorNats<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    system_account: Option<&'a str>,
    #[serde(rename = "type")]
    kind: &'static str,
    version: u8,
}

/// Mints the self-signed operator JWT; `system_account` is the system account's public key.
pub fn operator_jwt(
    operator: &NKey,
    name: &str,
    system_account: Option<&str>,
    issued_at: i64,
) -> Result<String, JwtError> {
    let nats = OperatorNats { system_account, kind: "operator", version: 2 };
    jwt::encode(operator, &operator.public_key(), name, issued_at, &nats)
}

/// An account to mint.
#[derive(Clone, Debug)]
pub struct AccountSpec<'a> {
    /// Its public key (`A…`).
    pub account: &'a str,
    /// Its name.
    pub name: &'a str,
    /// Public keys that may sign its users (so the account's own seed can stay offline).
    pub signing_keys: Vec<String>,
    /// Whether its clients may use JetStream (without storage limits when so).
    pub jetstream: bool,
}

#[derive(Serialize)]
struct AccountLimits {
    subs: i64,
    data: i64,
    payload: i64,
    imports: i64,
    exports: i64,
    wildcards: bool,
    conn: i64,
    leaf: i64,
    #[serde(skip_serializing_if = "is_zero")]
    mem_storage: i64,
    #[serde(skip_serializing_if = "is_zero")]
    disk_storage: i64,
    #[serde(skip_serializing_if = "is_zero")]
    streams: i64,
    #[serde(skip_serializing_if = "is_zero")]
    consumer: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

#[derive(Serialize)]
struct AccountNats<'a> {
    limits: AccountLimits,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    signing_keys: &'a [String],
    #[serde(rename = "type")]
    kind: &'static str,
    version: u8,
}

impl AccountSpec<'_> {
    /// Mints the account JWT, signed by `operator`.
    pub fn jwt(&self, operator: &NKey, issued_at: i64) -> Result<String, JwtError> {
        // JetStream is enabled by any non-zero storage limit; zero (omitted) disables it.
        let js = if self.jetstream { NO_LIMIT } else { 0 };
        let limits = AccountLimits {
            subs: NO_LIMIT,
            data: NO_LIMIT,
            payload: NO_LIMIT,
            imports: NO_LIMIT,
            exports: NO_LIMIT,
            wildcards: true,
            conn: NO_LIMIT,
            leaf: NO_LIMIT,
            mem_storage: js,
            disk_storage: js,
            streams: js,
            consumer: js,
        };
        let nats = AccountNats { limits, signing_keys: &self.signing_keys, kind: "account", version: 2 };
        jwt::encode(operator, self.account, self.name, issued_at, &nats)
    }
}

/// A user to mint.
#[derive(Clone, Debug)]
pub struct UserSpec<'a> {
    /// Its public key (`U…`).
    pub user: &'a str,
    /// Its name: the identity (an Agent's `<namespace>/<name>`, or `_api`, …).
    pub name: &'a str,
    /// The account it belongs to, when `signer` is one of the account's signing keys rather than
    /// the account key itself.
    pub issuer_account: Option<&'a str>,
    /// What it may do.
    pub permissions: &'a Permissions,
}

#[derive(Serialize)]
struct ResponseNats {
    max: u32,
    /// Nanoseconds, as Go's `time.Duration` serializes.
    ttl: u128,
}

#[derive(Serialize)]
struct UserNats<'a> {
    #[serde(rename = "pub")]
    publish: &'a SubjectRules,
    #[serde(rename = "sub")]
    subscribe: &'a SubjectRules,
    #[serde(skip_serializing_if = "Option::is_none")]
    resp: Option<ResponseNats>,
    subs: i64,
    data: i64,
    payload: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    issuer_account: Option<&'a str>,
    #[serde(rename = "type")]
    kind: &'static str,
    version: u8,
}

impl UserSpec<'_> {
    /// Mints the user JWT, signed by `signer` (the account key or one of its signing keys).
    pub fn jwt(&self, signer: &NKey, issued_at: i64) -> Result<String, JwtError> {
        let resp =
            self.permissions.response.map(|r| ResponseNats { max: r.max_messages, ttl: r.ttl.as_nanos() });
        let nats = UserNats {
            publish: &self.permissions.publish,
            subscribe: &self.permissions.subscribe,
            resp,
            subs: NO_LIMIT,
            data: NO_LIMIT,
            payload: NO_LIMIT,
            issuer_account: self.issuer_account,
            kind: "user",
            version: 2,
        };
        jwt::encode(signer, self.user, self.name, issued_at, &nats)
    }
}

/// Seconds since the Unix epoch, for `iat`.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::nkey::KeyRole;
    use crate::permissions::ResponseRule;

    #[test]
    fn a_user_jwt_carries_its_permissions_and_issuer_account() {
        let account = NKey::generate(KeyRole::Account);
        let signing = NKey::generate(KeyRole::Account);
        let user = NKey::generate(KeyRole::User);
        let mut permissions = Permissions::default();
        permissions.publish.allow.push("a.b".into());
        permissions.response = Some(ResponseRule { max_messages: 5, ttl: Duration::from_secs(2) });
        let spec = UserSpec {
            user: &user.public_key(),
            name: "fleet/a",
            issuer_account: Some(&account.public_key()),
            permissions: &permissions,
        };
        let (standard, nats) = jwt::decode(&spec.jwt(&signing, 1).unwrap()).unwrap();
        assert_eq!(standard.iss, signing.public_key());
        assert_eq!(standard.sub, user.public_key());
        assert_eq!(nats["type"], "user");
        assert_eq!(nats["pub"]["allow"][0], "a.b");
        assert_eq!(nats["resp"]["ttl"], 2_000_000_000_u64);
        assert_eq!(nats["issuer_account"], account.public_key());
        assert_eq!(nats["subs"], -1);
    }

    #[test]
    fn an_account_jwt_enables_jetstream_and_lists_signing_keys() {
        let operator = NKey::generate(KeyRole::Operator);
        let account = NKey::generate(KeyRole::Account);
        let spec = AccountSpec {
            account: &account.public_key(),
            name: "AGENTRY",
            signing_keys: vec!["AX".into()],
            jetstream: true,
        };
        let (_, nats) = jwt::decode(&spec.jwt(&operator, 1).unwrap()).unwrap();
        assert_eq!(nats["limits"]["disk_storage"], -1);
        assert_eq!(nats["limits"]["conn"], -1);
        assert_eq!(nats["signing_keys"][0], "AX");
    }
}
