//! Locating the workspace's binaries from tests of another package.

use std::path::PathBuf;

/// The path of the workspace binary `name` (from package `package`), as cargo placed it.
///
/// Test executables live in `<target>/<profile>/deps/`, binaries in `<target>/<profile>/`.
/// `cargo test --workspace` builds every binary of the workspace first; a lone
/// `cargo test -p <other package>` does not, and the error says what to run. (Building from
/// here would deadlock on the build-directory lock cargo holds while tests run.)
pub fn workspace_binary(package: &str, name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .ok_or_else(|| format!("unexpected test executable location {}", exe.display()))?;
    let path = profile_dir.join(name);
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} is not built; run `cargo build -p {package} --bin {name}` (or `cargo test --workspace`)",
            path.display()
        ))
    }
}
