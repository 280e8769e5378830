//! Minting user credentials with the account's signing key: what the operator holds (from a
//! Secret) to give each Agent its identity without touching the server.

use std::time::Duration;

use agentry_protocol::subjects::SubjectToken;
use sha2::{Digest, Sha256};

use crate::claims::{self, UserSpec};
use crate::creds::UserCreds;
use crate::jwt::JwtError;
use crate::nkey::{self, KeyError, KeyRole, NKey};
use crate::permissions::{self, Permissions};

/// An account's signing key and the account it signs for. Debug shows public keys only.
#[derive(Clone, Debug)]
pub struct UserIssuer {
    account: String,
    signing_key: NKey,
}

impl UserIssuer {
    /// Signs for `account` (public key `A…`) with `signing_key` (an account seed `SA…`, the
    /// account's own or one its JWT lists among `signing_keys`). `what` names the seed's origin.
    pub fn new(account: &str, signing_seed: &str, what: &str) -> Result<Self, KeyError> {
        let account = nkey::public_key(account, KeyRole::Account)?;
        let signing_key = NKey::from_seed(signing_seed, KeyRole::Account, what)?;
        Ok(Self { account, signing_key })
    }

    /// Signs for `account` with a key already in hand.
    pub fn from_key(account: &str, signing_key: NKey) -> Result<Self, KeyError> {
        let account = nkey::public_key(account, KeyRole::Account)?;
        Ok(Self { account, signing_key })
    }

    /// The account's public key.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// New credentials (a fresh user key) named `name` with `permissions`.
    pub fn mint(&self, name: &str, permissions: &Permissions) -> Result<UserCreds, JwtError> {
        let key = NKey::generate(KeyRole::User);
        let jwt = self.user_jwt(&key.public_key(), name, permissions)?;
        Ok(UserCreds { jwt, key })
    }

    /// The JWT of the user `user` (public key) named `name` with `permissions`.
    pub fn user_jwt(&self, user: &str, name: &str, permissions: &Permissions) -> Result<String, JwtError> {
        // The account key itself needs no `issuer_account`; a signing key does.
        let issuer_account = (self.signing_key.public_key() != self.account).then_some(self.account.as_str());
        UserSpec { user, name, issuer_account, permissions }.jwt(&self.signing_key, claims::now())
    }

    /// A digest of what credentials minted for `name` with `permissions` by this issuer would
    /// grant: equal digests, equivalent credentials (so a minted Secret is re-minted only when
    /// this changes, e.g. the Agent's peers or the signing key).
    pub fn fingerprint(&self, name: &str, permissions: &Permissions) -> String {
        let text = format!("{}\n{}\n{name}\n{permissions:?}", self.account, self.signing_key.public_key());
        data_encoding::HEXLOWER.encode(&Sha256::digest(text.as_bytes()))[..16].to_string()
    }

    /// Credentials of the Agent `namespace/agent` that may call `peers`; replies to requests it
    /// receives may stay open `reply_ttl`.
    pub fn mint_agent(
        &self,
        namespace: &SubjectToken,
        agent: &SubjectToken,
        peers: &[SubjectToken],
        reply_ttl: Duration,
    ) -> Result<UserCreds, JwtError> {
        self.mint(&format!("{namespace}/{agent}"), &permissions::agent(namespace, agent, peers, reply_ttl))
    }

    /// Credentials of the platform identity `identity` (`_operator`, `_recorder`, `_api`).
    pub fn mint_platform(&self, identity: &str) -> Result<UserCreds, JwtError> {
        self.mint(identity, &permissions::platform(identity))
    }
}
