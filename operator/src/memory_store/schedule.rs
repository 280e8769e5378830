//! `consolidation.schedule`: five-field cron expressions (minute, hour, day of month, month, day
//! of week; `*`, lists, ranges, steps, month and weekday names) and the `@hourly`-style macros,
//! evaluated in UTC. The next run time is what the controller requeues for.

use k8s_openapi::jiff::Timestamp;
use k8s_openapi::jiff::civil::Date;
use k8s_openapi::jiff::tz::TimeZone;

/// How far ahead the next run is looked for: an expression that matches no day in this long
/// (`0 0 30 2 *`) never runs and is refused.
const SEARCH_DAYS: u32 = 5 * 366;

const MONTHS: [&str; 12] =
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// Why a schedule was refused; the message quotes the expression and names the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("consolidation.schedule {expression:?}: {reason}")]
pub struct InvalidSchedule {
    expression: String,
    reason: String,
}

/// A parsed schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// Day of month and day of week both restricted: a day matching either runs (cron's rule).
    either_day: bool,
}

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const FIELDS: [Field; 5] = [
    Field { name: "minute", min: 0, max: 59, names: &[] },
    Field { name: "hour", min: 0, max: 23, names: &[] },
    Field { name: "day of month", min: 1, max: 31, names: &[] },
    Field { name: "month", min: 1, max: 12, names: &MONTHS },
    // 7 is Sunday as well as 0.
    Field { name: "day of week", min: 0, max: 7, names: &WEEKDAYS },
];

impl Schedule {
    /// Parses `expression`, refusing it with the field and value at fault, or when it never runs.
    pub fn parse(expression: &str) -> Result<Self, InvalidSchedule> {
        let invalid = |reason: String| InvalidSchedule { expression: expression.to_string(), reason };
        let expanded = expand_macro(expression.trim()).map_err(invalid)?;
        let parts: Vec<&str> = expanded.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(invalid(format!(
                "has {} fields; five are needed (minute hour day-of-month month day-of-week) or a macro \
                 such as @daily",
                parts.len()
            )));
        }
        let mut masks = [0u64; 5];
        for ((mask, part), field) in masks.iter_mut().zip(&parts).zip(&FIELDS) {
            *mask = parse_field(part, field).map_err(invalid)?;
        }
        let weekdays = fold_sunday(masks[4]);
        let schedule = Self {
            minutes: masks[0],
            hours: masks[1],
            days: masks[2],
            months: masks[3],
            weekdays,
            either_day: !parts[2].starts_with('*') && !parts[4].starts_with('*'),
        };
        if schedule.next_after(Timestamp::UNIX_EPOCH).is_none() {
            return Err(invalid("matches no day (such as the 30th of February)".into()));
        }
        Ok(schedule)
    }

    /// The first run time strictly after `after`, to the minute; `None` when there is none
    /// within five years.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let start = after.to_zoned(TimeZone::UTC).datetime();
        let (mut date, mut hour, mut minute) =
            (start.date(), u32::try_from(start.hour()).ok()?, u32::try_from(start.minute()).ok()? + 1);
        for _ in 0..SEARCH_DAYS {
            if self.runs_on(date)
                && let Some((h, m)) = self.first_time_from(hour, minute)
            {
                let at = date.at(i8::try_from(h).ok()?, i8::try_from(m).ok()?, 0, 0);
                return at.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp());
            }
            date = date.tomorrow().ok()?;
            (hour, minute) = (0, 0);
        }
        None
    }

    fn runs_on(&self, date: Date) -> bool {
        let month = u32::try_from(date.month()).unwrap_or(0);
        let day = u32::try_from(date.day()).unwrap_or(0);
        let weekday = u32::try_from(date.weekday().to_sunday_zero_offset()).unwrap_or(0);
        let (day_ok, weekday_ok) = (has(self.days, day), has(self.weekdays, weekday));
        let day_matches = if self.either_day { day_ok || weekday_ok } else { day_ok && weekday_ok };
        has(self.months, month) && day_matches
    }

    /// The first (hour, minute) at or after `hour:minute` (minute may be 60) that runs.
    fn first_time_from(&self, hour: u32, minute: u32) -> Option<(u32, u32)> {
        (hour..24).filter(|h| has(self.hours, *h)).find_map(|h| {
            let from = if h == hour { minute } else { 0 };
            (from..60).find(|m| has(self.minutes, *m)).map(|m| (h, m))
        })
    }
}

fn has(mask: u64, value: u32) -> bool {
    value < 64 && mask & (1 << value) != 0
}

fn fold_sunday(mask: u64) -> u64 {
    if has(mask, 7) { (mask | 1) & !(1 << 7) } else { mask }
}

