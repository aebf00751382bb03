//! Durations on the command line: `10s`, `500ms`, `1m30s`, `1.5s`, `2h`.
//!
//! A small humantime-style parser rather than the `humantime` crate: it needs ten lines
//! more than the dependency would, and every error can then say what to write instead
//! (the flags are read by operators under pressure, not by programs).

use std::time::Duration;

/// Why a duration flag could not be read. The input comes from the operator's own command
/// line or config file, so it is quoted back as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration: write a number and a unit, e.g. 10s, 500ms or 1m30s")]
    Empty,
    #[error("`{0}` has no unit: write {0}s for seconds or {0}ms for milliseconds")]
    MissingUnit(String),
    #[error("unknown unit `{unit}` in `{input}`: use ms, s, m or h (e.g. 10s, 500ms, 1m30s)")]
    UnknownUnit { unit: String, input: String },
    #[error("expected a number at `{rest}` in `{input}`: write e.g. 10s, 500ms or 1m30s")]
    ExpectedNumber { rest: String, input: String },
    #[error("`{0}` is too long a duration")]
    TooLong(String),
}

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Parses `<number><unit>` components, optionally separated by spaces: units `ms`, `s`,
/// `m`, `h` (also `sec`, `min`, `hr`, plurals, and `us`/`ns` so that every value
/// [`format_duration`] writes reads back); numbers may have a fraction (`1.5s`).
/// A bare `0` is accepted (zero needs no unit); any other bare number is refused rather
/// than guessed, because `--idle-timeout 30` meaning 30 ms or 30 s is a coin toss.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text.chars().all(|c| c == '0') {
        return Ok(Duration::ZERO);
    }
    let too_long = || DurationError::TooLong(text.to_owned());
    let mut total: u128 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        if number.is_empty() || number.starts_with('.') || number.matches('.').count() > 1 {
            return Err(DurationError::ExpectedNumber {
                rest: rest.to_owned(),
                input: text.to_owned(),
            });
        }
        let after = after.trim_start();
        let unit_len = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(match after.chars().next() {
                None => DurationError::MissingUnit(number.to_owned()),
                Some(c) => DurationError::UnknownUnit {
                    unit: c.to_string(),
                    input: text.to_owned(),
                },
            });
        }
        let unit_nanos: u128 = match unit.to_ascii_lowercase().as_str() {
            "ns" => 1,
            "us" => 1_000,
            "ms" | "msec" | "msecs" => 1_000_000,
            "s" | "sec" | "secs" | "second" | "seconds" => NANOS_PER_SEC,
            "m" | "min" | "mins" | "minute" | "minutes" => 60 * NANOS_PER_SEC,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600 * NANOS_PER_SEC,
            _ => {
                return Err(DurationError::UnknownUnit {
                    unit: unit.to_owned(),
                    input: text.to_owned(),
                });
            }
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        let whole: u128 = whole.parse().map_err(|_| too_long())?;
        let mut nanos = whole.checked_mul(unit_nanos).ok_or_else(too_long)?;
        // Digits past the 18th cannot change the value by a nanosecond even in hours.
        let fraction = &fraction[..fraction.len().min(18)];
        if !fraction.is_empty() {
            let digits: u128 = fraction.parse().map_err(|_| too_long())?;
            let scale = 10u128.pow(fraction.len() as u32);
            nanos = nanos
                .checked_add(digits * unit_nanos / scale)
                .ok_or_else(too_long)?;
        }
        total = total.checked_add(nanos).ok_or_else(too_long)?;
        rest = after.trim_start();
    }
    let secs = u64::try_from(total / NANOS_PER_SEC).map_err(|_| too_long())?;
    // The remainder is below 10^9, so it fits a u32.
    let subsec = (total % NANOS_PER_SEC) as u32;
    Ok(Duration::new(secs, subsec))
}

/// Writes a duration so that [`parse_duration`] reads it back: `75s` as `1m15s`, `300ms`.
/// Used for defaults in help text and in log lines.
pub fn format_duration(duration: Duration) -> String {
    if duration.is_zero() {
        return "0s".to_owned();
    }
    if !duration.subsec_nanos().is_multiple_of(1_000_000) {
        return format!("{}ns", duration.as_nanos());
    }
    if duration.subsec_millis() != 0 {
        return format!("{}ms", duration.as_millis());
    }
    let secs = duration.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    for (value, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if value != 0 {
            out.push_str(&format!("{value}{unit}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_usual_forms() {
        let cases = [
            ("10s", Duration::from_secs(10)),
            ("500ms", Duration::from_millis(500)),
            ("1m30s", Duration::from_secs(90)),
            ("1m 30s", Duration::from_secs(90)),
            ("2h", Duration::from_secs(7200)),
            ("1.5s", Duration::from_millis(1500)),
            ("0.25m", Duration::from_secs(15)),
            ("75 seconds", Duration::from_secs(75)),
            ("  10S ", Duration::from_secs(10)),
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn errors_say_what_to_write() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(
            parse_duration("30"),
            Err(DurationError::MissingUnit("30".into()))
        );
        let err = parse_duration("30").unwrap_err().to_string();
        assert!(err.contains("30s") && err.contains("30ms"), "{err}");
        let err = parse_duration("10x").unwrap_err();
        assert!(matches!(&err, DurationError::UnknownUnit { unit, .. } if unit == "x"));
        assert!(err.to_string().contains("use ms, s, m or h"));
        assert!(matches!(
            parse_duration("s"),
            Err(DurationError::ExpectedNumber { .. })
        ));
        assert_eq!(
            parse_duration("1s30"),
            Err(DurationError::MissingUnit("30".into()))
        );
        assert!(matches!(
            parse_duration("5-"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_duration("1..5s"),
            Err(DurationError::ExpectedNumber { .. })
        ));
        assert!(matches!(
            parse_duration("-5s"),
            Err(DurationError::ExpectedNumber { .. })
        ));
        assert!(matches!(
            parse_duration("99999999999999999999999h"),
            Err(DurationError::TooLong(_))
        ));
    }

    #[test]
    fn formats_round_trip() {
        for d in [
            Duration::from_secs(75),
            Duration::from_secs(10),
            Duration::from_millis(300),
            Duration::from_secs(3600 + 1),
            Duration::ZERO,
            Duration::from_nanos(1_500),
        ] {
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{d:?}");
        }
        assert_eq!(format_duration(Duration::from_secs(75)), "1m15s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
    }
}
