//! The top-level measurement fields the rules read; `test_keys` is kept raw and parsed
//! later by the scorer of the measurement's test.

use serde::de::{IgnoredAny, MapAccess};
use serde_json::value::RawValue;

use crate::VerdictError;
use crate::py::{CowStr, FromMap, Loose, MaybeDict, PyValue};

/// Top-level fields of one measurement.
#[derive(Debug, Default)]
pub(crate) struct Envelope<'a> {
    pub test_name: Loose<'a>,
    pub probe_cc: Loose<'a>,
    pub probe_asn: Loose<'a>,
    pub report_id: Loose<'a>,
    pub software_name: Loose<'a>,
    pub software_version: Loose<'a>,
    pub test_version: Loose<'a>,
    pub measurement_start_time: Loose<'a>,
    pub test_start_time: Loose<'a>,
    pub annotations: Option<PyValue<'a>>,
    pub input: Option<PyValue<'a>>,
    pub resolver_ip: Loose<'a>,
    pub control_failure: Loose<'a>,
    pub experiment_failure: Loose<'a>,
    pub test_keys: Option<&'a RawValue>,
}

impl<'de> FromMap<'de> for Envelope<'de> {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut e = Envelope::default();
        while let Some(k) = map.next_key::<CowStr<'de>>()? {
            match &*k.0 {
                "test_name" => e.test_name = map.next_value()?,
                "probe_cc" => e.probe_cc = map.next_value()?,
                "probe_asn" => e.probe_asn = map.next_value()?,
                "report_id" => e.report_id = map.next_value()?,
                "software_name" => e.software_name = map.next_value()?,
                "software_version" => e.software_version = map.next_value()?,
                "test_version" => e.test_version = map.next_value()?,
                "measurement_start_time" => e.measurement_start_time = map.next_value()?,
                "test_start_time" => e.test_start_time = map.next_value()?,
                "annotations" => e.annotations = Some(map.next_value()?),
                "input" => e.input = Some(map.next_value()?),
                "resolver_ip" => e.resolver_ip = map.next_value()?,
                "control_failure" => e.control_failure = map.next_value()?,
                "experiment_failure" => e.experiment_failure = map.next_value()?,
                "test_keys" => e.test_keys = Some(map.next_value::<&'de RawValue>()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(e)
    }
}

impl<'a> Envelope<'a> {
    /// Parses the top level of a measurement object.
    pub(crate) fn parse(json: &'a str) -> Result<Envelope<'a>, VerdictError> {
        match serde_json::from_str::<MaybeDict<Envelope<'a>>>(json)? {
            MaybeDict::Dict(e) => Ok(e),
            MaybeDict::Null | MaybeDict::NotDict => Err(VerdictError::NotAnObject),
        }
    }

    /// The raw `test_keys` text (`"null"` when absent).
    pub(crate) fn test_keys_json(&self) -> &'a str {
        self.test_keys.map_or("null", |r| r.get())
    }

    /// Whether `test_keys` is absent or `null`.
    pub(crate) fn test_keys_null(&self) -> bool {
        self.test_keys.is_none_or(|r| r.get() == "null")
    }
}
