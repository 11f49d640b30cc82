//! The one parse of an archive record: [`Record::parse`] and [`Measurement`].

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::{ParseError, RecordError};
use crate::fields::{present, string};
use crate::json::{CowStr, Json};

/// How a record was framed in its archive: it decides what an empty record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// A line of a JSONL file (or of a reportcan): an empty one is a blank line, skipped.
    Line,
    /// A member of a postcan (`<measurement_uid>.post`): an empty one is an error.
    PostMember,
}

/// Records that are not measurements and are not errors either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Skip {
    /// An empty line.
    BlankLine,
    /// `{}`: OONI's uploader writes it to keep line numbers aligned when a `.post` could not
    /// be parsed or was YAML.
    Placeholder,
    /// A `.post` wrapper with `"format": "yaml"` (pre-2016 data format; skipped as OONI does).
    YamlPost,
}

impl Skip {
    /// A stable name for summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::BlankLine => "blank_line",
            Skip::Placeholder => "placeholder",
            Skip::YamlPost => "yaml_post",
        }
    }
}

/// One archive record, read once: a measurement, or a record that holds none on purpose.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "returned once per record and matched at once; a Box would allocate per record"
)]
pub enum Record<'a> {
    /// A measurement (a `.post` wrapper already unwrapped).
    Measurement(Measurement<'a>),
    /// A blank line, a placeholder or a YAML `.post`.
    Skipped(Skip),
}

/// One measurement object, parsed once: the top-level fields every OONI test shares,
/// each kept as the borrowed JSON text of its value (`None` when the key is absent; a
/// `null` value is `Some` of the text `null`).
///
/// `test_keys` and `annotations` are read whole into [`Json`] trees, the one reading of
/// them that the verdict and the observations each deserialize their typed views from.
/// Nothing else below the top level is parsed: `input` is read by whoever needs it, from
/// [`RawValue::get`]. The lenient accessors
/// ([`Measurement::probe_cc`], [`Measurement::probe_asn`], [`Measurement::start_time`], …)
/// turn the raw values into the columns of a row; see the crate documentation for their
/// rules.
#[derive(Debug, Clone, Default)]
pub struct Measurement<'a> {
    /// `test_name`.
    pub test_name: Option<&'a RawValue>,
    /// `test_version`.
    pub test_version: Option<&'a RawValue>,
    /// `probe_cc`.
    pub probe_cc: Option<&'a RawValue>,
    /// `probe_asn`.
    pub probe_asn: Option<&'a RawValue>,
    /// `probe_network_name`.
    pub probe_network_name: Option<&'a RawValue>,
    /// `report_id`.
    pub report_id: Option<&'a RawValue>,
    /// `software_name`.
    pub software_name: Option<&'a RawValue>,
    /// `software_version`.
    pub software_version: Option<&'a RawValue>,
    /// `measurement_start_time`.
    pub measurement_start_time: Option<&'a RawValue>,
    /// `test_start_time`: before 2016 the measurement's start (a string, or a float of
    /// seconds since the epoch in YAML-era reports).
    pub test_start_time: Option<&'a RawValue>,
    /// `start_time`: YAML-era reports, the report's start in seconds since the epoch.
    pub start_time: Option<&'a RawValue>,
    /// `annotations`, read once (`None` when the key is absent).
    pub annotations: Option<Json<'a>>,
    /// `input`: a string, a list of strings (meek_fronted_requests_test), or null.
    pub input: Option<&'a RawValue>,
    /// `resolver_ip`.
    pub resolver_ip: Option<&'a RawValue>,
    /// `resolver_asn`.
    pub resolver_asn: Option<&'a RawValue>,
    /// `resolver_network_name`.
    pub resolver_network_name: Option<&'a RawValue>,
    /// `test_runtime`.
    pub test_runtime: Option<&'a RawValue>,
    /// `measurement_uid` (reprocessed `jsonl/` lines carry one).
    pub measurement_uid: Option<&'a RawValue>,
    /// `control_failure` (legacy http_requests).
    pub control_failure: Option<&'a RawValue>,
    /// `experiment_failure` (legacy http_requests).
    pub experiment_failure: Option<&'a RawValue>,
    /// `test_keys`, read once (`None` when the key is absent).
    pub test_keys: Option<Json<'a>>,
}

