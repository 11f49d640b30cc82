//! Fingerprint matching and the date sanity rule, on variations of a real measurement.
//!
//! The base document is the NETEM-QA `successWithHTTP` web_connectivity 0.5.28 measurement
//! (blocking false, accessible true, no fingerprint in it); each test plants one DNS answer,
//! body or header from the embedded ooni/blocking-fingerprints tables and changes the probe
//! country.
#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ooni_verdict::{DropReason, Fingerprints, Verdict, VerdictError, drop_reason, judge};
use serde_json::{Value, json};

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/ooni-real"
);
const BASE: &str = "web_connectivity__IT-20240212-v0.5.28-successWithHTTP__ooni-data.json";

fn base() -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{DIR}/{BASE}")).unwrap()).unwrap()
}

fn run(m: &Value) -> Verdict {
    judge(&m.to_string(), None, Fingerprints::embedded()).unwrap()
}

fn with_answer(cc: &str, answer: Value) -> Value {
    let mut m = base();
    m["probe_cc"] = json!(cc);
    m["test_keys"]["queries"][0]["answers"] = json!([answer]);
    m
}

fn with_response(cc: &str, body: Value, headers: Value) -> Value {
    let mut m = base();
    m["probe_cc"] = json!(cc);
    m["test_keys"]["requests"][0]["response"]["body"] = body;
    m["test_keys"]["requests"][0]["response"]["headers"] = headers;
    m
}

#[test]
fn base_document_is_ok() {
    let v = run(&base());
    assert!(!v.anomaly && !v.confirmed && !v.msm_failure, "{v:?}");
}

// ---- DNS ------------------------------------------------------------------------------

/// `ooni.ru_83`: 159.255.26.69, scope `prod` (locality general), expected_countries RU.
#[test]
fn dns_fingerprint_confirmed_in_expected_country() {
    let v = run(&with_answer(
        "RU",
        json!({"answer_type": "A", "ipv4": "159.255.26.69"}),
    ));
    assert!(v.confirmed && v.anomaly && !v.msm_failure, "{v:?}");
    assert_eq!(v.matched_fingerprint.as_deref(), Some("ooni.ru_83"));
    // prod → blocking_general = 1.0 directly; blocking false adds nothing
    assert_eq!(v.blocking_general, 1.0);
    // probe_cc is upper-cased before the comparison
    assert!(run(&with_answer("ru", json!({"ipv4": "159.255.26.69"}))).confirmed);
}

#[test]
fn dns_fingerprint_not_confirmed_elsewhere_unless_scope_isp_or_nat() {
    // Same answer from Germany: scope prod, DE not expected → matched but not confirmed.
    let v = run(&with_answer(
        "DE",
        json!({"answer_type": "A", "ipv4": "159.255.26.69"}),
    ));
    assert!(!v.confirmed && !v.anomaly && !v.msm_failure, "{v:?}");
    assert_eq!(v.matched_fingerprint, None);

    // `ooni.ir_10dot10_ipv4_1` (10.10.34.36) has scope nat: confirmed for any country,
    // locality country → blocking_country 1 is summed into blocking_general.
    let v = run(&with_answer(
        "DE",
        json!({"answer_type": "A", "ipv4": "10.10.34.36"}),
    ));
    assert!(v.confirmed && v.anomaly, "{v:?}");
    assert_eq!(v.blocking_general, 1.0);
    assert_eq!(
        v.matched_fingerprint.as_deref(),
        Some("ooni.ir_10dot10_ipv4_1")
    );

    // ... but never for probe_cc ZZ through expected_countries.
    let v = run(&with_answer("ZZ", json!({"ipv4": "159.255.26.69"})));
    assert!(!v.confirmed, "{v:?}");
}

#[test]
fn dns_answer_field_precedence() {
    // "ipv4" present (even null) hides "hostname".
    let v = run(&with_answer(
        "RU",
        json!({"ipv4": null, "hostname": "159.255.26.69"}),
    ));
    assert!(!v.confirmed, "{v:?}");
    let v = run(&with_answer(
        "RU",
        json!({"hostname": "159.255.26.69", "ipv6": "::1"}),
    ));
    assert!(v.confirmed, "{v:?}");
}

#[test]
fn unconfirmed_match_still_rescues_null_blocking() {
    // blocking null with no match → failure; with any (even unconfirmed) match → not.
    let mut m = with_answer("DE", json!({"ipv4": "159.255.26.69"}));
    m["test_keys"]["blocking"] = Value::Null;
    let v = run(&m);
    assert!(!v.msm_failure && !v.confirmed && !v.anomaly, "{v:?}");
    let mut m = base();
    m["test_keys"]["blocking"] = Value::Null;
    let v = run(&m);
    assert_eq!(
        (v.msm_failure, v.failure_reason),
        (true, Some("blocking_null"))
    );
}

