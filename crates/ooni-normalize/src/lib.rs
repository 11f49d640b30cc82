//! Normalization of one OONI measurement: a pure function from the bytes of one archive
//! record to one `measurements` row (or a skip, or a reject with a reason).
//!
//! The principal items:
//! - [`normalize`]: bytes of one JSONL line or postcan member → [`Outcome`];
//! - [`MeasurementRow`]: the envelope fields, typed (integer ASNs, UTC timestamps, the day),
//!   with the measurement's id ([`trivial_id`] when the archive gives none) and its
//!   [`content_id`], the identity used to drop duplicates across layouts;
//! - [`NormalizeError`]: why a record is rejected, with a stable [`NormalizeError::reason`].
//!
//! The network operations of the measurement ([`Observation`]s) and the per-domain stage
//! outcomes come from `ooni-observations`, and OONI fastpath's verdict ([`Judgement`]) from
//! `ooni-verdict`, both called here so that one pure function turns a record into everything
//! the tables hold.
//!
//! Nothing here does I/O, and nothing knows about S3, Parquet or polars.

mod envelope;
mod ids;
mod time;

use std::borrow::Cow;

use chrono::{NaiveDate, NaiveDateTime};
use ooni_observations::domain_of_url;

pub use ids::{content_id, trivial_id};
pub use ooni_observations::{Observation, StageOutcome};
pub use time::parse_measurement_time;

/// The test names OONI's probes write in a measurement's `test_name`, as written there
/// (snake_case for most, one word for the newer probe-cli experiments).
///
/// Sources: the `test_name` given by OONI's test specifications (`ooni/spec`,
/// `nettests/ts-002` … `ts-041`), the experiments registered by `ooni/probe-cli`
/// (`internal/registry`), and every test name in the real-measurement fixtures
/// (`tests/fixtures/ooni-real`, including the YAML-era `dns_n_http`).
///
/// [`canonical_test_name`] uses this list to undo the compact spelling of OONI's bucket
/// keys (`webconnectivity`), so a name matters here only if it has an underscore; the
/// others are listed so that the list says which names are known. Names that OONI itself
/// writes in both spellings stay distinct: probe-cli renamed `stun_reachability` to
/// `stunreachability` in 2021 and OONI's API lists the new name, so both are here and each
/// is kept as written.
pub const KNOWN_TEST_NAMES: &[&str] = &[
    // Python ooniprobe, Measurement Kit and their specifications (2012–2020).
    "bridge_reachability",
    "captiveportal",
    "dns_consistency",
    "dns_injection",
    "dns_n_http",
    "dns_spoof",
    "http_header_field_manipulation",
    "http_host",
    "http_invalid_request_line",
    "http_requests",
    "lantern_circumvention_tool_test",
    "meek_fronted_requests_test",
    "multi_protocol_traceroute",
    "openvpn_client_test",
    "tcp_connect",
    // probe-engine / probe-cli experiments and their specifications.
    "browser_web",
    "dash",
    "ddr",
    "dnscheck",
    "dnsping",
    "doh",
    "echcheck",
    "example",
    "facebook_messenger",
    "http_host_header",
    "ndt",
    "openvpn",
    "portfiltering",
    "psiphon",
    "quicping",
    "riseupvpn",
    "shadowsocks",
    "signal",
    "simple_sni",
    "simplequicping",
    "sni_blocking",
    "stun_reachability",
    "stunreachability",
    "tcpping",
    "telegram",
    "tlsmiddlebox",
    "tlsping",
    "tlstool",
    "tor",
    "torsf",
    "urlgetter",
    "vanilla_tor",
    "web_connectivity",
    "whatsapp",
];

