//! The `.creds` file: a user JWT and the user's seed, in the decorated layout `nsc` writes and
//! every NATS client reads.

use std::fmt;

use crate::nkey::{KeyError, KeyRole, NKey};

const JWT_BEGIN: &str = "-----BEGIN NATS USER JWT-----";
const JWT_END: &str = "------END NATS USER JWT------";
const SEED_BEGIN: &str = "-----BEGIN USER NKEY SEED-----";
const SEED_END: &str = "------END USER NKEY SEED------";

/// A user's JWT and key. Debug shows the public key only.
#[derive(Clone)]
pub struct UserCreds {
    /// The user JWT (public: it holds no secret, only signed claims).
    pub jwt: String,
    /// The user's key, seed included.
    pub key: NKey,
}

impl fmt::Debug for UserCreds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserCreds").field("user", &self.key.public_key()).finish_non_exhaustive()
    }
}

/// Why a `.creds` text could not be read. Never carries the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredsError {
    /// A decorated block is missing.
    #[error("{what} holds no {block} block")]
    MissingBlock {
        /// Where the text came from.
        what: String,
        /// The block missing.
        block: &'static str,
    },
    /// The seed block holds no valid user seed.
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl UserCreds {
    /// The `.creds` file text: a secret (it holds the seed).
    pub fn render(&self) -> Result<String, KeyError> {
        let seed = self.key.seed()?;
        Ok(format!(
            "{JWT_BEGIN}\n{jwt}\n{JWT_END}\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\
             NKEYs are sensitive and should be treated as secrets.\n\n\
             {SEED_BEGIN}\n{seed}\n{SEED_END}\n\n\
             *************************************************************\n",
            jwt = self.jwt
        ))
    }

    /// Reads a `.creds` text; `what` names its origin in errors.
    pub fn parse(text: &str, what: &str) -> Result<Self, CredsError> {
        let jwt = block(text, JWT_BEGIN, JWT_END)
            .ok_or_else(|| CredsError::MissingBlock { what: what.to_string(), block: "NATS USER JWT" })?;
        let seed = block(text, SEED_BEGIN, SEED_END)
            .ok_or_else(|| CredsError::MissingBlock { what: what.to_string(), block: "USER NKEY SEED" })?;
        let key = NKey::from_seed(seed, KeyRole::User, what)?;
        Ok(Self { jwt: jwt.to_string(), key })
    }
}

/// The trimmed text between `begin` and `end`, when both are there and it is not empty.
fn block<'t>(text: &'t str, begin: &str, end: &str) -> Option<&'t str> {
    let start = text.find(begin)? + begin.len();
    let len = text[start..].find(end)?;
    Some(text[start..start + len].trim()).filter(|b| !b.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creds_round_trip_and_debug_hides_the_seed() {
        let key = NKey::generate(KeyRole::User);
        let creds = UserCreds { jwt: "eyJ.a.b".into(), key };
        let text = creds.render().unwrap();
        assert!(text.starts_with(JWT_BEGIN));
        let back = UserCreds::parse(&text, "test.creds").unwrap();
        assert_eq!(back.jwt, "eyJ.a.b");
        assert_eq!(back.key.public_key(), creds.key.public_key());
        let seed = creds.key.seed().unwrap();
        assert!(!format!("{back:?}").contains(&seed));
    }

    #[test]
    fn a_text_without_a_seed_is_refused_without_echoing_it() {
        let err = UserCreds::parse(
            "-----BEGIN NATS USER JWT-----\nsecretish\n------END NATS USER JWT------",
            "x.creds",
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "x.creds holds no USER NKEY SEED block");
    }
}
