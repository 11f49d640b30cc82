//! The one timestamp parser: the two `datetime.strptime` formats OONI's fastpath uses,
//! with CPython `_strptime`'s leniency, and chrono for the calendar.
//!
//! CPython turns a `strptime` format into a regular expression (`_strptime.TimeRE`): `%Y`
//! is four digits, but `%m`, `%d`, `%H`, `%M` and `%S` also accept one digit (`%d` even a
//! space and a digit), and whitespace in the format matches any run of whitespace. The
//! fields are then checked by `datetime(...)`: a real date, hours 0–23, minutes and seconds
//! 0–59, years 1–9999. [`parse_start_time`] and [`parse_uid_time`] do the same with a small
//! backtracking matcher (the alternatives are tried in CPython's order) and
//! [`chrono::NaiveDate`] / [`chrono::NaiveTime`] for the validation; the shapes OONI
//! writes (every field at full width) skip the matcher, whose answer there is fixed.
//!
//! Not reproduced: CPython's `\d` also matches non-ASCII decimal digits (`٢٠٢٢`); these
//! parsers take ASCII digits only.

use std::sync::LazyLock;

use chrono::format::{Item, StrftimeItems};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

/// One character class of a field's alternative.
#[derive(Debug, Clone, Copy)]
enum Class {
    /// `[lo-hi]` (ASCII).
    Range(u8, u8),
    /// One literal byte.
    Byte(u8),
}

use Class::{Byte, Range};

const DIGIT: Class = Range(b'0', b'9');

/// A token of a format's pattern.
#[derive(Debug, Clone, Copy)]
enum Tok {
    /// A numeric field: its alternatives, in CPython's order; the match is captured.
    Field(&'static [&'static [Class]]),
    /// A literal byte.
    Lit(u8),
    /// `\s+`.
    Space,
}

// CPython `_strptime.TimeRE`: %Y=\d\d\d\d %m=1[0-2]|0[1-9]|[1-9]
// %d=3[01]|[12]\d|0[1-9]|[1-9]| [1-9] %H=2[0-3]|[0-1]\d|\d %M=[0-5]\d|\d
// %S=6[0-1]|[0-5]\d|\d %f=[0-9]{1,6}.
const YEAR: Tok = Tok::Field(&[&[DIGIT, DIGIT, DIGIT, DIGIT]]);
const MONTH: Tok = Tok::Field(&[
    &[Byte(b'1'), Range(b'0', b'2')],
    &[Byte(b'0'), Range(b'1', b'9')],
    &[Range(b'1', b'9')],
]);
const DAY: Tok = Tok::Field(&[
    &[Byte(b'3'), Range(b'0', b'1')],
    &[Range(b'1', b'2'), DIGIT],
    &[Byte(b'0'), Range(b'1', b'9')],
    &[Range(b'1', b'9')],
    &[Byte(b' '), Range(b'1', b'9')],
]);
const HOUR: Tok = Tok::Field(&[
    &[Byte(b'2'), Range(b'0', b'3')],
    &[Range(b'0', b'1'), DIGIT],
    &[DIGIT],
]);
const MINUTE: Tok = Tok::Field(&[&[Range(b'0', b'5'), DIGIT], &[DIGIT]]);
const SECOND: Tok = Tok::Field(&[
    &[Byte(b'6'), Range(b'0', b'1')],
    &[Range(b'0', b'5'), DIGIT],
    &[DIGIT],
]);
/// `%f`: one to six digits, greedy.
const FRACTION: Tok = Tok::Field(&[
    &[DIGIT, DIGIT, DIGIT, DIGIT, DIGIT, DIGIT],
    &[DIGIT, DIGIT, DIGIT, DIGIT, DIGIT],
    &[DIGIT, DIGIT, DIGIT, DIGIT],
    &[DIGIT, DIGIT, DIGIT],
    &[DIGIT, DIGIT],
    &[DIGIT],
]);

/// `%Y-%m-%d %H:%M:%S`.
const START_TIME: &[Tok] = &[
    YEAR,
    Tok::Lit(b'-'),
    MONTH,
    Tok::Lit(b'-'),
    DAY,
    Tok::Space,
    HOUR,
    Tok::Lit(b':'),
    MINUTE,
    Tok::Lit(b':'),
    SECOND,
];