/// The canonical spelling of a body's `test_name`: a name without underscore that is the
/// underscore-free spelling of a [`KNOWN_TEST_NAMES`] entry becomes that entry
/// (`webconnectivity` → `web_connectivity`, `httpheaderfieldmanipulation` →
/// `http_header_field_manipulation`); every other name is returned as written (a known
/// name, `stunreachability` included, an unknown one like `foobar`, or one with
/// underscores).
///
/// OONI's bucket keys spell test names without underscores and a few bodies carry that
/// spelling; without this they would make a `test_name` partition of their own. The row's
/// `test_name`, its [`content_id`] and the observations all use the canonical name, so a
/// body that already uses a known name keeps its identity.
///
/// ```
/// use ooni_normalize::canonical_test_name;
///
/// assert_eq!(canonical_test_name("webconnectivity"), "web_connectivity");
/// assert_eq!(canonical_test_name("web_connectivity"), "web_connectivity");
/// assert_eq!(canonical_test_name("foobar"), "foobar");
/// ```
pub fn canonical_test_name(name: &str) -> Cow<'_, str> {
    if name.contains('_') || KNOWN_TEST_NAMES.contains(&name) {
        return Cow::Borrowed(name);
    }
    let known = KNOWN_TEST_NAMES
        .iter()
        .find(|known| known.contains('_') && known.bytes().filter(|&b| b != b'_').eq(name.bytes()));
    Cow::Borrowed(known.copied().unwrap_or(name))
}

/// How a record was classified.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A measurement.
    Measurement(Box<Normalized>),
    /// A record that holds no measurement, on purpose.
    Skipped(Skip),
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

/// Where a measurement's id came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UidSource {
    /// The postcan member name (`<measurement_uid>.post`): OONI's canonical id.
    Postcan,
    /// A `measurement_uid` field in the body (reprocessed `jsonl/` lines carry one).
    Body,
    /// Computed with OONI's [`trivial_id`] over the record bytes.
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

/// One normalized measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    /// The `measurements` row.
    pub row: MeasurementRow,
    /// OONI fastpath's verdict.
    pub judgement: Judgement,
    /// One row per network operation (DNS, TCP, TLS, HTTP), attributed to its target.
    pub observations: Vec<Observation>,
    /// Per (domain, stage) outcomes, each failure at the first stage that failed.
    pub outcomes: Vec<StageOutcome>,
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

/// A JSON string literal.
fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// Judges `content` (the bare measurement) as OONI's fastpath would, and returns the
/// blocking fingerprints confirmed for its country, with where they matched.
fn judge(content: &str, uid: &str) -> (Judgement, ooni_observations::FingerprintMatches) {
    let fingerprints = ooni_verdict::Fingerprints::embedded();
    let dropped = ooni_verdict::drop_reason(content).map(|d| d.as_str().to_owned());
    match ooni_verdict::judge(content, Some(uid), fingerprints) {
        Ok(v) => {
            // A DNS answer is a blockpage address when the fingerprint is known from the
            // probe's country (ooni/data's `country_consistent_blockpage`); a response is a
            // blockpage when fastpath confirms the fingerprint (`is_confirmed`: the
            // country, or a national or ISP-wide scope).
            let mut matches = ooni_observations::FingerprintMatches::default();
            for hit in &v.fingerprint_hits {
                match &hit.location {
                    ooni_verdict::HitLocation::DnsAnswer(a) if hit.country_consistent => {
                        matches.dns.push((a.clone(), hit.name.clone()));
                    }
                    ooni_verdict::HitLocation::Response(i) if hit.confirmed => {
                        matches.responses.push((*i, hit.name.clone()));
                    }
                    _ => {}
                }
            }
            (judgement_of(v, dropped), matches)
        }
        // Fastpath would raise on this measurement and write no row: a drop.
        Err(e) => (
            Judgement {
                msm_failure: true,
                msm_failure_reason: Some("unscorable".to_owned()),
                ooni_drop_reason: dropped.or_else(|| Some(format!("unscorable: {e}"))),
                ..Judgement::default()
            },
            ooni_observations::FingerprintMatches::default(),
        ),
    }
}

fn judgement_of(v: ooni_verdict::Verdict, dropped: Option<String>) -> Judgement {
    Judgement {
        anomaly: v.anomaly,
        confirmed: v.confirmed,
        msm_failure: v.msm_failure,
        blocking_general: v.blocking_general,
        msm_failure_reason: v.failure_reason.map(str::to_owned),
        matched_fingerprint: v.matched_fingerprint,
        ooni_drop_reason: dropped,
    }
}

