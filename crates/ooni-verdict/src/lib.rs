//! OONI fastpath-compatible verdicts for one measurement.
//!
//! This crate is a port of the per-measurement scoring of OONI's *fastpath*
//! (`fastpath/fastpath/core.py` in `ooni/backend`): `score_measurement` and every
//! `score_*` function it dispatches to, the blocking-fingerprint matching
//! (`match_fingerprints`, `is_confirmed`), the date sanity rule
//! (`flag_measurements_with_wrong_date`) and the discard rules of `process_measurement`.
//! The flags it produces are the `anomaly`, `confirmed` and `msm_failure` columns of OONI's
//! `fastpath` table, which the OONI API aggregates into its anomaly / confirmed / failure /
//! ok counts. `docs/fastpath-rules.md` lists every rule and where it comes from.
//!
//! Principal items:
//!
//! * [`Fingerprints`]: the ooni/blocking-fingerprints tables, parsed once
//!   ([`Fingerprints::embedded`]) and shared by all threads.
//! * [`judge_measurement`]: scores one measurement, read once by `ooni-model`
//!   ([`ooni_model::Measurement`]), and returns a [`Verdict`]
//!   (`anomaly = blocking_general > 0.5`, `msm_failure = accuracy < 0.5`,
//!   `confirmed` = a fingerprint matched and is confirmed for the probe's country).
//!   The scorer of the measurement's test reads its typed view of `test_keys` from the
//!   record's [`ooni_model::Json`] tree.
//! * [`drop_reason_of`]: why fastpath would discard a measurement entirely ([`DropReason`]).
//! * [`Filled`]: the keys OONI's normalizer writes into a measurement that lacks them
//!   (the start time taken from `test_start_time`, `AS0`), passed in rather than written
//!   into the JSON.
//! * [`judge`] and [`drop_reason`]: the same for a measurement's JSON text.
//!
//! Start times and the receive time of a uid are read by `ooni-model`'s one parser
//! ([`ooni_model::parse_start_time`], CPython `_strptime`'s leniency).
//!
//! Fastpath is Python: it reads test keys with `dict.get`, relies on truthiness and
//! `True == 1`, and raises on some type surprises (it then logs the exception and writes
//! no row). The port keeps those semantics: odd test keys that fastpath scores as a failure
//! are a [`Verdict`] with `msm_failure`, and inputs on which fastpath would raise are
//! [`VerdictError::Unscorable`].
//!
//! # Failure reasons
//!
//! When `msm_failure` is set, [`Verdict::failure_reason`] names the first rule (in
//! fastpath's evaluation order) that set `accuracy` to 0:
//!
//! | reason | test | rule |
//! |---|---|---|
//! | `unsupported_test` | any | test name not scored by fastpath |
//! | `future_date` / `too_old` | any | start time > 1 h after / > 365 days before the uid's receive time |
//! | `null_test_keys` | web_connectivity | `test_keys` null or absent (so `blocking` is null) |
//! | `blocking_null` | web_connectivity | `blocking` null and no fingerprint matched |
//! | `unexpected_blocking` | web_connectivity | `blocking` not a known type nor false/null |
//! | `invalid_title_match` | web_connectivity | `title_match` not true/false/null |
//! | `accessible_null` | web_connectivity | `accessible` present and null, no fingerprint matched |
//! | `bad_base64` | web_connectivity | a base64 body/header has incorrect padding |
//! | `unknown_failure` | web_connectivity, whatsapp | a `*_failure` key starts with `unknown_failure` |
//! | `ascii_codec_bug` | whatsapp | `whatsapp_web_failure` has the `'ascii' codec` probe bug |
//! | `no_requests` | whatsapp, meek, hhfm | no requests to look at |
//! | `missing_requests` | whatsapp | the web or registration request is missing |
//! | `no_tcp_connect` | whatsapp | no endpoint connect result |
//! | `request_without_url` | telegram | a request has no `request.url` |
//! | `signal_failure` | signal | top-level `failed_operation`/`failure` missing or set |
//! | `missing_start_time` / `bad_start_time` | signal | start time absent / unparsable |
//! | `known_bad_version` | signal, torsf | probe versions with known bugs |
//! | `bad_version` / `bad_engine_version` | signal | version not PEP 440 |
//! | `known_bad_engine_version` | signal | engine < 3.17.2 after 2023-05-02 |
//! | `unknown_signal_status` | signal | `signal_backend_status` neither ok nor blocked |
//! | `null_response` | http_header_field_manipulation | `requests[0].response` is null |
//! | `no_data` | http_invalid_request_line | nothing sent and nothing received |
//! | `no_tor_logs` | vanilla_tor | no `tor_logs`/`tor_log` |
//! | `empty_test_keys` / `dash_failure` | dash | empty test keys / `failure` set |
//! | `no_bootstrap_time` / `no_resolver_ip` | psiphon | success without bootstrap time / no `resolver_ip` |
//! | `no_targets` / `legacy_targets_list` / `target_missing_keys` / `no_target_ran` | tor | target list problems |
//! | `control_or_experiment_failure` / `missing_match_keys` | http_requests | failed or incomplete legacy measurement |
//! | `success_null` | openvpn | `success` null or absent |
//! | `unknown_result` | browser_web | `result` neither ok nor error |

