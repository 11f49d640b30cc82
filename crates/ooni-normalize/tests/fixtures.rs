//! insta snapshots of the `measurements` row of every real fixture
//! (`tests/fixtures/ooni-real`, 206 measurements from OONI's repositories).
//!
//! Each fixture is normalized as a bare JSONL line (its bytes plus `\n`, so `trivial_id`
//! is computed as for an archive line) and as the content of a postcan member. A fixture
//! that cannot become a row is snapshotted as its reject.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::fixtures;
use ooni_normalize::{KNOWN_TEST_NAMES, Outcome, normalize};

/// The snapshot text of one record's outcome: the row's fields, or the reject.
fn describe(raw: &[u8], uid: Option<&str>) -> String {
    match normalize(raw, uid) {
        Ok(Outcome::Measurement(m)) => {
            let r = &m.row;
            format!(
                "measurement_uid: {}\nuid_source: {}\ncontent_id: {}\nreport_id: {:?}\ninput: {:?}\n\
                 domain: {:?}\ntest_name: {}\ntest_version: {:?}\nsoftware: {:?} {:?}\n\
                 measurement_start_time: {}\nmeasurement_day: {}\nprobe_cc: {:?}\nprobe_asn: {}\n\
                 probe_network_name: {:?}\nresolver: {:?} {:?} {:?}\ntest_runtime: {:?}\n\
                 observations: {}\noutcomes: {}\nverdict: {:?}\n",
                r.measurement_uid,
                r.uid_source.as_str(),
                r.content_id,
                r.report_id,
                r.input,
                r.domain,
                r.test_name,
                r.test_version,
                r.software_name,
                r.software_version,
                r.measurement_start_time,
                r.measurement_day,
                r.probe_cc,
                r.probe_asn,
                r.probe_network_name,
                r.resolver_asn,
                r.resolver_ip,
                r.resolver_network_name,
                r.test_runtime,
                m.observations.len(),
                m.outcomes.len(),
                m.judgement,
            )
        }
        Ok(Outcome::Skipped(skip)) => format!("skipped: {}\n", skip.as_str()),
        Err(e) => format!("rejected: {}\ndetail: {e}\n", e.reason()),
    }
}

#[test]
fn every_real_fixture_has_a_known_test_name() {
    for (name, bytes) in fixtures() {
        if let Ok(Outcome::Measurement(m)) = normalize(&bytes, None) {
            assert!(
                KNOWN_TEST_NAMES.contains(&m.row.test_name.as_str()),
                "{name}: `{}` is missing from KNOWN_TEST_NAMES",
                m.row.test_name
            );
        }
    }
}

#[test]
fn every_real_fixture_becomes_a_row_or_a_reject_and_matches_its_snapshot() {
    let fixtures = fixtures();
    assert_eq!(fixtures.len(), 206);
    for (name, bytes) in fixtures {
        let mut line = bytes.clone();
        line.push(b'\n');
        let as_line = describe(&line, None);
        insta::assert_snapshot!(name.clone(), as_line);

        // The same measurement in a postcan: OONI's uid from the member name, same content.
        let content = std::str::from_utf8(&bytes).unwrap();
        let post = format!("{{\"format\":\"json\",\"content\":{content}}}");
        let uid = "20201021101500.000001_XX_test_0123456789abcdef";
        let as_post = describe(post.as_bytes(), Some(uid));
        if as_line.starts_with("measurement_uid") {
            assert!(as_post.starts_with(&format!("measurement_uid: {uid}\nuid_source: postcan\n")));
            // Without a report id the content id is the uid's; everything after must agree,
            // except the verdict, whose date rule reads the receive time in OONI's uid.
            let tail = |s: &str| {
                let after = s.split_once("report_id").unwrap().1;
                after.split_once("verdict").unwrap().0.to_owned()
            };
            assert_eq!(
                tail(&as_line),
                tail(&as_post),
                "{name}: the wrapper changes nothing else"
            );
        } else {
            assert_eq!(as_line, as_post, "{name}");
        }
    }
}