// ---- bodies ---------------------------------------------------------------------------

/// `ooni.it_0`: body contains "GdF Stop Page", scope nat, IT.
#[test]
fn base64_body_with_blockpage_is_confirmed() {
    let page = "<html><head><title>Stop</title></head><body>GdF Stop Page</body></html>";
    let body = json!({"format": "base64", "data": B64.encode(page)});
    let v = run(&with_response("IT", body, json!({})));
    assert!(v.confirmed && v.anomaly && !v.msm_failure, "{v:?}");
    assert_eq!(v.matched_fingerprint.as_deref(), Some("ooni.it_0"));
    assert_eq!(v.blocking_general, 1.0); // blocking false + blocking_country 1
}

#[test]
fn body_patterns_are_plain_substrings() {
    // `ooni.in_11` "<title>Access Denied</title>" is scope inst, country IN.
    let body = json!("<html><title>Access Denied</title></html>");
    assert!(run(&with_response("IN", body.clone(), json!({}))).confirmed);
    assert!(!run(&with_response("IT", body, json!({}))).confirmed);
    // A `regexp` row is searched literally: "URL .* Sp.*er Gate" (cp.a_prod_drweb_3) does not
    // match text that only satisfies the regular expression.
    let v = run(&with_response(
        "RU",
        json!("URL xyz Spider Gate"),
        json!({}),
    ));
    assert!(v.matched_fingerprint.is_none() && !v.anomaly, "{v:?}");
}

#[test]
fn bad_base64_discards_matches_and_fails() {
    // Incorrect padding raises binascii.Error: fastpath rescores without any match and sets
    // accuracy 0, even though the DNS answer alone would have confirmed blocking.
    let mut m = with_answer("IR", json!({"ipv4": "10.10.34.36"}));
    m["test_keys"]["requests"][0]["response"]["body"] = json!({"format": "base64", "data": "QQ="});
    let v = run(&m);
    assert!(!v.confirmed && v.msm_failure && !v.anomaly, "{v:?}");
    assert_eq!(v.failure_reason, Some("bad_base64"));
}

#[test]
fn odd_bodies_fastpath_raises_on() {
    // A numeric body: `body.find` raises → no row.
    let m = with_response("IT", json!(12), json!({}));
    assert!(matches!(
        judge(&m.to_string(), None, Fingerprints::embedded()),
        Err(VerdictError::Unscorable(_))
    ));
    // A non-base64 dict body is logged and skipped.
    let v = run(&with_response(
        "IT",
        json!({"format": "hex", "data": "00"}),
        json!({}),
    ));
    assert!(!v.msm_failure && !v.anomaly, "{v:?}");
}

// ---- headers --------------------------------------------------------------------------

/// `ooni.ch_0`: header.location prefix "https://192.168.88.1/sgerror.php", scope inst, CH.
#[test]
fn header_prefix_match() {
    let headers = json!({"LOCATION": "https://192.168.88.1/sgerror.php?url=x"});
    let v = run(&with_response("CH", json!(""), headers.clone()));
    assert!(v.confirmed && v.anomaly, "{v:?}");
    assert_eq!(v.matched_fingerprint.as_deref(), Some("ooni.ch_0"));
    // inst → blocking_local, summed into blocking_general
    assert_eq!(v.blocking_general, 1.0);
    assert!(!run(&with_response("FR", json!(""), headers)).confirmed);

    // base64 header values are decoded (latin-1) before the prefix comparison
    let enc = json!({"Location": {"format": "base64", "data": B64.encode("https://192.168.88.1/sgerror.php")}});
    assert!(run(&with_response("CH", json!(""), enc)).confirmed);

    // the last header of a name wins after lower-casing
    let dup =
        json!({"Location": "https://192.168.88.1/sgerror.php", "location": "http://example.org/"});
    assert!(!run(&with_response("CH", json!(""), dup)).confirmed);
}

#[test]
fn header_full_and_ignored_contains() {
    // `ooni.br_1`: header.server full "SonicWALL" (inst, BR): equality only
    assert!(
        run(&with_response(
            "BR",
            json!(""),
            json!({"Server": "SonicWALL"})
        ))
        .confirmed
    );
    assert!(
        !run(&with_response(
            "BR",
            json!(""),
            json!({"Server": "SonicWALL 2"})
        ))
        .confirmed
    );
    // `cl.isp_ru_nevalink_forward` is a header.location `contains` row: fastpath ignores it
    let v = run(&with_response(
        "RU",
        json!(""),
        json!({"Location": "http://89.223.47.135/index.html"}),
    ));
    assert!(v.matched_fingerprint.is_none() && !v.anomaly, "{v:?}");
}

