//! Durations and instants on the command line: `--timeout 120s`, `--window 24h`, `--since 2h`
//! (two hours ago) or `--since 2026-11-30T08:00:00Z`.

use std::fmt;
use std::time::Duration;

use agentry_api_contract::MAX_WINDOW_DAYS;
use jiff::{SignedDuration, Timestamp};

/// A length of time written as a whole number and one unit: `s`, `m`, `h` or `d` (the API's form).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    seconds: u64,
    text: String,
}

impl Span {
    /// Its length.
    pub(crate) fn duration(&self) -> Duration {
        Duration::from_secs(self.seconds)
    }

    /// Its length in whole seconds.
    pub(crate) fn seconds(&self) -> u64 {
        self.seconds
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `text` as a [`Span`] (clap value parser).
pub(crate) fn parse_span(text: &str) -> Result<Span, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit_seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "`{text}` is not a duration: write a number and s, m, h or d (e.g. 90s, 15m, 24h, 7d)"
            ));
        }
    };
    let count: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration: it needs a number before `{unit}`"))?;
    let seconds = count.checked_mul(unit_seconds).ok_or_else(|| format!("`{text}` is too long"))?;
    if seconds == 0 {
        return Err(format!("`{text}` is zero: give a positive duration"));
    }
    Ok(Span { seconds, text: text.to_string() })
}

/// A statistics window: a [`Span`] the API accepts (at most its longest window).
pub(crate) fn parse_window(text: &str) -> Result<Span, String> {
    let span = parse_span(text)?;
    if span.seconds > MAX_WINDOW_DAYS * 86_400 {
        return Err(format!("`{text}` is longer than the longest window the API keeps, {MAX_WINDOW_DAYS}d"));
    }
    Ok(span)
}

/// An answer timeout: a [`Span`] of 1 to 600 seconds, the bounds the API accepts.
pub(crate) fn parse_timeout(text: &str) -> Result<Span, String> {
    let span = parse_span(text)?;
    if span.seconds > 600 {
        return Err(format!(
            "`{text}` is longer than the API waits for an answer, 600s (use `tasks submit` for long work)"
        ));
    }
    Ok(span)
}

/// An instant as RFC 3339: given so, or as a [`Span`] back from now (`2h` is two hours ago).
pub(crate) fn parse_instant(text: &str) -> Result<String, String> {
    instant_at(text, Timestamp::now())
}

fn instant_at(text: &str, now: Timestamp) -> Result<String, String> {
    if let Ok(at) = text.trim().parse::<Timestamp>() {
        return Ok(at.to_string());
    }
    let span = parse_span(text).map_err(|_| {
        format!("`{text}` is neither a time (RFC 3339, e.g. 2026-11-30T08:00:00Z) nor a duration back from now (e.g. 2h, 7d)")
    })?;
    let back = SignedDuration::from_secs(i64::try_from(span.seconds).unwrap_or(i64::MAX));
    now.checked_sub(back)
        .map(|at| at.to_string())
        .map_err(|_| format!("`{text}` reaches before the year -9999"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_a_number_and_a_unit() {
        assert_eq!(parse_span("90s").unwrap().seconds(), 90);
        assert_eq!(parse_span("15m").unwrap().seconds(), 900);
        assert_eq!(parse_span("24h").unwrap().seconds(), 86_400);
        assert_eq!(parse_span("7d").unwrap().seconds(), 604_800);
        assert_eq!(parse_span("7d").unwrap().to_string(), "7d");
        assert_eq!(parse_span("120s").unwrap().duration(), Duration::from_secs(120));
    }

    #[test]
    fn malformed_spans_say_what_is_expected() {
        for bad in ["", "h", "10", "1.5h", "10w", "1h30m", "-5m", "0s", "99999999999999999999d"] {
            let err = parse_span(bad).unwrap_err();
            assert!(err.contains('`'), "{bad}: {err}");
        }
        assert!(parse_span("10").unwrap_err().contains("s, m, h or d"));
    }

    #[test]
    fn windows_and_timeouts_keep_to_the_api_bounds() {
        assert!(parse_window("93d").is_ok());
        assert!(parse_window("94d").unwrap_err().contains("93d"));
        assert!(parse_timeout("600s").is_ok());
        assert!(parse_timeout("10m").is_ok());
        assert!(parse_timeout("11m").unwrap_err().contains("600s"));
    }

    #[test]
    fn instants_are_rfc3339_or_back_from_now() {
        let now: Timestamp = "2026-11-30T12:00:00Z".parse().unwrap();
        assert_eq!(instant_at("2h", now).unwrap(), "2026-11-30T10:00:00Z");
        assert_eq!(instant_at("7d", now).unwrap(), "2026-11-23T12:00:00Z");
        assert_eq!(instant_at("2026-11-30T08:00:00+01:00", now).unwrap(), "2026-11-30T07:00:00Z");
        assert!(instant_at("last tuesday", now).unwrap_err().contains("RFC 3339"));
    }
}
