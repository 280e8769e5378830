//! Checks of path and query values, each failure a 400 naming the parameter.

use agentry_api_contract::{DEFAULT_PAGE_SIZE, MAX_INPUT_BYTES, MAX_PAGE_SIZE, MAX_WINDOW_DAYS};
use jiff::{SignedDuration, Timestamp};

use crate::api_error::ApiError;

/// A time window, both ends inclusive of their instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Window {
    /// Start.
    pub(crate) since: Timestamp,
    /// End.
    pub(crate) until: Timestamp,
}

/// `value` as a Kubernetes object name (DNS-1123 label: what Agents, namespaces and Sessions
/// are named), or a 400 naming `field`.
pub(crate) fn object_name<'a>(field: &str, value: &'a str) -> Result<&'a str, ApiError> {
    let valid = !value.is_empty()
        && value.len() <= 63
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if valid {
        Ok(value)
    } else {
        Err(ApiError::bad_field(
            field,
            format!(
                "{field} {value:?} is not a valid name: 1 to 63 lowercase letters, digits or '-', starting and ending with a letter or digit"
            ),
        ))
    }
}

/// An id made by us or a caller (session, task, request): 1 to 128 of `A-Za-z0-9-_.:`.
pub(crate) fn identifier<'a>(field: &str, value: &'a str) -> Result<&'a str, ApiError> {
    let valid = !value.is_empty()
        && value.len() <= 128
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if valid {
        Ok(value)
    } else {
        Err(ApiError::bad_field(field, format!("{field} must be 1 to 128 of A-Z a-z 0-9 - _ . :")))
    }
}

/// A text input: not empty, at most [`MAX_INPUT_BYTES`].
pub(crate) fn input_text<'a>(field: &str, value: &'a str) -> Result<&'a str, ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::bad_field(field, format!("{field} must not be empty")));
    }
    if value.len() > MAX_INPUT_BYTES {
        return Err(ApiError::bad_field(
            field,
            format!("{field} is {} bytes; at most {MAX_INPUT_BYTES} are accepted", value.len()),
        ));
    }
    Ok(value)
}

/// The page size: [`DEFAULT_PAGE_SIZE`] when absent, 1 to [`MAX_PAGE_SIZE`].
pub(crate) fn page_size(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_field("limit", format!("limit must be 1 to {MAX_PAGE_SIZE}, not {n}"))),
    }
}

/// Seconds to wait for an answer: 120 when absent, 1 to 600.
pub(crate) fn timeout_seconds(value: Option<u32>) -> Result<u32, ApiError> {
    match value {
        None => Ok(120),
        Some(n) if (1..=600).contains(&n) => Ok(n),
        Some(n) => {
            Err(ApiError::bad_field("timeoutSeconds", format!("timeoutSeconds must be 1 to 600, not {n}")))
        }
    }
}

/// A budget: positive and finite.
pub(crate) fn budget(value: Option<f64>) -> Result<Option<f64>, ApiError> {
    match value {
        Some(b) if !(b.is_finite() && b > 0.0) => {
            Err(ApiError::bad_field("budgetUsd", "budgetUsd must be a positive number"))
        }
        other => Ok(other),
    }
}

/// An RFC 3339 instant named `field`.
pub(crate) fn instant(field: &str, value: &str) -> Result<Timestamp, ApiError> {
    value.parse::<Timestamp>().map_err(|_| {
        ApiError::bad_field(
            field,
            format!("{field} {value:?} is not an RFC 3339 time such as 2026-11-30T12:00:00Z"),
        )
    })
}

/// An optional RFC 3339 bound.
pub(crate) fn optional_instant(field: &str, value: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    value.map(|v| instant(field, v)).transpose()
}

