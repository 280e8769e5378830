//! The bearer token the Agentry API checks (with a TokenReview). The apiserver's service proxy
//! drops the `Authorization` header once it has authenticated the caller, so the CLI sends the
//! token again in `X-Agentry-Authorization`; it needs the token itself, not just credentials
//! kube-rs can use. Client certificates therefore are not enough.

use std::path::{Path, PathBuf};

use kube::config::AuthInfo;
use secrecy::{ExposeSecret, SecretString};

/// Where the token was found, for messages (never the token itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TokenSource {
    /// `--token` or `AGENTRY_TOKEN`.
    Given,
    /// `--token-file`.
    GivenFile(PathBuf),
    /// The kubeconfig user's `token`.
    Kubeconfig,
    /// The kubeconfig user's `tokenFile`.
    KubeconfigFile(PathBuf),
    /// The kubeconfig user's exec plugin.
    ExecPlugin,
}

impl std::fmt::Display for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Given => f.write_str("--token / AGENTRY_TOKEN"),
            Self::GivenFile(path) => write!(f, "--token-file {}", path.display()),
            Self::Kubeconfig => f.write_str("the kubeconfig user's token"),
            Self::KubeconfigFile(path) => write!(f, "the kubeconfig user's tokenFile {}", path.display()),
            Self::ExecPlugin => f.write_str("the kubeconfig user's exec plugin"),
        }
    }
}

/// No token, or one that cannot be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TokenError {
    /// Nothing gives a token.
    #[error(
        "the Agentry API needs a bearer token, and {whose} has none{why}: create one with \
         `kubectl create token <serviceaccount> -n <namespace>` and pass it with --token-file, \
         AGENTRY_TOKEN or --token"
    )]
    Missing {
        /// Whose credentials were looked at.
        whose: String,
        /// What they hold instead, when that explains it.
        why: &'static str,
    },
    /// A token file cannot be read.
    #[error("cannot read the token file {path}: {cause}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// A token file or value is empty.
    #[error("the token from {0} is empty")]
    Empty(String),
    /// The exec plugin gave no token.
    #[error("{0}: give the Agentry API a bearer token with --token-file, AGENTRY_TOKEN or --token")]
    Exec(super::exec_credential::ExecTokenError),
}

/// The token from, in order: `given` (`--token`/`AGENTRY_TOKEN`), `given_file` (`--token-file`),
/// the kubeconfig user's `token`, its `tokenFile`, its exec plugin.
pub(crate) fn resolve(
    given: Option<&str>,
    given_file: Option<&Path>,
    user: Option<&AuthInfo>,
    user_name: Option<&str>,
) -> Result<(SecretString, TokenSource), TokenError> {
    if let Some(token) = given {
        return non_empty(token, "--token / AGENTRY_TOKEN").map(|t| (t, TokenSource::Given));
    }
    if let Some(path) = given_file {
        return read_file(path).map(|t| (t, TokenSource::GivenFile(path.to_path_buf())));
    }
    if let Some(token) = user.and_then(|u| u.token.as_ref()) {
        return non_empty(token.expose_secret(), "the kubeconfig user's token")
            .map(|t| (t, TokenSource::Kubeconfig));
    }
    if let Some(path) = user.and_then(|u| u.token_file.as_deref()) {
        let path = PathBuf::from(path);
        return read_file(&path).map(|t| (t, TokenSource::KubeconfigFile(path)));
    }
    if let Some(exec) = user.and_then(|u| u.exec.as_ref()) {
        return super::exec_credential::token(exec)
            .map(|t| (t, TokenSource::ExecPlugin))
            .map_err(TokenError::Exec);
    }
    Err(missing(user, user_name))
}