// ---- date sanity rule -----------------------------------------------------------------

/// `flag_measurements_with_wrong_date` on the real BR signal measurement
/// (measurement_start_time 2021-04-14 23:32:39, uid 20210414233242.034345_BR_signal_…).
#[test]
fn date_sanity_rule_uses_the_uid_receive_time() {
    let json = std::fs::read_to_string(format!(
        "{DIR}/signal__BR-20210414-v0.2.0-explorer-msmtmeta-4022005a__ooni-explorer.json"
    ))
    .unwrap();
    let fps = Fingerprints::embedded();
    let judge_uid = |uid: Option<&str>| judge(&json, uid, fps).unwrap();

    // The archive's real uid: received 3 s after the start → ok.
    let v = judge_uid(Some("20210414233242.034345_BR_signal_390dca674022005a"));
    assert!(!v.msm_failure, "{v:?}");

    // Received more than 1 h *before* the start: the start time is in the future.
    let v = judge_uid(Some("20210414223238.999999_BR_signal_390dca674022005a"));
    assert_eq!(
        (v.msm_failure, v.failure_reason),
        (true, Some("future_date"))
    );
    // Exactly 1 h before is still accepted (delta < -3600 s is required).
    let v = judge_uid(Some("20210414223239.000000_BR_signal_390dca674022005a"));
    assert!(!v.msm_failure, "{v:?}");

    // Received more than 365 days after the start: too old.
    let v = judge_uid(Some("20220414233240.000000_BR_signal_390dca674022005a"));
    assert_eq!((v.msm_failure, v.failure_reason), (true, Some("too_old")));
    let v = judge_uid(Some("20220414233239.000000_BR_signal_390dca674022005a"));
    assert!(!v.msm_failure, "{v:?}");

    // Trivial ids (legacy "01…") and no uid: the rule does not apply.
    assert!(!judge_uid(Some("0120210414aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")).msm_failure);
    assert!(!judge_uid(None).msm_failure);
    // A uid whose time cannot be parsed is ignored too.
    assert!(!judge_uid(Some("20211399999999.000000_BR_signal_390dca674022005a")).msm_failure);
}

#[test]
fn date_rule_also_fails_tests_that_score_nothing() {
    // ndt returns {} (never a failure), but the date rule still sets accuracy 0.
    let json = std::fs::read_to_string(format!(
        "{DIR}/ndt__DE-20221110-v0.8.0-explorer-msmtmeta-0f8b5993__ooni-explorer.json"
    ))
    .unwrap();
    let v = judge(
        &json,
        Some("20240101000000.000000_DE_ndt_b15c26280f8b5993"),
        Fingerprints::embedded(),
    )
    .unwrap();
    assert_eq!((v.msm_failure, v.failure_reason), (true, Some("too_old")));
}

// ---- drop rules -----------------------------------------------------------------------

#[test]
fn drop_rules() {
    let mut m = base();
    assert_eq!(drop_reason(&m.to_string()), None);
    m["report_id"] = json!("");
    assert_eq!(
        drop_reason(&m.to_string()),
        None,
        "an empty report_id is kept"
    );
    m["report_id"] = Value::Null;
    assert_eq!(
        drop_reason(&m.to_string()),
        Some(DropReason::MissingReportId)
    );
    let mut m = base();
    m["probe_cc"] = json!("zz");
    assert_eq!(
        drop_reason(&m.to_string()),
        Some(DropReason::UnknownCountry)
    );
    let mut m = base();
    m["probe_asn"] = json!("AS0");
    assert_eq!(drop_reason(&m.to_string()), Some(DropReason::UnknownAsn));
    m["probe_asn"] = json!("AS0001");
    assert_eq!(drop_reason(&m.to_string()), None);
    m["probe_asn"] = json!(3269);
    assert_eq!(
        drop_reason(&m.to_string()),
        Some(DropReason::InvalidProbeAsn)
    );
    let mut m = base();
    m["measurement_start_time"] = json!("2024-02-12T20:33:47Z");
    assert_eq!(
        drop_reason(&m.to_string()),
        Some(DropReason::InvalidMeasurementStartTime)
    );
    let mut m = base();
    m["input"] = json!("http://[example.org/");
    assert_eq!(drop_reason(&m.to_string()), Some(DropReason::InvalidInput));
    assert_eq!(drop_reason("[1, 2]"), Some(DropReason::Unparsable));
    assert!(matches!(
        judge("[1, 2]", None, Fingerprints::embedded()),
        Err(VerdictError::NotAnObject)
    ));
    assert!(matches!(
        judge("{", None, Fingerprints::embedded()),
        Err(VerdictError::Json(_))
    ));
}