/// `%Y%m%d%H%M%S.%f_`.
const UID_TIME: &[Tok] = &[
    YEAR,
    MONTH,
    DAY,
    HOUR,
    MINUTE,
    SECOND,
    Tok::Lit(b'.'),
    FRACTION,
    Tok::Lit(b'_'),
];

/// The captured fields of a match, as byte ranges of the input.
type Captures = [(usize, usize); 7];

/// Whether `toks` match `s` from `pos` to its end, trying alternatives in order and
/// backtracking; the fields' spans go to `caps` from index `field`.
fn matches(s: &str, toks: &[Tok], pos: usize, caps: &mut Captures, field: usize) -> bool {
    let Some((tok, rest)) = toks.split_first() else {
        return pos == s.len();
    };
    let bytes = s.as_bytes();
    match *tok {
        Tok::Lit(b) => bytes.get(pos) == Some(&b) && matches(s, rest, pos + 1, caps, field),
        Tok::Space => {
            // Greedy `\s+`: the longest run first, then shorter ones.
            let run = s[pos..]
                .find(|c: char| !c.is_whitespace())
                .unwrap_or(s.len() - pos);
            (pos + 1..=pos + run)
                .rev()
                .filter(|&end| s.is_char_boundary(end))
                .any(|end| matches(s, rest, end, caps, field))
        }
        Tok::Field(alternatives) => alternatives.iter().any(|alt| {
            let end = pos + alt.len();
            let fits = bytes.get(pos..end).is_some_and(|b| {
                b.iter().zip(alt.iter()).all(|(&c, class)| match *class {
                    Range(lo, hi) => (lo..=hi).contains(&c),
                    Byte(x) => c == x,
                })
            });
            if fits && field < caps.len() {
                caps[field] = (pos, end);
                matches(s, rest, end, caps, field + 1)
            } else {
                false
            }
        }),
    }
}

/// `datetime(y, m, d, H, M, S, us)`: `None` where Python raises `ValueError`.
fn datetime(fields: [u32; 7]) -> Option<NaiveDateTime> {
    let [y, mo, d, h, mi, s, us] = fields;
    if !(1..=9999).contains(&y) {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, mo, d)?;
    let time = NaiveTime::from_hms_micro_opt(h, mi, s, us)?;
    Some(NaiveDateTime::new(date, time))
}

/// The number in a captured field (the day's `" 5"` included).
fn number(s: &str, (start, end): (usize, usize)) -> Option<u32> {
    s.get(start..end)?.trim().parse().ok()
}

/// `datetime.strptime(s, "%Y-%m-%d %H:%M:%S")`, UTC, as OONI's fastpath parses a
/// measurement's `measurement_start_time` and `test_start_time`.
///
/// ```
/// use ooni_model::parse_start_time;
///
/// let t = parse_start_time("2020-10-20 7:05:00").unwrap();
/// assert_eq!(t.to_string(), "2020-10-20 07:05:00");
/// assert!(parse_start_time("2020-10-20T07:05:00Z").is_none());
/// ```
pub fn parse_start_time(s: &str) -> Option<NaiveDateTime> {
    match canonical_start_time(s.as_bytes()) {
        Some(fields) => datetime(fields),
        None => strptime_start_time(s),
    }
}

/// [`parse_start_time`] through the backtracking matcher, for every shape.
fn strptime_start_time(s: &str) -> Option<NaiveDateTime> {
    let mut caps = Captures::default();
    if !matches(s, START_TIME, 0, &mut caps, 0) {
        return None;
    }
    let mut fields = [0u32; 7];
    for (value, &span) in fields.iter_mut().zip(&caps[..6]) {
        *value = number(s, span)?;
    }
    datetime(fields)
}

/// `datetime.strptime(uid[:22], "%Y%m%d%H%M%S.%f_")`: the receive time OONI writes at the
/// start of a postcan measurement uid (`20221110111106.870773_US_dash_…`).
pub fn parse_uid_time(uid: &str) -> Option<NaiveDateTime> {
    match canonical_uid_time(uid.as_bytes()) {
        Some(fields) => datetime(fields),
        None => strptime_uid_time(uid),
    }
}