fn expand_macro(expression: &str) -> Result<String, String> {
    let Some(name) = expression.strip_prefix('@') else { return Ok(expression.to_string()) };
    let expanded = match name {
        "yearly" | "annually" => "0 0 1 1 *",
        "monthly" => "0 0 1 * *",
        "weekly" => "0 0 * * 0",
        "daily" | "midnight" => "0 0 * * *",
        "hourly" => "0 * * * *",
        other => {
            return Err(format!(
                "unknown macro @{other}; use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly"
            ));
        }
    };
    Ok(expanded.to_string())
}

/// One field as a bit mask of the values it allows.
fn parse_field(text: &str, field: &Field) -> Result<u64, String> {
    let mut mask = 0u64;
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(step)),
            None => (item, None),
        };
        let (low, high) = match range {
            "*" => (field.min, field.max),
            _ => match range.split_once('-') {
                Some((a, b)) => (value(a, field)?, value(b, field)?),
                // `5/15`: from 5 to the end in steps of 15.
                None if step.is_some() => (value(range, field)?, field.max),
                None => (value(range, field)?, value(range, field)?),
            },
        };
        if low > high {
            return Err(format!("{} field {item:?}: the range runs backwards", field.name));
        }
        let step = match step {
            None => 1,
            Some(step) => {
                step.parse::<u32>().ok().filter(|s| (1..=field.max.max(1)).contains(s)).ok_or_else(|| {
                    format!(
                        "{} field {item:?}: step {step:?} is not a number in 1..{}",
                        field.name, field.max
                    )
                })?
            }
        };
        (low..=high).step_by(step as usize).for_each(|v| mask |= 1 << v);
    }
    Ok(mask)
}

fn value(text: &str, field: &Field) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    let named = field.names.iter().position(|n| *n == lower).and_then(|i| u32::try_from(i).ok());
    let parsed = named.map(|i| i + field.min).or_else(|| text.parse::<u32>().ok());
    match parsed {
        Some(v) if (field.min..=field.max).contains(&v) => Ok(v),
        Some(v) => Err(format!("{} field: {v} is outside {}..{}", field.name, field.min, field.max)),
        None => Err(format!("{} field: {text:?} is not a number{}", field.name, names_hint(field))),
    }
}

fn names_hint(field: &Field) -> String {
    match field.names.first() {
        Some(first) => format!(" or a name such as {first}"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    fn next(expression: &str, after: &str) -> String {
        let schedule = Schedule::parse(expression).expect(expression);
        schedule.next_after(at(after)).expect("a next time").to_string()
    }

    #[test]
    fn next_times_follow_cron_rules() {
        assert_eq!(next("* * * * *", "2026-11-30T18:10:36Z"), "2026-11-30T18:11:00Z");
        assert_eq!(next("* * * * *", "2026-11-30T18:11:00Z"), "2026-11-30T18:12:00Z");
        assert_eq!(next("*/15 * * * *", "2026-11-30T18:50:00Z"), "2026-11-30T19:00:00Z");
        assert_eq!(next("30 2 * * *", "2026-11-30T18:00:00Z"), "2026-12-01T02:30:00Z");
        assert_eq!(next("@daily", "2026-12-31T23:59:59Z"), "2027-01-01T00:00:00Z");
        assert_eq!(next("@monthly", "2026-11-30T18:00:00Z"), "2026-12-01T00:00:00Z");
        assert_eq!(next("0 0 29 feb *", "2026-03-01T00:00:00Z"), "2028-02-29T00:00:00Z");
        // Weekdays: 2026-11-30 is a Monday; 7 is Sunday.
        assert_eq!(next("0 9 * * sat,7", "2026-11-30T10:00:00Z"), "2026-12-05T09:00:00Z");
        assert_eq!(next("0 9 * * MON-FRI", "2026-12-04T10:00:00Z"), "2026-12-07T09:00:00Z");
        // Day of month and day of week both given: either runs.
        assert_eq!(next("0 0 1 * 3", "2026-11-30T12:00:00Z"), "2026-12-01T00:00:00Z");
        assert_eq!(next("0 0 15 * 3", "2026-11-30T12:00:00Z"), "2026-12-02T00:00:00Z");
        assert_eq!(next("5/20 1-3 * * *", "2026-11-30T02:50:00Z"), "2026-11-30T03:05:00Z");
    }

    #[test]
    fn bad_expressions_name_the_field() {
        let cases = [
            ("61 * * * *", "minute"),
            ("* 24 * * *", "hour"),
            ("* * 0 * *", "day of month"),
            ("* * * foo *", "month"),
            ("* * * * 8", "day of week"),
            ("*/0 * * * *", "step"),
            ("5-1 * * * *", "backwards"),
            ("* * * *", "five are needed"),
            ("@fortnightly", "unknown macro"),
            ("0 0 30 feb *", "no day"),
        ];
        for (expression, want) in cases {
            let error = Schedule::parse(expression).expect_err(expression).to_string();
            assert!(error.contains(want) && error.contains(expression), "{expression}: {error}");
        }
    }
}
