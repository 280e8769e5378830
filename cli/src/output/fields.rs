//! `kubectl describe`'s layout for one object: `Label:` then the value, values aligned.

/// `label: value` lines with the values in one column; empty values show `<none>`.
pub(crate) fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(label, _)| label.chars().count() + 1).max().unwrap_or(0);
    let mut out = String::new();
    for (label, value) in pairs {
        let value = if value.trim().is_empty() { "<none>" } else { value.as_str() };
        out.push_str(&format!("{:<width$}  {value}\n", format!("{label}:")));
    }
    out
}

/// `rfc3339 (age ago)`, or empty when absent.
pub(crate) fn time_and_age(rfc3339: Option<&str>, now: jiff::Timestamp) -> String {
    match rfc3339 {
        Some(at) => format!("{at} ({} ago)", super::age_since(at, now)),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_line_up_and_empty_ones_show_none() {
        let text = fields(&[("Task", "t-1".into()), ("Attempts", "2".into()), ("Message", String::new())]);
        assert_eq!(text, "Task:      t-1\nAttempts:  2\nMessage:   <none>\n");
    }

    #[test]
    fn times_carry_their_age() {
        let now: jiff::Timestamp = "2026-11-30T12:00:00Z".parse().unwrap();
        assert_eq!(time_and_age(Some("2026-11-30T11:00:00Z"), now), "2026-11-30T11:00:00Z (60m ago)");
        assert_eq!(time_and_age(None, now), "");
    }
}