mod drop;
mod envelope;
mod fingerprints;
mod http;
mod pep440;
mod py;
mod pyb64;
mod score;

pub use fingerprints::{FingerprintError, Fingerprints};

use envelope::Envelope;
use ooni_model::{Measurement, ParseError, parse_start_time, parse_uid_time};
use py::Loose;

/// The verdict for one measurement, with fastpath semantics.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// `blocking_general > 0.5`.
    pub anomaly: bool,
    /// A fingerprint matched and is confirmed for the probe (country in the fingerprint's
    /// `expected_countries`, or scope `isp`/`nat`). Only web_connectivity and
    /// http_requests match fingerprints.
    pub confirmed: bool,
    /// `accuracy < 0.5` (including unsupported tests and the date sanity rule).
    pub msm_failure: bool,
    /// Fastpath's `blocking_general` score.
    pub blocking_general: f64,
    /// Fastpath's `accuracy` score (1.0 when fastpath leaves it unset).
    pub accuracy: f64,
    /// Short machine reason when `msm_failure` is set (see the crate docs for the list).
    pub failure_reason: Option<&'static str>,
    /// Name of the first confirmed fingerprint, if any.
    pub matched_fingerprint: Option<String>,
    /// Every fingerprint that matched, with where (web_connectivity only; fastpath matches
    /// fingerprints for web_connectivity and the legacy http_requests test).
    pub fingerprint_hits: Vec<FingerprintHit>,
}

/// Where a fingerprint matched in a measurement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HitLocation {
    /// A DNS answer of `test_keys.queries` (the address as the probe wrote it).
    DnsAnswer(String),
    /// The response of `test_keys.requests[index]` (its body or headers).
    Response(usize),
}

/// One fingerprint match (see [`Verdict::fingerprint_hits`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FingerprintHit {
    /// Where it matched.
    pub location: HitLocation,
    /// The fingerprint's name (e.g. `ooni.ru_5`).
    pub name: String,
    /// Whether fastpath's `is_confirmed` holds for the probe's country: the country is in
    /// the fingerprint's `expected_countries`, or its scope is `isp` or `nat`.
    pub confirmed: bool,
    /// Whether the probe's country is in the fingerprint's `expected_countries` (what
    /// ooni/data's analysis requires of a DNS fingerprint, whatever its scope).
    pub country_consistent: bool,
}

