//! The grammar of OONI bucket keys, parsed into typed values before anything is opened.

use chrono::NaiveDate;

/// Which of OONI's two JSONL-era layouts a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Layout {
    /// `raw/YYYYMMDD/HH/CC/testname/…` (bucket days from 2020-10-20).
    Raw,
    /// `jsonl/testname/CC/YYYYMMDD/00/…` (reprocessed legacy cans, bucket days up to 2020-10-20).
    Jsonl,
}

impl Layout {
    /// The key prefix of this layout, as in the bucket.
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Raw => "raw",
            Layout::Jsonl => "jsonl",
        }
    }
}

/// What a key's suffix says the object holds. The compression is sniffed from the bytes,
/// never trusted from the name (postcans before Aug 2022 are plain tar named `.tar.gz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ArchiveFormat {
    /// One JSON measurement per line (`*.jsonl.gz`).
    Jsonl,
    /// A tar of `<measurement_uid>.post` wrappers (`*.tar.gz`), a "postcan".
    Postcan,
}

/// A parsed bucket key. Dates are the **upload** (bucket) day, never the measurement day.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ArchiveKey {
    /// The full key, as listed.
    pub key: String,
    /// Which layout the key is in.
    pub layout: Layout,
    /// The upload day encoded in the key.
    pub bucket_day: NaiveDate,
    /// The upload hour (raw/ only; jsonl/ keys always say `00`).
    pub hour: u8,
    /// Country code from the key (it comes from the report id, so the body is re-checked later).
    pub probe_cc: String,
    /// Test name as written in keys: snake_case with the underscores removed (`webconnectivity`).
    pub test_name: String,
    /// What the suffix says the object holds.
    pub format: ArchiveFormat,
    /// The key without its `.jsonl.gz` / `.tar.gz` suffix: twins share it.
    pub stem: String,
}

/// A key that does not follow OONI's layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an OONI archive key: {key}: {why}")]
pub struct KeyError {
    /// The key as listed.
    pub key: String,
    /// What did not match.
    pub why: &'static str,
}

impl ArchiveKey {
    /// Parses `raw/YYYYMMDD/HH/CC/tn/YYYYMMDDHH_CC_tn.<id>.<n>.{jsonl.gz,tar.gz}` or
    /// `jsonl/tn/CC/YYYYMMDD/00/YYYYMMDD_CC_tn.{l.<n>|x.<hash>}.jsonl.gz`.
    pub fn parse(key: &str) -> Result<ArchiveKey, KeyError> {
        let err = |why| KeyError {
            key: key.to_owned(),
            why,
        };
        let (stem, format) = if let Some(stem) = key.strip_suffix(".jsonl.gz") {
            (stem, ArchiveFormat::Jsonl)
        } else if let Some(stem) = key.strip_suffix(".tar.gz") {
            (stem, ArchiveFormat::Postcan)
        } else {
            return Err(err("suffix is neither .jsonl.gz nor .tar.gz"));
        };
        let parts: Vec<&str> = key.split('/').collect();
        let (layout, day, hour, cc, tn) = match parts.as_slice() {
            ["raw", day, hour, cc, tn, _file] => (Layout::Raw, *day, *hour, *cc, *tn),
            ["jsonl", tn, cc, day, hour, _file] => (Layout::Jsonl, *day, *hour, *cc, *tn),
            _ => {
                return Err(err(
                    "path is not raw/D/HH/CC/tn/file or jsonl/tn/CC/D/00/file",
                ));
            }
        };
        if layout == Layout::Jsonl && format == ArchiveFormat::Postcan {
            return Err(err("jsonl/ holds only .jsonl.gz files"));
        }
        let bucket_day = parse_compact_day(day).ok_or_else(|| err("day is not YYYYMMDD"))?;
        let hour: u8 = hour
            .parse()
            .ok()
            .filter(|h| *h < 24 && hour.len() == 2)
            .ok_or_else(|| err("hour is not 00-23"))?;
        if !is_country_code(cc) {
            return Err(err("country is not two upper-case letters"));
        }
        if !is_compact_test_name(tn) {
            return Err(err("test name is not lower-case letters and digits"));
        }
        let file = parts.last().copied().unwrap_or_default();
        let expected_head = match layout {
            Layout::Raw => format!("{day}{hour:02}_{cc}_{tn}."),
            Layout::Jsonl => format!("{day}_{cc}_{tn}."),
        };
        if !file.starts_with(&expected_head) {
            return Err(err(
                "file name does not repeat the directory's day, country and test",
            ));
        }
        Ok(ArchiveKey {
            key: key.to_owned(),
            layout,
            bucket_day,
            hour,
            probe_cc: cc.to_owned(),
            test_name: tn.to_owned(),
            format,
            stem: stem.to_owned(),
        })
    }
}

/// `YYYYMMDD` → date.
pub(crate) fn parse_compact_day(s: &str) -> Option<NaiveDate> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y%m%d").ok()
}

fn is_country_code(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase())
}

fn is_compact_test_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_real_raw_keys() {
        let k = ArchiveKey::parse(
            "raw/20231031/15/IR/webconnectivity/2023103115_IR_webconnectivity.n1.0.tar.gz",
        )
        .unwrap();
        assert_eq!(k.layout, Layout::Raw);
        assert_eq!(k.bucket_day, NaiveDate::from_ymd_opt(2023, 10, 31).unwrap());
        assert_eq!(k.hour, 15);
        assert_eq!(k.probe_cc, "IR");
        assert_eq!(k.test_name, "webconnectivity");
        assert_eq!(k.format, ArchiveFormat::Postcan);
        let twin = ArchiveKey::parse(
            "raw/20231031/15/IR/webconnectivity/2023103115_IR_webconnectivity.n1.0.jsonl.gz",
        )
        .unwrap();
        assert_eq!(twin.stem, k.stem);
    }

    #[test]
    fn parses_both_legacy_jsonl_names() {
        for key in [
            "jsonl/webconnectivity/IT/20200921/00/20200921_IT_webconnectivity.l.0.jsonl.gz",
            "jsonl/whatsapp/IT/20200101/00/20200101_IT_whatsapp.x.411d9d2e15f1bd08.jsonl.gz",
        ] {
            let k = ArchiveKey::parse(key).unwrap();
            assert_eq!(k.layout, Layout::Jsonl);
            assert_eq!(k.probe_cc, "IT");
        }
    }

    #[test]
    fn rejects_keys_outside_the_grammar() {
        for key in [
            "canned/2020-10-21/web_connectivity.0.tar.lz4",
            "raw/20231031/15/IR/webconnectivity/other.jsonl.gz",
            "raw/20231031/24/IR/webconnectivity/2023103124_IR_webconnectivity.n1.0.jsonl.gz",
            "raw/20231031/15/ir/webconnectivity/2023103115_ir_webconnectivity.n1.0.jsonl.gz",
            "raw/20231031/15/IR/web_connectivity/2023103115_IR_web_connectivity.n1.0.jsonl.gz",
            "raw/20231031/15/IR/../2023103115_IR_...n1.0.jsonl.gz",
            "jsonl/whatsapp/IT/20200101/00/20200101_IT_whatsapp.l.0.tar.gz",
        ] {
            assert!(ArchiveKey::parse(key).is_err(), "{key}");
        }
    }
}
