//! Connecting to NATS as an identity: the credentials reference a process is given (always a file
//! path, e.g. a mounted Secret, never the secret itself), the server URL with any `user:password`
//! taken out of it (and redacted wherever it is shown), and the async-nats `ConnectOptions` both
//! make.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_nats::ConnectOptions;

use crate::creds::{CredsError, UserCreds};
use crate::nkey::{KeyError, KeyRole, NKey};

/// Why credentials could not be read. Names the file, never its content.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The file could not be read.
    #[error("reading NATS credentials from {path}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error (it holds no content).
        error: std::io::Error,
    },
    /// The file is empty.
    #[error("the NATS credentials file {0} is empty")]
    Empty(PathBuf),
    /// The `.creds` file is malformed.
    #[error(transparent)]
    Creds(#[from] CredsError),
    /// The seed file holds no user seed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// More than one kind of credentials was given.
    #[error("give one kind of NATS credentials, not {0}")]
    Several(String),
    /// A password without a user or the other way round.
    #[error("--nats-user and --nats-password-file go together")]
    HalfUserPassword,
}

/// Where a process's NATS credentials are: files only, so secrets never sit in argv, env or a
/// ConfigMap. Debug shows paths, which are not secret.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum BusCredentials {
    /// No credentials: a server without authentication (development, tests).
    #[default]
    None,
    /// A `.creds` file: user JWT and seed (decentralized JWT authentication).
    CredsFile(PathBuf),
    /// A user name and the file holding its password.
    UserPassword {
        /// The user name.
        user: String,
        /// The file holding the password.
        password_file: PathBuf,
    },
    /// A file holding a token.
    TokenFile(PathBuf),
    /// A file holding a user NKey seed (`SU…`).
    NkeySeedFile(PathBuf),
}

/// The command-line flags (and environment variables) every connecting process takes.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct CredentialArgs {
    /// A NATS `.creds` file (user JWT and seed), e.g. from a mounted Secret.
    #[arg(long = "nats-credentials-file", env = "AGENTRY_NATS_CREDENTIALS_FILE")]
    pub credentials_file: Option<PathBuf>,
    /// NATS user name (with --nats-password-file).
    #[arg(long = "nats-user", env = "AGENTRY_NATS_USER")]
    pub user: Option<String>,
    /// A file holding the NATS user's password.
    #[arg(long = "nats-password-file", env = "AGENTRY_NATS_PASSWORD_FILE")]
    pub password_file: Option<PathBuf>,
    /// A file holding a NATS token.
    #[arg(long = "nats-token-file", env = "AGENTRY_NATS_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// A file holding a NATS user NKey seed.
    #[arg(long = "nats-nkey-seed-file", env = "AGENTRY_NATS_NKEY_SEED_FILE")]
    pub nkey_seed_file: Option<PathBuf>,
}

impl CredentialArgs {
    /// The one kind of credentials given (or none).
    pub fn credentials(&self) -> Result<BusCredentials, CredentialsError> {
        let mut given = Vec::new();
        if let Some(path) = &self.credentials_file {
            given.push(("--nats-credentials-file", BusCredentials::CredsFile(path.clone())));
        }
        match (&self.user, &self.password_file) {
            (Some(user), Some(path)) => given.push((
                "--nats-user",
                BusCredentials::UserPassword { user: user.clone(), password_file: path.clone() },
            )),
            (None, None) => {}
            _ => return Err(CredentialsError::HalfUserPassword),
        }
        if let Some(path) = &self.token_file {
            given.push(("--nats-token-file", BusCredentials::TokenFile(path.clone())));
        }
        if let Some(path) = &self.nkey_seed_file {
            given.push(("--nats-nkey-seed-file", BusCredentials::NkeySeedFile(path.clone())));
        }
        if given.len() > 1 {
            return Err(CredentialsError::Several(
                given.iter().map(|(f, _)| *f).collect::<Vec<_>>().join(" and "),
            ));
        }
        Ok(given.pop().map(|(_, c)| c).unwrap_or_default())
    }
}

