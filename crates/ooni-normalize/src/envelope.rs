//! The measurement envelope: the fields every OONI test shares, parsed typed and borrowed.
//!
//! Only the fields the tables need are deserialized; everything else is skipped by serde
//! without building values (parsing whole measurements into `serde_json::Value` is ~7× slower).
//! Fields whose type varies in old data are captured raw and checked here, so that a wrong
//! type is reported with the field's name.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::NormalizeError;

/// A `.post` wrapper or a bare measurement: both shapes are read by one struct, because a
/// bare measurement never has top-level `content` and `format` keys.
#[derive(Deserialize)]
pub(crate) struct Envelope<'a> {
    #[serde(borrow, default)]
    pub format: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub content: Option<&'a RawValue>,

    #[serde(borrow, default)]
    pub measurement_uid: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub report_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub input: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub test_name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub test_version: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub software_name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub software_version: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub measurement_start_time: Option<&'a RawValue>,
    /// Before 2016 the measurement's start was written `test_start_time` (a string, or a
    /// float of seconds since the epoch in YAML-era reports).
    #[serde(borrow, default)]
    pub test_start_time: Option<&'a RawValue>,
    /// YAML-era reports: the report's start, seconds since the epoch.
    #[serde(borrow, default)]
    pub start_time: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub probe_cc: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub probe_asn: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub probe_network_name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub resolver_asn: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub resolver_ip: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub resolver_network_name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub test_runtime: Option<&'a RawValue>,
}

/// A field that must be a string (or absent / null).
pub(crate) fn string<'a>(
    field: &'static str,
    raw: Option<&'a RawValue>,
) -> Result<Option<Cow<'a, str>>, NormalizeError> {
    let Some(raw) = raw else { return Ok(None) };
    let text = raw.get();
    if text == "null" {
        return Ok(None);
    }
    if !text.starts_with('"') {
        return Err(NormalizeError::WrongType {
            field,
            expected: "a string",
            found: preview(text),
        });
    }
    #[derive(Deserialize)]
    struct Str<'b>(#[serde(borrow)] Cow<'b, str>);
    serde_json::from_str::<Str<'a>>(text)
        .map(|s| Some(s.0))
        .map_err(|e| NormalizeError::InvalidJson(e.to_string()))
}

/// A descriptive field (software names, versions, network names): strings are kept, numbers
/// are kept as written, anything else is dropped. Never a reason to reject a measurement.
pub(crate) fn lenient_string(raw: Option<&RawValue>) -> Option<String> {
    let text = raw?.get();
    match text.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<String>(text).ok(),
        Some(b'-' | b'0'..=b'9') => Some(text.to_owned()),
        _ => None,
    }
}

/// A non-empty string field, or `None`.
pub(crate) fn non_empty(s: Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
    s.filter(|s| !s.is_empty())
}

/// `input` is a string, a list of strings (meek_fronted_requests_test), or null.
pub(crate) enum Input<'a> {
    None,
    One(Cow<'a, str>),
    Many(Vec<Cow<'a, str>>),
}

pub(crate) fn input(raw: Option<&RawValue>) -> Result<Input<'_>, NormalizeError> {
    let Some(raw) = raw else {
        return Ok(Input::None);
    };
    match raw.get().as_bytes().first() {
        Some(b'[') => {
            #[derive(Deserialize)]
            struct List<'b>(#[serde(borrow)] Vec<Option<Cow<'b, str>>>);
            let list: List<'_> =
                serde_json::from_str(raw.get()).map_err(|_| NormalizeError::WrongType {
                    field: "input",
                    expected: "a string or a list of strings",
                    found: preview(raw.get()),
                })?;
            Ok(Input::Many(list.0.into_iter().flatten().collect()))
        }
        _ => Ok(match non_empty(string("input", Some(raw))?) {
            Some(s) => Input::One(s),
            None => Input::None,
        }),
    }
}

/// Up to 80 characters of a JSON value, for error messages.
pub(crate) fn preview(text: &str) -> String {
    let mut end = text.len().min(80);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}