fn missing(user: Option<&AuthInfo>, user_name: Option<&str>) -> TokenError {
    let whose = match user_name {
        Some(name) => format!("the kubeconfig user \"{name}\""),
        None => "the kubeconfig".into(),
    };
    let why = match user {
        Some(u) if u.client_certificate.is_some() || u.client_certificate_data.is_some() => {
            " (it authenticates with a client certificate, which does not reach the API behind the service proxy)"
        }
        Some(u) if u.auth_provider.is_some() => {
            " (it gets its credentials from an auth provider, whose token the CLI does not read)"
        }
        Some(u) if u.username.is_some() => " (it authenticates with a username and password)",
        _ => "",
    };
    TokenError::Missing { whose, why }
}

fn read_file(path: &Path) -> Result<SecretString, TokenError> {
    let text = std::fs::read_to_string(path)
        .map_err(|cause| TokenError::Unreadable { path: path.to_path_buf(), cause })?;
    non_empty(&text, &path.display().to_string())
}

/// The token without surrounding whitespace (files end with a newline).
fn non_empty(token: &str, from: &str) -> Result<SecretString, TokenError> {
    let token = token.trim();
    if token.is_empty() {
        return Err(TokenError::Empty(from.to_string()));
    }
    Ok(SecretString::from(token.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::config::Kubeconfig;

    fn user_of(yaml_user: &str) -> AuthInfo {
        let kubeconfig = Kubeconfig::from_yaml(&format!(
            "apiVersion: v1\nkind: Config\nusers:\n- name: me\n  user:\n{yaml_user}\n"
        ))
        .unwrap();
        kubeconfig.auth_infos[0].auth_info.clone().unwrap()
    }

    fn resolved(user: &AuthInfo) -> Result<(String, TokenSource), TokenError> {
        resolve(None, None, Some(user), Some("me")).map(|(t, s)| (t.expose_secret().to_string(), s))
    }

    #[test]
    fn the_kubeconfig_users_token_is_used() {
        let user = user_of("    token: abc.def");
        assert_eq!(resolved(&user).unwrap(), ("abc.def".into(), TokenSource::Kubeconfig));
    }

    #[test]
    fn the_kubeconfig_users_token_file_is_read_and_trimmed() {
        let path = std::env::temp_dir().join(format!("agentry-cli-token-{}", std::process::id()));
        std::fs::write(&path, "from-file\n").unwrap();
        let user = user_of(&format!("    tokenFile: {}", path.display()));
        assert_eq!(resolved(&user).unwrap(), ("from-file".into(), TokenSource::KubeconfigFile(path.clone())));
        std::fs::remove_file(&path).unwrap();
        let err = resolved(&user).unwrap_err().to_string();
        assert!(err.contains("cannot read the token file"), "{err}");
    }

    #[test]
    fn a_given_token_wins_over_the_kubeconfig() {
        let user = user_of("    token: from-kubeconfig");
        let (token, source) = resolve(Some("given"), None, Some(&user), None).unwrap();
        assert_eq!((token.expose_secret(), source), ("given", TokenSource::Given));
    }

    #[test]
    fn a_client_certificate_user_is_told_how_to_get_a_token() {
        let user = user_of("    client-certificate-data: Zm9v\n    client-key-data: YmFy");
        let err = resolved(&user).unwrap_err().to_string();
        assert!(err.contains("needs a bearer token"), "{err}");
        assert!(err.contains("\"me\""), "{err}");
        assert!(err.contains("client certificate"), "{err}");
        assert!(err.contains("kubectl create token"), "{err}");
        assert!(err.contains("--token"), "{err}");
    }

    #[test]
    fn no_credentials_at_all_is_the_same_advice() {
        let err = resolve(None, None, None, None).unwrap_err().to_string();
        assert!(
            err.starts_with("the Agentry API needs a bearer token, and the kubeconfig has none:"),
            "{err}"
        );
    }

    #[test]
    fn empty_tokens_are_refused_without_echoing_anything() {
        let err = resolve(Some("  "), None, None, None).unwrap_err().to_string();
        assert_eq!(err, "the token from --token / AGENTRY_TOKEN is empty");
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let (token, _) = resolve(Some("s3cr3t-value"), None, None, None).unwrap();
        assert!(!format!("{token:?}").contains("s3cr3t"));
    }
}
