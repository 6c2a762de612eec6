//! Calendar arithmetic in UTC without a time crate: Unix seconds to and from
//! `YYYYMMDDHHMMSS` and the parts that listings print.
//!
//! The day/civil conversions are Howard Hinnant's `days_from_civil` algorithms, which are exact
//! for the proleptic Gregorian calendar.

/// A broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

pub const MONTH_NAMES: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl CivilTime {
    pub fn from_unix(secs: i64) -> CivilTime {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        CivilTime {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
            second: (rem % 60) as u32,
        }
    }

    pub fn to_unix(self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    /// `YYYYMMDDHHMMSS`, as MDTM and the MLSx `modify` fact want (RFC 3659 2.3).
    pub fn to_ftp_timestamp(self) -> String {
        format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// Parses `YYYYMMDDHHMMSS` with an optional `.fraction` (ignored). `None` for anything that
    /// is not a real date and time.
    pub fn parse_ftp_timestamp(text: &[u8]) -> Option<CivilTime> {
        let digits = match text.iter().position(|&b| b == b'.') {
            Some(dot) if text[dot + 1..].iter().all(u8::is_ascii_digit) && dot + 1 < text.len() => {
                &text[..dot]
            }
            Some(_) => return None,
            None => text,
        };
        if digits.len() != 14 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let num = |range: std::ops::Range<usize>| {
            digits[range]
                .iter()
                .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'))
        };
        let time = CivilTime {
            year: i64::from(num(0..4)),
            month: num(4..6),
            day: num(6..8),
            hour: num(8..10),
            minute: num(10..12),
            second: num(12..14),
        };
        let valid = (1..=12).contains(&time.month)
            && time.day >= 1
            && time.day <= days_in_month(time.year, time.month)
            && time.hour < 24
            && time.minute < 60
            && time.second < 61;
        valid.then_some(time)
    }

    pub fn month_name(self) -> &'static str {
        MONTH_NAMES[(self.month as usize).saturating_sub(1) % 12]
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(CivilTime::from_unix(0).to_ftp_timestamp(), "19700101000000");
        assert_eq!(
            CivilTime::from_unix(951_782_400).to_ftp_timestamp(),
            "20000229000000"
        );
        assert_eq!(
            CivilTime::from_unix(1_700_000_000).to_ftp_timestamp(),
            "20231114221320"
        );
        assert_eq!(
            CivilTime::from_unix(-1).to_ftp_timestamp(),
            "19691231235959"
        );
    }

    #[test]
    fn round_trip_many_days() {
        for secs in (-5_000_000_000i64..5_000_000_000).step_by(86_399 * 37) {
            assert_eq!(CivilTime::from_unix(secs).to_unix(), secs);
        }
    }

    #[test]
    fn parse_timestamps() {
        let t = CivilTime::parse_ftp_timestamp(b"20231114221320").unwrap();
        assert_eq!(t.to_unix(), 1_700_000_000);
        assert!(CivilTime::parse_ftp_timestamp(b"20231114221320.123").is_some());
        for bad in [
            &b"2023111422132"[..],
            b"20231314221320",
            b"20230230000000",
            b"2023111422132x",
            b"20231114221320.",
            b"",
        ] {
            assert_eq!(CivilTime::parse_ftp_timestamp(bad), None, "{:?}", bad);
        }
    }
}