/// `15m`, `1h`, `7d`… as a duration named `window`.
pub(crate) fn window_length(value: &str) -> Result<SignedDuration, ApiError> {
    let bad = || {
        ApiError::bad_field(
            "window",
            format!("window {value:?} must be a number followed by s, m, h or d (for example 15m, 24h, 7d)"),
        )
    };
    let split = value.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = value.split_at(split);
    let number: i64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" => number,
        "m" => number.checked_mul(60).ok_or_else(bad)?,
        "h" => number.checked_mul(3_600).ok_or_else(bad)?,
        "d" => number.checked_mul(86_400).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    if number == 0 {
        return Err(bad());
    }
    Ok(SignedDuration::from_secs(seconds))
}

/// The window of `since`/`until`/`window` (default: `default_length` back from now), at most
/// [`MAX_WINDOW_DAYS`] long, `since` before `until`.
pub(crate) fn window(
    since: Option<&str>,
    until: Option<&str>,
    length: Option<&str>,
    default_length: SignedDuration,
) -> Result<Window, ApiError> {
    let until = optional_instant("until", until)?.unwrap_or_else(Timestamp::now);
    let since = match optional_instant("since", since)? {
        Some(since) => since,
        None => {
            let length = length.map(window_length).transpose()?.unwrap_or(default_length);
            until
                .checked_sub(length)
                .map_err(|_| ApiError::bad_field("window", "window reaches before the year -9999"))?
        }
    };
    if since >= until {
        return Err(ApiError::bad_field("since", "since must be before until"));
    }
    let longest = SignedDuration::from_hours(24 * i64::try_from(MAX_WINDOW_DAYS).unwrap_or(93));
    if until.duration_since(since) > longest {
        return Err(ApiError::bad_field(
            "since",
            format!("the window is longer than {MAX_WINDOW_DAYS} days"),
        ));
    }
    Ok(Window { since, until })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ids_and_limits_are_checked() {
        assert!(object_name("agent", "sales-agent").is_ok());
        for bad in ["", "Sales", "-a", "a-", "a_b", &"a".repeat(64)] {
            assert_eq!(
                object_name("agent", bad).err().and_then(|e| e.field).as_deref(),
                Some("agent"),
                "{bad}"
            );
        }
        assert!(identifier("taskId", "t-1.2_3:4").is_ok());
        assert!(identifier("taskId", "a b").is_err());
        assert_eq!(page_size(None).ok(), Some(DEFAULT_PAGE_SIZE));
        assert_eq!(page_size(Some(0)).err().and_then(|e| e.field).as_deref(), Some("limit"));
        assert!(page_size(Some(MAX_PAGE_SIZE + 1)).is_err());
        assert!(timeout_seconds(Some(601)).is_err());
        assert!(budget(Some(f64::NAN)).is_err());
        assert!(input_text("input", "  ").is_err());
        assert!(input_text("input", &"x".repeat(MAX_INPUT_BYTES + 1)).is_err());
    }

    #[test]
    fn windows_default_parse_and_refuse() {
        let w = window(None, Some("2026-11-30T12:00:00Z"), Some("2h"), SignedDuration::from_hours(1))
            .expect("window");
        assert_eq!(w.since.to_string(), "2026-11-30T10:00:00Z");
        let d =
            window(None, Some("2026-11-30T12:00:00Z"), None, SignedDuration::from_hours(1)).expect("default");
        assert_eq!(d.since.to_string(), "2026-11-30T11:00:00Z");
        for (since, until, length, field) in [
            (Some("yesterday"), None, None, "since"),
            (None, Some("2026-13-01"), None, "until"),
            (None, None, Some("5w"), "window"),
            (None, None, Some("0h"), "window"),
            (Some("2026-11-30T12:00:00Z"), Some("2026-11-30T11:00:00Z"), None, "since"),
            (None, None, Some("100d"), "since"),
        ] {
            let err = window(since, until, length, SignedDuration::from_hours(1)).expect_err("refused");
            assert_eq!(err.field.as_deref(), Some(field), "{since:?} {until:?} {length:?}: {err:?}");
        }
    }
}
