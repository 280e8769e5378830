//! NKeys: the ed25519 key pairs NATS identities are made of, with the role a seed's prefix names.

use std::fmt;

/// What a key stands for; the first letter of its public key (`O`, `A`, `U`) and seed (`SO`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRole {
    /// Vouches for accounts (signs account JWTs).
    Operator,
    /// An account, or one of its signing keys (signs user JWTs).
    Account,
    /// A connecting client.
    User,
}

impl KeyRole {
    fn pair_type(self) -> nkeys::KeyPairType {
        match self {
            Self::Operator => nkeys::KeyPairType::Operator,
            Self::Account => nkeys::KeyPairType::Account,
            Self::User => nkeys::KeyPairType::User,
        }
    }

    /// The letter its public keys start with.
    pub fn prefix(self) -> char {
        match self {
            Self::Operator => 'O',
            Self::Account => 'A',
            Self::User => 'U',
        }
    }
}

impl fmt::Display for KeyRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Operator => "operator",
            Self::Account => "account",
            Self::User => "user",
        })
    }
}

/// Why a key could not be read or used. Never carries the seed itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text is not an NKey seed (wrong length, checksum or encoding).
    #[error("{what} is not a valid NKey seed")]
    InvalidSeed {
        /// What was being read (a flag or file name, never the seed).
        what: String,
    },
    /// The seed is valid but of another role.
    #[error("{what} holds the seed of a {found} key where one of role {expected} is expected")]
    WrongRole {
        /// What was being read.
        what: String,
        /// The role wanted.
        expected: KeyRole,
        /// The role the seed's prefix names.
        found: String,
    },
    /// The text is not a public NKey of the expected role.
    #[error("{key:?} is not a public {expected} NKey (starting with {prefix})", prefix = expected.prefix())]
    InvalidPublicKey {
        /// The refused public key (public, so fine to show).
        key: String,
        /// The role wanted.
        expected: KeyRole,
    },
    /// Signing failed (a key without its seed).
    #[error("signing with the {role} key failed")]
    Signing {
        /// The key's role.
        role: KeyRole,
    },
}

/// A key pair with its seed. Debug shows the role and public key, never the seed.
#[derive(Clone)]
pub struct NKey {
    role: KeyRole,
    pair: nkeys::KeyPair,
}

impl fmt::Debug for NKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NKey").field("role", &self.role).field("public_key", &self.public_key()).finish()
    }
}

impl NKey {
    /// A new random key of `role`.
    pub fn generate(role: KeyRole) -> Self {
        Self { role, pair: nkeys::KeyPair::new(role.pair_type()) }
    }

    /// The key of `seed` (surrounding whitespace ignored), which must be of `role`; `what` names
    /// the seed's origin in errors.
    pub fn from_seed(seed: &str, role: KeyRole, what: &str) -> Result<Self, KeyError> {
        let pair = nkeys::KeyPair::from_seed(seed.trim())
            .map_err(|_| KeyError::InvalidSeed { what: what.to_string() })?;
        if pair.key_pair_type() != role.pair_type() {
            let found = format!("{:?}", pair.key_pair_type()).to_lowercase();
            return Err(KeyError::WrongRole { what: what.to_string(), expected: role, found });
        }
        Ok(Self { role, pair })
    }

    /// Its role.
    pub fn role(&self) -> KeyRole {
        self.role
    }

    /// The public key (`O…`, `A…`, `U…`): safe to show.
    pub fn public_key(&self) -> String {
        self.pair.public_key()
    }

    /// The seed (`SO…`, `SA…`, `SU…`): a secret, only for files that are themselves secrets.
    pub fn seed(&self) -> Result<String, KeyError> {
        self.pair.seed().map_err(|_| KeyError::Signing { role: self.role })
    }

    /// An ed25519 signature of `input`.
    pub fn sign(&self, input: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.pair.sign(input).map_err(|_| KeyError::Signing { role: self.role })
    }
}

/// Checks `key` is a public NKey of `role` and returns it trimmed.
pub fn public_key(key: &str, role: KeyRole) -> Result<String, KeyError> {
    let key = key.trim();
    match nkeys::KeyPair::from_public_key(key) {
        Ok(pair) if pair.key_pair_type() == role.pair_type() => Ok(key.to_string()),
        _ => Err(KeyError::InvalidPublicKey { key: key.to_string(), expected: role }),
    }
}

/// Verifies `signature` of `input` by the public key `key`.
pub fn verify(key: &str, input: &[u8], signature: &[u8]) -> bool {
    nkeys::KeyPair::from_public_key(key).is_ok_and(|pair| pair.verify(input, signature).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_round_trip_and_roles_are_checked() {
        let key = NKey::generate(KeyRole::Account);
        assert!(key.public_key().starts_with('A'));
        let seed = key.seed().unwrap();
        assert!(seed.starts_with("SA"));
        let again = NKey::from_seed(&format!(" {seed}\n"), KeyRole::Account, "the file").unwrap();
        assert_eq!(again.public_key(), key.public_key());
        let err = NKey::from_seed(&seed, KeyRole::User, "the file").unwrap_err();
        assert!(err.to_string().contains("account key where one of role user"), "{err}");
        assert!(!err.to_string().contains(&seed));
        let err = NKey::from_seed("SAnotaseed", KeyRole::Account, "the file").unwrap_err();
        assert_eq!(err.to_string(), "the file is not a valid NKey seed");
        assert!(!format!("{key:?}").contains(&seed));
    }

    #[test]
    fn signatures_verify_with_the_public_key() {
        let key = NKey::generate(KeyRole::User);
        let signature = key.sign(b"nonce").unwrap();
        assert!(verify(&key.public_key(), b"nonce", &signature));
        assert!(!verify(&key.public_key(), b"other", &signature));
        assert!(public_key(&key.public_key(), KeyRole::User).is_ok());
        assert!(public_key(&key.public_key(), KeyRole::Account).is_err());
    }
}
