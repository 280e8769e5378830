//! Everything a new installation needs, generated at once: the operator, the system account, the
//! Agentry account and its signing key, the server configuration, and the platform identities'
//! credentials.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::claims::{self, AccountSpec};
use crate::creds::UserCreds;
use crate::issuer::UserIssuer;
use crate::jwt::JwtError;
use crate::nkey::{KeyError, KeyRole, NKey};
use crate::server_config::OperatorMode;

/// The platform identities, each a process that connects.
pub const PLATFORM_IDENTITIES: [&str; 3] = ["_operator", "_recorder", "_api"];

/// The Agentry account's name in its JWT.
pub const ACCOUNT_NAME: &str = "AGENTRY";

/// Why the bootstrap could not be written.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// Minting failed.
    #[error(transparent)]
    Jwt(#[from] JwtError),
    /// A key could not be used.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A file could not be written.
    #[error("writing {path}: {error}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
}

/// Freshly generated keys and JWTs. Debug shows public keys only.
#[derive(Debug)]
pub struct Bootstrap {
    /// The operator's key (keep its seed offline: it re-signs account JWTs).
    pub operator: NKey,
    /// The system account's key.
    pub system: NKey,
    /// The Agentry account's key.
    pub account: NKey,
    /// The key the operator signs users with (listed in the account JWT).
    pub signing: NKey,
    /// The server's trust configuration.
    pub server: OperatorMode,
}

impl Bootstrap {
    /// New keys, and the JWTs of the operator and both accounts.
    pub fn generate() -> Result<Self, JwtError> {
        let (operator, system) = (NKey::generate(KeyRole::Operator), NKey::generate(KeyRole::Account));
        let (account, signing) = (NKey::generate(KeyRole::Account), NKey::generate(KeyRole::Account));
        let now = claims::now();
        let operator_jwt = claims::operator_jwt(&operator, "agentry", Some(&system.public_key()), now)?;
        let system_jwt = AccountSpec {
            account: &system.public_key(),
            name: "SYS",
            signing_keys: vec![],
            jetstream: false,
        }
        .jwt(&operator, now)?;
        let account_jwt = AccountSpec {
            account: &account.public_key(),
            name: ACCOUNT_NAME,
            signing_keys: vec![signing.public_key()],
            jetstream: true,
        }
        .jwt(&operator, now)?;
        let server = OperatorMode {
            operator_jwt,
            system_account: system.public_key(),
            accounts: vec![(system.public_key(), system_jwt), (account.public_key(), account_jwt)],
        };
        Ok(Self { operator, system, account, signing, server })
    }

    /// The issuer of the Agentry account's users.
    pub fn issuer(&self) -> Result<UserIssuer, KeyError> {
        UserIssuer::from_key(&self.account.public_key(), self.signing.clone())
    }

    /// Writes, all mode 0600, into `dir` (created if missing): `nats-server.conf` (the fragment
    /// to include), `operator.seed`, `account.pub`, `account-signing.seed`, and
    /// `<identity>.creds` for each platform identity. Returns the files written.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, BootstrapError> {
        std::fs::create_dir_all(dir)
            .map_err(|error| BootstrapError::Write { path: dir.to_path_buf(), error })?;
        let issuer = self.issuer()?;
        let mut files = vec![
            ("nats-server.conf".to_string(), self.server.render()),
            ("operator.seed".to_string(), format!("{}\n", self.operator.seed()?)),
            ("account.pub".to_string(), format!("{}\n", self.account.public_key())),
            ("account-signing.seed".to_string(), format!("{}\n", self.signing.seed()?)),
        ];
        for identity in PLATFORM_IDENTITIES {
            let creds: UserCreds = issuer.mint_platform(identity)?;
            files.push((format!("{identity}.creds"), creds.render()?));
        }
        files.into_iter().map(|(name, text)| write_private(&dir.join(name), &text)).collect()
    }
}

/// Writes `text` to `path` readable by its owner only (created so, never briefly wider).
pub fn write_private(path: &Path, text: &str) -> Result<PathBuf, BootstrapError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let error = |error| BootstrapError::Write { path: path.to_path_buf(), error };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(error)?;
    file.write_all(text.as_bytes()).map_err(error)?;
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn bootstrap_writes_private_files() {
        let dir = std::env::temp_dir().join(format!("bus-bootstrap-{}", std::process::id()));
        let bootstrap = Bootstrap::generate().unwrap();
        let files = bootstrap.write(&dir).unwrap();
        assert_eq!(files.len(), 7);
        for file in &files {
            let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", file.display());
        }
        let conf = std::fs::read_to_string(dir.join("nats-server.conf")).unwrap();
        assert!(conf.contains("resolver: MEMORY") && conf.contains("resolver_preload"));
        for key in [&bootstrap.operator, &bootstrap.account, &bootstrap.signing, &bootstrap.system] {
            assert!(!conf.contains(&key.seed().unwrap()), "no seed in the server config");
        }
        UserCreds::parse(&std::fs::read_to_string(dir.join("_api.creds")).unwrap(), "_api.creds").unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
