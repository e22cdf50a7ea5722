//! Image creation times: the config's `created`, an RFC 3339 string, as a point in time and
//! back, the way docker shows it (`Created` in `inspect` is Go's `time.RFC3339Nano` in UTC:
//! `2023-12-19T14:32:13.041465563Z`, trailing zeros of the fraction dropped).
//!
//! Parsing is lenient in what it refuses: a config whose `created` is missing or unreadable
//! simply has no creation time (docker shows `N/A` in `images` for such an image; `inspect`
//! shows Go's zero time, [`ZERO_TIME`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// What docker's `inspect` prints for an image without a creation time (Go's zero `time.Time`).
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Parses an RFC 3339 time (`2024-09-06T12:05:36Z`, `…36.123+02:00`); `None` if it is not one.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let t = OffsetDateTime::parse(s.trim(), &Rfc3339).ok()?;
    let nanos = t.unix_timestamp_nanos();
    if nanos >= 0 {
        let nanos = u64::try_from(nanos).ok()?;
        Some(UNIX_EPOCH + Duration::from_nanos(nanos))
    } else {
        let nanos = u64::try_from(-nanos).ok()?;
        UNIX_EPOCH.checked_sub(Duration::from_nanos(nanos))
    }
}

/// Formats `t` in UTC as Go's `RFC3339Nano`: seconds, then only the fraction digits needed.
pub fn format_rfc3339(t: SystemTime) -> String {
    let nanos: i128 = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i128::try_from(d.as_nanos()).unwrap_or(i128::MAX),
        Err(e) => -i128::try_from(e.duration().as_nanos()).unwrap_or(i128::MAX),
    };
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .map(|s| trim_fraction(&s))
        .unwrap_or_else(|| ZERO_TIME.to_owned())
}

/// `time`'s RFC 3339 writes the fraction with all nine digits; Go drops the trailing zeros.
fn trim_fraction(s: &str) -> String {
    let Some(dot) = s.find('.') else {
        return s.to_owned();
    };
    let end = s[dot..]
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or(s.len(), |i| dot + i);
    let fraction = s[dot + 1..end].trim_end_matches('0');
    if fraction.is_empty() {
        format!("{}{}", &s[..dot], &s[end..])
    } else {
        format!("{}.{}{}", &s[..dot], fraction, &s[end..])
    }
}

/// A config's `created` string as docker prints it (UTC, RFC3339Nano); `None` if unreadable.
pub fn normalize(s: &str) -> Option<String> {
    parse_rfc3339(s).map(format_rfc3339)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_converted_to_utc_and_fractions_trimmed_like_go() {
        assert_eq!(
            normalize("2023-12-19T16:32:13.041465500+02:00").as_deref(),
            Some("2023-12-19T14:32:13.0414655Z")
        );
        assert_eq!(
            normalize("2024-09-06T12:05:36Z").as_deref(),
            Some("2024-09-06T12:05:36Z")
        );
    }

    #[test]
    fn a_whole_second_fraction_disappears() {
        assert_eq!(
            normalize("2024-09-06T12:05:36.000Z").as_deref(),
            Some("2024-09-06T12:05:36Z")
        );
    }

    #[test]
    fn the_epoch_parses_to_unix_zero() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(UNIX_EPOCH));
    }

    #[test]
    fn garbage_is_no_time() {
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_rfc3339(""), None);
    }
}