/// A server URL list (comma-separated) with any `user:password@` or `token@` taken out. Display
/// and Debug show it redacted; the servers it connects to carry no secret.
#[derive(Clone, PartialEq, Eq)]
pub struct BusUrl {
    servers: Vec<String>,
    userinfo: Option<UrlUserinfo>,
}

#[derive(Clone, PartialEq, Eq)]
enum UrlUserinfo {
    UserPassword { user: String, password: String },
    Token(String),
}

impl BusUrl {
    /// Splits `raw` into servers and the credentials it embeds.
    pub fn parse(raw: &str) -> Self {
        let mut servers = Vec::new();
        let mut userinfo = None;
        for server in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (clean, info) = split_userinfo(server);
            servers.push(clean);
            userinfo = userinfo.or(info);
        }
        Self { servers, userinfo }
    }

    /// The servers to connect to, without credentials.
    pub fn servers(&self) -> &[String] {
        &self.servers
    }

    /// Whether the URL carried credentials.
    pub fn has_credentials(&self) -> bool {
        self.userinfo.is_some()
    }
}

impl fmt::Display for BusUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let servers = self.servers.iter().map(|s| match &self.userinfo {
            Some(_) => with_redacted_userinfo(s),
            None => s.clone(),
        });
        f.write_str(&servers.collect::<Vec<_>>().join(","))
    }
}

impl fmt::Debug for BusUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BusUrl({self})")
    }
}

/// `raw` with any credentials in it replaced by `***`: what to log or render.
pub fn redact(raw: &str) -> String {
    raw.split(',')
        .map(|server| match split_userinfo(server.trim()) {
            (clean, Some(_)) => with_redacted_userinfo(&clean),
            (clean, None) => clean,
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn with_redacted_userinfo(server: &str) -> String {
    match server.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://***@{rest}"),
        None => format!("***@{server}"),
    }
}

/// `server` without its userinfo, and that userinfo.
fn split_userinfo(server: &str) -> (String, Option<UrlUserinfo>) {
    let (scheme, rest) = match server.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, server),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else { return (server.to_string(), None) };
    let info = match rest[..at].split_once(':') {
        Some((user, password)) => UrlUserinfo::UserPassword { user: user.into(), password: password.into() },
        None => UrlUserinfo::Token(rest[..at].to_string()),
    };
    let host = &rest[at + 1..];
    let clean = scheme.map_or_else(|| host.to_string(), |s| format!("{s}://{host}"));
    (clean, Some(info))
}

/// Everything a process needs to connect as its identity.
#[derive(Clone, Debug)]
pub struct BusAuth {
    /// The servers.
    pub url: BusUrl,
    /// The credentials reference; takes precedence over credentials in the URL.
    pub credentials: BusCredentials,
    /// The identity's inbox prefix (`_INBOX.<ns>.<agent>`, `_INBOX._api`); async-nats' default
    /// `_INBOX` when absent, which a server enforcing permissions refuses.
    pub inbox_prefix: Option<String>,
}

impl BusAuth {
    /// Connects to `url` with `credentials`, replies under `inbox_prefix`.
    pub fn new(url: &str, credentials: BusCredentials, inbox_prefix: Option<String>) -> Self {
        Self { url: BusUrl::parse(url), credentials, inbox_prefix }
    }

    /// `base` with the identity's authentication and inbox prefix, reading the credential files
    /// now.
    pub async fn options(&self, base: ConnectOptions) -> Result<ConnectOptions, CredentialsError> {
        let options = match &self.inbox_prefix {
            Some(prefix) => base.custom_inbox_prefix(prefix),
            None => base,
        };
        match &self.credentials {
            BusCredentials::None => Ok(with_url_userinfo(options, self.url.userinfo.as_ref())),
            BusCredentials::CredsFile(path) => {
                let creds = UserCreds::parse(&read_secret(path).await?, &path.display().to_string())?;
                Ok(with_user_creds(options, creds))
            }
            BusCredentials::UserPassword { user, password_file } => {
                Ok(options.user_and_password(user.clone(), read_secret(password_file).await?))
            }
            BusCredentials::TokenFile(path) => Ok(options.token(read_secret(path).await?)),
            BusCredentials::NkeySeedFile(path) => {
                let seed = read_secret(path).await?;
                let key = NKey::from_seed(&seed, KeyRole::User, &path.display().to_string())?;
                Ok(options.nkey(key.seed()?))
            }
        }
    }

    /// Connects with `base` options and this identity.
    pub async fn connect(&self, base: ConnectOptions) -> Result<async_nats::Client, ConnectError> {
        let options = self.options(base).await?;
        options.connect(self.url.servers()).await.map_err(ConnectError::Connect)
    }
}

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The credentials could not be read.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// The server refused or could not be reached.
    #[error("connecting to NATS: {0}")]
    Connect(async_nats::ConnectError),
}

