//! The directory of one `agentry dev` run: the kubeconfig and every child's log. Private to
//! its owner (the kubeconfig holds the admin token) and removed when the run ends.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// A fresh private directory under the system's temporary directory.
#[derive(Debug)]
pub(crate) struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    /// Creates `agentry-dev-<random>` with mode 0700.
    pub(crate) fn create() -> anyhow::Result<Self> {
        // The pid and the clock's nanoseconds: unique enough, and `create` refuses a clash.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!("agentry-dev-{}-{nanos:08x}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        Ok(Self { path })
    }

    /// Where it is.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Removes it and everything in it; says so when that fails.
    pub(crate) fn remove(self) {
        if let Err(err) = std::fs::remove_dir_all(&self.path) {
            eprintln!("agentry dev: could not remove {}: {err}", self.path.display());
        }
    }
}