/// [`parse_uid_time`] through the backtracking matcher, for every shape.
fn strptime_uid_time(uid: &str) -> Option<NaiveDateTime> {
    let end = uid.char_indices().nth(22).map_or(uid.len(), |(i, _)| i);
    let s = &uid[..end];
    let mut caps = Captures::default();
    if !matches(s, UID_TIME, 0, &mut caps, 0) {
        return None;
    }
    let mut fields = [0u32; 7];
    for (value, &span) in fields.iter_mut().zip(&caps[..6]) {
        *value = number(s, span)?;
    }
    // %f is right-padded to microseconds.
    let (start, end) = caps[6];
    let mut us = number(s, caps[6])?;
    for _ in (end - start)..6 {
        us *= 10;
    }
    fields[6] = us;
    datetime(fields)
}

// The shapes OONI writes, read without the matcher (most of its cost per record). In
// them every field is two digits (four for the year) between fixed separators, so the
// pattern can match them only one way, and a two-digit value outside a field's pattern
// (month 13, hour 24, second 62) is outside `datetime`'s range too: reading the digits
// and calling `datetime` gives what the matcher gives. Any other shape goes to the
// matcher.

/// The value of the ASCII digits `b[at..at + n]`.
fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    b.get(at..at + n)?.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// The fields of `%Y %m %d %H %M %S`: a four-digit year at `at[0]`, then two digits at
/// each of `at[1]`…`at[5]`.
fn fixed_width_fields(b: &[u8], at: [usize; 6]) -> Option<[u32; 7]> {
    let year = digits(b, at[0], 4)?;
    let [mo, d, h, mi, s] = [at[1], at[2], at[3], at[4], at[5]].map(|i| digits(b, i, 2));
    Some([year, mo?, d?, h?, mi?, s?, 0])
}

/// `YYYY-MM-DD HH:MM:SS` exactly.
fn canonical_start_time(b: &[u8]) -> Option<[u32; 7]> {
    let separators = [(4, b'-'), (7, b'-'), (10, b' '), (13, b':'), (16, b':')];
    if b.len() != 19 || separators.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    fixed_width_fields(b, [0, 5, 8, 11, 14, 17])
}

/// `YYYYmmddHHMMSS.ffffff_` at the start of a uid.
fn canonical_uid_time(b: &[u8]) -> Option<[u32; 7]> {
    if b.len() < 22 || b[14] != b'.' || b[21] != b'_' {
        return None;
    }
    let mut fields = fixed_width_fields(b, [0, 4, 6, 8, 10, 12])?;
    fields[6] = digits(b, 15, 6)?;
    Some(fields)
}