fn with_url_userinfo(options: ConnectOptions, info: Option<&UrlUserinfo>) -> ConnectOptions {
    match info {
        Some(UrlUserinfo::UserPassword { user, password }) => {
            options.user_and_password(user.clone(), password.clone())
        }
        Some(UrlUserinfo::Token(token)) => options.token(token.clone()),
        None => options,
    }
}

fn with_user_creds(options: ConnectOptions, creds: UserCreds) -> ConnectOptions {
    let key = Arc::new(creds.key);
    options.jwt(creds.jwt, move |nonce| {
        let key = Arc::clone(&key);
        async move { key.sign(&nonce).map_err(async_nats::AuthError::new) }
    })
}

/// The trimmed content of a secret file.
async fn read_secret(path: &Path) -> Result<String, CredentialsError> {
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|error| CredentialsError::Read { path: path.to_path_buf(), error })?;
    let text = text.trim();
    if text.is_empty() {
        return Err(CredentialsError::Empty(path.to_path_buf()));
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_url_are_taken_out_and_redacted() {
        let url = BusUrl::parse("nats://alice:s3cret@nats-0:4222, nats://alice:s3cret@nats-1:4222");
        assert_eq!(url.servers(), ["nats://nats-0:4222", "nats://nats-1:4222"]);
        assert!(url.has_credentials());
        assert_eq!(url.to_string(), "nats://***@nats-0:4222,nats://***@nats-1:4222");
        assert!(!format!("{url:?}").contains("s3cret"));
        assert_eq!(redact("nats://tok@host:4222"), "nats://***@host:4222");
        assert_eq!(redact("nats://host:4222"), "nats://host:4222");
        assert_eq!(redact("host:4222"), "host:4222");
        assert_eq!(redact("u:p@host"), "***@host");
    }

    #[test]
    fn one_kind_of_credentials_at_most() {
        let args = CredentialArgs {
            credentials_file: Some("a.creds".into()),
            token_file: Some("t".into()),
            ..Default::default()
        };
        let err = args.credentials().unwrap_err().to_string();
        assert!(err.contains("--nats-credentials-file and --nats-token-file"), "{err}");
        let half = CredentialArgs { user: Some("u".into()), ..Default::default() };
        assert!(matches!(half.credentials(), Err(CredentialsError::HalfUserPassword)));
        assert_eq!(CredentialArgs::default().credentials().unwrap(), BusCredentials::None);
    }

    #[tokio::test]
    async fn an_unreadable_or_malformed_file_is_named_without_its_content() {
        let dir = std::env::temp_dir().join(format!("bus-identity-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.creds");
        std::fs::write(&path, "SUsecretstuff").unwrap();
        let auth = BusAuth::new("nats://127.0.0.1:1", BusCredentials::CredsFile(path.clone()), None);
        let err = auth.options(ConnectOptions::new()).await.unwrap_err().to_string();
        assert!(err.contains("bad.creds holds no NATS USER JWT block"), "{err}");
        assert!(!err.contains("secretstuff"));
        let missing = BusAuth::new("nats://127.0.0.1:1", BusCredentials::TokenFile(dir.join("none")), None);
        let err = missing.options(ConnectOptions::new()).await.unwrap_err().to_string();
        assert!(err.starts_with("reading NATS credentials from"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
