use chrono::{DateTime, LocalResult, NaiveDate, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// When a token stops working. Stored as UTC epoch seconds; a token whose
/// `expires_at <= now` is expired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Expiry {
    Never,
    At(i64),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpiryError {
    #[error("Enter the date as YYYY-MM-DD.")]
    BadDate,
    #[error("The expiration date must be in the future.")]
    InPast,
    #[error("The expiration time must be a whole number of seconds since 1970 (0 means never).")]
    BadEpoch,
    #[error("The expiration date must be before the year 10000.")]
    TooFar,
}

/// 9999-12-31 23:59:59 UTC: later instants cannot be shown as dates.
const LATEST: i64 = 253_402_300_799;

/// The server's idea of "now" and of its time zone: what a date typed on the
/// page means, and how times are shown.
#[derive(Clone, Copy, Debug)]
pub struct ServerClock {
    pub tz: Tz,
}

impl ServerClock {
    pub fn new(tz: Tz) -> Self {
        Self { tz }
    }

    pub fn now(&self) -> i64 {
        Utc::now().timestamp()
    }

    /// The time zone's name, as shown beside times ("UTC", "Europe/Paris").
    pub fn zone_name(&self) -> String {
        self.tz.name().to_owned()
    }

    pub fn today(&self) -> NaiveDate {
        Utc::now().with_timezone(&self.tz).date_naive()
    }

    /// Shows an instant the way WHM's table does: month, day, year, then
    /// hh:mm:ss, in server time.
    pub fn format(&self, epoch: i64) -> String {
        match DateTime::from_timestamp(epoch, 0) {
            Some(t) => t
                .with_timezone(&self.tz)
                .format("%b %-d, %Y %H:%M:%S")
                .to_string(),
            None => String::new(),
        }
    }

    pub fn date_of(&self, epoch: i64) -> String {
        DateTime::from_timestamp(epoch, 0)
            .map(|t| t.with_timezone(&self.tz).format("%Y-%m-%d").to_string())
            .unwrap_or_default()
    }

    /// The last second of `date` in server time.
    pub fn end_of_day(&self, date: NaiveDate) -> i64 {
        let last = date.and_time(NaiveTime::from_hms_opt(23, 59, 59).expect("valid time"));
        match self.tz.from_local_datetime(&last) {
            LocalResult::Single(t) => t.timestamp(),
            LocalResult::Ambiguous(_, later) => later.timestamp(),
            // 23:59:59 skipped by a clock change: read it with the offset
            // in force just before the gap.
            LocalResult::None => {
                let before = (1..=48)
                    .map(|hours| last - chrono::Duration::hours(hours))
                    .find_map(|t| self.tz.from_local_datetime(&t).earliest())
                    .map(|t| t.offset().fix())
                    .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("zero offset"));
                last.and_local_timezone(before)
                    .single()
                    .map_or(0, |t| t.timestamp())
            }
        }
    }
}

impl From<Option<i64>> for Expiry {
    /// The stored form: epoch seconds, or NULL for never.
    fn from(value: Option<i64>) -> Self {
        value.map_or(Self::Never, Self::At)
    }
}

