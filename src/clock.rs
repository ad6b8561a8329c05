//! The one place that handles time: the clock offset learned from servers,
//! deadlines, and every date format the wire needs.
//!
//! Edge devices often boot with the clock at 1970, and the services refuse
//! a request signed more than 15 minutes off: the client learns the offset
//! from the server's `Date` header and keeps it. Calendar arithmetic comes
//! from the `time` crate; the formats signed on every request are written
//! digit by digit from its calendar fields (no format machinery per call).
//!
//! Formats: RPC `Timestamp` and credential `Expiration` (ISO 8601 UTC,
//! `2024-01-02T03:04:05Z`), HTTP `Date` (IMF-fixdate,
//! `Tue, 02 Jan 2024 03:04:05 GMT`), and OSS V4's `x-oss-date`
//! (`20240102T030405Z`, whose first eight characters are the scope date).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ::time::format_description::well_known::Rfc3339;
use ::time::{OffsetDateTime, PrimitiveDateTime};

/// A `Date` further than this from the (corrected) local clock resets the
/// offset, even on a successful answer.
pub(crate) const SKEW_THRESHOLD_SECS: i64 = 5 * 60;

/// A `Date` before this is absurd (earlier than this release) and ignored:
/// 2026-11-01T00:00:00Z.
pub(crate) const EARLIEST_PLAUSIBLE_UNIX: i64 = 1_793_491_200;

/// Nor is a `Date` believed more than this far past the earliest plausible one (100 years).
const LATEST_PLAUSIBLE_SPAN_SECS: i64 = 100 * 365 * 24 * 3600;

/// Server time minus local time, in whole seconds, shared by a client's clones.
///
/// Learned only from answers that can be trusted for it (the callers
/// decide: ENS answers, and an OSS answer that refused a request for skew).
/// A first offset is taken at once (a device that booted at 1970 needs it
/// for its very first call); once an answer has confirmed the offset in
/// use, a `Date` far from it is only a candidate until a second answer
/// agrees with it, or a server refuses a request's timestamp.
#[derive(Debug, Default)]
pub(crate) struct ClockOffset {
    offset: AtomicI64,
    /// Whether an answer agreed with the offset in use.
    confirmed: AtomicBool,
    /// A far-off offset seen once while a confirmed one is in use.
    candidate: Mutex<Option<i64>>,
}

impl ClockOffset {
    pub(crate) fn get(&self) -> i64 {
        self.offset.load(Ordering::Relaxed)
    }

    /// Learns from a server `Date`; `refused` says the server refused the
    /// request's time, which proves the offset in use wrong. Returns true
    /// when the offset changed. An absent, unparseable or absurd `Date`
    /// changes nothing.
    pub(crate) fn observe(&self, date_header: Option<&str>, refused: bool) -> bool {
        let Some(server) = date_header.and_then(parse_http_date) else {
            return false;
        };
        if !(EARLIEST_PLAUSIBLE_UNIX..EARLIEST_PLAUSIBLE_UNIX + LATEST_PLAUSIBLE_SPAN_SECS)
            .contains(&server)
        {
            return false;
        }
        let seen = server - unix_now();
        if (seen - self.get()).abs() <= SKEW_THRESHOLD_SECS {
            if !self.confirmed.load(Ordering::Relaxed) {
                self.confirmed.store(true, Ordering::Relaxed);
            }
            return false;
        }
        let adopt = {
            let mut candidate = self.candidate.lock().unwrap_or_else(|p| p.into_inner());
            let agreed = candidate.is_some_and(|c| (c - seen).abs() <= SKEW_THRESHOLD_SECS);
            if refused || agreed || !self.confirmed.load(Ordering::Relaxed) {
                *candidate = None;
                true
            } else {
                *candidate = Some(seen);
                false
            }
        };
        if !adopt {
            log::info!(
                "a server Date is {seen:+} s from this machine's clock, unlike the confirmed offset of {:+} s; kept until another answer agrees",
                self.get()
            );
            return false;
        }
        self.offset.store(seen, Ordering::Relaxed);
        // Confirmed by a refusal, or by two answers; a first guess is not.
        self.confirmed.store(refused, Ordering::Relaxed);
        log::info!("learned the server clock offset from its Date header: {seen:+} s");
        true
    }

