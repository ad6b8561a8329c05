//! Clock-skew calibration: edge devices often boot with the clock at 1970,
//! and the API refuses a `Timestamp` more than 15 minutes off. The client
//! learns the offset from the server's `Date` header and keeps it.

use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;

/// A `Date` further than this from the (corrected) local clock resets the
/// offset, even on a successful answer.
pub(crate) const SKEW_THRESHOLD_SECS: i64 = 5 * 60;

/// A `Date` before this is absurd (earlier than this release) and ignored:
/// 2026-11-01T00:00:00Z.
pub(crate) const EARLIEST_PLAUSIBLE_UNIX: i64 = 1_793_491_200;

/// Nor is a `Date` believed more than this far past the earliest plausible one (100 years).
const LATEST_PLAUSIBLE_SPAN_SECS: i64 = 100 * 365 * 24 * 3600;

/// Server time minus local time, in whole seconds, shared by a client's clones.
#[derive(Debug, Default)]
pub(crate) struct ClockOffset(AtomicI64);

impl ClockOffset {
    pub(crate) fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    /// The local time corrected by the offset: what the server thinks it is.
    pub(crate) fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + time::Duration::seconds(self.get())
    }

    /// Learns from a server `Date`. Returns true when the offset changed;
    /// an absent, unparseable or absurd `Date`, or one within the threshold
    /// of the corrected clock, changes nothing.
    pub(crate) fn observe(&self, date_header: Option<&str>) -> bool {
        let Some(server) = date_header.and_then(parse_http_date) else {
            return false;
        };
        let server_unix = server.unix_timestamp();
        if !(EARLIEST_PLAUSIBLE_UNIX..EARLIEST_PLAUSIBLE_UNIX + LATEST_PLAUSIBLE_SPAN_SECS)
            .contains(&server_unix)
        {
            return false;
        }
        let local = OffsetDateTime::now_utc().unix_timestamp();
        let corrected = local + self.get();
        if (server_unix - corrected).abs() <= SKEW_THRESHOLD_SECS {
            return false;
        }
        self.0.store(server_unix - local, Ordering::Relaxed);
        true
    }
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form RFC
/// 9110 requires of `Date`.
pub(crate) fn parse_http_date(s: &str) -> Option<OffsetDateTime> {
    let mut parts = s.split_ascii_whitespace();
    let _weekday = parts.next()?.strip_suffix(',')?;
    let day: u8 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => time::Month::January,
        "Feb" => time::Month::February,
        "Mar" => time::Month::March,
        "Apr" => time::Month::April,
        "May" => time::Month::May,
        "Jun" => time::Month::June,
        "Jul" => time::Month::July,
        "Aug" => time::Month::August,
        "Sep" => time::Month::September,
        "Oct" => time::Month::October,
        "Nov" => time::Month::November,
        "Dec" => time::Month::December,
        _ => return None,
    };
    let year: i32 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let (h, m, sec): (u8, u8, u8) = (
        hms.next()?.parse().ok()?,
        hms.next()?.parse().ok()?,
        hms.next()?.parse().ok()?,
    );
    if hms.next().is_some() || parts.next()? != "GMT" || parts.next().is_some() {
        return None;
    }
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let t = time::Time::from_hms(h, m, sec).ok()?;
    Some(time::PrimitiveDateTime::new(date, t).assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http_date(t: OffsetDateTime) -> String {
        const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        format!(
            "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
            DAYS[t.weekday().number_days_from_monday() as usize],
            t.day(),
            MONTHS[u8::from(t.month()) as usize - 1],
            t.year(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }

    #[test]
    fn parses_imf_fixdate_only() {
        let t = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(t.unix_timestamp(), 784_111_777);
        for bad in [
            "",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 PST",
            "Sun, 31 Feb 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
        ] {
            assert!(parse_http_date(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn learns_large_offsets_and_ignores_absurd_dates() {
        let clock = ClockOffset::default();
        let now = OffsetDateTime::now_utc();
        assert!(!clock.observe(None));
        assert!(!clock.observe(Some("garbage")));
        assert!(
            !clock.observe(Some("Thu, 01 Jan 1970 00:00:00 GMT")),
            "before this release"
        );
        assert!(
            !clock.observe(Some(&http_date(now + time::Duration::seconds(30)))),
            "within threshold"
        );
        assert_eq!(clock.get(), 0);

        assert!(clock.observe(Some(&http_date(now + time::Duration::hours(3)))));
        assert!((clock.get() - 3 * 3600).abs() <= 2, "{}", clock.get());
        // Once learned, the same server time is no news.
        assert!(!clock.observe(Some(&http_date(now + time::Duration::hours(3)))));
        // The local clock gets fixed: the offset follows back to ~0.
        assert!(clock.observe(Some(&http_date(now))));
        assert!(clock.get().abs() <= 2);
    }
}
