//! The bearer token of a kubeconfig user whose credentials come from an exec plugin (EKS, GKE,
//! AKS, kubelogin): run the plugin as kubectl does (the client.authentication.k8s.io
//! ExecCredential protocol) and take `status.token`. A plugin that hands out client certificates
//! instead gives no token.

use std::process::{Command, Stdio};

use kube::config::ExecConfig;
use secrecy::SecretString;
use serde::Deserialize;

/// The plugin gave no token.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExecTokenError {
    /// It has no command.
    #[error("the kubeconfig user's exec plugin names no command")]
    NoCommand,
    /// It did not start.
    #[error("cannot run the kubeconfig user's exec plugin `{command}`: {cause}{hint}")]
    Start {
        /// The command.
        command: String,
        /// Why.
        cause: std::io::Error,
        /// The kubeconfig's install hint, if any.
        hint: String,
    },
    /// It failed.
    #[error("the kubeconfig user's exec plugin `{command}` failed ({status}): {stderr}")]
    Failed {
        /// The command.
        command: String,
        /// Its exit status.
        status: String,
        /// The end of what it wrote on stderr.
        stderr: String,
    },
    /// It answered with something else than a token.
    #[error("the kubeconfig user's exec plugin `{command}` gave no bearer token{why}")]
    NoToken {
        /// The command.
        command: String,
        /// What it gave instead.
        why: &'static str,
    },
}

#[derive(Deserialize)]
struct ExecCredential {
    status: Option<ExecCredentialStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecCredentialStatus {
    token: Option<String>,
    client_certificate_data: Option<String>,
}

/// Run `exec` and return the token it prints.
pub(crate) fn token(exec: &ExecConfig) -> Result<SecretString, ExecTokenError> {
    let command = exec.command.clone().ok_or(ExecTokenError::NoCommand)?;
    let api_version = exec.api_version.as_deref().unwrap_or("client.authentication.k8s.io/v1");
    let exec_info = serde_json::json!({
        "apiVersion": api_version, "kind": "ExecCredential", "spec": {"interactive": false}
    });
    let mut process = Command::new(&command);
    process
        .args(exec.args.iter().flatten())
        .env("KUBERNETES_EXEC_INFO", exec_info.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for variable in exec.env.iter().flatten() {
        if let (Some(name), Some(value)) = (variable.get("name"), variable.get("value")) {
            process.env(name, value);
        }
    }
    let output = process.output().map_err(|cause| ExecTokenError::Start {
        command: command.clone(),
        cause,
        hint: exec.install_hint.as_ref().map(|h| format!(" ({})", h.trim())).unwrap_or_default(),
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(ExecTokenError::Failed {
            command,
            status: output.status.to_string(),
            stderr: crate::output::one_line(&stderr, 300),
        });
    }
    let credential: ExecCredential = serde_json::from_slice(&output.stdout).map_err(|_| {
        ExecTokenError::NoToken { command: command.clone(), why: " (its output is not an ExecCredential)" }
    })?;
    let status = credential.status.ok_or(ExecTokenError::NoToken { command: command.clone(), why: "" })?;
    match status.token.filter(|t| !t.trim().is_empty()) {
        Some(token) => Ok(SecretString::from(token.trim().to_string())),
        None if status.client_certificate_data.is_some() => Err(ExecTokenError::NoToken {
            command,
            why: " (it hands out a client certificate, which does not reach the API behind the service proxy)",
        }),
        None => Err(ExecTokenError::NoToken { command, why: "" }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn plugin(script: &str) -> ExecConfig {
        ExecConfig {
            api_version: Some("client.authentication.k8s.io/v1beta1".into()),
            command: Some("/bin/sh".into()),
            args: Some(vec!["-c".into(), script.into()]),
            env: Some(vec![
                [("name".to_string(), "GREETING".to_string()), ("value".to_string(), "hi".to_string())]
                    .into(),
            ]),
            ..Default::default()
        }
    }

    #[test]
    fn the_plugins_token_is_used_and_it_is_told_the_protocol() {
        let exec = plugin(
            r#"case "$KUBERNETES_EXEC_INFO" in *v1beta1*) ;; *) exit 3;; esac
               printf '{"kind":"ExecCredential","status":{"token":"%s-tok"}}' "$GREETING""#,
        );
        assert_eq!(token(&exec).unwrap().expose_secret(), "hi-tok");
    }

    #[test]
    fn a_failing_or_certificate_plugin_says_so() {
        let err = token(&plugin("echo 'login expired' >&2; exit 1")).unwrap_err().to_string();
        assert!(err.contains("failed") && err.contains("login expired"), "{err}");
        let err = token(&plugin(r#"echo '{"status":{"clientCertificateData":"x","clientKeyData":"y"}}'"#))
            .unwrap_err()
            .to_string();
        assert!(err.contains("client certificate"), "{err}");
        let missing = ExecConfig {
            command: Some("/nonexistent/plugin".into()),
            install_hint: Some("install it".into()),
            ..Default::default()
        };
        assert!(token(&missing).unwrap_err().to_string().ends_with("(install it)"));
    }
}