/// The `measurements` table's columns for one measurement (provenance is added by the
/// caller, who knows the archive).
#[derive(Debug, Clone, PartialEq)]
pub struct MeasurementRow {
    /// OONI's uid from the archive when it has one, else OONI's `trivial_id`.
    pub measurement_uid: String,
    /// Where `measurement_uid` came from.
    pub uid_source: UidSource,
    /// Identity of the content, for deduplication (see [`content_id`]).
    pub content_id: String,
    /// `report_id`, if any (empty strings become `None`).
    pub report_id: Option<String>,
    /// `input`; a list input is written `{a,b}` as OONI's API does.
    pub input: Option<String>,
    /// Lower-cased host of the (first) URL input; `None` when the input has no
    /// `scheme://host` or its host is not a plausible DNS name or IP literal (see
    /// [`ooni_observations::domain_of_url`]), the input itself being kept as written.
    pub domain: Option<String>,
    /// The body's test name, in its canonical spelling ([`canonical_test_name`]).
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
    /// Country code (`None` when the probe sent none).
    pub probe_cc: Option<String>,
    /// `AS1234` → 1234.
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

/// Why a record cannot become a measurement row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormalizeError {
    /// The bytes are not UTF-8.
    #[error("not UTF-8 (first bad byte at offset {valid_up_to})")]
    InvalidUtf8 {
        /// Offset of the first invalid byte.
        valid_up_to: usize,
    },
    /// The bytes are not JSON.
    #[error("not valid JSON: {0}")]
    InvalidJson(String),
    /// Valid JSON, but not an object.
    #[error("the JSON value is not an object")]
    NotAnObject,
    /// A zero-length postcan member.
    #[error("empty .post member")]
    EmptyPost,
    /// A field the tables need is absent or null.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// A field has the wrong JSON type.
    #[error("field `{field}` should be {expected}, found `{found}`")]
    WrongType {
        /// The field.
        field: &'static str,
        /// What it should be.
        expected: &'static str,
        /// The start of what it is.
        found: String,
    },
    /// A field's value is not in the expected form.
    #[error("field `{field}` has an invalid value `{value}`: {why}")]
    InvalidValue {
        /// The field.
        field: &'static str,
        /// The value (truncated).
        value: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

impl NormalizeError {
    /// A stable, machine-readable reason (the `reason` column of `rejects/`).
    pub fn reason(&self) -> &'static str {
        match self {
            NormalizeError::InvalidUtf8 { .. } => "invalid_utf8",
            NormalizeError::InvalidJson(_) => "invalid_json",
            NormalizeError::NotAnObject => "not_an_object",
            NormalizeError::EmptyPost => "empty_post",
            NormalizeError::MissingField(_) => "missing_field",
            NormalizeError::WrongType { .. } => "wrong_type",
            NormalizeError::InvalidValue { .. } => "invalid_value",
        }
    }
}

/// Normalizes one archive record.
///
/// `raw` is the record exactly as stored (a JSONL line with its `\n`, or a `.post` member);
/// `archive_uid` is the uid the archive gives it (postcan member name), if any.
pub fn normalize(raw: &[u8], archive_uid: Option<&str>) -> Result<Outcome, NormalizeError> {
    let text = std::str::from_utf8(raw).map_err(|e| NormalizeError::InvalidUtf8 {
        valid_up_to: e.valid_up_to(),
    })?;
    let trimmed = text.trim_ascii();
    if trimmed.is_empty() {
        return Ok(Outcome::Skipped(if archive_uid.is_some() {
            return Err(NormalizeError::EmptyPost);
        } else {
            Skip::BlankLine
        }));
    }
    if !trimmed.starts_with('{') {
        // Distinguish "valid JSON of another type" from garbage for the reject reason.
        return Err(
            match serde_json::from_str::<serde::de::IgnoredAny>(trimmed) {
                Ok(_) => NormalizeError::NotAnObject,
                Err(e) => NormalizeError::InvalidJson(e.to_string()),
            },
        );
    }
    let outer: envelope::Envelope<'_> =
        serde_json::from_str(text).map_err(|e| NormalizeError::InvalidJson(e.to_string()))?;
    let (env, content_text) = match (outer.format, outer.content) {
        (Some(format), Some(content)) => {
            match envelope::string("format", Some(format))?.as_deref() {
                Some("yaml") => return Ok(Outcome::Skipped(Skip::YamlPost)),
                Some("json") | None => {}
                Some(_) => {
                    return Err(NormalizeError::InvalidValue {
                        field: "format",
                        value: envelope::preview(format.get()),
                        why: "a .post wrapper's format is json or yaml",
                    });
                }
            }
            let inner = content.get();
            if !inner.starts_with('{') {
                return Err(NormalizeError::WrongType {
                    field: "content",
                    expected: "an object",
                    found: envelope::preview(inner),
                });
            }
            let env: envelope::Envelope<'_> = serde_json::from_str(inner)
                .map_err(|e| NormalizeError::InvalidJson(e.to_string()))?;
            (env, inner)
        }
        _ => (outer, text),
    };
    if content_text.trim_ascii() == "{}" {
        return Ok(Outcome::Skipped(Skip::Placeholder));
    }
    let row = build_row(&env, raw, archive_uid)?;
    // Fastpath sees the measurement as OONI's normalizer left it: with the substituted
    // start time and the unknown network's `AS0` (only inserted when the key is absent, so
    // no key is ever duplicated).
    let mut patched = String::new();
    let mut insert = |key: &str, value: &str| {
        if patched.is_empty() {
            patched = content_text.trim_start().to_owned();
        }
        let field = format!("{}:{},", json_string(key), json_string(value));
        patched.insert_str(1, &field);
    };
    if env.measurement_start_time.is_none() {
        insert(
            "measurement_start_time",
            &row.measurement_start_time
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
        );
    }
    if env.probe_asn.is_none() {
        insert("probe_asn", "AS0");
    }
    let judged_text = if patched.is_empty() {
        content_text
    } else {
        patched.as_str()
    };
    let (judgement, fingerprints) = judge(judged_text, &row.measurement_uid);
    // The canonical test name, not the body's spelling, decides which observations exist.
    let observed =
        ooni_observations::observe_judged(content_text, Some(&row.test_name), &fingerprints)
            .map_err(|e| NormalizeError::InvalidJson(e.to_string()))?;
    Ok(Outcome::Measurement(Box::new(Normalized {
        row,
        judgement,
        observations: observed.observations,
        outcomes: observed.outcomes,
    })))
}

fn build_row(
    env: &envelope::Envelope<'_>,
    raw: &[u8],
    archive_uid: Option<&str>,
) -> Result<MeasurementRow, NormalizeError> {
    use envelope::{lenient_string, non_empty, string};

    let body_test_name = non_empty(string("test_name", env.test_name)?)
        .ok_or(NormalizeError::MissingField("test_name"))?;
    let test_name = canonical_test_name(&body_test_name);
    validate_test_name(&test_name)?;
    let (start_field, start_text) = start_time(env)?;
    let start =
        parse_measurement_time(&start_text).ok_or_else(|| NormalizeError::InvalidValue {
            field: start_field,
            value: envelope::preview(&start_text),
            why: "expected YYYY-MM-DD HH:MM:SS (UTC)",
        })?;
    // OONI writes an unknown network as `AS0` (the 2015 meek_fronted_requests_test
    // reports carry no probe_asn at all); fastpath then leaves the measurement out of its
    // tables, and so do ooni_counts and failure_rates here (`ooni_drop_reason`).
    let probe_asn = match string("probe_asn", env.probe_asn)? {
        None => 0,
        Some(text) => parse_asn(&text).ok_or_else(|| NormalizeError::InvalidValue {
            field: "probe_asn",
            value: envelope::preview(&text),
            why: "expected AS followed by a number",
        })?,
    };
    let probe_cc = non_empty(string("probe_cc", env.probe_cc)?);
    if let Some(cc) = probe_cc
        .as_deref()
        .filter(|cc| cc.len() != 2 || !cc.bytes().all(|b| b.is_ascii_uppercase()))
    {
        return Err(NormalizeError::InvalidValue {
            field: "probe_cc",
            value: envelope::preview(cc),
            why: "expected two upper-case letters",
        });
    }
    let report_id = non_empty(string("report_id", env.report_id)?);
    let (input, domain) = match envelope::input(env.input)? {
        envelope::Input::None => (None, None),
        envelope::Input::One(s) => {
            let domain = domain_of_url(&s);
            (Some(s.into_owned()), domain)
        }
        envelope::Input::Many(list) => {
            let domain = list.first().and_then(|s| domain_of_url(s));
            (Some(format!("{{{}}}", list.join(","))), domain)
        }
    };
    let body_uid = non_empty(string("measurement_uid", env.measurement_uid)?);
    let (measurement_uid, uid_source) = match (archive_uid, body_uid) {
        (Some(uid), _) => (uid.to_owned(), UidSource::Postcan),
        (None, Some(uid)) => (uid.into_owned(), UidSource::Body),
        (None, None) => (trivial_id(raw, Some(start.date())), UidSource::TrivialId),
    };
    let content_id = content_id(
        report_id.as_deref(),
        &test_name,
        input.as_deref(),
        &start_text,
        &measurement_uid,
    );
    let resolver_ip =
        lenient_string(env.resolver_ip).filter(|ip| !ip.is_empty() && ip != "[scrubbed]");
    let test_runtime = env
        .test_runtime
        .and_then(|raw| serde_json::from_str::<f64>(raw.get()).ok());
    Ok(MeasurementRow {
        measurement_uid,
        uid_source,
        content_id,
        report_id: report_id.map(Cow::into_owned),
        input,
        domain,
        test_name: test_name.into_owned(),
        test_version: lenient_string(env.test_version),
        software_name: lenient_string(env.software_name),
        software_version: lenient_string(env.software_version),
        measurement_start_time: start,
        measurement_day: start.date(),
        probe_cc: probe_cc.map(Cow::into_owned),
        probe_asn,
        probe_network_name: lenient_string(env.probe_network_name),
        resolver_asn: lenient_string(env.resolver_asn)
            .as_deref()
            .and_then(parse_asn),
        resolver_ip,
        resolver_network_name: lenient_string(env.resolver_network_name),
        test_runtime,
    })
}

/// The measurement's start as `YYYY-MM-DD HH:MM:SS` text, and the field it came from.
///
/// `measurement_start_time` when present; otherwise, as OONI's normalizer does for
/// reports from before that key existed (`normalize_entry` in ooni/backend
/// `fastpath/fastpath/normalize.py`: "the old test_start_time key that now is called
/// measurement_start_time"), `test_start_time` (a string, or seconds since the epoch), then
/// the YAML-era `start_time` (seconds since the epoch).
fn start_time<'a>(
    env: &envelope::Envelope<'a>,
) -> Result<(&'static str, Cow<'a, str>), NormalizeError> {
    use envelope::string;
    if let Some(text) = string("measurement_start_time", env.measurement_start_time)? {
        return Ok(("measurement_start_time", text));
    }
    for (field, raw) in [
        ("test_start_time", env.test_start_time),
        ("start_time", env.start_time),
    ] {
        let Some(raw) = raw.filter(|r| r.get() != "null") else {
            continue;
        };
        if let Ok(secs) = serde_json::from_str::<f64>(raw.get()) {
            let when = epoch_text(secs).ok_or_else(|| NormalizeError::InvalidValue {
                field,
                value: envelope::preview(raw.get()),
                why: "expected seconds since the epoch",
            })?;
            return Ok((field, Cow::Owned(when)));
        }
        if let Some(text) = string(field, Some(raw))? {
            return Ok((field, text));
        }
    }
    Err(NormalizeError::MissingField("measurement_start_time"))
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SS` (UTC, truncated to the second, as
/// Python's `utcfromtimestamp(...).strftime`).
fn epoch_text(secs: f64) -> Option<String> {
    if !secs.is_finite() || !(0.0..4.0e9).contains(&secs) {
        return None;
    }
    // The range check makes the cast exact.
    let dt = chrono::DateTime::from_timestamp(secs.trunc() as i64, 0)?;
    Some(dt.naive_utc().format("%Y-%m-%d %H:%M:%S").to_string())
}

/// `AS1234` → 1234 (OONI's `int(probe_asn[2:])`).
fn parse_asn(s: &str) -> Option<u32> {
    let digits = s.strip_prefix("AS")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The test name becomes a partition directory, so it must be a plain identifier.
fn validate_test_name(name: &str) -> Result<(), NormalizeError> {
    let ok = name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
    if ok {
        Ok(())
    } else {
        Err(NormalizeError::InvalidValue {
            field: "test_name",
            value: envelope::preview(name),
            why: "expected lower-case letters, digits and underscores (at most 64)",
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn row(line: &str, uid: Option<&str>) -> MeasurementRow {
        match normalize(line.as_bytes(), uid).unwrap() {
            Outcome::Measurement(m) => m.row,
            Outcome::Skipped(s) => panic!("skipped: {s:?}"),
        }
    }

    const MSM: &str = r#"{"report_id":"20201020T101500Z_AS28787_x","test_name":"whatsapp","probe_cc":"AZ","probe_asn":"AS28787","measurement_start_time":"2020-10-20 10:15:00","input":null,"test_keys":{}}"#;

    #[test]
    fn wrapper_and_bare_line_give_the_same_row_but_different_ids() {
        let bare = row(&format!("{MSM}\n"), None);
        let wrapped = row(
            &format!(r#"{{"format":"json","content":{MSM}}}"#),
            Some("20201020101502.123456_AZ_whatsapp_0123456789abcdef"),
        );
        assert_eq!(bare.uid_source, UidSource::TrivialId);
        assert_eq!(wrapped.uid_source, UidSource::Postcan);
        assert_ne!(bare.measurement_uid, wrapped.measurement_uid);
        assert_eq!(bare.content_id, wrapped.content_id);
        assert_eq!(bare.probe_asn, 28787);
        assert_eq!(bare.measurement_day.to_string(), "2020-10-20");
    }

    #[test]
    fn placeholders_blank_lines_and_yaml_are_skips() {
        for (line, skip) in [
            ("{}\n", Skip::Placeholder),
            ("\n", Skip::BlankLine),
            (
                r#"{"format":"yaml","content":"---\nfoo: 1"}"#,
                Skip::YamlPost,
            ),
        ] {
            assert_eq!(
                normalize(line.as_bytes(), None).unwrap(),
                Outcome::Skipped(skip)
            );
        }
    }

    #[test]
    fn bad_records_are_rejected_with_a_reason() {
        let cases: [(&[u8], &str); 6] = [
            (b"{\"a\":", "invalid_json"),
            (b"[1,2]", "not_an_object"),
            (b"{\"test_name\":\"x\xff\"}", "invalid_utf8"),
            (
                br#"{"test_name":"whatsapp","probe_asn":28787,"measurement_start_time":"2020-10-20 10:15:00"}"#,
                "wrong_type",
            ),
            (
                br#"{"test_name":"../../etc","probe_asn":"AS1","measurement_start_time":"2020-10-20 10:15:00"}"#,
                "invalid_value",
            ),
            (br#"{"test_name":"whatsapp","probe_asn":"AS1"}"#, "missing_field"),
        ];
        for (raw, reason) in cases {
            let err = normalize(raw, None).unwrap_err();
            assert_eq!(err.reason(), reason, "{err}");
        }
    }

    #[test]
    fn old_reports_start_at_test_start_time_as_oonis_normalizer_says() {
        // A string `test_start_time` (2015 data format 0.2.0 reports).
        let r = row(
            r#"{"report_id":"x","test_name":"http_host","probe_asn":"AS3269","probe_cc":"IT","test_start_time":"2015-11-25 21:40:03"}"#,
            None,
        );
        assert_eq!(r.measurement_start_time.to_string(), "2015-11-25 21:40:03");
        // Seconds since the epoch, in `test_start_time` or (YAML era) `start_time`.
        for field in ["test_start_time", "start_time"] {
            let r = row(
                &format!(
                    r#"{{"report_id":"x","test_name":"http_requests","probe_asn":"AS1","{field}":1448185922.5}}"#
                ),
                None,
            );
            assert_eq!(r.measurement_start_time.to_string(), "2015-11-22 09:52:02");
        }
        // measurement_start_time wins when present.
        let r = row(
            r#"{"test_name":"x","probe_asn":"AS1","measurement_start_time":"2020-01-01 00:00:00","test_start_time":"2019-01-01 00:00:00"}"#,
            None,
        );
        assert_eq!(r.measurement_day.to_string(), "2020-01-01");
        // Neither: still a reject, naming the modern field.
        let err = normalize(br#"{"test_name":"x","probe_asn":"AS1"}"#, None).unwrap_err();
        assert_eq!(err, NormalizeError::MissingField("measurement_start_time"));
        let err = normalize(
            br#"{"test_name":"x","probe_asn":"AS1","test_start_time":"yesterday"}"#,
            None,
        )
        .unwrap_err();
        assert_eq!(err.reason(), "invalid_value");
    }

    #[test]
    fn a_missing_probe_asn_is_ooni_s_unknown_network() {
        let m = normalized(
            r#"{"report_id":"r","test_name":"meek_fronted_requests_test","measurement_start_time":"2015-08-28 12:11:25","test_keys":{}}"#,
        );
        assert_eq!(m.row.probe_asn, 0);
        // Fastpath sees `AS0` and leaves the measurement out, as it would OONI's row.
        assert_eq!(m.judgement.ooni_drop_reason.as_deref(), Some("unknown_asn"));
    }

    #[test]
    fn list_inputs_are_written_like_ooni_api() {
        let r = row(
            r#"{"test_name":"meek_fronted_requests_test","probe_asn":"AS1","measurement_start_time":"2021-01-22 10:00:00","input":["https://ajax.aspnetcdn.com/","az668014.vo.msecnd.net"]}"#,
            None,
        );
        assert_eq!(
            r.input.as_deref(),
            Some("{https://ajax.aspnetcdn.com/,az668014.vo.msecnd.net}")
        );
        assert_eq!(r.domain.as_deref(), Some("ajax.aspnetcdn.com"));
    }

    /// A web_connectivity measurement with `test_name` and `input` as given.
    fn web_connectivity(test_name: &str, input: &str) -> String {
        format!(
            r#"{{"report_id":"20240301T000000Z_webconnectivity_IT_30722_n1_x","test_name":"{test_name}","probe_cc":"IT","probe_asn":"AS30722","measurement_start_time":"2024-03-01 00:00:00","input":"{input}","test_keys":{{"queries":[{{"hostname":"example.org","query_type":"A","engine":"system","failure":null,"answers":[{{"answer_type":"A","ipv4":"93.184.216.34"}}]}}],"control":{{"dns":{{"addrs":["93.184.216.34"],"failure":null}},"http_request":{{"status_code":200,"failure":null}}}}}}}}"#
        )
    }

    fn normalized(line: &str) -> Normalized {
        match normalize(line.as_bytes(), None).unwrap() {
            Outcome::Measurement(m) => *m,
            Outcome::Skipped(s) => panic!("skipped: {s:?}"),
        }
    }

    #[test]
    fn an_implausible_input_host_gives_a_null_domain_not_a_reject() {
        let m = normalized(&web_connectivity(
            "web_connectivity",
            "http://exa mple.com/",
        ));
        assert_eq!(m.row.input.as_deref(), Some("http://exa mple.com/"));
        assert_eq!(m.row.domain, None);
        // The control's results stay observations, without a domain.
        let control: Vec<_> = m.observations.iter().filter(|o| o.is_control).collect();
        assert_eq!(control.len(), 2);
        assert!(control.iter().all(|o| o.domain.is_none()));
        // The probe's own lookup keeps its (valid) host name.
        assert!(
            m.observations
                .iter()
                .any(|o| !o.is_control && o.domain.as_deref() == Some("example.org"))
        );

        let m = normalized(&web_connectivity(
            "web_connectivity",
            "http://%65xample.com/",
        ));
        assert_eq!(m.row.domain, None);
        let m = normalized(&web_connectivity("web_connectivity", "http://example.org/"));
        assert_eq!(m.row.domain.as_deref(), Some("example.org"));
    }

    #[test]
    fn compact_test_names_join_the_snake_case_partition() {
        let canonical = normalized(&web_connectivity("web_connectivity", "http://example.org/"));
        let compact = normalized(&web_connectivity("webconnectivity", "http://example.org/"));
        assert_eq!(compact.row.test_name, "web_connectivity");
        assert_eq!(canonical.row.test_name, "web_connectivity");
        // Same content, same identity: the compact spelling is the same measurement.
        assert_eq!(compact.row.content_id, canonical.row.content_id);
        // The observations follow the canonical name too.
        assert!(!compact.observations.is_empty());
        assert_eq!(compact.observations, canonical.observations);
        assert_eq!(compact.outcomes, canonical.outcomes);

        let unknown = normalized(&web_connectivity("foobar", "http://example.org/"));
        assert_eq!(unknown.row.test_name, "foobar");
        assert!(unknown.observations.is_empty());
    }

    #[test]
    fn content_id_of_snake_case_bodies_is_unchanged() {
        // Pinned: outputs already written are keyed by it, so canonicalization must not move
        // the id of a body that already uses the known name.
        let m = normalized(&web_connectivity("web_connectivity", "http://example.org/"));
        assert_eq!(
            m.row.content_id,
            content_id(
                Some("20240301T000000Z_webconnectivity_IT_30722_n1_x"),
                "web_connectivity",
                Some("http://example.org/"),
                "2024-03-01 00:00:00",
                &m.row.measurement_uid,
            )
        );
    }

    #[test]
    fn canonical_test_names() {
        for (body, want) in [
            ("webconnectivity", "web_connectivity"),
            ("web_connectivity", "web_connectivity"),
            (
                "httpheaderfieldmanipulation",
                "http_header_field_manipulation",
            ),
            ("httpinvalidrequestline", "http_invalid_request_line"),
            ("facebookmessenger", "facebook_messenger"),
            ("vanillator", "vanilla_tor"),
            ("openvpnclienttest", "openvpn_client_test"),
            ("httphostheader", "http_host_header"),
            ("httphost", "http_host"),
            // OONI's own one-word names are kept as written.
            ("stunreachability", "stunreachability"),
            ("stun_reachability", "stun_reachability"),
            ("dnscheck", "dnscheck"),
            ("urlgetter", "urlgetter"),
            ("captiveportal", "captiveportal"),
            // Unknown names and partial spellings are left alone.
            ("foobar", "foobar"),
            ("web_connectivityy", "web_connectivityy"),
            ("webconnectivit", "webconnectivit"),
            ("web__connectivity", "web__connectivity"),
            ("", ""),
        ] {
            assert_eq!(canonical_test_name(body), want, "{body:?}");
        }
        assert!(matches!(
            canonical_test_name("webconnectivity"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn known_test_names_are_valid_and_their_compact_spellings_unambiguous() {
        let mut compact = std::collections::HashMap::new();
        for &name in KNOWN_TEST_NAMES {
            validate_test_name(name).unwrap();
            assert_eq!(canonical_test_name(name), name);
            if name.contains('_') {
                let c: String = name.chars().filter(|&c| c != '_').collect();
                // A compact spelling OONI itself uses (`stunreachability`) stays as written.
                let want = if KNOWN_TEST_NAMES.contains(&c.as_str()) {
                    c.as_str()
                } else {
                    name
                };
                assert_eq!(canonical_test_name(&c), want, "{c}");
                // Two snake_case names with one compact spelling would make the rule pick one.
                assert_eq!(compact.insert(c, name), None, "{name}");
            }
        }
        // Every test name of the real fixtures (including the YAML-era `dns_n_http`, which
        // is in `tests/fixtures/ooni-real/files/`) is known.
        for name in [
            "browser_web",
            "dash",
            "ddr",
            "dns_consistency",
            "dns_n_http",
            "dnscheck",
            "dnsping",
            "doh",
            "echcheck",
            "example",
            "facebook_messenger",
            "http_header_field_manipulation",
            "http_host",
            "http_invalid_request_line",
            "http_requests",
            "meek_fronted_requests_test",
            "multi_protocol_traceroute",
            "ndt",
            "openvpn",
            "openvpn_client_test",
            "portfiltering",
            "psiphon",
            "quicping",
            "riseupvpn",
            "shadowsocks",
            "signal",
            "simplequicping",
            "sni_blocking",
            "stun_reachability",
            "tcpping",
            "telegram",
            "tlsmiddlebox",
            "tlsping",
            "tor",
            "torsf",
            "urlgetter",
            "vanilla_tor",
            "web_connectivity",
            "whatsapp",
        ] {
            assert!(KNOWN_TEST_NAMES.contains(&name), "{name}");
        }
    }
}
