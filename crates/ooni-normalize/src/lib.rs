//! Normalization of one OONI measurement: a pure function from the bytes of one archive
//! record to one `measurements` row (or a skip, or a reject with a reason), with its
//! verdict, observations and outcomes.
//!
//! The principal items:
//! - [`normalize`]: bytes of one JSONL line or postcan member → [`Outcome`];
//! - [`Normalized`]: everything one measurement makes: the [`MeasurementRow`] (the envelope
//!   fields, typed: integer ASNs, UTC timestamps, the day), with the measurement's id
//!   ([`trivial_id`] when the archive gives none) and its [`content_id`], the identity used
//!   to drop duplicates across layouts; OONI fastpath's [`Judgement`]; the
//!   [`Observation`]s and [`StageOutcome`]s;
//! - [`NormalizeError`]: why a record is rejected, with a stable [`NormalizeError::reason`].
//!
//! Each record is parsed once, by `ooni-model` ([`ooni_model::Record`]); the row's columns
//! come from its lenient accessors (one leniency, shared with the verdict: see
//! `ooni-model`'s documentation). `ooni-verdict` judges that same parse
//! ([`ooni_verdict::judge_measurement`]) and `ooni-observations` reads its network
//! operations from it ([`ooni_observations::observe_measurement`]); both read `test_keys`
//! and `annotations` from the trees the parse made of them, each into its own typed view,
//! and parse only the small `input` themselves. The row types live in
//! `ooni-model` and are re-exported here.
//!
//! Nothing here does I/O, and nothing knows about S3, Parquet or polars.

mod ids;

use std::borrow::Cow;

use ooni_model::{Framing, Input, Measurement, Record};
use ooni_observations::domain_of_url;

pub use ids::{content_id, trivial_id};
pub use ooni_model::{
    Judgement, KNOWN_TEST_NAMES, MeasurementRow, Observation, RecordError as NormalizeError, Skip,
    StageOutcome, UidSource, canonical_test_name, parse_start_time as parse_measurement_time,
};

/// How a record was classified.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A measurement.
    Measurement(Box<Normalized>),
    /// A record that holds no measurement, on purpose.
    Skipped(Skip),
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