/// A `.post` wrapper or a bare measurement: both shapes are read by one pass, because a
/// bare measurement never has top-level `content` and `format` keys.
#[derive(Default)]
struct Captured<'a> {
    format: Option<&'a RawValue>,
    /// `content` as raw text, when the capture does not nest.
    content: Option<&'a RawValue>,
    /// `content` read in the same pass, when the capture nests.
    nested: Nested<'a>,
    /// How many keys the object had.
    keys: usize,
    m: Measurement<'a>,
}

/// A `content` read in the pass that reads its wrapper.
#[derive(Default)]
enum Nested<'a> {
    #[default]
    Absent,
    /// An object, read as [`capture_record`] reads a content on its own.
    Object(Box<Captured<'a>>),
    /// `null`, a string, a number, a boolean or an array.
    Other,
}

/// What a duplicated key means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Duplicates {
    /// The last one wins, as in Python's `json` (what fastpath sees).
    LastWins,
    /// A duplicated envelope field (one that becomes a column, or `format`/`content`) is
    /// an error: the record says two things about one column.
    RejectEnvelope,
}

impl<'a> Captured<'a> {
    /// The slot of a key, and whether a duplicate of it is rejected in
    /// [`Duplicates::RejectEnvelope`] mode.
    fn slot(&mut self, key: &str) -> Option<(&mut Option<&'a RawValue>, Option<&'static str>)> {
        let m = &mut self.m;
        Some(match key {
            "format" => (&mut self.format, Some("format")),
            "content" => (&mut self.content, Some("content")),
            "measurement_uid" => (&mut m.measurement_uid, Some("measurement_uid")),
            "report_id" => (&mut m.report_id, Some("report_id")),
            "input" => (&mut m.input, Some("input")),
            "test_name" => (&mut m.test_name, Some("test_name")),
            "test_version" => (&mut m.test_version, Some("test_version")),
            "software_name" => (&mut m.software_name, Some("software_name")),
            "software_version" => (&mut m.software_version, Some("software_version")),
            "measurement_start_time" => (
                &mut m.measurement_start_time,
                Some("measurement_start_time"),
            ),
            "test_start_time" => (&mut m.test_start_time, Some("test_start_time")),
            "start_time" => (&mut m.start_time, Some("start_time")),
            "probe_cc" => (&mut m.probe_cc, Some("probe_cc")),
            "probe_asn" => (&mut m.probe_asn, Some("probe_asn")),
            "probe_network_name" => (&mut m.probe_network_name, Some("probe_network_name")),
            "resolver_asn" => (&mut m.resolver_asn, Some("resolver_asn")),
            "resolver_ip" => (&mut m.resolver_ip, Some("resolver_ip")),
            "resolver_network_name" => {
                (&mut m.resolver_network_name, Some("resolver_network_name"))
            }
            "test_runtime" => (&mut m.test_runtime, Some("test_runtime")),
            "control_failure" => (&mut m.control_failure, None),
            "experiment_failure" => (&mut m.experiment_failure, None),
            _ => return None,
        })
    }
}

/// Reads the top level of an object into a [`Captured`]; `None` for any other JSON value.
#[derive(Debug, Clone, Copy)]
struct Capture {
    duplicates: Duplicates,
    /// Whether an object `content` is read as a measurement in the same pass
    /// ([`Captured::nested`]) rather than kept as raw text ([`Captured::content`]).
    nest_content: bool,
}

