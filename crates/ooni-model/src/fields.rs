//! The lenient accessors of a [`Measurement`]: the one reading of the envelope fields
//! (see the crate documentation for the rules and the fastpath behavior each mirrors).

use std::borrow::Cow;

use chrono::NaiveDateTime;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::RecordError;
use crate::record::Measurement;
use crate::test_name::TestName;
use crate::time::{format_start_time, parse_start_time};

/// A raw value that is not `null`.
pub(crate) fn present(raw: Option<&RawValue>) -> Option<&RawValue> {
    raw.filter(|r| r.get() != "null")
}

/// A field that must be a string (or absent / null).
pub(crate) fn string<'a>(
    field: &'static str,
    raw: Option<&'a RawValue>,
) -> Result<Option<Cow<'a, str>>, RecordError> {
    let Some(raw) = present(raw) else {
        return Ok(None);
    };
    let text = raw.get();
    if !text.starts_with('"') {
        return Err(RecordError::wrong_type(field, "a string", text));
    }
    #[derive(Deserialize)]
    struct Str<'b>(#[serde(borrow)] Cow<'b, str>);
    serde_json::from_str::<Str<'a>>(text)
        .map(|s| Some(s.0))
        .map_err(|e| RecordError::InvalidJson(e.to_string()))
}

/// A descriptive field (software names, versions, network names): strings are kept, numbers
/// are kept as written, anything else is dropped. Never a reason to reject a measurement.
fn lenient_string(raw: Option<&RawValue>) -> Option<String> {
    let text = raw?.get();
    match text.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<String>(text).ok(),
        Some(b'-' | b'0'..=b'9') => Some(text.to_owned()),
        _ => None,
    }
}

/// A non-empty string, or `None`.
fn non_empty(s: Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
    s.filter(|s| !s.is_empty())
}

/// A measurement's `input`: a string, a list of strings (meek_fronted_requests_test), or
/// nothing (absent, null or empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input<'a> {
    /// No input.
    None,
    /// One input (a URL, a host, …).
    One(Cow<'a, str>),
    /// A list (its null elements left out).
    Many(Vec<Cow<'a, str>>),
}

/// When a measurement started, and the field that said so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartTime {
    /// `measurement_start_time`, `test_start_time` or `start_time`.
    pub field: &'static str,
    /// The time, UTC.
    pub at: NaiveDateTime,
}

impl StartTime {
    /// `YYYY-MM-DD HH:MM:SS`, as OONI writes it (and as a row's identity uses it).
    pub fn text(&self) -> String {
        format_start_time(&self.at)
    }
}

/// `AS1234` → 1234, the `AS` in any case (`as1234`): OONI's `int(probe_asn[2:])` for
/// every value written as `AS` and decimal digits. `None` for anything else, or a number
/// beyond `u32`.
///
/// ```
/// assert_eq!(ooni_model::parse_asn("AS28787"), Some(28787));
/// assert_eq!(ooni_model::parse_asn("as28787"), Some(28787));
/// assert_eq!(ooni_model::parse_asn("28787"), None);
/// ```
pub fn parse_asn(s: &str) -> Option<u32> {
    let prefix = s.get(..2)?;
    let digits = &s[2..];
    if !prefix.eq_ignore_ascii_case("as")
        || digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    digits.parse().ok()
}

