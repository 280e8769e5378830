//! The `current_time` builtin: the current date and time as RFC 3339, in UTC or an IANA zone.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Value, json};

/// The JSON Schema of `current_time`'s arguments.
pub(crate) fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "timezone": {
                "type": "string",
                "description": "IANA time zone name such as \"Europe/Paris\" or \"America/New_York\"; UTC when absent."
            }
        },
        "additionalProperties": false
    })
}

/// `now` as RFC 3339 to the second, in `timezone` (UTC when `None`), or a message naming the
/// unknown zone.
pub(crate) fn format_now(now: Timestamp, timezone: Option<&str>) -> Result<String, String> {
    let Some(name) = timezone.map(str::trim).filter(|name| !name.is_empty()) else {
        return Ok(now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
    };
    let zone = lookup(name)?;
    Ok(now.to_zoned(zone).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string())
}

fn lookup(name: &str) -> Result<TimeZone, String> {
    // UTC needs no database: a runner image without /usr/share/zoneinfo still answers it.
    if matches!(name.to_ascii_uppercase().as_str(), "UTC" | "ETC/UTC" | "Z" | "GMT" | "ETC/GMT") {
        return Ok(TimeZone::UTC);
    }
    let plausible = name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'));
    let unknown = || {
        format!(
            "unknown time zone {name:?}: use an IANA time zone name such as \"Europe/Paris\", \
             \"America/New_York\" or \"UTC\""
        )
    };
    if !plausible {
        return Err(unknown());
    }
    TimeZone::get(name).map_err(|_| unknown())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instant() -> Timestamp {
        "2024-07-01T12:34:56.789Z".parse().expect("timestamp")
    }

    #[test]
    fn utc_by_default_to_the_second() {
        assert_eq!(format_now(instant(), None).expect("utc"), "2024-07-01T12:34:56Z");
        assert_eq!(format_now(instant(), Some("")).expect("blank"), "2024-07-01T12:34:56Z");
        assert_eq!(format_now(instant(), Some("UTC")).expect("utc"), "2024-07-01T12:34:56+00:00");
    }

    #[test]
    fn an_iana_zone_gives_its_offset() {
        assert_eq!(format_now(instant(), Some("Europe/Paris")).expect("paris"), "2024-07-01T14:34:56+02:00");
        assert_eq!(
            format_now(instant(), Some("America/New_York")).expect("new york"),
            "2024-07-01T08:34:56-04:00"
        );
    }

    #[test]
    fn the_output_is_rfc3339() {
        let text = format_now(Timestamp::now(), Some("Asia/Kolkata")).expect("now");
        let parsed: Timestamp = text.parse().expect("parses back");
        assert!((Timestamp::now().as_second() - parsed.as_second()).abs() < 5);
    }

    #[test]
    fn an_unknown_zone_is_a_clear_error() {
        let err = format_now(instant(), Some("Mars/Olympus_Mons")).expect_err("unknown");
        assert!(err.contains("unknown time zone \"Mars/Olympus_Mons\""), "{err}");
        assert!(err.contains("Europe/Paris"), "{err}");
        let err = format_now(instant(), Some("../../etc/passwd")).expect_err("path");
        assert!(err.contains("unknown time zone"), "{err}");
    }
}
