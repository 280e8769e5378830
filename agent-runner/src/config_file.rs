//! Reading the runner config: the JSON file the operator mounts into the pod (DESIGN.md §4).

use std::path::Path;

use agentry_protocol::runner_config::{RUNNER_CONFIG_VERSION, RunnerConfig};

/// Why the config file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file could not be read.
    #[error("reading the runner config {path}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a runner config.
    #[error("parsing the runner config {path}")]
    Parse {
        /// The file.
        path: String,
        /// Where and why parsing failed.
        #[source]
        source: serde_json::Error,
    },
    /// The config is of a version this runner does not read.
    #[error("runner config {path} is version {found}, this runner reads {RUNNER_CONFIG_VERSION}")]
    Version {
        /// The file.
        path: String,
        /// The version it has.
        found: u32,
    },
}

/// Reads and parses the config at `path`, refusing any version but [`RUNNER_CONFIG_VERSION`].
pub fn read(path: &Path) -> Result<RunnerConfig, ConfigFileError> {
    let shown = || path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read { path: shown(), source })?;
    let config: RunnerConfig =
        serde_json::from_str(&text).map_err(|source| ConfigFileError::Parse { path: shown(), source })?;
    if config.version != RUNNER_CONFIG_VERSION {
        return Err(ConfigFileError::Version { path: shown(), found: config.version });
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// A file in the temp dir, removed when dropped.
    struct TempFile(PathBuf);

    impl TempFile {
        fn with(text: &str) -> Self {
            let path = std::env::temp_dir().join(format!("agentry-config-{}.json", uuid::Uuid::new_v4()));
            std::fs::write(&path, text).expect("write temp file");
            Self(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn minimal(version: u32) -> String {
        serde_json::json!({
            "version": version,
            "namespace": "fleet",
            "agent": "finance-officer",
            "role": "domain",
            "models": [],
            "nats": {"url": "nats://127.0.0.1:4222"}
        })
        .to_string()
    }

    #[test]
    fn a_config_of_this_version_is_read() {
        let file = TempFile::with(&minimal(RUNNER_CONFIG_VERSION));
        let config = read(&file.0).expect("read");
        assert_eq!((config.namespace.as_str(), config.agent.as_str()), ("fleet", "finance-officer"));
    }

    #[test]
    fn another_version_is_refused_naming_both() {
        let file = TempFile::with(&minimal(RUNNER_CONFIG_VERSION + 1));
        let err = read(&file.0).expect_err("refused");
        assert!(matches!(err, ConfigFileError::Version { found, .. } if found == RUNNER_CONFIG_VERSION + 1));
        let text = err.to_string();
        assert!(text.contains(&format!("is version {}", RUNNER_CONFIG_VERSION + 1)), "{text}");
    }

    #[test]
    fn unreadable_and_unparsable_files_are_told_apart() {
        let missing = std::env::temp_dir().join(format!("agentry-missing-{}.json", uuid::Uuid::new_v4()));
        assert!(matches!(read(&missing), Err(ConfigFileError::Read { .. })));
        let file = TempFile::with("{not json");
        assert!(matches!(read(&file.0), Err(ConfigFileError::Parse { .. })));
    }
}