/// A country code upper-cased, as fastpath's `probe_cc.upper()`: `Some` when that gives
/// two ASCII letters.
///
/// ```
/// assert_eq!(ooni_model::parse_country_code("az").as_deref(), Some("AZ"));
/// assert_eq!(ooni_model::parse_country_code("AZE"), None);
/// ```
pub fn parse_country_code(s: &str) -> Option<String> {
    (s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphabetic())).then(|| s.to_ascii_uppercase())
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SS` (UTC, truncated to the second, as
/// Python's `utcfromtimestamp(...).strftime`).
fn epoch_text(secs: f64) -> Option<String> {
    if !secs.is_finite() || !(0.0..4.0e9).contains(&secs) {
        return None;
    }
    // The range check makes the cast exact.
    let dt = chrono::DateTime::from_timestamp(secs.trunc() as i64, 0)?;
    Some(format_start_time(&dt.naive_utc()))
}

impl<'a> Measurement<'a> {
    /// The test name: a non-empty string, in its canonical spelling, checked once
    /// ([`TestName`]).
    pub fn test_name(&self) -> Result<TestName<'a>, RecordError> {
        let body = non_empty(string("test_name", self.test_name)?)
            .ok_or(RecordError::MissingField("test_name"))?;
        TestName::from_body(body)
    }

    /// When the measurement started: `measurement_start_time` when present; otherwise, as
    /// OONI's normalizer does for reports from before that key existed (`normalize_entry`
    /// in ooni/backend `fastpath/fastpath/normalize.py`), `test_start_time` (a string, or
    /// seconds since the epoch), then the YAML-era `start_time` (seconds since the epoch).
    /// Strings are read by [`parse_start_time`].
    pub fn start_time(&self) -> Result<StartTime, RecordError> {
        let (field, text) = self.start_time_text()?;
        let at = parse_start_time(&text).ok_or_else(|| {
            RecordError::invalid_value(field, &text, "expected YYYY-MM-DD HH:MM:SS (UTC)")
        })?;
        Ok(StartTime { field, at })
    }

    /// The start time's text, and the field it came from.
    fn start_time_text(&self) -> Result<(&'static str, Cow<'a, str>), RecordError> {
        if let Some(text) = string("measurement_start_time", self.measurement_start_time)? {
            return Ok(("measurement_start_time", text));
        }
        for (field, raw) in [
            ("test_start_time", self.test_start_time),
            ("start_time", self.start_time),
        ] {
            let Some(raw) = present(raw) else {
                continue;
            };
            if let Ok(secs) = serde_json::from_str::<f64>(raw.get()) {
                let when = epoch_text(secs).ok_or_else(|| {
                    RecordError::invalid_value(field, raw.get(), "expected seconds since the epoch")
                })?;
                return Ok((field, Cow::Owned(when)));
            }
            if let Some(text) = string(field, Some(raw))? {
                return Ok((field, text));
            }
        }
        Err(RecordError::MissingField("measurement_start_time"))
    }

    /// The probe's network as a number ([`parse_asn`]); `0` when the probe sent none
    /// (OONI's normalizer writes an unknown network `AS0`).
    pub fn probe_asn(&self) -> Result<u32, RecordError> {
        match string("probe_asn", self.probe_asn)? {
            None => Ok(0),
            Some(text) => parse_asn(&text).ok_or_else(|| {
                RecordError::invalid_value("probe_asn", &text, "expected AS followed by a number")
            }),
        }
    }

    /// The probe's country, upper-cased ([`parse_country_code`]); `None` when absent,
    /// null or empty.
    pub fn probe_cc(&self) -> Result<Option<String>, RecordError> {
        match non_empty(string("probe_cc", self.probe_cc)?) {
            None => Ok(None),
            Some(cc) => parse_country_code(&cc).map(Some).ok_or_else(|| {
                RecordError::invalid_value("probe_cc", &cc, "expected two ASCII letters")
            }),
        }
    }

    /// `report_id`, when a non-empty string.
    pub fn report_id(&self) -> Result<Option<Cow<'a, str>>, RecordError> {
        Ok(non_empty(string("report_id", self.report_id)?))
    }

    /// `measurement_uid`, when a non-empty string.
    pub fn measurement_uid(&self) -> Result<Option<Cow<'a, str>>, RecordError> {
        Ok(non_empty(string("measurement_uid", self.measurement_uid)?))
    }

    /// `input`: a string, a list of strings, or nothing.
    pub fn input(&self) -> Result<Input<'a>, RecordError> {
        let Some(raw) = self.input else {
            return Ok(Input::None);
        };
        match raw.get().as_bytes().first() {
            Some(b'[') => {
                #[derive(Deserialize)]
                struct List<'b>(#[serde(borrow)] Vec<Option<Cow<'b, str>>>);
                let list: List<'a> = serde_json::from_str(raw.get()).map_err(|_| {
                    RecordError::wrong_type("input", "a string or a list of strings", raw.get())
                })?;
                Ok(Input::Many(list.0.into_iter().flatten().collect()))
            }
            _ => Ok(match non_empty(string("input", Some(raw))?) {
                Some(s) => Input::One(s),
                None => Input::None,
            }),
        }
    }

    /// `test_version` (a string, or a number as written).
    pub fn test_version(&self) -> Option<String> {
        lenient_string(self.test_version)
    }

    /// `software_name` (a string, or a number as written).
    pub fn software_name(&self) -> Option<String> {
        lenient_string(self.software_name)
    }

    /// `software_version` (a string, or a number as written).
    pub fn software_version(&self) -> Option<String> {
        lenient_string(self.software_version)
    }

    /// `probe_network_name` (a string, or a number as written).
    pub fn probe_network_name(&self) -> Option<String> {
        lenient_string(self.probe_network_name)
    }

    /// `resolver_network_name` (a string, or a number as written).
    pub fn resolver_network_name(&self) -> Option<String> {
        lenient_string(self.resolver_network_name)
    }

    /// `resolver_asn` as a number ([`parse_asn`]), when it is one.
    pub fn resolver_asn(&self) -> Option<u32> {
        lenient_string(self.resolver_asn)
            .as_deref()
            .and_then(parse_asn)
    }

    /// `resolver_ip`; empty and `[scrubbed]` are `None`.
    pub fn resolver_ip(&self) -> Option<String> {
        lenient_string(self.resolver_ip).filter(|ip| !ip.is_empty() && ip != "[scrubbed]")
    }

    /// `test_runtime` in seconds, when a number.
    pub fn test_runtime(&self) -> Option<f64> {
        self.test_runtime
            .and_then(|raw| serde_json::from_str::<f64>(raw.get()).ok())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn m(text: &str) -> Measurement<'_> {
        Measurement::parse(text).unwrap()
    }

    /// fastpath: `probe_cc = msm["probe_cc"].upper()` (db.py) and the `ZZ` discard rule
    /// compare upper-cased; a lower-case country is the same country.
    #[test]
    fn probe_cc_is_upper_cased_like_fastpath() {
        assert_eq!(
            m(r#"{"probe_cc":"az"}"#).probe_cc().unwrap().as_deref(),
            Some("AZ")
        );
        assert_eq!(
            m(r#"{"probe_cc":"Az"}"#).probe_cc().unwrap().as_deref(),
            Some("AZ")
        );
        assert_eq!(
            m(r#"{"probe_cc":"AZ"}"#).probe_cc().unwrap().as_deref(),
            Some("AZ")
        );
        assert_eq!(m(r#"{"probe_cc":""}"#).probe_cc().unwrap(), None);
        assert_eq!(m(r#"{"probe_cc":null}"#).probe_cc().unwrap(), None);
        assert_eq!(m(r#"{}"#).probe_cc().unwrap(), None);
        for bad in [r#""AZE""#, r#""A1""#, r#""é1""#] {
            let text = format!(r#"{{"probe_cc":{bad}}}"#);
            assert_eq!(m(&text).probe_cc().unwrap_err().reason(), "invalid_value");
        }
        let err = m(r#"{"probe_cc":1}"#).probe_cc().unwrap_err();
        assert_eq!(err.reason(), "wrong_type");
    }

    /// fastpath: `asn = int(msm["probe_asn"][2:])` (db.py): the prefix's case does not
    /// matter; an absent ASN is OONI's `AS0`.
    #[test]
    fn probe_asn_takes_the_number_after_as_in_any_case() {
        for (raw, want) in [
            (r#""AS28787""#, 28787),
            (r#""as28787""#, 28787),
            (r#""aS1""#, 1),
            (r#""AS0001""#, 1),
            (r#""AS0""#, 0),
        ] {
            let text = format!(r#"{{"probe_asn":{raw}}}"#);
            assert_eq!(m(&text).probe_asn().unwrap(), want, "{raw}");
        }
        assert_eq!(m("{}").probe_asn().unwrap(), 0);
        for bad in [
            r#""28787""#,
            r#""AS""#,
            r#""AS-1""#,
            r#""AS 1""#,
            r#""AS99999999999""#,
        ] {
            let text = format!(r#"{{"probe_asn":{bad}}}"#);
            assert_eq!(
                m(&text).probe_asn().unwrap_err().reason(),
                "invalid_value",
                "{bad}"
            );
        }
        assert_eq!(
            m(r#"{"probe_asn":28787}"#)
                .probe_asn()
                .unwrap_err()
                .reason(),
            "wrong_type"
        );
        assert_eq!(
            m(r#"{"resolver_asn":"as15169"}"#).resolver_asn(),
            Some(15169)
        );
        assert_eq!(m(r#"{"resolver_asn":"15169"}"#).resolver_asn(), None);
    }

    /// fastpath: `datetime.strptime(msm["measurement_start_time"], "%Y-%m-%d %H:%M:%S")`
    /// accepts one-digit fields; the row has the same time.
    #[test]
    fn start_time_is_read_like_strptime() {
        let t = m(r#"{"measurement_start_time":"2020-10-20 1:15:00"}"#)
            .start_time()
            .unwrap();
        assert_eq!(t.field, "measurement_start_time");
        assert_eq!(t.text(), "2020-10-20 01:15:00");
        let err = m(r#"{"measurement_start_time":"2020-10-20T01:15:00Z"}"#)
            .start_time()
            .unwrap_err();
        assert_eq!(err.reason(), "invalid_value");
    }

    /// OONI's normalizer: "the old test_start_time key that now is called
    /// measurement_start_time"; YAML-era reports have a float `start_time`.
    #[test]
    fn start_time_falls_back_like_oonis_normalizer() {
        let t = m(r#"{"test_start_time":"2015-11-25 21:40:03"}"#)
            .start_time()
            .unwrap();
        assert_eq!(
            (t.field, t.text().as_str()),
            ("test_start_time", "2015-11-25 21:40:03")
        );
        for field in ["test_start_time", "start_time"] {
            let text = format!(r#"{{"{field}":1448185922.5}}"#);
            let t = m(&text).start_time().unwrap();
            assert_eq!((t.field, t.text().as_str()), (field, "2015-11-22 09:52:02"));
        }
        let t = m(r#"{"measurement_start_time":"2020-01-01 00:00:00","test_start_time":"2019-01-01 00:00:00"}"#)
            .start_time()
            .unwrap();
        assert_eq!(t.field, "measurement_start_time");
        // A null is absent.
        let t = m(r#"{"measurement_start_time":null,"start_time":0}"#)
            .start_time()
            .unwrap();
        assert_eq!(t.text(), "1970-01-01 00:00:00");
        assert_eq!(
            m("{}").start_time().unwrap_err(),
            RecordError::MissingField("measurement_start_time")
        );
        assert_eq!(
            m(r#"{"start_time":-1}"#).start_time().unwrap_err().reason(),
            "invalid_value"
        );
    }

    #[test]
    fn descriptive_fields_never_reject() {
        let x = m(
            r#"{"test_version":1.5,"software_name":true,"resolver_ip":"[scrubbed]","test_runtime":"x"}"#,
        );
        assert_eq!(x.test_version().as_deref(), Some("1.5"));
        assert_eq!(x.software_name(), None);
        assert_eq!(x.resolver_ip(), None);
        assert_eq!(x.test_runtime(), None);
    }

    #[test]
    fn inputs() {
        assert_eq!(m(r#"{"input":null}"#).input().unwrap(), Input::None);
        assert_eq!(m(r#"{"input":""}"#).input().unwrap(), Input::None);
        assert_eq!(
            m(r#"{"input":["a",null,"b"]}"#).input().unwrap(),
            Input::Many(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            m(r#"{"input":[1]}"#).input().unwrap_err().reason(),
            "wrong_type"
        );
        assert_eq!(
            m(r#"{"input":5}"#).input().unwrap_err().reason(),
            "wrong_type"
        );
    }
}
