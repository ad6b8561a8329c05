//! Time as the API needs it, and clock-skew calibration.
//!
//! Edge devices often boot with the clock at 1970, and the API refuses a
//! `Timestamp` more than 15 minutes off: the client learns the offset from
//! the server's `Date` header and keeps it. Dates are handled as Unix
//! seconds with a few lines of civil-calendar arithmetic (Howard Hinnant's
//! days-from-civil), which keeps a date crate out of the dependency tree.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A `Date` further than this from the (corrected) local clock resets the
/// offset, even on a successful answer.
pub(crate) const SKEW_THRESHOLD_SECS: i64 = 5 * 60;

/// A `Date` before this is absurd (earlier than this release) and ignored:
/// 2026-11-01T00:00:00Z.
pub(crate) const EARLIEST_PLAUSIBLE_UNIX: i64 = 1_793_491_200;

/// Nor is a `Date` believed more than this far past the earliest plausible one (100 years).
const LATEST_PLAUSIBLE_SPAN_SECS: i64 = 100 * 365 * 24 * 3600;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
#[cfg_attr(not(feature = "emulator"), allow(dead_code))]
const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

/// Server time minus local time, in whole seconds, shared by a client's clones.
#[derive(Debug, Default)]
pub(crate) struct ClockOffset(AtomicI64);

impl ClockOffset {
    pub(crate) fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Learns from a server `Date`. Returns true when the offset changed;
    /// an absent, unparseable or absurd `Date`, or one within the threshold
    /// of the corrected clock, changes nothing.
    pub(crate) fn observe(&self, date_header: Option<&str>) -> bool {
        let Some(server) = date_header.and_then(parse_http_date) else {
            return false;
        };
        if !(EARLIEST_PLAUSIBLE_UNIX..EARLIEST_PLAUSIBLE_UNIX + LATEST_PLAUSIBLE_SPAN_SECS)
            .contains(&server)
        {
            return false;
        }
        let local = unix_now();
        if (server - (local + self.get())).abs() <= SKEW_THRESHOLD_SECS {
            return false;
        }
        self.0.store(server - local, Ordering::Relaxed);
        true
    }
}

/// `now + wait`, or a time too far ahead to matter when that does not fit
/// in an `Instant` (a caller's `Duration::MAX` must not panic).
pub(crate) fn instant_after(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(now)
}

/// The local clock in Unix seconds (negative before 1970, which a device
/// with a dead RTC battery can report).
pub(crate) fn unix_now() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01: (year, month 1-12, day 1-31).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Splits Unix seconds into (days since epoch, hour, minute, second).
fn split(unix: i64) -> (i64, u32, u32, u32) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400) as u32;
    (days, secs / 3600, secs / 60 % 60, secs % 60)
}

/// `YYYY-MM-DDThh:mm:ssZ`, the RPC `Timestamp` format.
pub(crate) fn format_iso8601(unix: i64) -> String {
    let (days, h, m, s) = split(unix);
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        return format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z");
    }
    // Signed on every request: digits by hand, no formatting machinery.
    let y = year as u32;
    let digits = |n: u32| [b'0' + (n / 10) as u8, b'0' + (n % 10) as u8];
    let mut out = Vec::with_capacity(20);
    out.extend_from_slice(&digits(y / 100));
    out.extend_from_slice(&digits(y % 100));
    for (sep, n) in [(b'-', month), (b'-', day), (b'T', h), (b':', m), (b':', s)] {
        out.push(sep);
        out.extend_from_slice(&digits(n));
    }
    out.push(b'Z');
    String::from_utf8(out).expect("ASCII digits")
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the `Date` format.
#[cfg_attr(not(feature = "emulator"), allow(dead_code))]
pub(crate) fn format_http_date(unix: i64) -> String {
    let (days, h, m, s) = split(unix);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {day:02} {} {year:04} {h:02}:{m:02}:{s:02} GMT",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[month as usize - 1]
    )
}