/// `YYYY-MM-DD HH:MM:SS`: how OONI writes a start time, and how this crate writes the
/// start time it read (whatever leniency the parse used).
pub fn format_start_time(t: &NaiveDateTime) -> String {
    // Parsed once: chrono's `format` parses its pattern on every call (≈0.5% of the job).
    static START_TIME_ITEMS: LazyLock<Vec<Item<'static>>> = LazyLock::new(|| {
        StrftimeItems::new("%Y-%m-%d %H:%M:%S")
            .parse_to_owned()
            .unwrap_or_default()
    });
    t.format_with_items(START_TIME_ITEMS.iter()).to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, us: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_micro_opt(h, mi, s, us)
            .unwrap()
    }

    #[test]
    fn oonis_own_format() {
        assert_eq!(
            parse_start_time("2022-11-10 11:11:04"),
            Some(at(2022, 11, 10, 11, 11, 4, 0))
        );
        assert_eq!(
            parse_start_time("2020-10-20 23:59:59"),
            Some(at(2020, 10, 20, 23, 59, 59, 0))
        );
    }

    /// fastpath: `datetime.strptime("2022-1-2  3:4:5", "%Y-%m-%d %H:%M:%S")` is
    /// `datetime(2022, 1, 2, 3, 4, 5)`: one-digit fields, `\s+` for the space.
    #[test]
    fn cpython_one_digit_fields_and_whitespace_runs() {
        assert_eq!(
            parse_start_time("2022-1-2  3:4:5"),
            Some(at(2022, 1, 2, 3, 4, 5, 0))
        );
        assert_eq!(
            parse_start_time("2020-10-20 1:15:00"),
            Some(at(2020, 10, 20, 1, 15, 0, 0))
        );
        // %d also accepts a space and a digit; a tab is whitespace.
        assert_eq!(
            parse_start_time("2020-10- 5\t01:02:03"),
            Some(at(2020, 10, 5, 1, 2, 3, 0))
        );
    }

    /// What `strptime` or `datetime()` rejects (`ValueError` in fastpath).
    #[test]
    fn what_python_rejects() {
        for bad in [
            "2022-02-30 00:00:00",
            "2022-01-01 00:00:60",
            "2022-01-01 00:00:61",
            "2022-01-01 24:00:00",
            "2022-13-01 00:00:00",
            "0000-01-01 00:00:00",
            "2022-01-01T00:00:00Z",
            "2022-01-01 00:00:00 ",
            "2022-01-01 00:00:000",
            "22-01-01 00:00:00",
            "2022-01-0100:00:00",
            "",
        ] {
            assert_eq!(parse_start_time(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn uid_receive_time() {
        assert_eq!(
            parse_uid_time("20221110111106.870773_US_dash_2d879e766e4a5bde"),
            Some(at(2022, 11, 10, 11, 11, 6, 870_773))
        );
        assert_eq!(
            parse_uid_time("01202003044cadd4e9b30806be0e72a6e05e161a"),
            None
        );
        // Anything between %f's digits and the '_' is "unconverted data".
        assert_eq!(parse_uid_time("20221110111106.87_US"), None);
        // Short fractions are right-padded like %f.
        assert_eq!(
            parse_uid_time("20221110111106.87_"),
            Some(at(2022, 11, 10, 11, 11, 6, 870_000))
        );
    }

    /// The shortcut for the canonical shapes reads what the matcher reads: random field
    /// values (in and out of the pattern's and the calendar's ranges), each string also
    /// with one byte changed and cut short.
    #[test]
    fn the_canonical_shapes_read_as_the_matcher_reads_them() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        const BYTES: &[u8] = b"0123456789 \t-:._xZ";
        let mut fast_paths = 0;
        for _ in 0..200_000 {
            // Each field in its range half the time, anything of its width otherwise.
            let mut field = |lo: u64, hi: u64, width: u64| {
                if next(2) == 0 {
                    lo + next(hi - lo + 1)
                } else {
                    next(10u64.pow(u32::try_from(width).unwrap()))
                }
            };
            let [y, mo, d, h, mi, sec] = [
                field(1, 9999, 4),
                field(1, 12, 2),
                field(1, 31, 2),
                field(0, 23, 2),
                field(0, 59, 2),
                field(0, 61, 2),
            ];
            let us = next(1_000_000);
            let start = format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{sec:02}");
            let uid = format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{sec:02}.{us:06}_IT_dash_0a1b");
            for text in [start, uid] {
                let mut changed = text.clone().into_bytes();
                let at = usize::try_from(next(changed.len() as u64)).unwrap();
                changed[at] = BYTES[usize::try_from(next(BYTES.len() as u64)).unwrap()];
                let changed = String::from_utf8(changed).unwrap();
                let cut = text[..usize::try_from(next(text.len() as u64)).unwrap()].to_owned();
                for s in [text, changed, cut] {
                    assert_eq!(parse_start_time(&s), strptime_start_time(&s), "{s:?}");
                    assert_eq!(parse_uid_time(&s), strptime_uid_time(&s), "{s:?}");
                    fast_paths += usize::from(canonical_start_time(s.as_bytes()).is_some());
                    fast_paths += usize::from(canonical_uid_time(s.as_bytes()).is_some());
                }
            }
        }
        // The shortcut was taken often enough for the comparison to mean something.
        assert!(fast_paths > 50_000, "{fast_paths}");
    }

    #[test]
    fn formatting_is_oonis() {
        let t = parse_start_time("2020-1-2 3:04:05").unwrap();
        assert_eq!(format_start_time(&t), "2020-01-02 03:04:05");
    }
}