    /// The corrected clock: local Unix seconds plus the learned offset.
    pub(crate) fn now(&self) -> i64 {
        unix_now().saturating_add(self.get())
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

/// The calendar time of Unix seconds, clamped to the years the `time` crate
/// holds (-9999 to 9999): no clock, however wrong, makes formatting fail.
fn utc(unix: i64) -> OffsetDateTime {
    let min = PrimitiveDateTime::MIN.assume_utc();
    let max = PrimitiveDateTime::MAX.assume_utc();
    let unix = unix.clamp(min.unix_timestamp(), max.unix_timestamp());
    OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Appends `n` as `width` zero-padded digits (years outside 0..=9999 get a sign).
fn push_digits(out: &mut String, n: i32, width: usize) {
    use std::fmt::Write;
    if (0..10_000).contains(&n) {
        let mut div = 10i32.pow(width as u32 - 1);
        while div > 0 {
            out.push(char::from(b'0' + (n / div % 10) as u8));
            div /= 10;
        }
    } else {
        let _ = write!(out, "{n:+05}");
    }
}

/// `YYYY-MM-DDThh:mm:ssZ`, the RPC `Timestamp` format.
pub(crate) fn format_iso8601(unix: i64) -> String {
    let t = utc(unix);
    let mut out = String::with_capacity(20);
    push_digits(&mut out, t.year(), 4);
    for (sep, n) in [
        ('-', u8::from(t.month())),
        ('-', t.day()),
        ('T', t.hour()),
        (':', t.minute()),
        (':', t.second()),
    ] {
        out.push(sep);
        push_digits(&mut out, i32::from(n), 2);
    }
    out.push('Z');
    out
}

/// `YYYYMMDDThhmmssZ`, OSS signature V4's `x-oss-date` (its first eight
/// characters are the credential scope's date).
#[allow(dead_code)] // OSS V4 signing uses it next.
pub(crate) fn format_compact_iso8601(unix: i64) -> String {
    let t = utc(unix);
    let mut out = String::with_capacity(16);
    push_digits(&mut out, t.year(), 4);
    push_digits(&mut out, i32::from(u8::from(t.month())), 2);
    push_digits(&mut out, i32::from(t.day()), 2);
    out.push('T');
    for n in [t.hour(), t.minute(), t.second()] {
        push_digits(&mut out, i32::from(n), 2);
    }
    out.push('Z');
    out
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the `Date` format.
pub(crate) fn format_http_date(unix: i64) -> String {
    let t = utc(unix);
    let weekday = &t.weekday().to_string()[..3];
    let month = &t.month().to_string()[..3];
    let mut out = String::with_capacity(29);
    out.push_str(weekday);
    out.push_str(", ");
    push_digits(&mut out, i32::from(t.day()), 2);
    out.push(' ');
    out.push_str(month);
    out.push(' ');
    push_digits(&mut out, t.year(), 4);
    out.push(' ');
    for (i, n) in [t.hour(), t.minute(), t.second()].into_iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        push_digits(&mut out, i32::from(n), 2);
    }
    out.push_str(" GMT");
    out
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form RFC
/// 9110 requires of `Date`, into Unix seconds. A year outside 1 to 9999, a
/// day that does not exist or a malformed field is `None`; the weekday is
/// read but not checked against the date.
///
/// Every answer's `Date` goes through here, so the fixed layout is read by
/// position and only the calendar check and arithmetic are the `time`
/// crate's (its format-description parser cost a client call 2 µs).
pub(crate) fn parse_http_date(s: &str) -> Option<i64> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let b = s.as_bytes();
    if b.len() != 29
        || &b[3..5] != b", "
        || b[7] != b' '
        || b[11] != b' '
        || b[16] != b' '
        || b[19] != b':'
        || b[22] != b':'
        || &b[25..] != b" GMT"
        || !b[..3].iter().all(u8::is_ascii_alphabetic)
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u16> {
        b[range].iter().try_fold(0u16, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u16::from(d - b'0'))
        })
    };
    let month = MONTHS.iter().position(|m| &b[8..11] == *m)?;
    let month = ::time::Month::try_from(u8::try_from(month + 1).ok()?).ok()?;
    let year = i32::from(num(12..16)?);
    let date =
        ::time::Date::from_calendar_date(year, month, u8::try_from(num(5..7)?).ok()?).ok()?;
    let time = ::time::Time::from_hms(
        u8::try_from(num(17..19)?).ok()?,
        u8::try_from(num(20..22)?).ok()?,
        u8::try_from(num(23..25)?).ok()?,
    )
    .ok()?;
    (year >= 1).then(|| {
        PrimitiveDateTime::new(date, time)
            .assume_utc()
            .unix_timestamp()
    })
}

/// Parses `YYYY-MM-DDThh:mm:ss[.fraction]Z` (UTC only) into Unix seconds.
#[cfg_attr(not(feature = "emulator"), allow(dead_code))]
pub(crate) fn parse_iso8601_utc(s: &str) -> Option<i64> {
    if !s.ends_with('Z') {
        return None;
    }
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    Some(t.unix_timestamp())
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
        assert_eq!(format_compact_iso8601(1_714_979_289), "20240506T070809Z");
        // Clocks far off either way still format (clamped), never panic.
        for unix in [i64::MIN, i64::MAX, -62_135_596_800 - 1] {
            assert!(!format_iso8601(unix).is_empty());
            assert!(!format_http_date(unix).is_empty());
            assert!(!format_compact_iso8601(unix).is_empty());
        }
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
        let at = |secs: i64| Some(format_http_date(now + secs));
        assert!(!clock.observe(None, false));
        assert!(!clock.observe(Some("garbage"), false));
        assert!(
            !clock.observe(Some("Thu, 01 Jan 1970 00:00:00 GMT"), false),
            "before this release"
        );
        assert_eq!(clock.get(), 0);

        // A first offset is taken at once (a device booted at 1970).
        assert!(clock.observe(at(3 * 3600).as_deref(), false));
        assert!((clock.get() - 3 * 3600).abs() <= 2, "{}", clock.get());
        // A refusal proves it wrong at once.
        assert!(clock.observe(at(0).as_deref(), true));
        assert!(clock.get().abs() <= 2);
    }

    #[test]
    fn a_confirmed_offset_is_replaced_only_when_two_answers_agree() {
        let clock = ClockOffset::default();
        let now = unix_now();
        let at = |secs: i64| Some(format_http_date(now + secs));
        assert!(!clock.observe(at(30).as_deref(), false), "within threshold");
        // Confirmed at ~0: one answer from 2090 does not move it...
        let far = 64 * 365 * 86_400;
        assert!(!clock.observe(at(far).as_deref(), false));
        assert!(clock.get().abs() <= 2);
        // ...nor does a different far one...
        let other = 30 * 365 * 86_400;
        assert!(!clock.observe(at(other).as_deref(), false));
        assert!(clock.get().abs() <= 2);
        // ...but two that agree do.
        assert!(clock.observe(at(other + 10).as_deref(), false));
        assert!((clock.get() - other).abs() <= 15);
        // A refusal's Date is believed at once.
        assert!(clock.observe(at(7200).as_deref(), true));
        assert!((clock.get() - 7200).abs() <= 2);
        assert!(!clock.observe(at(-7200).as_deref(), false), "now confirmed");
    }
}
