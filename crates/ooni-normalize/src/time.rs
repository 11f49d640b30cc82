//! Measurement timestamps: `YYYY-MM-DD HH:MM:SS`, UTC, exactly as OONI's fastpath parses them.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

/// Parses OONI's `%Y-%m-%d %H:%M:%S` (no zone; UTC). Anything else is `None`, as it is for
/// OONI, whose fastpath skips measurements whose time does not parse.
pub fn parse_measurement_time(s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = &s[r];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let date = NaiveDate::from_ymd_opt(i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?)?;
    let time = NaiveTime::from_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)?;
    Some(NaiveDateTime::new(date, time))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_oonis_format_parses() {
        assert!(parse_measurement_time("2020-10-20 23:59:59").is_some());
        for bad in [
            "2020-10-20T23:59:59Z",
            "2020-10-20 24:00:00",
            "2020-02-30 00:00:00",
            "",
            "2020-10-20 1:2:3",
        ] {
            assert!(parse_measurement_time(bad).is_none(), "{bad}");
        }
    }
}
