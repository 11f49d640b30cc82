//! The grammar of OONI bucket keys, parsed into typed values before anything is opened.

use chrono::NaiveDate;

/// Which of OONI's key layouts a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Layout {
    /// `raw/YYYYMMDD/HH/CC/testname/…` (bucket days from 2020-10-20).
    Raw,
    /// `jsonl/testname/CC/YYYYMMDD/00/…` (reprocessed legacy cans, bucket days up to 2020-10-20).
    Jsonl,
    /// `canned/YYYY-MM-DD/…`: the legacy cans themselves (bucket days 2012-12-05 … 2020-10-21;
    /// up to 2020-06-01 in the `ooni-data` bucket, from 2020-06-02 in `ooni-data-eu-fra`,
    /// see [`can_bucket`](crate::can_bucket)).
    Canned,
}

impl Layout {
    /// The key prefix of this layout, as in the bucket.
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Raw => "raw",
            Layout::Jsonl => "jsonl",
            Layout::Canned => "canned",
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
    /// A legacy "tarcan" (`canned/D/<test_name>.<N>.tar.lz4`): LZ4 frames (possibly several,
    /// concatenated) around a tar of report files; each `*.json` member holds one measurement
    /// per line, `*.yaml` members (data format 0.1.0) are counted and skipped.
    /// A tarcan mixes countries: its key's `probe_cc` is empty.
    TarLz4,
    /// A legacy JSON "reportcan" (`canned/D/<ts>-<CC>-AS<n>-<test_name>-<report_id>-<v>-probe.json.lz4`):
    /// LZ4 frames around one report, one measurement per line.
    JsonLz4,
    /// A legacy YAML reportcan (`….yaml.lz4`). Recognized but never decoded:
    /// see [`ArchiveFormat::is_skipped`].
    YamlLz4,
    /// A can index (`canned/D/index.json.gz`), metadata about the day's cans. Recognized
    /// but never decoded: see [`ArchiveFormat::is_skipped`].
    CanIndex,
}

impl ArchiveFormat {
    /// Whether objects of this format hold no records this crate decodes (YAML reportcans
    /// and can indexes). [`inventory`](crate::inventory) lists them in
    /// [`Inventory::skipped`](crate::Inventory::skipped) instead of `archives`, so they are
    /// counted without being fetched; [`read_records`](crate::read_records) reads nothing
    /// from them and sets [`ArchiveStats::skipped_archive`](crate::ArchiveStats::skipped_archive).
    pub fn is_skipped(self) -> bool {
        matches!(self, ArchiveFormat::YamlLz4 | ArchiveFormat::CanIndex)
    }