/// Judges `m` as OONI's fastpath would, and returns the blocking fingerprints confirmed
/// for its country, with where they matched.
fn judge(
    m: &Measurement<'_>,
    filled: &ooni_verdict::Filled<'_>,
    uid: &str,
) -> (Judgement, ooni_observations::FingerprintMatches) {
    let fingerprints = ooni_verdict::Fingerprints::embedded();
    let dropped = ooni_verdict::drop_reason_of(m, filled).map(|d| d.as_str().to_owned());
    match ooni_verdict::judge_measurement(m, filled, Some(uid), fingerprints) {
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

/// Normalizes one archive record.
///
/// `raw` is the record exactly as stored (a JSONL line with its `\n`, or a `.post` member);
/// `archive_uid` is the uid the archive gives it (postcan member name), if any.
pub fn normalize(raw: &[u8], archive_uid: Option<&str>) -> Result<Outcome, NormalizeError> {
    let framing = match archive_uid {
        Some(_) => Framing::PostMember,
        None => Framing::Line,
    };
    let m = match Record::parse(raw, framing)? {
        Record::Measurement(m) => m,
        Record::Skipped(skip) => return Ok(Outcome::Skipped(skip)),
    };
    let row = build_row(&m, raw, archive_uid)?;
    // Fastpath sees the measurement as OONI's normalizer left it: with the substituted
    // start time and the unknown network's `AS0` where the keys are absent.
    let start_text = m
        .measurement_start_time
        .is_none()
        .then(|| ooni_model::format_start_time(&row.measurement_start_time));
    let filled = ooni_verdict::Filled {
        measurement_start_time: start_text.as_deref(),
        probe_asn: m.probe_asn.is_none().then_some("AS0"),
    };
    let (judgement, fingerprints) = judge(&m, &filled, &row.measurement_uid);
    // The canonical test name, not the body's spelling, decides which observations exist.
    let observed = ooni_observations::observe_measurement(&m, Some(&row.test_name), &fingerprints)
        .map_err(|e| NormalizeError::InvalidJson(e.to_string()))?;
    Ok(Outcome::Measurement(Box::new(Normalized {
        row,
        judgement,
        observations: observed.observations,
        outcomes: observed.outcomes,
    })))
}

/// The `measurements` row of `m`. The accessors are called in a fixed order, so a record
/// with several problems is always rejected for the same one.
fn build_row(
    m: &Measurement<'_>,
    raw: &[u8],
    archive_uid: Option<&str>,
) -> Result<MeasurementRow, NormalizeError> {
    let test_name = m.test_name()?;
    let start = m.start_time()?;
    let start_text = start.text();
    let probe_asn = m.probe_asn()?;
    let probe_cc = m.probe_cc()?;
    let report_id = m.report_id()?;
    let (input, domain) = match m.input()? {
        Input::None => (None, None),
        Input::One(s) => {
            let domain = domain_of_url(&s);
            (Some(s.into_owned()), domain)
        }
        Input::Many(list) => {
            let domain = list.first().and_then(|s| domain_of_url(s));
            (Some(format!("{{{}}}", list.join(","))), domain)
        }
    };
    let (measurement_uid, uid_source) = match (archive_uid, m.measurement_uid()?) {
        (Some(uid), _) => (uid.to_owned(), UidSource::Postcan),
        (None, Some(uid)) => (uid.into_owned(), UidSource::Body),
        (None, None) => (trivial_id(raw, Some(start.at.date())), UidSource::TrivialId),
    };
    let content_id = content_id(
        report_id.as_deref(),
        test_name.as_str(),
        input.as_deref(),
        &start_text,
        &measurement_uid,
    );
    Ok(MeasurementRow {
        measurement_uid,
        uid_source,
        content_id,
        report_id: report_id.map(Cow::into_owned),
        input,
        domain,
        test_name: test_name.into_string(),
        test_version: m.test_version(),
        software_name: m.software_name(),
        software_version: m.software_version(),
        measurement_start_time: start.at,
        measurement_day: start.at.date(),
        probe_cc,
        probe_asn,
        probe_network_name: m.probe_network_name(),
        resolver_asn: m.resolver_asn(),
        resolver_ip: m.resolver_ip(),
        resolver_network_name: m.resolver_network_name(),
        test_runtime: m.test_runtime(),
    })
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

    /// The one leniency (`ooni-model`): a lower-case country, an `as`-prefixed ASN and a
    /// one-digit hour, which fastpath reads as `AZ`, 28787 and 01:15, make the same row,
    /// verdict and observations as their canonical spelling, and the verdict reads the
    /// time the row has.
    #[test]
    fn fastpath_s_lenient_envelope_becomes_the_same_row() {
        let body = |cc: &str, asn: &str, time: &str| {
            format!(
                r#"{{"report_id":"20201020T011500Z_ndt_AZ_28787_n1_x","test_name":"ndt","probe_cc":"{cc}","probe_asn":"{asn}","test_start_time":"{time}","measurement_start_time":"{time}","input":null,"test_keys":{{}}}}"#
            )
        };
        let lenient = body("az", "as28787", "2020-10-20 1:15:00");
        let canonical = body("AZ", "AS28787", "2020-10-20 01:15:00");
        let post = |content: &str, uid: &str| -> Normalized {
            let raw = format!(r#"{{"format":"json","content":{content}}}"#);
            match normalize(raw.as_bytes(), Some(uid)).unwrap() {
                Outcome::Measurement(m) => *m,
                Outcome::Skipped(s) => panic!("skipped: {s:?}"),
            }
        };
        // Received 55 minutes before the start: fine; 65 minutes before: fastpath's date
        // rule (start > 1 h after the receive time) fails it. Both readings agree on which.
        for (uid, failure) in [
            ("20201020002000.000001_AZ_ndt_0123456789abcdef", None),
            (
                "20201020001000.000001_AZ_ndt_0123456789abcdef",
                Some("future_date"),
            ),
        ] {
            let m = post(&lenient, uid);
            assert_eq!(m.row.probe_cc.as_deref(), Some("AZ"));
            assert_eq!(m.row.probe_asn, 28787);
            assert_eq!(
                m.row.measurement_start_time.to_string(),
                "2020-10-20 01:15:00"
            );
            assert_eq!(m.judgement.ooni_drop_reason, None, "{uid}");
            assert_eq!(m.judgement.msm_failure_reason.as_deref(), failure, "{uid}");
            assert_eq!(m, post(&canonical, uid), "{uid}");
            // Fastpath's own reading of the text agrees.
            assert_eq!(ooni_verdict::drop_reason(&lenient), None);
            let v =
                ooni_verdict::judge(&lenient, Some(uid), ooni_verdict::Fingerprints::embedded())
                    .unwrap();
            assert_eq!(v.failure_reason, failure, "{uid}");
        }
        // As a JSONL line (trivial id over other bytes), the row is the same too.
        let line = row(&format!("{lenient}\n"), None);
        assert_eq!(
            (line.probe_cc.as_deref(), line.probe_asn),
            (Some("AZ"), 28787)
        );
        assert_eq!(
            line.content_id,
            row(&format!("{canonical}\n"), None).content_id
        );
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
}
