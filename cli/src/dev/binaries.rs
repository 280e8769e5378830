//! Where the programs `agentry dev` runs are: beside this `agentry` executable (where
//! `cargo build` puts them all), or in `--bin-dir`.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// The four programs, each checked to exist.
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    /// The development API server and pod simulator.
    pub(crate) devcluster: PathBuf,
    /// `agentry-operator`.
    pub(crate) operator: PathBuf,
    /// `agentry-recorder`.
    pub(crate) recorder: PathBuf,
    /// `agentry-runner`, which devcluster runs for runner pods.
    pub(crate) runner: PathBuf,
}

impl Binaries {
    /// Finds them in `dir`, or else beside the running executable.
    pub(crate) fn locate(dir: Option<&Path>) -> anyhow::Result<Self> {
        let dir = match dir {
            Some(dir) => dir.to_path_buf(),
            None => beside_this_executable()?,
        };
        Ok(Self {
            devcluster: find(&dir, "devcluster")?,
            operator: find(&dir, "agentry-operator")?,
            recorder: find(&dir, "agentry-recorder")?,
            runner: find(&dir, "agentry-runner")?,
        })
    }
}

fn beside_this_executable() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("finding the agentry executable's directory")?;
    let exe = std::fs::canonicalize(&exe).unwrap_or(exe);
    exe.parent().map(Path::to_path_buf).context("the agentry executable has no directory")
}

fn find(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    anyhow::ensure!(
        path.is_file(),
        "{} not found: build it (cargo build --workspace --bins) or name its directory with --bin-dir",
        path.display()
    );
    // devcluster starts runner pods in their own directories: a relative path would not resolve.
    std::fs::canonicalize(&path).with_context(|| format!("resolving {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_is_named_with_what_to_do() {
        let dir = std::env::temp_dir();
        let err = Binaries::locate(Some(&dir.join("no-such-agentry-dir"))).expect_err("missing").to_string();
        assert!(err.contains("no-such-agentry-dir/devcluster not found"), "{err}");
        assert!(err.contains("--bin-dir"), "{err}");
    }
}
