//! The workspace's binaries, built from this tree for the tests that run them.
//!
//! A test of another package cannot ask cargo for them (`CARGO_BIN_EXE_<name>` only names the
//! package's own binaries), and whatever sits in `target/debug` may be stale: left by an earlier
//! build of another revision. So the first test that needs them runs
//! `cargo build --locked --workspace --bin agentry-runner --bin agentry-operator --bin agentry-recorder
//! --bin agentry --bin devcluster` into the target directory and profile the test executable itself was built for,
//! once per test executable.
//! Cargo releases its build lock before it runs tests, so this does not wait on the `cargo test`
//! that started us; when nothing changed it only checks fingerprints (about two seconds).
//!
//! Why `--workspace`: cargo unifies dependency features over the packages it selects, so a build
//! of the two packages alone would compile another copy of many dependencies than
//! `cargo test --workspace` (scripts/test) does. Selecting the workspace resolves the same
//! features as that (dev-dependencies aside) while building only these binaries. The first
//! such build after a `cargo test -p agentry-tests` alone or a `cargo build -p <one package>`
//! still compiles the dependencies whose features differ, once; later ones reuse them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

/// The binaries the end-to-end tests run.
#[derive(Clone, Debug)]
pub struct Binaries {
    /// `agentry-runner`, which the devcluster pod simulator runs for runner containers.
    pub runner: PathBuf,
    /// `agentry-operator`.
    pub operator: PathBuf,
    /// `agentry-recorder`.
    pub recorder: PathBuf,
    /// `agentry`, the command line.
    pub cli: PathBuf,
    /// `devcluster`, which `agentry dev` starts.
    pub devcluster: PathBuf,
}

/// The binaries could not be built.
#[derive(Clone, Debug, thiserror::Error)]
pub enum BuildError {
    /// The test executable does not sit in `<target>/<profile>/deps/`.
    #[error("unexpected test executable location {0}: cannot tell the target directory")]
    Layout(PathBuf),
    /// cargo could not be started.
    #[error("cannot run {cargo}: {reason}")]
    Spawn {
        /// The cargo binary tried.
        cargo: String,
        /// Why it did not start.
        reason: String,
    },
    /// cargo ran and failed.
    #[error("`{command}` failed ({status}):\n{output}")]
    Failed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// The end of what it printed.
        output: String,
    },
}

/// The runner, operator, recorder, CLI and devcluster binaries built from this tree, building them on first use.
///
/// Blocking: the first call waits for cargo (usually seconds; minutes after a change to a
/// dependency). Every later call in the same test executable returns the first call's result.
pub fn built() -> Result<&'static Binaries, BuildError> {
    static BUILT: OnceLock<Result<Binaries, BuildError>> = OnceLock::new();
    BUILT.get_or_init(build).as_ref().map_err(Clone::clone)
}

fn build() -> Result<Binaries, BuildError> {
    let exe = std::env::current_exe().map_err(|_| BuildError::Layout(PathBuf::new()))?;
    let layout = Layout::of(&exe).ok_or_else(|| BuildError::Layout(exe.clone()))?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let mut command = Command::new(&cargo);
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(set_by_cargo_for_tests) {
            command.env_remove(&name);
        }
    }
    command
        .arg("build")
        .arg("--locked")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&layout.target_dir)
        .args([
            "--workspace",
            "--bin",
            "agentry-runner",
            "--bin",
            "agentry-operator",
            "--bin",
            "agentry-recorder",
            "--bin",
            "agentry",
            "--bin",
            "devcluster",
        ])
        .args(layout.profile_args());
    let started = Instant::now();
    let output =
        command.output().map_err(|e| BuildError::Spawn { cargo: cargo.clone(), reason: e.to_string() })?;
    if !output.status.success() {
        let text = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = text.lines().rev().take(60).collect();
        return Err(BuildError::Failed {
            command: format!("{command:?}"),
            status: output.status.to_string(),
            output: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        });
    }
    eprintln!(
        "built agentry-runner, agentry-operator, agentry-recorder, agentry and devcluster in {:.1?}",
        started.elapsed()
    );
    Ok(Binaries {
        runner: layout.profile_dir.join("agentry-runner"),
        operator: layout.profile_dir.join("agentry-operator"),
        recorder: layout.profile_dir.join("agentry-recorder"),
        cli: layout.profile_dir.join("agentry"),
        devcluster: layout.profile_dir.join("devcluster"),
    })
}

/// Whether `name` is one of the variables cargo sets for the test it runs (the package's name,
/// version, manifest directory, ...). They must not reach the inner cargo: build scripts such as
/// ring's ask to be rerun when they change, and cargo compares its own environment, so the inner
/// build would rebuild ring and everything above it (minutes), and the next ordinary build would
/// rebuild them back.
fn set_by_cargo_for_tests(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || name.starts_with("CARGO_MANIFEST_")
        || name.starts_with("CARGO_BIN_EXE_")
        || matches!(
            name,
            "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "OUT_DIR"
        )
}

/// Where a test executable sits: `<target_dir>/<profile_dir name>/deps/<exe>`.
struct Layout {
    target_dir: PathBuf,
    profile_dir: PathBuf,
}

impl Layout {
    fn of(exe: &Path) -> Option<Self> {
        let deps = exe.parent()?;
        if deps.file_name()? != "deps" {
            return None;
        }
        let profile_dir = deps.parent()?.to_path_buf();
        let target_dir = profile_dir.parent()?.to_path_buf();
        Some(Self { target_dir, profile_dir })
    }

    /// The cargo flags selecting the profile whose output directory this is: `debug` holds the
    /// dev and test profiles, `release` the release and bench ones, any other its own.
    fn profile_args(&self) -> Vec<String> {
        match self.profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => Vec::new(),
            Some("release") => vec!["--release".into()],
            Some(other) => vec!["--profile".into(), other.into()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_follows_the_executable_directory() {
        let args = |p: &str| Layout::of(Path::new(p)).map(|l| (l.target_dir.clone(), l.profile_args()));
        assert_eq!(args("/t/debug/deps/operator-1"), Some((PathBuf::from("/t"), vec![])));
        assert_eq!(
            args("/t/release/deps/fleet_scale-2"),
            Some((PathBuf::from("/t"), vec!["--release".to_string()]))
        );
        assert_eq!(
            args("/t/ci/deps/x"),
            Some((PathBuf::from("/t"), vec!["--profile".to_string(), "ci".to_string()]))
        );
        assert!(args("/t/debug/operator").is_none(), "not in deps/");
    }

    #[test]
    fn the_variables_cargo_sets_for_a_test_are_kept_from_the_inner_cargo() {
        for name in
            ["CARGO_PKG_NAME", "CARGO_PKG_VERSION_MAJOR", "CARGO_MANIFEST_DIR", "CARGO_MANIFEST_LINKS"]
        {
            assert!(set_by_cargo_for_tests(name), "{name}");
        }
        for name in ["CARGO_HOME", "CARGO_TARGET_DIR", "CARGO", "RUSTFLAGS", "PATH"] {
            assert!(!set_by_cargo_for_tests(name), "{name}");
        }
    }
}