/// Every match is reported with where it was found, and whether it holds for the probe's
/// country (fastpath's `is_confirmed`) and whether the country is one of the fingerprint's.
#[test]
fn fingerprint_hits_say_where_they_matched() {
    use ooni_verdict::HitLocation;
    // 10.10.34.36: Iran's national blockpage address, scope `nat`.
    for (cc, country) in [("IR", true), ("IT", false)] {
        let v = run(&with_answer(
            cc,
            json!({"answer_type": "A", "ipv4": "10.10.34.36"}),
        ));
        assert_eq!(v.fingerprint_hits.len(), 1, "{cc}");
        let hit = &v.fingerprint_hits[0];
        assert_eq!(
            hit.location,
            HitLocation::DnsAnswer("10.10.34.36".to_owned())
        );
        assert_eq!(hit.name, "ooni.ir_10dot10_ipv4_1");
        // A national fingerprint is confirmed anywhere by fastpath's rule…
        assert!(hit.confirmed, "{cc}");
        // …but it is only known from Iran.
        assert_eq!(hit.country_consistent, country, "{cc}");
    }
    // A body fingerprint (`ooni.in_11`, scope inst, country IN): the index of the request
    // whose response matched; unconfirmed elsewhere, but still reported.
    for (cc, confirmed) in [("IN", true), ("IT", false)] {
        let body = json!("<html><title>Access Denied</title></html>");
        let v = run(&with_response(cc, body, json!({})));
        let hit = v
            .fingerprint_hits
            .iter()
            .find(|h| h.name == "ooni.in_11")
            .unwrap();
        assert_eq!(hit.location, HitLocation::Response(0));
        assert_eq!(hit.confirmed, confirmed, "{cc}");
    }
    // No fingerprint, no hit.
    assert!(run(&base()).fingerprint_hits.is_empty());
}

// ---- annotations ----------------------------------------------------------------------

/// fastpath: `int(g_or(annot, "ooni_run_link_id", ""))` drops the measurement when the
/// value is a list or a dict (`TypeError`, not the `ValueError` it catches); anything else,
/// and annotations that are not a dict, leave it alone.
#[test]
fn ooni_run_link_id_of_a_container_type_drops_the_measurement() {
    let with = |annotations: Value| {
        let mut m = base();
        m["annotations"] = annotations;
        drop_reason(&m.to_string())
    };
    for link in [json!([1]), json!({"id": 1})] {
        assert_eq!(
            with(json!({"ooni_run_link_id": link})),
            Some(DropReason::InvalidOoniRunLinkId),
            "{link}"
        );
    }
    for link in [json!("1234"), json!(""), json!("x"), json!(12), json!(null)] {
        assert_eq!(with(json!({"ooni_run_link_id": link})), None, "{link}");
    }
    assert_eq!(with(json!([{"ooni_run_link_id": [1]}])), None);
    assert_eq!(with(json!(null)), None);
}

/// `score_signal`'s engine gate: `g_or(annot, "engine_version", "0.0.0")` must be a version
/// string; a missing or null one (or null annotations) is 0.0.0, which is too old from
/// 2023-05-02 on.
#[test]
fn signal_engine_version_comes_from_the_annotations() {
    let signal = "signal__US-20230530-v0.2.2-signal_679__ooni-backend.json";
    let base: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{DIR}/{signal}")).unwrap()).unwrap();
    let reason = |annotations: Option<Value>| {
        let mut m = base.clone();
        match annotations {
            Some(a) => m["annotations"] = a,
            None => {
                m.as_object_mut().unwrap().remove("annotations");
            }
        }
        run(&m).failure_reason
    };
    let bad = Some("bad_engine_version");
    let too_old = Some("known_bad_engine_version");
    assert_eq!(reason(Some(json!({"engine_version": 3}))), bad);
    assert_eq!(reason(Some(json!({"engine_version": ["3.18.0"]}))), bad);
    assert_eq!(
        reason(Some(json!({"engine_version": "not a version"}))),
        bad
    );
    assert_eq!(reason(Some(json!(["engine_version"]))), bad);
    assert_eq!(reason(Some(json!({"engine_version": "3.17.1"}))), too_old);
    assert_eq!(reason(Some(json!({"engine_version": null}))), too_old);
    assert_eq!(reason(Some(json!({}))), too_old);
    assert_eq!(reason(Some(json!(null))), too_old);
    assert_eq!(reason(None), too_old);
    let current = reason(Some(json!({"engine_version": "3.18.0"})));
    assert!(current != bad && current != too_old, "{current:?}");
}
