//! Times between Rust and SQL: parameters and columns travel as microseconds since the Unix
//! epoch (`int8`), so no SQL time type needs a sqlx feature; answers carry RFC 3339.

use jiff::Timestamp;

/// SQL turning a microseconds parameter into `timestamptz`: `format!` it with the placeholder.
pub(crate) fn from_micros_sql(placeholder: &str) -> String {
    format!("(timestamptz 'epoch' + {placeholder}::int8 * interval '1 microsecond')")
}

/// SQL reading a `timestamptz` column as microseconds since the epoch.
pub(crate) fn to_micros_sql(column: &str) -> String {
    format!("(extract(epoch FROM {column}) * 1000000)::int8")
}

/// `t` in microseconds since the epoch.
pub(crate) fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

/// Microseconds since the epoch as RFC 3339 (UTC, `Z`); PostgreSQL's range always fits.
pub(crate) fn rfc3339(micros: i64) -> String {
    Timestamp::from_microsecond(micros).map(|t| t.to_string()).unwrap_or_else(|_| micros.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_format() {
        let t: Timestamp = "2026-11-30T12:00:00.25Z".parse().expect("timestamp");
        assert_eq!(rfc3339(micros(t)), "2026-11-30T12:00:00.25Z");
        assert_eq!(from_micros_sql("$2"), "(timestamptz 'epoch' + $2::int8 * interval '1 microsecond')");
    }
}
