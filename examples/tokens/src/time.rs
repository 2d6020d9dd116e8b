//! Times for people: RFC 3339 dates of `NumericDate`s, "3m 20s" spans, and the durations the
//! options take (`90`, `90s`, `15m`, `1h`, `7d`).

use std::time::Duration;

/// Parses `90`, `90s`, `15m`, `1h` or `7d`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (90, 90s, 15m, 1h, 7d)"))?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?} is not a duration (90, 90s, 15m, 1h, 7d)")),
    };
    value
        .checked_mul(scale)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// A `NumericDate` as JSON: an integer when it is whole (as tokens carry them), else a float.
pub(crate) fn numeric_date(unix: f64) -> serde_json::Value {
    if unix.fract() == 0.0 && unix.abs() < 9e15 {
        (unix as i64).into()
    } else {
        unix.into()
    }
}

/// A Unix time as RFC 3339 UTC, e.g. `2026-12-07T23:12:33Z` (fractions dropped).
pub(crate) fn rfc3339(unix: f64) -> String {
    let secs = unix.floor() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `t` relative to `now`: "in 4m 10s" or "1h 2m ago".
pub(crate) fn relative(t: f64, now: f64) -> String {
    let delta = t - now;
    if delta.abs() < 1.0 {
        return "now".to_owned();
    }
    let span = span(delta.abs());
    if delta >= 0.0 {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

/// A span of seconds, to the two largest units: "2d 3h", "4m 10s", "0s".
pub(crate) fn span(secs: f64) -> String {
    let secs = secs.floor() as u64;
    let units = [(86_400, "d"), (3600, "h"), (60, "m"), (1, "s")];
    let parts: Vec<String> = units
        .iter()
        .scan(secs, |left, &(size, name)| {
            let n = *left / size;
            *left %= size;
            Some((n, name))
        })
        .skip_while(|&(n, _)| n == 0)
        .take(2)
        .filter(|&(n, _)| n > 0)
        .map(|(n, name)| format!("{n}{name}"))
        .collect();
    if parts.is_empty() {
        "0s".to_owned()
    } else {
        parts.join(" ")
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_spans() {
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_340_425.7), "2026-11-22T09:40:25Z");
        assert_eq!(rfc3339(951_782_400.0), "2000-02-29T00:00:00Z");
        assert_eq!(span(0.0), "0s");
        assert_eq!(span(250.0), "4m 10s");
        assert_eq!(span(3600.0), "1h");
        assert_eq!(span(90_061.0), "1d 1h");
        assert_eq!(relative(100.0, 40.0), "in 1m");
        assert_eq!(relative(40.0, 100.0), "1m ago");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
    }
}
