//! The processes descending from one process, read from `/proc`: to check that a program that
//! starts others leaves none behind when it stops.

use std::collections::BTreeSet;

/// `(pid, parent pid)` of every process now.
fn parents() -> Vec<(u32, u32)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, parent_of(pid)?)))
        .collect()
}

/// The parent of `pid`, from `/proc/<pid>/stat` (the field after the state, which follows the
/// command name in parentheses: the name itself may hold spaces and parentheses).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after_name) = stat.rsplit_once(')')?;
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// Every process below `root` (children, their children, …), not `root` itself.
pub fn descendants(root: u32) -> BTreeSet<u32> {
    let all = parents();
    let mut found = BTreeSet::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, _) in all.iter().filter(|(_, ppid)| *ppid == parent) {
            if found.insert(pid) {
                frontier.push(pid);
            }
        }
    }
    found
}

/// Whether `pid` is a live process (not gone, not a zombie awaiting its parent).
pub fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next());
    !matches!(state, Some("Z" | "X") | None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_and_its_child_are_descendants_until_they_exit() {
        let mut child =
            std::process::Command::new("sh").args(["-c", "sleep 30 & wait"]).spawn().expect("sh starts");
        assert!(descendants(std::process::id()).contains(&child.id()), "sh is below the test");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut below = descendants(child.id());
        while below.is_empty() && std::time::Instant::now() < deadline {
            std::thread::yield_now();
            below = descendants(child.id());
        }
        let sleep = *below.iter().next().expect("the sleep below sh");
        assert!(alive(sleep));
        let _ = std::process::Command::new("kill").arg(sleep.to_string()).status();
        child.wait().expect("sh exits once its sleep is killed");
        assert!(!alive(child.id()), "reaped");
    }
}
