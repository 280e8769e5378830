//! Timestamps as Kubernetes writes them (RFC 3339, UTC, whole seconds).

/// Now, e.g. `2025-01-02T03:04:05Z`.
pub(crate) fn now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Seconds since `timestamp` (an RFC 3339 string), if it parses.
pub(crate) fn age_seconds(timestamp: &str) -> Option<i64> {
    let then: jiff::Timestamp = timestamp.parse().ok()?;
    Some(jiff::Timestamp::now().as_second() - then.as_second())
}

/// A duration as kubectl prints ages: `45s`, `12m`, `3h5m`, `4d`.
pub(crate) fn human_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..120 => format!("{s}s"),
        120..600 => format!("{}m{}s", s / 60, s % 60),
        600..10800 => format!("{}m", s / 60),
        10800..172800 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d", s / 86400),
    }
}
