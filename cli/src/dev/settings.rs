//! The flags of `agentry dev`, and the instance name that keeps one dev setup's PostgreSQL
//! schemas and NATS consumer apart from another's.

use std::path::PathBuf;

use clap::Args;

/// Flags of `agentry dev`.
#[derive(Debug, Args)]
pub(crate) struct DevArgs {
    /// Directory holding devcluster, agentry-operator, agentry-recorder and agentry-runner
    /// (default: the directory of this agentry executable, as `cargo build` leaves them).
    #[arg(long, value_name = "DIR")]
    pub(crate) bin_dir: Option<PathBuf>,
    /// Also install the samples of config/samples (into -n, default `fleet`), their Secrets
    /// pointing at the local PostgreSQL and their Models at --model-url.
    #[arg(long)]
    pub(crate) samples: bool,
    /// The OpenAI-compatible endpoint the sample Models call (Ollama, vLLM, llama.cpp, OpenAI).
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:11434/v1")]
    pub(crate) model_url: String,
    /// The model the sample Models ask the endpoint for (default: the samples' own names).
    #[arg(long, value_name = "NAME")]
    pub(crate) model_name: Option<String>,
    /// The environment variable holding the endpoint's API key (never given in argv); when it
    /// is unset, the sample Secret holds a placeholder, which local endpoints ignore.
    #[arg(long, value_name = "VAR", default_value = "OPENAI_API_KEY")]
    pub(crate) api_key_env: String,
    /// NATS with JetStream.
    #[arg(long, value_name = "URL", default_value = "nats://127.0.0.1:4222")]
    pub(crate) nats_url: String,
    /// PostgreSQL for history and the sample memory (keep a password out of argv: set
    /// AGENTRY_DATABASE_URL instead).
    #[arg(
        long,
        value_name = "URL",
        env = "AGENTRY_DATABASE_URL",
        hide_env_values = true,
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub(crate) database_url: String,
    /// Names this setup's PostgreSQL schemas (`agentry_<name>`, `agentry_<name>_memory`) and
    /// the recorder's NATS consumer (`agentry-<name>-recorder`): lowercase letters, digits, `_`.
    #[arg(long, value_name = "NAME", default_value = "dev")]
    pub(crate) instance: String,
    /// Port of the HTTP API on 127.0.0.1 (0 picks a free one).
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    pub(crate) api_port: u16,
}

/// A checked `--instance` name and the names derived from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Instance {
    name: String,
}

impl Instance {
    /// Checks `name`: 1 to 32 of `a-z`, `0-9`, `_`, starting with a letter.
    pub(crate) fn new(name: &str) -> anyhow::Result<Self> {
        let valid = (1..=32).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        anyhow::ensure!(
            valid,
            "--instance {name:?}: use 1 to 32 lowercase letters, digits or '_', starting with a letter"
        );
        Ok(Self { name: name.to_string() })
    }

    /// The schema of the recorder's history, which the API reads too.
    pub(crate) fn history_schema(&self) -> String {
        format!("agentry_{}", self.name)
    }

    /// The schema of the sample MemoryStore.
    pub(crate) fn memory_schema(&self) -> String {
        format!("agentry_{}_memory", self.name)
    }

    /// The recorder's durable JetStream consumer.
    pub(crate) fn recorder_consumer(&self) -> String {
        format!("agentry-{}-recorder", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_names_become_schema_and_consumer_names() {
        let instance = Instance::new("dev_2").expect("valid");
        assert_eq!(instance.history_schema(), "agentry_dev_2");
        assert_eq!(instance.memory_schema(), "agentry_dev_2_memory");
        assert_eq!(instance.recorder_consumer(), "agentry-dev_2-recorder");
    }

    #[test]
    fn bad_instance_names_are_refused_with_the_rule() {
        for bad in ["", "Dev", "2dev", "dev-1", "a.b", &"x".repeat(33)] {
            let err = Instance::new(bad).expect_err(bad).to_string();
            assert!(err.contains("lowercase letters, digits or '_'"), "{err}");
        }
    }
}