impl Capture {
    /// A record, its `content` read where it stands.
    const RECORD: Capture = Capture {
        duplicates: Duplicates::RejectEnvelope,
        nest_content: true,
    };
    /// A record or a `.post`'s content on its own.
    const ALONE: Capture = Capture {
        duplicates: Duplicates::RejectEnvelope,
        nest_content: false,
    };
    /// A measurement as fastpath's Python reads it.
    const PYTHON: Capture = Capture {
        duplicates: Duplicates::LastWins,
        nest_content: false,
    };
}

impl<'de> DeserializeSeed<'de> for Capture {
    type Value = Option<Captured<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Capture {
    type Value = Option<Captured<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a measurement object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut captured = Captured::default();
        while let Some(key) = map.next_key::<CowStr<'de>>()? {
            captured.keys += 1;
            let lenient = self.duplicates == Duplicates::LastWins;
            // The two objects the verdict and the observations both read: one tree each,
            // whose duplicated keys resolve as Python's `json` (the last value wins).
            match key.0.as_ref() {
                "test_keys" => {
                    captured.m.test_keys = Some(map.next_value()?);
                    continue;
                }
                "annotations" => {
                    captured.m.annotations = Some(map.next_value()?);
                    continue;
                }
                "content" if self.nest_content => {
                    if !lenient && !matches!(captured.nested, Nested::Absent) {
                        return Err(de::Error::duplicate_field("content"));
                    }
                    captured.nested = match map.next_value_seed(Capture::ALONE)? {
                        Some(inner) => Nested::Object(Box::new(inner)),
                        None => Nested::Other,
                    };
                    continue;
                }
                _ => {}
            }
            match captured.slot(&key.0) {
                // Python's `json` keeps the last value; so does everything here but the
                // envelope fields of a record (see `Duplicates`).
                Some((slot, field)) => {
                    if let (Some(_), Some(field), false) = (&*slot, field, lenient) {
                        return Err(de::Error::duplicate_field(field));
                    }
                    *slot = Some(map.next_value::<&'de RawValue>()?);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(captured))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// Parses `text` (the whole of it) as `how` says.
fn capture(text: &str, how: Capture) -> Result<Option<Captured<'_>>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let captured = how.deserialize(&mut de)?;
    de.end()?;
    Ok(captured)
}

/// The envelope of a record, or the reject reason.
fn capture_record(text: &str) -> Result<Measurement<'_>, RecordError> {
    match capture(text, Capture::ALONE) {
        Ok(Some(c)) => Ok(c.m),
        Ok(None) => Err(RecordError::NotAnObject),
        Err(e) => Err(RecordError::InvalidJson(e.to_string())),
    }
}

impl<'a> Record<'a> {
    /// Reads one archive record: `raw` is the record exactly as stored (a JSONL line with
    /// its `\n`, or a `.post` member).
    ///
    /// In order: the bytes must be UTF-8; an empty record is a [`Skip::BlankLine`] (or, in
    /// a postcan, [`RecordError::EmptyPost`]); the text must be a JSON object; a `.post`
    /// wrapper (`format` and `content` keys) is unwrapped (`"format": "yaml"` is a
    /// [`Skip::YamlPost`]; `json` or no format needs an object `content`); `{}` is a
    /// [`Skip::Placeholder`]. A duplicated envelope key (any field the tables read, not
    /// `test_keys` or `annotations`) is [`RecordError::InvalidJson`]: the record would say
    /// two things about one column.
    /// So is a number beyond `f64` or nesting deeper than 128 anywhere in `test_keys` or
    /// `annotations`, which are read whole.
    ///
    /// ```
    /// use ooni_model::{Framing, Record, Skip};
    ///
    /// let post = br#"{"format":"json","content":{"test_name":"web_connectivity"}}"#;
    /// let Record::Measurement(m) = Record::parse(post, Framing::PostMember).unwrap() else {
    ///     panic!("a measurement");
    /// };
    /// assert_eq!(m.test_name.unwrap().get(), r#""web_connectivity""#);
    /// assert!(matches!(
    ///     Record::parse(b"{}\n", Framing::Line),
    ///     Ok(Record::Skipped(Skip::Placeholder))
    /// ));
    /// ```
    pub fn parse(raw: &'a [u8], framing: Framing) -> Result<Record<'a>, RecordError> {
        let text = std::str::from_utf8(raw).map_err(|e| RecordError::InvalidUtf8 {
            valid_up_to: e.valid_up_to(),
        })?;
        let trimmed = text.trim_ascii();
        if trimmed.is_empty() {
            return match framing {
                Framing::Line => Ok(Record::Skipped(Skip::BlankLine)),
                Framing::PostMember => Err(RecordError::EmptyPost),
            };
        }
        if !trimmed.starts_with('{') {
            // Distinguish "valid JSON of another type" from garbage for the reject reason.
            return Err(match serde_json::from_str::<IgnoredAny>(trimmed) {
                Ok(_) => RecordError::NotAnObject,
                Err(e) => RecordError::InvalidJson(e.to_string()),
            });
        }
        match one_pass(text) {
            Some(record) => record,
            None => two_pass(text),
        }
    }
}

/// A record read in one pass: a bare measurement, or a `.post` wrapper (in any key order)
/// whose object `content` is read where it stands instead of being skipped over and then
/// parsed. `None` where [`two_pass`] must decide, so that every reject keeps its message
/// (positions included) and every skip its reason: any JSON error, a content that is not
/// an object or is empty.
fn one_pass(text: &str) -> Option<Result<Record<'_>, RecordError>> {
    let outer = match capture(text, Capture::RECORD) {
        Ok(Some(outer)) => outer,
        Ok(None) => return Some(Err(RecordError::NotAnObject)),
        Err(_) => return None,
    };
    let m = match (present(outer.format), outer.nested) {
        (Some(format), Nested::Object(inner)) => {
            match post_format(format) {
                Ok(None) => {}
                Ok(Some(skip)) => return Some(Ok(Record::Skipped(skip))),
                Err(e) => return Some(Err(e)),
            }
            if inner.keys == 0 {
                return None;
            }
            inner.m
        }
        (Some(_), Nested::Other) => return None,
        _ if text.trim_ascii() == "{}" => return Some(Ok(Record::Skipped(Skip::Placeholder))),
        _ => outer.m,
    };
    Some(Ok(Record::Measurement(m)))
}

/// A `.post` wrapper's `format`: `json` or none reads the content (`None`); `yaml` is a
/// skip.
fn post_format(format: &RawValue) -> Result<Option<Skip>, RecordError> {
    match string("format", Some(format))?.as_deref() {
        Some("yaml") => Ok(Some(Skip::YamlPost)),
        Some("json") | None => Ok(None),
        Some(_) => Err(RecordError::invalid_value(
            "format",
            format.get(),
            "a .post wrapper's format is json or yaml",
        )),
    }
}

/// Any record: the top level first (a bare measurement, or a `.post` wrapper whose content
/// is then parsed on its own).
fn two_pass(text: &str) -> Result<Record<'_>, RecordError> {
    let outer = match capture(text, Capture::ALONE) {
        Ok(Some(c)) => c,
        Ok(None) => return Err(RecordError::NotAnObject),
        Err(e) => return Err(RecordError::InvalidJson(e.to_string())),
    };
    let (m, content_text) = match (present(outer.format), present(outer.content)) {
        (Some(format), Some(content)) => {
            if let Some(skip) = post_format(format)? {
                return Ok(Record::Skipped(skip));
            }
            let inner = content.get();
            if !inner.starts_with('{') {
                return Err(RecordError::wrong_type("content", "an object", inner));
            }
            (capture_record(inner)?, inner)
        }
        _ => (outer.m, text),
    };
    if content_text.trim_ascii() == "{}" {
        return Ok(Record::Skipped(Skip::Placeholder));
    }
    Ok(Record::Measurement(m))
}

impl<'a> Measurement<'a> {
    /// Parses a bare measurement object (no `.post` wrapper) as fastpath's Python reads
    /// it: a duplicated key keeps its last value.
    ///
    /// For the entry points that take a measurement's text (fastpath parity tests, the
    /// observations of one document); archive records go through [`Record::parse`].
    pub fn parse(text: &'a str) -> Result<Measurement<'a>, ParseError> {
        match capture(text, Capture::PYTHON)? {
            Some(c) => Ok(c.m),
            None => Err(ParseError::NotAnObject),
        }
    }

    /// `test_keys`, [`Json::Null`] when absent.
    pub fn test_keys(&self) -> &Json<'a> {
        static ABSENT: Json<'static> = Json::Null;
        self.test_keys.as_ref().unwrap_or(&ABSENT)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn measurement(raw: &str, framing: Framing) -> Measurement<'_> {
        match Record::parse(raw.as_bytes(), framing).unwrap() {
            Record::Measurement(m) => m,
            Record::Skipped(s) => panic!("skipped: {s:?}"),
        }
    }

    #[test]
    fn wrappers_are_unwrapped_and_fields_captured_raw() {
        let m = measurement(
            r#"{"format":"json","content":{"probe_cc":"IT","probe_asn":null,"test_keys":{"a":[1]},"x":{}}}"#,
            Framing::PostMember,
        );
        assert_eq!(m.probe_cc.unwrap().get(), r#""IT""#);
        assert_eq!(m.probe_asn.unwrap().get(), "null");
        assert!(m.report_id.is_none());
        assert_eq!(
            m.test_keys(),
            &Json::Object(vec![("a".into(), Json::Array(vec![Json::PosInt(1)]))])
        );
        // A null format or content is no wrapper: the measurement is the outer object.
        for line in [
            r#"{"format":null,"content":{"probe_cc":"IT"}}"#,
            r#"{"format":"json","content":null,"probe_cc":"DE"}"#,
        ] {
            let m = measurement(line, Framing::Line);
            assert_ne!(m.probe_cc.map(RawValue::get), Some(r#""IT""#), "{line}");
        }
    }

    #[test]
    fn skips_and_rejects() {
        for (raw, framing, want) in [
            ("\n", Framing::Line, Ok(Skip::BlankLine)),
            ("", Framing::PostMember, Err("empty_post")),
            ("{}\n", Framing::Line, Ok(Skip::Placeholder)),
            (
                r#"{"format":"json","content":{}}"#,
                Framing::PostMember,
                Ok(Skip::Placeholder),
            ),
            (
                r#"{"format":"yaml","content":"---"}"#,
                Framing::PostMember,
                Ok(Skip::YamlPost),
            ),
            (
                r#"{"format":"xml","content":{}}"#,
                Framing::PostMember,
                Err("invalid_value"),
            ),
            (
                r#"{"format":"json","content":"x"}"#,
                Framing::PostMember,
                Err("wrong_type"),
            ),
            ("[1]", Framing::Line, Err("not_an_object")),
            ("{\"a\":", Framing::Line, Err("invalid_json")),
            ("{\"a\":1} x", Framing::Line, Err("invalid_json")),
        ] {
            let got = match Record::parse(raw.as_bytes(), framing) {
                Ok(Record::Skipped(s)) => Ok(s),
                Ok(Record::Measurement(_)) => panic!("{raw:?} is a measurement"),
                Err(e) => Err(e.reason()),
            };
            assert_eq!(got, want, "{raw:?}");
        }
        assert_eq!(
            Record::parse(b"{\"a\":\"\xff\"}", Framing::Line).unwrap_err(),
            RecordError::InvalidUtf8 { valid_up_to: 6 }
        );
    }

    /// The one-pass reading gives what reading a wrapper and then its content gives, for
    /// every real fixture as a line and as a `.post` member of either key order, and leaves
    /// to the two passes what only they decide (errors, empty or non-object contents).
    #[test]
    fn one_pass_reads_what_two_passes_read() {
        let same = |text: &str| {
            let one = one_pass(text).unwrap_or_else(|| panic!("not one pass: {text:.200}"));
            assert_eq!(
                format!("{one:?}"),
                format!("{:?}", two_pass(text)),
                "{text:.200}"
            );
        };
        for (_, content) in crate::real_fixtures() {
            let content = content.trim();
            same(content);
            same(&format!(r#"{{"format":"json","content":{content}}}"#));
            same(&format!(
                r#"{{"content":{content},"format":"json","is_verified":"t"}}"#
            ));
        }

        for (text, in_one_pass) in [
            (r#"{"format":"json","content":{"a":1} } "#, true),
            (r#"{"content":{"a":1}, "format":"json"}"#, true),
            (r#"{"format":null,"content":{"a":1}}"#, true),
            (r#"{"format":"yaml","content":{"a":1}}"#, true),
            (r#"{"format":"xml","content":{}}"#, true),
            ("{}", true),
            ("[1]", true),
            (r#"{"format":"json","content":{}}"#, false),
            (
                r#"{"format":"json","content":{"a":1},"format":"json"}"#,
                false,
            ),
            (
                r#"{"format":"json","content":{"a":1},"content":{"a":1}}"#,
                false,
            ),
            (r#"{"format":"json","content":{"a":1}}}"#, false),
            (
                r#"{"format":"json","content":{"probe_cc":"IT","probe_cc":"IT"}}"#,
                false,
            ),
            (r#"{"format":"json","content":"{}"}"#, false),
            (r#"{"format":"yaml","content":"---"}"#, false),
        ] {
            assert_eq!(one_pass(text).is_some(), in_one_pass, "{text}");
            if in_one_pass {
                same(text);
            }
        }
    }

    /// `test_keys` is read whole, so what `serde_json` cannot represent anywhere in it (a
    /// number beyond `f64`, nesting deeper than its limit of 128) makes the record a reject
    /// with the position, whether or not a reader would have looked at that key; a hostile
    /// depth never reaches the stack.
    #[test]
    fn unrepresentable_test_keys_are_rejects_wherever_they_are() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        for (test_keys, detail) in [
            (r#"{"unread":1e400}"#.to_owned(), "number out of range"),
            (
                format!(r#"{{"unread":{deep}}}"#),
                "recursion limit exceeded",
            ),
        ] {
            let line = format!(r#"{{"test_name":"web_connectivity","test_keys":{test_keys}}}"#);
            match Record::parse(line.as_bytes(), Framing::Line) {
                Err(RecordError::InvalidJson(e)) => assert!(e.contains(detail), "{e}"),
                other => panic!("{other:?}"),
            }
        }
        let nested = format!(
            r#"{{"test_keys":{{"a":{}1{}}}}}"#,
            "[".repeat(120),
            "]".repeat(120)
        );
        assert!(Record::parse(nested.as_bytes(), Framing::Line).is_ok());
    }

    #[test]
    fn duplicated_envelope_fields_are_rejected_other_keys_last_wins() {
        let err =
            Record::parse(br#"{"probe_cc":"IT","probe_cc":"DE"}"#, Framing::Line).unwrap_err();
        assert_eq!(
            err,
            RecordError::InvalidJson("duplicate field `probe_cc` at line 1 column 27".into())
        );
        let m = measurement(
            r#"{"test_keys":1,"test_keys":2,"x":1,"x":2}"#,
            Framing::Line,
        );
        assert_eq!(m.test_keys(), &Json::PosInt(2));
        // Fastpath's view: the last value wins everywhere.
        let m = Measurement::parse(r#"{"probe_cc":"IT","probe_cc":"DE"}"#).unwrap();
        assert_eq!(m.probe_cc.unwrap().get(), r#""DE""#);
        assert!(matches!(
            Measurement::parse("[1]"),
            Err(ParseError::NotAnObject)
        ));
        assert!(matches!(Measurement::parse("{"), Err(ParseError::Json(_))));
    }
}
