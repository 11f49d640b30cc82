//! `ooni_normalize::normalize` on arbitrary bytes, as a JSONL line (no archive uid) and as
//! a postcan member (with one).
//!
//! Asserts: it never panics; every input is a measurement, a skip or a reject with a known
//! reason; a measurement's typed fields keep the promises the tables rely on; and the archive
//! uid changes only the id of a measurement, never how the record is classified.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ooni_normalize::{NormalizeError, Outcome, Skip, UidSource, normalize};

const UID: &str = "20201021101500.000001_AZ_whatsapp_0123456789abcdef";

const REASONS: [&str; 7] = [
    "invalid_utf8",
    "invalid_json",
    "not_an_object",
    "empty_post",
    "missing_field",
    "wrong_type",
    "invalid_value",
];

/// How a record was classified, without the parts that depend on the archive uid.
#[derive(Debug, PartialEq)]
enum Class {
    Measurement,
    Skipped(Skip),
    Rejected(NormalizeError),
}

fn check(data: &[u8], uid: Option<&str>) -> Class {
    match normalize(data, uid) {
        Ok(Outcome::Measurement(m)) => {
            let row = &m.row;
            match uid {
                Some(uid) => {
                    assert_eq!(row.uid_source, UidSource::Postcan);
                    assert_eq!(row.measurement_uid, uid);
                }
                None => assert_ne!(row.uid_source, UidSource::Postcan),
            }
            assert!(!row.measurement_uid.is_empty());
            assert_eq!(row.content_id.len(), 32, "{}", row.content_id);
            assert!(row.content_id.bytes().all(|b| b.is_ascii_hexdigit()));
            assert_eq!(row.measurement_day, row.measurement_start_time.date());
            // The test name becomes a partition directory.
            assert!(!row.test_name.is_empty() && row.test_name.len() <= 64);
            assert!(
                row.test_name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{:?}",
                row.test_name
            );
            if let Some(cc) = &row.probe_cc {
                assert!(cc.len() == 2 && cc.bytes().all(|b| b.is_ascii_uppercase()));
            }
            Class::Measurement
        }
        Ok(Outcome::Skipped(skip)) => {
            assert!(!skip.as_str().is_empty());
            Class::Skipped(skip)
        }
        Err(e) => {
            assert!(REASONS.contains(&e.reason()), "{}", e.reason());
            assert!(!e.to_string().is_empty());
            Class::Rejected(e)
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let line = check(data, None);
    let member = check(data, Some(UID));
    let blank = std::str::from_utf8(data).is_ok_and(|s| s.trim_ascii().is_empty());
    if blank {
        assert_eq!(line, Class::Skipped(Skip::BlankLine));
        assert_eq!(member, Class::Rejected(NormalizeError::EmptyPost));
    } else {
        assert_eq!(line, member, "the archive uid changed the classification");
    }
});
