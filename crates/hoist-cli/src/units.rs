//! Sizes and durations for people, exactly as docker prints them (go-units, used by the docker
//! CLI): [`human_size`] is `units.HumanSizeWithPrecision` (decimal units, `kB`, `MB`, … and
//! Go's `%.Ng`), [`human_duration`] is `units.HumanDuration` ("About an hour", "3 days").
//!
//! `docker images` prints sizes with 3 significant digits (`72.8MB`), `docker image prune`'s
//! "Total reclaimed space" with 4 (`units.HumanSize`).

use std::time::Duration;

const DECIMAL_UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];

/// go-units' `HumanSizeWithPrecision(size, precision)`: `size` in powers of 1000 with
/// `precision` significant digits, formatted like Go's `%.{precision}g`.
pub fn human_size(size: u64, precision: usize) -> String {
    // Precision loss above 2^53 bytes (8 PB) is below the digits shown.
    #[allow(clippy::cast_precision_loss)]
    let mut value = size as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < DECIMAL_UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!(
        "{}{}",
        go_format_g(value, precision.max(1)),
        DECIMAL_UNITS[unit]
    )
}

/// Go's `fmt.Sprintf("%.{p}g", x)` for `x >= 0`: `p` significant digits, trailing zeros
/// dropped, exponent form when the exponent is < -4 or >= the precision (so 999.7 with 3 digits
/// is `1e+03`, as docker prints it).
fn go_format_g(x: f64, p: usize) -> String {
    if x == 0.0 {
        return "0".to_owned();
    }
    let scientific = format!("{:.*e}", p - 1, x);
    let Some((mantissa, exponent)) = scientific.split_once('e') else {
        return scientific;
    };
    let exp: i32 = exponent.parse().unwrap_or(0);
    let digits = mantissa.replace('.', "");
    let nd = digits.trim_end_matches('0').len().max(1);
    let dp = exp + 1;
    let nd_i = i32::try_from(nd).unwrap_or(i32::MAX);
    let p_i = i32::try_from(p).unwrap_or(i32::MAX);
    let mut eprec = p_i;
    if eprec > nd_i && nd_i >= dp {
        eprec = nd_i;
    }
    if exp < -4 || exp >= eprec {
        let decimals = p.min(nd) - 1;
        let short = format!("{:.*e}", decimals, x);
        let (m, e) = short.split_once('e').unwrap_or((&short, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        let sign = if e < 0 { '-' } else { '+' };
        return format!("{m}e{sign}{:02}", e.abs());
    }
    let decimals = if p_i > dp { (nd_i - dp).max(0) } else { 0 };
    format!("{:.*}", usize::try_from(decimals).unwrap_or(0), x)
}

/// go-units' `HumanDuration`.
pub fn human_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    if seconds < 1 {
        return "Less than a second".to_owned();
    }
    if seconds == 1 {
        return "1 second".to_owned();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = seconds / 60;
    if minutes == 1 {
        return "About a minute".to_owned();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    // Go's `d.Round(time.Hour)`: halves round away from zero.
    let hours = (seconds + 1800) / 3600;
    if hours == 1 {
        return "About an hour".to_owned();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", seconds / 3600 / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_docker_images_three_digits() {
        assert_eq!(human_size(0, 3), "0B");
        assert_eq!(human_size(999, 3), "999B");
        assert_eq!(human_size(1000, 3), "1kB");
        assert_eq!(human_size(13_256, 3), "13.3kB");
        assert_eq!(human_size(72_811_733, 3), "72.8MB");
        assert_eq!(human_size(5_590_000, 3), "5.59MB");
        assert_eq!(human_size(142_000_000, 3), "142MB");
        assert_eq!(human_size(1_500_000_000, 3), "1.5GB");
    }

    #[test]
    fn sizes_match_docker_prune_four_digits() {
        assert_eq!(human_size(1_234_567, 4), "1.235MB");
        assert_eq!(human_size(100_000, 4), "100kB");
    }

    #[test]
    fn a_size_that_rounds_up_to_1000_uses_go_exponent_form() {
        assert_eq!(human_size(999_700, 3), "1e+03kB");
    }

    #[test]
    fn durations_match_go_units() {
        let s = Duration::from_secs;
        assert_eq!(
            human_duration(Duration::from_millis(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(s(1)), "1 second");
        assert_eq!(human_duration(s(59)), "59 seconds");
        assert_eq!(human_duration(s(60)), "About a minute");
        assert_eq!(human_duration(s(45 * 60)), "45 minutes");
        assert_eq!(human_duration(s(90 * 60)), "2 hours");
        assert_eq!(human_duration(s(3 * 86_400)), "3 days");
        assert_eq!(human_duration(s(20 * 86_400)), "2 weeks");
        assert_eq!(human_duration(s(90 * 86_400)), "3 months");
        assert_eq!(human_duration(s(3 * 365 * 86_400)), "3 years");
    }
}
