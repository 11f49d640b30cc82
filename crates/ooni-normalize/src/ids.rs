//! Measurement identifiers: OONI's `trivial_id` and the content identity used to deduplicate.

use std::fmt::Write;

use chrono::Datelike;

use sha3::Shake128;
use sha3::digest::{ExtendableOutput, Update, XofReader};

/// OONI's `trivial_id` for measurements that have no `measurement_uid` (ooni/data
/// `oonidata/datautils.py::trivial_id`, identical in ooni/backend fastpath):
/// `"01"` + `YYYYMMDD` of `measurement_start_time` (or `"00000000"` when it does not parse)
/// + the first 15 bytes of SHAKE-128 over the raw record bytes, in hex. 40 characters.
///
/// `raw` must be the line exactly as stored, **including its trailing `\n`**: that is what
/// Python's line iteration yields and hashes.
pub fn trivial_id(raw: &[u8], start_day: Option<chrono::NaiveDate>) -> String {
    let digest = shake128::<15>(&[raw]);
    let mut id = String::with_capacity(40);
    id.push_str("01");
    match start_day {
        // The day comes from a parsed start time: year 1–9999, as `%Y%m%d` writes it.
        Some(day) => {
            let _ = write!(id, "{:04}{:02}{:02}", day.year(), day.month(), day.day());
        }
        None => id.push_str("00000000"),
    }
    push_hex(&mut id, &digest);
    id
}

/// The identity of a measurement's *content*: the same measurement carries different ids in
/// `jsonl/` (trivial_id) and `raw/` (postcan uid) on the 2020-10-20 overlap, so duplicates are
/// found by `(report_id, test_name, input, measurement_start_time)`. Measurements without a
/// report id (OONI's QA runs, broken probes) cannot be told apart that way and are identified
/// by their id alone.
pub fn content_id(
    report_id: Option<&str>,
    test_name: &str,
    input: Option<&str>,
    measurement_start_time: &str,
    measurement_uid: &str,
) -> String {
    let digest = match report_id {
        Some(rid) if !rid.is_empty() => shake128::<16>(&[
            b"content\0",
            rid.as_bytes(),
            b"\0",
            test_name.as_bytes(),
            b"\0",
            input.unwrap_or("").as_bytes(),
            b"\0",
            measurement_start_time.as_bytes(),
        ]),
        _ => shake128::<16>(&[b"uid\0", measurement_uid.as_bytes()]),
    };
    let mut id = String::with_capacity(32);
    push_hex(&mut id, &digest);
    id
}

fn shake128<const N: usize>(parts: &[&[u8]]) -> [u8; N] {
    let mut hasher = Shake128::default();
    for part in parts {
        hasher.update(part);
    }
    let mut out = [0u8; N];
    hasher.finalize_xof().read(&mut out);
    out
}

fn push_hex(s: &mut String, bytes: &[u8]) {
    s.push_str(&hex::encode(bytes));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn trivial_id_matches_pythons_hashlib() {
        // python3 -c 'import hashlib; print("01"+"20201020"+hashlib.shake_128(b"{}\n").hexdigest(15))'
        let day = chrono::NaiveDate::from_ymd_opt(2020, 10, 20);
        assert_eq!(
            trivial_id(b"{}\n", day),
            "0120201020adf6dc43c125b56683d569cd8dfbe3"
        );
        assert_eq!(trivial_id(b"{}\n", None)[..10], *"0100000000");
    }

    #[test]
    fn content_id_ignores_the_id_when_a_report_id_exists() {
        let a = content_id(Some("r"), "whatsapp", None, "2020-10-20 10:00:00", "uid-a");
        let b = content_id(Some("r"), "whatsapp", None, "2020-10-20 10:00:00", "uid-b");
        assert_eq!(a, b);
        let c = content_id(Some(""), "whatsapp", None, "2020-10-20 10:00:00", "uid-a");
        let d = content_id(None, "whatsapp", None, "2020-10-20 10:00:00", "uid-b");
        assert_ne!(c, d);
    }
}
