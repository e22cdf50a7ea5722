//! Random fault schedules for the fault proxy: each run gets one to three rules, each firing
//! one to three times, drawn from the faults a real network and a real registry produce —
//! resets at random offsets, truncated and corrupted bodies, 5xx, 429 with `Retry-After` in
//! seconds and as an HTTP-date, delays, and stalls that only the client's read timeout ends.
//! Stalls cost a minute each (hoist's read timeout), so they are drawn less often.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hoist_testkit::{Image, Rule};
use rand::rngs::StdRng;
use rand::Rng;

/// Rules for one pull of `image`.
pub fn pull_rules(rng: &mut StdRng, image: &Image) -> Vec<Rule> {
    let largest = image.layers.iter().map(|l| l.size).max().unwrap_or(1);
    let manifest = image.manifest.size;
    (0..rng.random_range(1..=3))
        .map(|_| {
            let times = rng.random_range(1..=3);
            let rule = match rng.random_range(0..12) {
                0 | 1 => Rule::get_blob()
                    .reset_after(rng.random_range(0..largest))
                    .label("blob reset"),
                2 => Rule::get_blob()
                    .truncate_after(rng.random_range(0..largest))
                    .label("blob truncated"),
                3 => Rule::get_blob()
                    .corrupt_byte(rng.random_range(0..largest))
                    .label("blob corrupted"),
                4 => Rule::get_blob().status(server_error(rng)).label("blob 5xx"),
                5 => Rule::manifests()
                    .status(server_error(rng))
                    .label("manifest 5xx"),
                6 => too_many(rng, Rule::get_blob()),
                7 => too_many(rng, Rule::manifests()),
                8 => Rule::get_manifest()
                    .corrupt_byte(rng.random_range(0..manifest))
                    .label("manifest corrupted"),
                9 => Rule::get_manifest()
                    .reset_after(rng.random_range(0..manifest))
                    .label("manifest reset"),
                10 => Rule::any().delay(delay(rng)).label("delay"),
                _ if rng.random_bool(0.4) => Rule::get_blob()
                    .stall_after(rng.random_range(0..largest))
                    .label("blob stalled"),
                _ => Rule::get_blob()
                    .throttle(rng.random_range(1..=8) << 20)
                    .label("blob throttled"),
            };
            rule.times(times)
        })
        .collect()
}

/// Rules for one push of `image`.
pub fn push_rules(rng: &mut StdRng, image: &Image) -> Vec<Rule> {
    let largest = image.layers.iter().map(|l| l.size).max().unwrap_or(1);
    (0..rng.random_range(1..=3))
        .map(|_| {
            let times = rng.random_range(1..=3);
            let rule = match rng.random_range(0..11) {
                0 | 1 => Rule::uploads()
                    .reset_request_after(rng.random_range(0..largest))
                    .label("upload reset"),
                2 => Rule::post_upload()
                    .status(server_error(rng))
                    .label("upload start 5xx"),
                3 => Rule::patch_upload()
                    .status(server_error(rng))
                    .label("upload chunk 5xx"),
                4 => Rule::put_upload()
                    .status(server_error(rng))
                    .label("upload end 5xx"),
                5 => Rule::head_blob()
                    .status(server_error(rng))
                    .label("blob check 5xx"),
                6 => Rule::put_manifest()
                    .status(server_error(rng))
                    .label("manifest put 5xx"),
                7 => too_many(rng, Rule::post_upload()),
                8 => too_many(rng, Rule::put_manifest()),
                9 => Rule::any().delay(delay(rng)).label("delay"),
                _ if rng.random_bool(0.4) => Rule::head_blob()
                    .delay(Duration::from_secs(75))
                    .label("blob check stalled"),
                _ => Rule::uploads().delay(delay(rng)).label("upload delay"),
            };
            rule.times(times)
        })
        .collect()
}

fn server_error(rng: &mut StdRng) -> u16 {
    [500, 502, 503, 504][rng.random_range(0..4)]
}

fn delay(rng: &mut StdRng) -> Duration {
    Duration::from_millis(rng.random_range(100..2500))
}

/// 429 with `Retry-After` in seconds or as an HTTP-date, one to three seconds ahead.
fn too_many(rng: &mut StdRng, rule: Rule) -> Rule {
    let secs = rng.random_range(1..=3);
    if rng.random_bool(0.5) {
        rule.status(429)
            .retry_after(secs)
            .label("429 Retry-After seconds")
    } else {
        let at = SystemTime::now() + Duration::from_secs(secs);
        rule.status(429)
            .header("Retry-After", &http_date(at))
            .label("429 Retry-After date")
    }
}

/// RFC 9110 §5.6.7 IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let rest = secs % 86_400;
    let (year, month, day) = civil_from_days(days as i64);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
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
    fn http_dates_are_imf_fixdates() {
        let at = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(http_date(at), "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}
