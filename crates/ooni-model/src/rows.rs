//! The `measurements` row and the bundle of rows one measurement makes.

use chrono::{NaiveDate, NaiveDateTime};

use crate::observation::{Observation, StageOutcome};

/// Where a measurement's id came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UidSource {
    /// The postcan member name (`<measurement_uid>.post`): OONI's canonical id.
    Postcan,
    /// A `measurement_uid` field in the body (reprocessed `jsonl/` lines carry one).
    Body,
    /// Computed with OONI's `trivial_id` over the record bytes.
    TrivialId,
}

impl UidSource {
    /// A stable name for the `uid_source` column.
    pub fn as_str(self) -> &'static str {
        match self {
            UidSource::Postcan => "postcan",
            UidSource::Body => "body",
            UidSource::TrivialId => "trivial_id",
        }
    }

    /// Which id wins when the same measurement is read twice: OONI's own uid first.
    pub fn rank(self) -> u8 {
        match self {
            UidSource::Postcan => 0,
            UidSource::Body => 1,
            UidSource::TrivialId => 2,
        }
    }
}

/// OONI fastpath's judgement of a measurement, as columns (see `docs/fastpath-rules.md`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Judgement {
    /// `blocking_general > 0.5`.
    pub anomaly: bool,
    /// A known blockpage or DNS fingerprint matched, confirmed for the probe's country.
    pub confirmed: bool,
    /// The test itself failed (`accuracy < 0.5`): left out of failure rates.
    pub msm_failure: bool,
    /// Fastpath's `blocking_general` score.
    pub blocking_general: f64,
    /// Why `msm_failure`, when it is true.
    pub msm_failure_reason: Option<String>,
    /// The fingerprint that confirmed blocking, if any.
    pub matched_fingerprint: Option<String>,
    /// Why OONI's fastpath would drop this measurement entirely (no report id, country ZZ,
    /// AS0, a field it cannot parse): such rows are kept here but left out of `ooni_counts`
    /// and `failure_rates`, so those match OONI's numbers.
    pub ooni_drop_reason: Option<String>,
}

/// The `measurements` table's columns for one measurement (provenance is added by the
/// caller, who knows the archive).
#[derive(Debug, Clone, PartialEq)]
pub struct MeasurementRow {
    /// OONI's uid from the archive when it has one, else OONI's `trivial_id`.
    pub measurement_uid: String,
    /// Where `measurement_uid` came from.
    pub uid_source: UidSource,
    /// Identity of the content, for deduplication (`ooni_normalize::content_id`).
    pub content_id: String,
    /// `report_id`, if any (empty strings become `None`).
    pub report_id: Option<String>,
    /// `input`; a list input is written `{a,b}` as OONI's API does.
    pub input: Option<String>,
    /// Lower-cased host of the (first) URL input; `None` when the input has no
    /// `scheme://host` or its host is not a plausible DNS name or IP literal (see
    /// `ooni_observations::domain_of_url`), the input itself being kept as written.
    pub domain: Option<String>,
    /// The body's test name, in its canonical spelling ([`crate::TestName`]).
    pub test_name: String,
    /// Test version.
    pub test_version: Option<String>,
    /// Probe software name.
    pub software_name: Option<String>,
    /// Probe software version.
    pub software_version: Option<String>,
    /// Probe-reported start, UTC.
    pub measurement_start_time: NaiveDateTime,
    /// The UTC day of `measurement_start_time`: the partition and aggregation key.
    pub measurement_day: NaiveDate,
    /// Country code, upper-cased (`None` when the probe sent none).
    pub probe_cc: Option<String>,
    /// `AS1234` (or `as1234`) → 1234.
    pub probe_asn: u32,
    /// Network name of the probe's ASN.
    pub probe_network_name: Option<String>,
    /// Resolver ASN, when known.
    pub resolver_asn: Option<u32>,
    /// Resolver IP, when known (`[scrubbed]` becomes `None`).
    pub resolver_ip: Option<String>,
    /// Network name of the resolver's ASN.
    pub resolver_network_name: Option<String>,
    /// Measurement runtime in seconds.
    pub test_runtime: Option<f64>,
}

/// Where a measurement was read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Provenance {
    /// The archive's key.
    pub source_key: String,
    /// Line number (from 1) in a `.jsonl.gz`.
    pub source_line: Option<u64>,
    /// Member name in a postcan.
    pub source_member: Option<String>,
}

/// One measurement ready to be written: every row it makes, and where it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// Envelope columns.
    pub row: MeasurementRow,
    /// Verdict columns.
    pub judgement: Judgement,
    /// Where it was read.
    pub provenance: Provenance,
    /// Its network operations (the `observations` table).
    pub observations: Vec<Observation>,
    /// Its per-domain stage outcomes (the `outcomes` table behind `failure_rates`).
    pub outcomes: Vec<StageOutcome>,
}
