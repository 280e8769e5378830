//! What the kernel says about this process, read from `/proc/self` (Linux): the figures behind the
//! standard `process_*` metrics. Reading five small files per scrape costs less than the
//! `procfs` crate and its `rustix` dependency would in build time.

use std::path::Path;

/// One reading of the process's resources.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct ProcSelf {
    /// CPU time used, user and system, in seconds.
    pub(crate) cpu_seconds: f64,
    /// Resident memory in bytes.
    pub(crate) resident_bytes: f64,
    /// Virtual memory in bytes.
    pub(crate) virtual_bytes: f64,
    /// Threads.
    pub(crate) threads: f64,
    /// When the process started, in seconds since the Unix epoch.
    pub(crate) start_time_seconds: f64,
    /// File descriptors open.
    pub(crate) open_fds: f64,
    /// The soft limit on open file descriptors (`None` when unlimited).
    pub(crate) max_fds: Option<f64>,
}

/// The figures `/proc/self/stat` gives, in the kernel's units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Stat {
    /// User plus system CPU time, in clock ticks.
    pub(crate) cpu_ticks: u64,
    /// Threads.
    pub(crate) threads: u64,
    /// Start time, in clock ticks after boot.
    pub(crate) start_ticks: u64,
    /// Virtual memory in bytes.
    pub(crate) virtual_bytes: u64,
    /// Resident memory in pages.
    pub(crate) resident_pages: u64,
}

/// Parses `/proc/<pid>/stat`: the command name in parentheses may hold spaces and parentheses,
/// so fields are counted from the last `)`.
pub(crate) fn parse_stat(text: &str) -> Option<Stat> {
    let after_name = &text[text.rfind(')')? + 1..];
    // Field 3 of proc(5) (`state`) is index 0 here.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |number: usize| fields.get(number - 3)?.parse::<u64>().ok();
    Some(Stat {
        cpu_ticks: field(14)? + field(15)?,
        threads: field(20)?,
        start_ticks: field(22)?,
        virtual_bytes: field(23)?,
        resident_pages: field(24)?,
    })
}

/// The boot time (`btime`, seconds since the epoch) from `/proc/stat`.
pub(crate) fn parse_boot_time(text: &str) -> Option<u64> {
    text.lines().find_map(|line| line.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok())
}

/// The soft limit of "Max open files" from `/proc/<pid>/limits`; `None` when unlimited or absent.
pub(crate) fn parse_max_open_files(text: &str) -> Option<u64> {
    let line = text.lines().find(|line| line.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

/// Reads this process's figures; `None` where `/proc` is missing or unreadable (not Linux).
pub(crate) fn read() -> Option<ProcSelf> {
    let root = Path::new("/proc");
    let stat = parse_stat(&std::fs::read_to_string(root.join("self/stat")).ok()?)?;
    let boot = parse_boot_time(&std::fs::read_to_string(root.join("stat")).ok()?)?;
    let (ticks_per_second, page_size) = kernel_units()?;
    let open_fds = std::fs::read_dir(root.join("self/fd")).ok()?.count();
    let max_fds =
        std::fs::read_to_string(root.join("self/limits")).ok().as_deref().and_then(parse_max_open_files);
    Some(ProcSelf {
        cpu_seconds: stat.cpu_ticks as f64 / ticks_per_second,
        resident_bytes: (stat.resident_pages as f64) * page_size,
        virtual_bytes: stat.virtual_bytes as f64,
        threads: stat.threads as f64,
        start_time_seconds: boot as f64 + stat.start_ticks as f64 / ticks_per_second,
        // Reading the directory opened one more descriptor of its own.
        open_fds: open_fds.saturating_sub(1) as f64,
        max_fds: max_fds.map(|n| n as f64),
    })
}

/// Clock ticks per second and the page size in bytes.
fn kernel_units() -> Option<(f64, f64)> {
    // SAFETY: sysconf reads a constant of the running system; it has no preconditions.
    let (ticks, page) = unsafe { (libc::sysconf(libc::_SC_CLK_TCK), libc::sysconf(libc::_SC_PAGESIZE)) };
    (ticks > 0 && page > 0).then_some((ticks as f64, page as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_last_parenthesis() {
        // A command name with a space and a parenthesis, as a process may name itself.
        let text = "4242 (agent (x) runner) S 1 4242 4242 0 -1 4194560 1500 0 0 0 \
                    250 50 0 0 20 0 7 0 123456 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1";
        let stat = parse_stat(text).expect("parses");
        assert_eq!(
            stat,
            Stat {
                cpu_ticks: 300,
                threads: 7,
                start_ticks: 123_456,
                virtual_bytes: 104_857_600,
                resident_pages: 2560
            }
        );
        assert_eq!(parse_stat("4242 (cut short) S 1"), None);
    }

    #[test]
    fn boot_time_and_open_file_limit_are_read_from_their_lines() {
        assert_eq!(parse_boot_time("cpu  1 2 3\nbtime 1764460800\nprocesses 9\n"), Some(1_764_460_800));
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(parse_max_open_files(limits), Some(1024));
        let unlimited = "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_max_open_files(unlimited), None);
    }

    #[test]
    fn this_process_is_read_with_plausible_figures() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after the epoch")
            .as_secs_f64();
        let me = read().expect("/proc is there on Linux");
        assert!(me.resident_bytes > 1e6, "{me:?}");
        assert!(me.virtual_bytes >= me.resident_bytes, "{me:?}");
        assert!(me.threads >= 1.0 && me.open_fds >= 3.0, "{me:?}");
        // Started in the last day, not in the future (boot time and ticks are rounded).
        assert!(me.start_time_seconds > now - 86_400.0 && me.start_time_seconds <= now + 2.0, "{me:?}");
    }
}
