//! The top-level measurement fields the rules read, with Python's types, taken from the
//! one parse of the record ([`ooni_model::Measurement`]); `test_keys`, already read into
//! a tree, is deserialized by the scorer of the measurement's test into its own view.

use std::borrow::Cow;

use ooni_model::{Json, Measurement, RawValue};

use crate::Filled;
use crate::py::{Loose, PyValue};

/// Top-level fields of one measurement.
#[derive(Debug)]
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
    pub annotations: Option<&'a Json<'a>>,
    pub input: Option<PyValue<'a>>,
    pub resolver_ip: Loose<'a>,
    pub control_failure: Loose<'a>,
    pub experiment_failure: Loose<'a>,
    pub test_keys: &'a Json<'a>,
}

/// A field with Python's types (`Missing` when the key is absent).
fn loose(raw: Option<&RawValue>) -> Result<Loose<'_>, serde_json::Error> {
    raw.map_or(Ok(Loose::Missing), |r| serde_json::from_str(r.get()))
}

/// A whole (small) value with Python's types.
fn value(raw: Option<&RawValue>) -> Result<Option<PyValue<'_>>, serde_json::Error> {
    raw.map(|r| serde_json::from_str(r.get())).transpose()
}

/// A field, or the value OONI's normalizer writes when the measurement lacks the key.
fn loose_or<'a>(
    raw: Option<&'a RawValue>,
    fill: Option<&'a str>,
) -> Result<Loose<'a>, serde_json::Error> {
    match (raw, fill) {
        (None, Some(text)) => Ok(Loose::Str(Cow::Borrowed(text))),
        _ => loose(raw),
    }
}

impl<'a> Envelope<'a> {
    /// Fastpath's view of `m`, with the keys OONI's normalizer fills in. Fails only on a
    /// value `serde_json` cannot represent (a number beyond `f64`).
    pub(crate) fn of(
        m: &'a Measurement<'a>,
        fill: &Filled<'a>,
    ) -> Result<Envelope<'a>, serde_json::Error> {
        Ok(Envelope {
            test_name: loose(m.test_name)?,
            probe_cc: loose(m.probe_cc)?,
            probe_asn: loose_or(m.probe_asn, fill.probe_asn)?,
            report_id: loose(m.report_id)?,
            software_name: loose(m.software_name)?,
            software_version: loose(m.software_version)?,
            test_version: loose(m.test_version)?,
            measurement_start_time: loose_or(
                m.measurement_start_time,
                fill.measurement_start_time,
            )?,
            test_start_time: loose(m.test_start_time)?,
            annotations: m.annotations.as_ref(),
            input: value(m.input)?,
            resolver_ip: loose(m.resolver_ip)?,
            control_failure: loose(m.control_failure)?,
            experiment_failure: loose(m.experiment_failure)?,
            test_keys: m.test_keys(),
        })
    }

    /// Whether `test_keys` is absent or `null`.
    pub(crate) fn test_keys_null(&self) -> bool {
        *self.test_keys == Json::Null
    }
}
