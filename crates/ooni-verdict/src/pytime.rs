//! The two `datetime.strptime` formats fastpath uses, with CPython's `_strptime`
//! leniency (one-digit fields, `\s+` for the space) and `datetime` validation.

use std::sync::OnceLock;

use regex::Regex;

/// A naive UTC timestamp, in microseconds since 1970-01-01 00:00:00.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Timestamp(pub i64);

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

impl Timestamp {
    /// `datetime(y, m, d, H, M, S, us)`, validated like Python (`None` on `ValueError`).
    pub(crate) fn from_parts(
        y: i64,
        mo: i64,
        d: i64,
        h: i64,
        mi: i64,
        s: i64,
        us: i64,
    ) -> Option<Self> {
        if !(1..=9999).contains(&y)
            || !(1..=12).contains(&mo)
            || d < 1
            || d > days_in_month(y, mo)
            || !(0..=23).contains(&h)
            || !(0..=59).contains(&mi)
            || !(0..=59).contains(&s)
        {
            return None;
        }
        let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s;
        Some(Timestamp(secs * 1_000_000 + us))
    }
}

// CPython `_strptime` regexes: %Y=\d\d\d\d %m=1[0-2]|0[1-9]|[1-9]
// %d=3[01]|[12]\d|0[1-9]|[1-9]| [1-9] %H=2[0-3]|[0-1]\d|\d %M=[0-5]\d|\d
// %S=6[0-1]|[0-5]\d|\d %f=[0-9]{1,6}; whitespace in the format becomes \s+.
const Y: &str = r"([0-9]{4})";
const M: &str = r"(1[0-2]|0[1-9]|[1-9])";
const D: &str = r"(3[01]|[12][0-9]|0[1-9]|[1-9]| [1-9])";
const HH: &str = r"(2[0-3]|[0-1][0-9]|[0-9])";
const MI: &str = r"([0-5][0-9]|[0-9])";
const S: &str = r"(6[0-1]|[0-5][0-9]|[0-9])";

fn mst_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let pat = format!(r"^{Y}-{M}-{D}\s+{HH}:{MI}:{S}$");
        Regex::new(&pat).expect("static regex compiles")
    })
}

fn uid_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let pat = format!(r"^{Y}{M}{D}{HH}{MI}{S}\.([0-9]{{1,6}})_$");
        Regex::new(&pat).expect("static regex compiles")
    })
}

fn num(caps: &regex::Captures<'_>, i: usize) -> Option<i64> {
    caps.get(i)?.as_str().trim().parse().ok()
}

/// `datetime.strptime(s, "%Y-%m-%d %H:%M:%S")`.
pub(crate) fn parse_start_time(s: &str) -> Option<Timestamp> {
    let c = mst_regex().captures(s)?;
    Timestamp::from_parts(
        num(&c, 1)?,
        num(&c, 2)?,
        num(&c, 3)?,
        num(&c, 4)?,
        num(&c, 5)?,
        num(&c, 6)?,
        0,
    )
}

/// `datetime.strptime(uid[:22], "%Y%m%d%H%M%S.%f_")`: the receive time in a measurement uid.
pub(crate) fn parse_uid_time(uid: &str) -> Option<Timestamp> {
    let end = uid.char_indices().nth(22).map_or(uid.len(), |(i, _)| i);
    let c = uid_regex().captures(&uid[..end])?;
    let frac = c.get(7)?.as_str();
    let mut us: i64 = frac.parse().ok()?;
    for _ in frac.len()..6 {
        us *= 10;
    }
    Timestamp::from_parts(
        num(&c, 1)?,
        num(&c, 2)?,
        num(&c, 3)?,
        num(&c, 4)?,
        num(&c, 5)?,
        num(&c, 6)?,
        us,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn start_time_formats() {
        let t = parse_start_time("2022-11-10 11:11:04").unwrap();
        assert_eq!(
            t,
            Timestamp::from_parts(2022, 11, 10, 11, 11, 4, 0).unwrap()
        );
        // Python accepts one-digit fields and any run of whitespace.
        assert_eq!(
            parse_start_time("2022-1-2  3:4:5"),
            Timestamp::from_parts(2022, 1, 2, 3, 4, 5, 0)
        );
        assert_eq!(parse_start_time("2022-02-30 00:00:00"), None);
        assert_eq!(parse_start_time("2022-01-01 00:00:60"), None);
        assert_eq!(parse_start_time("2022-01-01T00:00:00Z"), None);
        assert_eq!(parse_start_time(""), None);
    }

    #[test]
    fn epoch_arithmetic() {
        assert_eq!(
            Timestamp::from_parts(1970, 1, 1, 0, 0, 0, 0),
            Some(Timestamp(0))
        );
        assert_eq!(
            Timestamp::from_parts(2000, 3, 1, 0, 0, 0, 0),
            Some(Timestamp(951_868_800 * 1_000_000))
        );
    }

    #[test]
    fn uid_receive_time() {
        let t = parse_uid_time("20221110111106.870773_US_dash_2d879e766e4a5bde").unwrap();
        assert_eq!(
            t,
            Timestamp::from_parts(2022, 11, 10, 11, 11, 6, 870_773).unwrap()
        );
        assert_eq!(
            parse_uid_time("01202003044cadd4e9b30806be0e72a6e05e161a"),
            None
        );
        // Anything between %f's digits and the '_' is "unconverted data".
        assert_eq!(parse_uid_time("20221110111106.87_US"), None);
        // Short fractions are right-padded like %f.
        let t = parse_uid_time("20221110111106.87_").unwrap();
        assert_eq!(
            t,
            Timestamp::from_parts(2022, 11, 10, 11, 11, 6, 870_000).unwrap()
        );
    }
}