    /// Whether this is one of the legacy LZ4 can formats (tarcan or reportcan).
    pub fn is_lz4(self) -> bool {
        matches!(
            self,
            ArchiveFormat::TarLz4 | ArchiveFormat::JsonLz4 | ArchiveFormat::YamlLz4
        )
    }
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
    /// The upload hour (raw/ only; jsonl/ and canned/ keys say `0`).
    pub hour: u8,
    /// Country code from the key (it comes from the report id, so the body is re-checked later).
    /// **Empty** for keys that are not per country: tarcans (they mix countries, see
    /// [`ArchiveKey::mixes_countries`]) and can indexes.
    pub probe_cc: String,
    /// Test name as written in raw/ and jsonl/ keys: snake_case with the underscores removed
    /// (`webconnectivity`), also for canned/ keys whose file names keep the underscores.
    /// Empty for can indexes.
    pub test_name: String,
    /// What the suffix says the object holds.
    pub format: ArchiveFormat,
    /// raw/ and jsonl/: the key without its `.jsonl.gz` / `.tar.gz` suffix, so twins share it.
    /// canned/: the whole key (cans have no twins), so it is unique per file.
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
    /// Parses `raw/YYYYMMDD/HH/CC/tn/YYYYMMDDHH_CC_tn.<id>.<n>.{jsonl.gz,tar.gz}`,
    /// `jsonl/tn/CC/YYYYMMDD/00/YYYYMMDD_CC_tn.{l.<n>|x.<hash>}.jsonl.gz`, or one of the
    /// legacy can names under `canned/YYYY-MM-DD/`:
    /// - `<test_name>.<N>.tar.lz4` (tarcan; [`ArchiveFormat::TarLz4`], no country),
    /// - `<YYYYMMDDThhmmssZ>-<CC>-AS<n>-<test_name>-<report_id>-<version>-probe.json.lz4`
    ///   (reportcan; [`ArchiveFormat::JsonLz4`], country from the name),
    /// - the same with `.yaml.lz4` ([`ArchiveFormat::YamlLz4`], skipped),
    /// - `index.json.gz` ([`ArchiveFormat::CanIndex`], skipped).
    ///
    /// For cans, `bucket_day` is the directory's day; the time in a reportcan's name is the
    /// report's start time and is not used.
    pub fn parse(key: &str) -> Result<ArchiveKey, KeyError> {
        let err = |why| KeyError {
            key: key.to_owned(),
            why,
        };
        if let Some(rest) = key.strip_prefix("canned/") {
            return parse_canned(key, rest);
        }
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
        let expected_head = if layout == Layout::Raw {
            format!("{day}{hour:02}_{cc}_{tn}.")
        } else {
            format!("{day}_{cc}_{tn}.")
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

    /// Whether the archive mixes countries, so the country filter can only be applied to each
    /// measurement's body (tarcans; also can indexes). Its `probe_cc` is empty.
    pub fn mixes_countries(&self) -> bool {
        self.layout == Layout::Canned && self.probe_cc.is_empty()
    }
}

/// `canned/<rest>`: `<YYYY-MM-DD>/<file>`.
fn parse_canned(key: &str, rest: &str) -> Result<ArchiveKey, KeyError> {
    let err = |why| KeyError {
        key: key.to_owned(),
        why,
    };
    let Some((day, file)) = rest.split_once('/') else {
        return Err(err("path is not canned/YYYY-MM-DD/file"));
    };
    if file.is_empty() || file.contains('/') {
        return Err(err("path is not canned/YYYY-MM-DD/file"));
    }
    let bucket_day = parse_dashed_day(day).ok_or_else(|| err("day is not YYYY-MM-DD"))?;
    let (format, probe_cc, test_name) = if file == "index.json.gz" {
        (ArchiveFormat::CanIndex, String::new(), String::new())
    } else if let Some(name) = file.strip_suffix(".tar.lz4") {
        let (tn, n) = name
            .split_once('.')
            .ok_or_else(|| err("tarcan name is not <test_name>.<N>.tar.lz4"))?;
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("tarcan name is not <test_name>.<N>.tar.lz4"));
        }
        (
            ArchiveFormat::TarLz4,
            String::new(),
            can_test_name(tn).ok_or_else(|| {
                err("test name is not lower-case letters, digits and underscores")
            })?,
        )
    } else if let Some((name, format)) = file
        .strip_suffix(".json.lz4")
        .map(|n| (n, ArchiveFormat::JsonLz4))
        .or_else(|| {
            file.strip_suffix(".yaml.lz4")
                .map(|n| (n, ArchiveFormat::YamlLz4))
        })
    {
        // <ts>-<CC>-AS<n>-<test_name>-<report_id>-<version>-probe
        let mut parts = name.splitn(5, '-');
        let (Some(ts), Some(cc), Some(asn), Some(tn), Some(tail)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(err(
                "reportcan name is not <ts>-<CC>-AS<n>-<test_name>-<report_id>-<v>-probe",
            ));
        };
        if !is_report_timestamp(ts) {
            return Err(err("reportcan time is not YYYYMMDDThhmmssZ"));
        }
        if !is_country_code(cc) {
            return Err(err("country is not two upper-case letters"));
        }
        if !asn
            .strip_prefix("AS")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(err("network is not AS<digits>"));
        }
        if !tail.ends_with("-probe") {
            return Err(err("reportcan name does not end in -probe"));
        }
        (
            format,
            cc.to_owned(),
            can_test_name(tn).ok_or_else(|| {
                err("test name is not lower-case letters, digits and underscores")
            })?,
        )
    } else {
        return Err(err(
            "canned/ file is neither .tar.lz4, .json.lz4, .yaml.lz4 nor index.json.gz",
        ));
    };
    Ok(ArchiveKey {
        key: key.to_owned(),
        layout: Layout::Canned,
        bucket_day,
        hour: 0,
        probe_cc,
        test_name,
        format,
        stem: key.to_owned(),
    })
}

/// A can file name's test name (`web_connectivity`) in key spelling (`webconnectivity`).
fn can_test_name(tn: &str) -> Option<String> {
    if !tn
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    let compact: String = tn.chars().filter(|c| *c != '_').collect();
    is_compact_test_name(&compact).then_some(compact)
}

/// `YYYYMMDDThhmmssZ`, as in reportcan names.
fn is_report_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit)
}