/// Why fastpath would drop the measurement entirely (it never reaches OONI's tables).
///
/// The first three are fastpath's explicit discard rules; the others are exceptions that
/// fastpath raises (and logs) while preparing the row, so no row is written either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// `report_id` absent or null (an empty string is *not* dropped).
    MissingReportId,
    /// `probe_cc` is `ZZ` (any case).
    UnknownCountry,
    /// `probe_asn` is `AS0` (any case).
    UnknownAsn,
    /// `probe_cc` is present but not a string (`.upper()` raises).
    InvalidProbeCc,
    /// `probe_asn` is not a string, or `int(probe_asn[2:])` fails.
    InvalidProbeAsn,
    /// No `test_name` key (`msm["test_name"]` raises).
    MissingTestName,
    /// `input` is not a string (nor a list of strings for meek_fronted_requests_test), or
    /// `urlparse(input)` raises.
    InvalidInput,
    /// `measurement_start_time` absent or not `YYYY-mm-dd HH:MM:SS`.
    InvalidMeasurementStartTime,
    /// `test_start_time` absent or not `YYYY-mm-dd HH:MM:SS`.
    InvalidTestStartTime,
    /// `annotations.ooni_run_link_id` is a list or an object (`int()` raises `TypeError`).
    InvalidOoniRunLinkId,
    /// Not JSON, or not a JSON object.
    Unparsable,
}

impl DropReason {
    /// A short machine label, e.g. `"missing_report_id"`.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::MissingReportId => "missing_report_id",
            DropReason::UnknownCountry => "unknown_country",
            DropReason::UnknownAsn => "unknown_asn",
            DropReason::InvalidProbeCc => "invalid_probe_cc",
            DropReason::InvalidProbeAsn => "invalid_probe_asn",
            DropReason::MissingTestName => "missing_test_name",
            DropReason::InvalidInput => "invalid_input",
            DropReason::InvalidMeasurementStartTime => "invalid_measurement_start_time",
            DropReason::InvalidTestStartTime => "invalid_test_start_time",
            DropReason::InvalidOoniRunLinkId => "invalid_ooni_run_link_id",
            DropReason::Unparsable => "unparsable",
        }
    }
}

/// Why a measurement could not be judged.
#[derive(Debug, thiserror::Error)]
pub enum VerdictError {
    /// The input is not valid JSON.
    #[error("invalid measurement JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The JSON is valid but not an object.
    #[error("measurement is not a JSON object")]
    NotAnObject,
    /// Fastpath would raise an exception while scoring this measurement (or in its date
    /// rule), so it writes no row for it: treat it like a drop. The string says what
    /// fastpath trips on.
    #[error("fastpath cannot score this measurement: {0}")]
    Unscorable(&'static str),
}

/// Keys OONI's normalizer writes into a measurement that lacks them, before fastpath
/// reads it (ooni/backend `fastpath/fastpath/normalize.py`). Each is used only when the
/// measurement has no such key (a key holding `null` is kept: fastpath sees `None`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Filled<'a> {
    /// `measurement_start_time` (`YYYY-MM-DD HH:MM:SS`), when the start came from
    /// `test_start_time` or `start_time`.
    pub measurement_start_time: Option<&'a str>,
    /// `probe_asn`: OONI writes an unknown network `AS0`.
    pub probe_asn: Option<&'a str>,
}

/// Why fastpath would discard `m`, or `None` if it would write a row.
///
/// This checks the envelope only (report id, country, ASN, test name, input, times).
/// Scoring-time exceptions, which depend on the test keys, are reported by
/// [`judge_measurement`] as [`VerdictError::Unscorable`].
pub fn drop_reason_of(m: &Measurement<'_>, filled: &Filled<'_>) -> Option<DropReason> {
    match Envelope::of(m, filled) {
        Ok(env) => drop::drop_reason(&env),
        Err(_) => Some(DropReason::Unparsable),
    }
}