/// Checks a date and time and turns it into Unix seconds.
fn to_unix(year: i64, month: u32, day: u32, h: u32, m: u32, s: u32) -> Option<i64> {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > days_in_month || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let secs = i64::from(h * 3600 + m * 60 + s.min(59));
    Some(days_from_civil(year, month, day) * 86_400 + secs)
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form RFC
/// 9110 requires of `Date`, into Unix seconds.
pub(crate) fn parse_http_date(s: &str) -> Option<i64> {
    let mut parts = s.split_ascii_whitespace();
    let _weekday = parts.next()?.strip_suffix(',')?;
    let day: u32 = parts.next()?.parse().ok()?;
    let month_name = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == month_name)? as u32 + 1;
    let year: i64 = parts.next()?.parse().ok()?;
    // Four digits, as IMF-fixdate has them; beyond that the civil-date
    // arithmetic could overflow, and no server's clock is there.
    if !(1..=9999).contains(&year) {
        return None;
    }
    let mut hms = parts.next()?.split(':');
    let (h, m, sec): (u32, u32, u32) = (
        hms.next()?.parse().ok()?,
        hms.next()?.parse().ok()?,
        hms.next()?.parse().ok()?,
    );
    if hms.next().is_some() || parts.next()? != "GMT" || parts.next().is_some() {
        return None;
    }
    to_unix(year, month, day, h, m, sec)
}

/// Parses `YYYY-MM-DDThh:mm:ss[.fraction]Z` into Unix seconds.
#[cfg_attr(not(feature = "emulator"), allow(dead_code))]
pub(crate) fn parse_iso8601_utc(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let rest = s.get(19..)?.strip_suffix('Z')?;
    if !rest.is_empty() {
        let frac = rest.strip_prefix('.')?;
        if frac.is_empty() || !frac.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    to_unix(
        i64::from(num(0..4)?),
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_arithmetic_round_trips() {
        for unix in [
            0,
            784_111_777,
            951_782_400, // 2000-02-29
            1_704_164_645,
            -86_400,
            4_102_444_800,   // 2100-01-01
            253_402_300_799, // 9999-12-31T23:59:59
        ] {
            let iso = format_iso8601(unix);
            assert_eq!(parse_iso8601_utc(&iso), Some(unix), "{iso}");
            let http = format_http_date(unix);
            assert_eq!(parse_http_date(&http), Some(unix), "{http}");
        }
        assert_eq!(format_iso8601(1_704_164_645), "2024-01-02T03:04:05Z");
        assert_eq!(
            format_http_date(784_111_777),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(format_iso8601(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn parses_only_well_formed_dates() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        for bad in [
            "",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 PST",
            "Sun, 31 Feb 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
            // Years the civil-date arithmetic must never see (it overflowed).
            "Sun, 06 Nov 99999999999999999 08:49:37 GMT",
            "Sun, 06 Nov -9223372036854775808 08:49:37 GMT",
            "Sun, 06 Nov 0 08:49:37 GMT",
            "Sun, 06 Nov 10000 08:49:37 GMT",
        ] {
            assert!(parse_http_date(bad).is_none(), "{bad}");
        }
        assert_eq!(
            parse_iso8601_utc("2024-01-02T03:04:05.123Z"),
            Some(1_704_164_645)
        );
        for bad in [
            "2024-01-02 03:04:05",
            "2024-01-02T03:04:05+08:00",
            "2024-13-02T03:04:05Z",
            "2023-02-29T03:04:05Z",
            "2024-01-02T03:04:05.Z",
            "+024-01-02T03:04:05Z",
        ] {
            assert!(parse_iso8601_utc(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn learns_large_offsets_and_ignores_absurd_dates() {
        let clock = ClockOffset::default();
        let now = unix_now();
        assert!(!clock.observe(None));
        assert!(!clock.observe(Some("garbage")));
        assert!(
            !clock.observe(Some("Thu, 01 Jan 1970 00:00:00 GMT")),
            "before this release"
        );
        assert!(
            !clock.observe(Some(&format_http_date(now + 30))),
            "within threshold"
        );
        assert_eq!(clock.get(), 0);

        assert!(clock.observe(Some(&format_http_date(now + 3 * 3600))));
        assert!((clock.get() - 3 * 3600).abs() <= 2, "{}", clock.get());
        // Once learned, the same server time is no news.
        assert!(!clock.observe(Some(&format_http_date(now + 3 * 3600))));
        // The local clock gets fixed: the offset follows back to ~0.
        assert!(clock.observe(Some(&format_http_date(now))));
        assert!(clock.get().abs() <= 2);
    }
}