/// `YYYY-MM-DD` → date.
fn parse_dashed_day(s: &str) -> Option<NaiveDate> {
    if s.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
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

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn parses_real_tarcan_names() {
        for (key, tn, d) in [
            (
                "canned/2020-10-21/web_connectivity.00.tar.lz4",
                "webconnectivity",
                "2020-10-21",
            ),
            (
                "canned/2020-10-21/web_connectivity.0.tar.lz4",
                "webconnectivity",
                "2020-10-21",
            ),
            (
                "canned/2019-10-30/psiphon.0.tar.lz4",
                "psiphon",
                "2019-10-30",
            ),
            (
                "canned/2013-01-08/http_header_field_manipulation.0.tar.lz4",
                "httpheaderfieldmanipulation",
                "2013-01-08",
            ),
        ] {
            let k = ArchiveKey::parse(key).unwrap();
            assert_eq!(k.layout, Layout::Canned, "{key}");
            assert_eq!(k.format, ArchiveFormat::TarLz4);
            assert_eq!(k.test_name, tn);
            assert_eq!(k.bucket_day, day(d));
            assert_eq!(k.probe_cc, "");
            assert!(k.mixes_countries());
            assert_eq!(k.hour, 0);
            assert_eq!(k.stem, key);
            assert!(!k.format.is_skipped());
        }
    }

    #[test]
    fn parses_real_reportcan_names_with_the_country_from_the_name() {
        let key = "canned/2020-10-21/20201021T141726Z-US-AS20093-facebook_messenger-20201021T141726Z_AS20093_MBCoLaOwlb5pq7CWYvsqhN5qc1Nd3rHQC0xmvoG1bCTn5ZCpS6-0.2.0-probe.json.lz4";
        let k = ArchiveKey::parse(key).unwrap();
        assert_eq!(k.layout, Layout::Canned);
        assert_eq!(k.format, ArchiveFormat::JsonLz4);
        assert_eq!(k.probe_cc, "US");
        assert_eq!(k.test_name, "facebookmessenger");
        assert_eq!(k.bucket_day, day("2020-10-21"));
        assert!(!k.mixes_countries());
        assert_eq!(k.stem, key);

        let yaml = ArchiveKey::parse(
            "canned/2013-09-12/20130912T150305Z-MD-AS1547-http_requests-no_report_id-0.1.0-probe.yaml.lz4",
        )
        .unwrap();
        assert_eq!(yaml.format, ArchiveFormat::YamlLz4);
        assert_eq!(yaml.probe_cc, "MD");
        assert_eq!(yaml.test_name, "httprequests");
        assert!(yaml.format.is_skipped());
    }

    #[test]
    fn the_can_index_is_recognized_as_skipped() {
        let k = ArchiveKey::parse("canned/2020-10-21/index.json.gz").unwrap();
        assert_eq!(k.format, ArchiveFormat::CanIndex);
        assert!(k.format.is_skipped());
        assert_eq!(k.test_name, "");
        assert_eq!(k.bucket_day, day("2020-10-21"));
    }

    #[test]
    fn rejects_can_names_outside_the_grammar() {
        for key in [
            "canned/2020-10-21/web_connectivity.tar.lz4",
            "canned/2020-10-21/web_connectivity.0a.tar.lz4",
            "canned/20201021/web_connectivity.0.tar.lz4",
            "canned/2020-13-21/web_connectivity.0.tar.lz4",
            "canned/2020-10-21/sub/web_connectivity.0.tar.lz4",
            "canned/2020-10-21/Web_Connectivity.0.tar.lz4",
            "canned/2020-10-21/_.0.tar.lz4",
            "canned/2020-10-21/web_connectivity.0.tar.gz",
            "canned/2020-10-21/other.json.gz",
            "canned/2020-10-21/",
            "canned/web_connectivity.0.tar.lz4",
            "canned/2020-10-21/20201021T141726Z-us-AS20093-whatsapp-x-0.2.0-probe.json.lz4",
            "canned/2020-10-21/20201021T141726Z-US-20093-whatsapp-x-0.2.0-probe.json.lz4",
            "canned/2020-10-21/20201021-US-AS20093-whatsapp-x-0.2.0-probe.json.lz4",
            "canned/2020-10-21/20201021T141726Z-US-AS20093-whatsapp.json.lz4",
            "canned/2020-10-21/20201021T141726Z-US-AS20093-whatsapp-x-0.2.0.json.lz4",
        ] {
            assert!(ArchiveKey::parse(key).is_err(), "{key}");
        }
    }
}