impl Expiry {
    /// A date from the page: `YYYY-MM-DD` means 23:59:59 on that day, server
    /// time, and must still be ahead of us.
    pub fn parse_date(raw: &str, clock: &ServerClock, now: i64) -> Result<Self, ExpiryError> {
        let date =
            NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| ExpiryError::BadDate)?;
        Self::future(clock.end_of_day(date), now)
    }

    /// The API's `expires_at`: epoch seconds, 0 for never.
    pub fn parse_epoch(raw: &str, now: i64) -> Result<Self, ExpiryError> {
        let secs: i64 = raw.trim().parse().map_err(|_| ExpiryError::BadEpoch)?;
        match secs {
            0 => Ok(Self::Never),
            s if s < 0 => Err(ExpiryError::BadEpoch),
            s => Self::future(s, now),
        }
    }

    fn future(at: i64, now: i64) -> Result<Self, ExpiryError> {
        if at > LATEST {
            Err(ExpiryError::TooFar)
        } else if at <= now {
            Err(ExpiryError::InPast)
        } else {
            Ok(Self::At(at))
        }
    }

    pub fn to_column(self) -> Option<i64> {
        match self {
            Self::Never => None,
            Self::At(t) => Some(t),
        }
    }

    pub fn is_expired(self, now: i64) -> bool {
        matches!(self, Self::At(t) if t <= now)
    }

    /// Under 24 hours left, but not yet expired: the yellow row.
    pub fn expires_soon(self, now: i64) -> bool {
        matches!(self, Self::At(t) if t > now && t - now < 24 * 3600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> ServerClock {
        ServerClock::new(chrono_tz::UTC)
    }

    #[test]
    fn a_date_means_the_last_second_of_that_day_in_server_time() {
        let now = 1_700_000_000; // 2023-11-14
        assert_eq!(
            Expiry::parse_date("2030-01-02", &utc(), now),
            Ok(Expiry::At(1_893_628_799))
        );
        let tokyo = ServerClock::new(chrono_tz::Asia::Tokyo);
        assert_eq!(
            Expiry::parse_date("2030-01-02", &tokyo, now),
            Ok(Expiry::At(1_893_628_799 - 9 * 3600))
        );
    }

    #[test]
    fn today_is_still_allowed_until_its_last_second() {
        let clock = utc();
        let now = clock.end_of_day(NaiveDate::from_ymd_opt(2030, 1, 2).unwrap()) - 10;
        assert!(Expiry::parse_date("2030-01-02", &clock, now).is_ok());
        assert_eq!(
            Expiry::parse_date("2030-01-02", &clock, now + 10),
            Err(ExpiryError::InPast)
        );
    }

    #[test]
    fn rejects_bad_dates_with_a_reason() {
        let now = 1_700_000_000;
        for (raw, expected) in [
            ("", ExpiryError::BadDate),
            ("2030-13-01", ExpiryError::BadDate),
            ("01/02/2030", ExpiryError::BadDate),
            ("2030-02-30", ExpiryError::BadDate),
            ("2020-01-01", ExpiryError::InPast),
        ] {
            assert_eq!(
                Expiry::parse_date(raw, &utc(), now),
                Err(expected),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn epoch_zero_means_never_and_the_past_is_refused() {
        let now = 1_700_000_000;
        assert_eq!(Expiry::parse_epoch("0", now), Ok(Expiry::Never));
        assert_eq!(
            Expiry::parse_epoch("1700000001", now),
            Ok(Expiry::At(1_700_000_001))
        );
        for (raw, expected) in [
            ("1700000000", ExpiryError::InPast),
            ("12", ExpiryError::InPast),
            ("-5", ExpiryError::BadEpoch),
            ("soon", ExpiryError::BadEpoch),
            ("1.5", ExpiryError::BadEpoch),
            ("253402300800", ExpiryError::TooFar),
        ] {
            assert_eq!(Expiry::parse_epoch(raw, now), Err(expected), "{raw:?}");
        }
    }

    #[test]
    fn expired_at_or_before_now_and_soon_under_a_day() {
        let now = 1_000_000;
        assert!(Expiry::At(now).is_expired(now));
        assert!(!Expiry::At(now + 1).is_expired(now));
        assert!(!Expiry::Never.is_expired(now));
        assert!(Expiry::At(now + 1).expires_soon(now));
        assert!(Expiry::At(now + 86_399).expires_soon(now));
        assert!(!Expiry::At(now + 86_400).expires_soon(now));
        assert!(!Expiry::At(now).expires_soon(now));
    }

    #[test]
    fn a_date_whose_last_second_a_clock_change_skips_uses_the_offset_before() {
        // Samoa skipped 2011-12-30 entirely (UTC-10 to UTC+14).
        let apia = ServerClock::new(chrono_tz::Pacific::Apia);
        let end = apia.end_of_day(NaiveDate::from_ymd_opt(2011, 12, 30).unwrap());
        // 2011-12-30 23:59:59 at UTC-10 is 2011-12-31 09:59:59 UTC.
        assert_eq!(end, 1_325_325_599);
    }

    #[test]
    fn formats_like_whm_month_day_year_then_time() {
        assert_eq!(utc().format(1_893_628_799), "Jan 2, 2030 23:59:59");
    }
}