/// Scores one measurement like fastpath.
///
/// `measurement_uid` is the archive's uid when it has one (postcans:
/// `YYYYmmddHHMMSS.ffffff_CC_test_hash`); the date sanity rule only applies to uids
/// starting with `20` (receive time in the uid). Pass `None` for trivial ids.
///
/// The discard rules are not applied here; see [`drop_reason_of`].
pub fn judge_measurement(
    m: &Measurement<'_>,
    filled: &Filled<'_>,
    measurement_uid: Option<&str>,
    fingerprints: &Fingerprints,
) -> Result<Verdict, VerdictError> {
    let env = Envelope::of(m, filled)?;
    judge_envelope(&env, measurement_uid, fingerprints)
}

/// Why fastpath would discard `measurement_json` (the bare measurement object), or `None`
/// if it would write a row: [`drop_reason_of`] for a measurement's text.
pub fn drop_reason(measurement_json: &str) -> Option<DropReason> {
    match Measurement::parse(measurement_json) {
        Ok(m) => drop_reason_of(&m, &Filled::default()),
        Err(_) => Some(DropReason::Unparsable),
    }
}

/// Scores one measurement like fastpath: [`judge_measurement`] for a measurement's text
/// (the bare measurement object, the `content` of a postcan wrapper already unwrapped).
pub fn judge(
    measurement_json: &str,
    measurement_uid: Option<&str>,
    fingerprints: &Fingerprints,
) -> Result<Verdict, VerdictError> {
    let m = Measurement::parse(measurement_json).map_err(|e| match e {
        ParseError::Json(e) => VerdictError::Json(e),
        ParseError::NotAnObject => VerdictError::NotAnObject,
    })?;
    judge_measurement(&m, &Filled::default(), measurement_uid, fingerprints)
}

fn judge_envelope(
    env: &Envelope<'_>,
    measurement_uid: Option<&str>,
    fingerprints: &Fingerprints,
) -> Result<Verdict, VerdictError> {
    let mut scores =
        score::score_measurement(env, fingerprints).map_err(|c| VerdictError::Unscorable(c.0))?;
    if let Some(uid) = measurement_uid {
        flag_wrong_date(env, uid, &mut scores)?;
    }
    let accuracy = scores.accuracy();
    let msm_failure = accuracy < 0.5;
    Ok(Verdict {
        anomaly: scores.blocking_general > 0.5,
        confirmed: scores.confirmed,
        msm_failure,
        blocking_general: scores.blocking_general,
        accuracy,
        failure_reason: if msm_failure { scores.reason } else { None },
        matched_fingerprint: scores.matched.map(|fp| fingerprints.name(fp).to_owned()),
        fingerprint_hits: scores
            .hits
            .into_iter()
            .map(
                |(location, fp, confirmed, country_consistent)| FingerprintHit {
                    location,
                    name: fingerprints.name(fp).to_owned(),
                    confirmed,
                    country_consistent,
                },
            )
            .collect(),
    })
}

/// `flag_measurements_with_wrong_date`: accuracy 0 when `measurement_start_time` is more
/// than 1 h after, or more than 365 days before, the receive time encoded in the uid.
fn flag_wrong_date(
    env: &Envelope<'_>,
    uid: &str,
    scores: &mut score::Scores,
) -> Result<(), VerdictError> {
    if !uid.starts_with("20") || uid.chars().count() < 20 {
        return Ok(());
    }
    let Some(recv) = parse_uid_time(uid) else {
        return Ok(());
    };
    // start_time = msm.get("measurement_start_time") or ""
    let start = match &env.measurement_start_time {
        Loose::Str(s) => parse_start_time(s),
        v if !v.truthy() => None,
        // strptime(<non-str>) raises TypeError, which the rule does not catch
        _ => {
            return Err(VerdictError::Unscorable(
                "measurement_start_time is not a string",
            ));
        }
    };
    let Some(start) = start else {
        return Ok(());
    };
    let delta = recv - start;
    if delta < -chrono::TimeDelta::hours(1) {
        scores.fail("future_date");
    } else if delta > chrono::TimeDelta::days(365) {
        scores.fail("too_old");
    }
    Ok(())
}
