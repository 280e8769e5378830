//! Figures as a person reads them in a table: ages like kubectl's AGE, latencies, rates, money.

use jiff::{SignedDuration, Timestamp};

/// How long ago `rfc3339` was, as kubectl prints AGE (`45s`, `3m20s`, `5h`, `2d4h`); `<unknown>`
/// when it is not a timestamp.
pub(crate) fn age_since(rfc3339: &str, now: Timestamp) -> String {
    match rfc3339.parse::<Timestamp>() {
        Ok(then) => age(now.duration_since(then)),
        Err(_) => "<unknown>".into(),
    }
}

/// A duration in kubectl's AGE form: coarser the longer it is, two units at most.
pub(crate) fn age(elapsed: SignedDuration) -> String {
    let seconds = elapsed.as_secs();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return two_units(minutes, "m", seconds % 60, "s");
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        return two_units(hours, "h", minutes % 60, "m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if days < 8 {
        return two_units(days, "d", hours % 24, "h");
    }
    if days < 365 * 2 {
        return format!("{days}d");
    }
    if days < 365 * 8 {
        return two_units(days / 365, "y", days % 365, "d");
    }
    format!("{}y", days / 365)
}

fn two_units(major: i64, major_unit: &str, minor: i64, minor_unit: &str) -> String {
    if minor == 0 {
        format!("{major}{major_unit}")
    } else {
        format!("{major}{major_unit}{minor}{minor_unit}")
    }
}

/// Milliseconds as `850ms` or `1.2s`; empty (shown as `<none>`) when nothing was measured.
pub(crate) fn latency(milliseconds: Option<f64>) -> String {
    match milliseconds {
        None => String::new(),
        Some(ms) if ms < 1000.0 => format!("{ms:.0}ms"),
        Some(ms) if ms < 60_000.0 => format!("{:.1}s", ms / 1000.0),
        Some(ms) => format!("{:.1}m", ms / 60_000.0),
    }
}

/// A share 0..1 as a percentage with one decimal (`99.5%`).
pub(crate) fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// A token count, compact past ten thousand (`950`, `12.3k`, `4.1M`).
pub(crate) fn tokens(count: u64) -> String {
    // Display only: precision beyond three digits does not matter here.
    #[allow(clippy::cast_precision_loss)]
    let value = count as f64;
    match count {
        0..10_000 => count.to_string(),
        10_000..1_000_000 => format!("{:.1}k", value / 1e3),
        _ => format!("{:.1}M", value / 1e6),
    }
}

/// US dollars: cents for sums of a cent or more, four decimals below, so small spend is not `$0.00`;
/// spend too small for four decimals (one cheap model call costs a few millionths) is `<$0.0001`,
/// not a `$0.0000` that reads as free.
pub(crate) fn usd(amount: f64) -> String {
    if amount == 0.0 || amount.abs() >= 0.01 {
        format!("${amount:.2}")
    } else if amount.abs() < 0.000_05 {
        "<$0.0001".into()
    } else {
        format!("${amount:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: i64) -> SignedDuration {
        SignedDuration::from_secs(s)
    }

    #[test]
    fn ages_read_like_kubectl() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (45, "45s"),
            (119, "119s"),
            (120, "2m"),
            (200, "3m20s"),
            (600, "10m"),
            (179 * 60, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 25 * 60, "3h25m"),
            (8 * 3600, "8h"),
            (47 * 3600, "47h"),
            (2 * 86_400 + 4 * 3600, "2d4h"),
            (30 * 86_400, "30d"),
            (3 * 365 * 86_400 + 10 * 86_400, "3y10d"),
            (9 * 365 * 86_400, "9y"),
        ];
        for (seconds, want) in cases {
            assert_eq!(age(secs(seconds)), want, "{seconds}s");
        }
    }

    #[test]
    fn age_since_parses_rfc3339_and_says_when_it_cannot() {
        let now: Timestamp = "2026-11-30T12:00:00Z".parse().unwrap();
        assert_eq!(age_since("2026-11-30T11:55:00Z", now), "5m");
        assert_eq!(age_since("2026-11-30T13:55:00+02:00", now), "5m");
        assert_eq!(age_since("yesterday", now), "<unknown>");
    }

    #[test]
    fn figures_are_compact() {
        assert_eq!(latency(None), "");
        assert_eq!(latency(Some(850.4)), "850ms");
        assert_eq!(latency(Some(1240.0)), "1.2s");
        assert_eq!(latency(Some(90_000.0)), "1.5m");
        assert_eq!(percent(0.995), "99.5%");
        assert_eq!(percent(1.0), "100.0%");
        assert_eq!(tokens(950), "950");
        assert_eq!(tokens(12_345), "12.3k");
        assert_eq!(tokens(999_949), "999.9k");
        assert_eq!(tokens(4_100_000), "4.1M");
        assert_eq!(usd(0.0), "$0.00");
        assert_eq!(usd(12.345), "$12.35");
        assert_eq!(usd(0.0042), "$0.0042");
        assert_eq!(usd(0.0001), "$0.0001");
        assert_eq!(usd(0.000_013_5), "<$0.0001", "spent, if little");
    }
}
