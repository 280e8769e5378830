//! Reading values out of a Prometheus text exposition (`/metrics`).

/// The value of the first series of `name` whose labels include every `label="value"` pair given.
pub fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| line.starts_with(name) && line[name.len()..].starts_with(['{', ' ']))
        .filter(|line| labels.iter().all(|(k, v)| line.contains(&format!("{k}=\"{v}\""))))
        .find_map(|line| line.rsplit(' ').next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP x_total X.\n\
        x_total{controller=\"agent\"} 7\n\
        x_total{controller=\"model\"} 3\n\
        x_total_other{controller=\"agent\"} 99\n\
        y 1.5\n";

    #[test]
    fn finds_the_series_with_the_labels_and_not_a_longer_name() {
        assert_eq!(metric_value(TEXT, "x_total", &[("controller", "model")]), Some(3.0));
        assert_eq!(metric_value(TEXT, "x_total", &[("controller", "agent")]), Some(7.0));
        assert_eq!(metric_value(TEXT, "x_total", &[("controller", "tool")]), None);
        assert_eq!(metric_value(TEXT, "y", &[]), Some(1.5));
    }
}
