//! Parity of `judge`/`drop_reason` with OONI fastpath on every real fixture.
//!
//! Each expectation below was derived by applying fastpath's rules
//! (ooni/backend `fastpath/fastpath/core.py` at 32d8349d) by hand to the fixture's fields;
//! see `docs/fastpath-rules.md`. Where fastpath's own tests (`fastpath/tests/test_unit.py`,
//! `test_functional.py`) assert scores for the same document, they are cited.
//!
//! Notation: `OK` = (anomaly, confirmed, msm_failure) = (F, F, F); `A` = anomaly only;
//! `F` = failure only; `AF` = anomaly and failure; `AC` = anomaly and confirmed;
//! `UNSCORABLE` = fastpath raises inside `score_measurement` (no row).
//! "unsupported" means `score_measurement` has no scorer for the test name → accuracy 0.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, HashMap};

use ooni_verdict::{DropReason, Fingerprints, VerdictError, drop_reason, judge};

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/ooni-real"
);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Exp {
    /// (anomaly, confirmed, msm_failure)
    V(bool, bool, bool),
    Unscorable,
}

const OK: Exp = Exp::V(false, false, false);
const A: Exp = Exp::V(true, false, false);
const F: Exp = Exp::V(false, false, true);
const AF: Exp = Exp::V(true, false, true);
const AC: Exp = Exp::V(true, true, false);
const UNSCORABLE: Exp = Exp::Unscorable;

use DropReason::*;

#[rustfmt::skip]
const CASES: &[(&str, Exp, Option<DropReason>)] = &[
    // ---- browser_web (score_browser_web: result ok → ok, error → 1.0, else accuracy 0)
    // test_unit.py::test_score_browser_web: blocking_general 0.0, no accuracy
    ("browser_web__CA-20230320-v0.1.0-browser_web__ooni-backend.json", OK, None),
    // test_unit.py::test_score_browser_web_error: result "error" → blocking_general 1.0
    ("browser_web__CA-20230320-v0.1.0-browser_web_error__ooni-backend.json", A, None),
    ("browser_web__IT-20220602-v0.1.0-spec-ts-036-rev20230116__ooni-spec.json", OK, None),

    // ---- dash (score_dash: any failure → accuracy 0; blocking_general ≤ 0.1, never an anomaly)
    ("dash__IT-20170724-v0.7.0-spec-ts-021-rev20170724__ooni-spec.json", OK, None),
    ("dash__IT-20200420-v0.10.0-spec-ts-021-rev20210820__ooni-spec.json", OK, None),
    // failure "json_parse_error" → (0.1, accuracy 0), as test_functional.py::test_score_dash expects
    ("dash__US-20190930-v0.7.0-explorer-msmtmeta-33caeae2__ooni-explorer.json", F, None),
    ("dash__US-20221110-v0.12.0-explorer-msmtmeta-6e4a5bde__ooni-explorer.json", OK, None),

    // ---- unsupported test names → accuracy 0 (score_measurement fallback)
    ("ddr__DE-20250121-v0.1.0-spec-ts-041-rev20250121__ooni-spec.json", F, None),
    ("ddr__DE-20250131-v0.1.0-spec-ts-041-rev20250411__ooni-spec.json", F, None),

    // ---- dns_consistency (score_dns_consistency: init_scores only → always ok)
    ("dns_consistency__BE-20171220-v0.6-yaml17_0__ooni-backend.json", OK, None),
    // YAML-era spec example without measurement_start_time: strptime(KeyError) in db → dropped
    ("dns_consistency__JO-20151123-v0.6-spec-ts-002-rev20210820__ooni-spec.json", OK, Some(InvalidMeasurementStartTime)),

    // unsupported; report_id "" is not None, so dnsping/echcheck/... with empty ids are kept
    ("dnscheck__IT-20201202-v0.1.0-spec-ts-028-rev20220211__ooni-spec.json", F, None),
    ("dnsping__IN-20220708-v0.2.0-spec-ts-035-rev20220708__ooni-spec.json", F, None),
    ("dnsping__IN-20220825-v0.3.0-spec-ts-035-rev20220825__ooni-spec.json", F, None),
    ("dnsping__IT-20220509-v0.1.0-spec-ts-035-rev20220509__ooni-spec.json", F, None),
    ("doh__IT-20191008-v0.1.0-spec-ts-023-rev20191008__ooni-spec.json", F, None),
    ("echcheck__IN-20221002-v0.1.0-spec-ts-039-rev20241111__ooni-spec.json", F, None),
    ("echcheck__IT-20241111-v0.2.0-spec-ts-039-rev20241120__ooni-spec.json", F, None),
    ("example__IT-20191028-v0.0.1-loadable-measurement-example__ooni-probe-engine.json", F, None),

    // ---- facebook_messenger (+0.5 per False consistency key / True *_blocking key)
    // all consistency keys True, both *_blocking False → 0.0 (workaround not needed)
    ("facebook_messenger__IT-20161125-v0.4.0-spec-ts-019-rev20210820__ooni-spec.json", OK, None),
    ("facebook_messenger__IT-20200407-v0.0.2-explorer-msmtmeta-716eb5c0__ooni-explorer.json", OK, None),
    // 7 *_dns_consistent False (reachable keys are null, not False) + dns_blocking True → 4.0
    ("facebook_messenger__RU-20200304-v0.5.0-explorer-msmtmeta-e05e161a__ooni-explorer.json", A, None),

    // ---- http_header_field_manipulation (score_measurement_hhfm)
    // requests == [] → IndexError → accuracy 0 (test_unit.py::..._manipulation_2: scores_failed)
    ("http_header_field_manipulation__BR-20191028-v0.2.0-http_header_field_manipulation_2__ooni-backend.json", F, None),
    // headers_dict echo equals the sent headers → 0.0
    ("http_header_field_manipulation__ES-20221110-v0.2.0-explorer-msmtmeta-3b3d42a2__ooni-explorer.json", OK, None),
    // same comparison (after discarding Connection: close) → ok; report_id null → dropped
    ("http_header_field_manipulation__FR-20151129-v0.1.5-spec-ts-006-rev20210820__ooni-spec.json", OK, Some(MissingReportId)),
    // body "" → ujson.loads raises → "Malformed ctrl_headers" → blocking_general 1.0
    ("http_header_field_manipulation__IR-20221110-v0.2.0-explorer-msmtmeta-e27d4955__ooni-explorer.json", A, None),
    // requests null → TypeError → accuracy 0 (test_unit.py::..._manipulation_1: scores_failed)
    ("http_header_field_manipulation__IT-20200710-v0.1.0-http_header_field_manipulation_1__ooni-backend.json", F, None),
    // requests[0].response null → accuracy 0 (test_unit.py::..._manipulation_3: scores_failed)
    ("http_header_field_manipulation__PK-20191027-v0.2.0-http_header_field_manipulation_3__ooni-backend.json", F, None),

    // unsupported; no measurement_start_time → dropped
    ("http_host__IT-20151125-v0.2.4-spec-ts-004-rev20210820__ooni-spec.json", F, Some(InvalidMeasurementStartTime)),

    // ---- http_invalid_request_line (any sent[i] != received[i] → 1.0)
    ("http_invalid_request_line__GB-20151201-v0.2-spec-ts-007-rev20210820__ooni-spec.json", A, Some(InvalidMeasurementStartTime)),
    // test_functional.py::test_score_http_invalid_request_line_1: blocking_general 1.0
    ("http_invalid_request_line__PT-20190411-v0.0.3-mbx-1__ooni-backend.json", A, None),
    // test_functional.py::test_score_http_invalid_request_line_2: blocking_general 1.0
    ("http_invalid_request_line__SD-20181223-v0.0.3-mbx-2__ooni-backend.json", A, None),
    // all five lines echoed unchanged → 0.0
    ("http_invalid_request_line__TR-20221110-v0.2.0-explorer-msmtmeta-eb3badb9__ooni-explorer.json", OK, None),
    ("http_invalid_request_line__US-20221110-v0.2.0-explorer-msmtmeta-181803ab__ooni-explorer.json", A, None),
    // no report_id key: msm["report_id"] raises KeyError inside the scorer; the discard rule
    // (rid is None) fires first in process_measurement anyway
    ("http_invalid_request_line__ZZ-20161012-v0.0.1-spec-bk-001-rev20210820__ooni-spec.json", UNSCORABLE, Some(MissingReportId)),

    // ---- http_requests (legacy; accuracy 0 if body_length_match/headers_match is None)
    // test_unit.py::test_score_http_requests: accuracy 0
    ("http_requests__AT-20141102-v0.2.4-http_requests_1__ooni-backend.json", F, None),
    // both match keys true, no fingerprint in bodies/headers → ok
    ("http_requests__CA-20150330-v0.2.4-explorer-msmtmeta-0c67770d__ooni-explorer.json", OK, None),
    // test_keys {} → match keys None → accuracy 0; probe_asn AS0 → discarded
    ("http_requests__CH-20151122-v0.2.4-spec-df-000-rev20181218__ooni-spec.json", F, Some(UnknownAsn)),
    ("http_requests__GB-20160706-v0.2.4-yaml16_0__ooni-backend.json", OK, None),

    // ---- meek_fronted_requests_test (+0.5 per response without "Server: ECAcc ")
    // test_unit.py::test_score_meek2: 0.0
    ("meek_fronted_requests_test__IT-20210122-v0.2.0-meek2__ooni-backend.json", OK, None),
    // test_unit.py::test_score_meek: 1.0
    ("meek_fronted_requests_test__US-20210122-v0.2.0-meek__ooni-backend.json", A, None),
    // test_unit.py::test_score_meek3: 0.5 (not > 0.5). probe_cc/probe_asn keys are absent, so
    // the ZZ/AS0 checks pass ("") but int(msm["probe_asn"][2:]) raises KeyError in db → no row
    ("meek_fronted_requests_test__noCC-20150828-v0.0.1-meek3__ooni-backend.json", OK, Some(InvalidProbeAsn)),

    ("multi_protocol_traceroute__VE-20151113-v0.3-spec-ts-009-rev20210820__ooni-spec.json", F, Some(InvalidMeasurementStartTime)),

    // ---- ndt (score_ndt returns {}: never anomaly nor failure, even with a failure key)
    ("ndt__AE-20191109-v0.1.0-explorer-msmtmeta-b7769a57__ooni-explorer.json", OK, None),
    ("ndt__DE-20221110-v0.8.0-explorer-msmtmeta-0f8b5993__ooni-explorer.json", OK, None),
    ("ndt__IT-20200408-v0.4.0-spec-ts-022-rev20210820__ooni-spec.json", OK, None),

    // ---- openvpn (success False → 1.0; success None → accuracy 0)
    ("openvpn__GB-20221021-v0.0.13-spec-ts-039-rev20221114__ooni-spec.json", OK, None),
    // probe_asn "AS0001" is not "AS0" → kept
    ("openvpn__IT-20240403-v0.1.1-spec-ts-040-rev20240719__ooni-spec.json", OK, None),
    // no "success" key → accuracy 0
    ("openvpn__MX-20240307-v0.1.0-spec-ts-040-rev20240307__ooni-spec.json", F, None),
    // test_unit.py::test_score_openvpn: 0.0
    ("openvpn__RO-20221121-v0.0.16-openvpn__ooni-backend.json", OK, None),
    // "openvpn_client_test" is not "openvpn": unsupported
    ("openvpn_client_test__RU-20161211-v0.0.2-spec-ts-016-rev20210820__ooni-spec.json", F, None),
    ("portfiltering__IN-20220828-v0.1.0-spec-ts-038-rev20220828__ooni-spec.json", F, None),
    ("portfiltering__IN-20220914-v0.1.0-spec-ts-038-rev20220914__ooni-spec.json", F, None),
    ("portfiltering__IN-20221003-v0.1.0-spec-ts-038-rev20221003__ooni-spec.json", F, None),

    // ---- psiphon (failure → 1.0 with accuracy 1; no failure needs bootstrap_time != 0)
    ("psiphon__DE-20220121-v0.5.0-explorer-msmtmeta-132c91d0__ooni-explorer.json", A, None),
    ("psiphon__IT-20191230-v0.3.0-spec-ts-015-rev20191230__ooni-spec.json", OK, None),
    ("psiphon__IT-20200109-v0.3.1-spec-ts-015-rev20200110__ooni-spec.json", OK, None),
    ("psiphon__IT-20200111-v0.3.2-spec-ts-015-rev20211209__ooni-spec.json", OK, None),
    ("psiphon__US-20221110-v0.5.0-explorer-msmtmeta-3798e088__ooni-explorer.json", OK, None),

    ("quicping__BE-20220214-v0.1.0-spec-ts-031-rev20220509__ooni-spec.json", F, None),
    ("quicping__DE-20220203-v0.1.0-spec-ts-031-rev20220208__ooni-spec.json", F, None),
    // score_riseupvpn returns {} (scoring disabled 2023-10-17), test_unit.py::test_score_riseupvpn
    ("riseupvpn__AF-20220220-v0.2.0-riseupvpn__ooni-backend.json", OK, None),
    ("shadowsocks__US-20230103-v0.1.0-spec-ts-040-rev20230420__ooni-spec.json", F, None),

    // ---- signal (score_signal)
    // test 0.2.0 < 0.2.2 and start ≥ 2022-10-19 → accuracy 0 before the status is read
    // (test_unit.py::test_score_signal_2627: accuracy 0, blocking_general 0)
    ("signal__AM-20221027-v0.2.0-signal_2627__ooni-backend.json", F, None),
    ("signal__BR-20210414-v0.2.0-explorer-msmtmeta-4022005a__ooni-explorer.json", OK, None),
    // 0.2.3 ≤ 0.2.3 and start ≥ 2023-11-07 → accuracy 0
    ("signal__DE-20231113-v0.2.3-spec-ts-029-rev20231201__ooni-spec.json", F, None),
    // status "blocked" before any version cut-off → 1.0
    ("signal__IR-20210415-v0.2.0-explorer-msmtmeta-2953bf2e__ooni-explorer.json", A, None),
    ("signal__IT-20210215-v0.2.0-spec-ts-029-rev20210215__ooni-spec.json", OK, None),
    ("signal__IT-20210215-v0.2.0-spec-ts-029-rev20221101__ooni-spec.json", A, None),
    // engine 3.16.5 < 3.17.2 but start 2022-11-18 < 2023-05-02 → ok (test_unit.py: 0.0, no accuracy)
    ("signal__IT-20221118-v0.2.2-signal_022__ooni-backend.json", OK, None),
    // 0.2.5, engine 3.20.0-alpha (PEP 440 3.20.0a0 ≥ 3.17.2) → ok
    ("signal__IT-20231201-v0.2.5-spec-ts-029-rev20231201__ooni-spec.json", OK, None),
    // engine 3.17.1 < 3.17.2 and start ≥ 2023-05-02 → accuracy 0, status ignored
    // (test_unit.py::test_score_signal_679: accuracy 0, blocking_general 0)
    ("signal__US-20230530-v0.2.2-signal_679__ooni-backend.json", F, None),

    ("simplequicping__IN-20220806-v0.1.0-spec-ts-034-rev20220806__ooni-spec.json", F, None),
    ("simplequicping__IT-20220509-v0.1.0-spec-ts-034-rev20220509__ooni-spec.json", F, None),
    ("simplequicping__IT-20220817-v0.2.0-spec-ts-034-rev20220908__ooni-spec.json", F, None),
    ("sni_blocking__IT-20200128-v0.0.1-spec-ts-024-rev20200128__ooni-spec.json", F, None),
    ("sni_blocking__IT-20200128-v0.0.1-spec-ts-024-rev20210820__ooni-spec.json", F, None),
    // test_name "stun_reachability" ≠ "stunreachability" (the name fastpath dispatches) → unsupported
    ("stun_reachability__IT-20200601-v0.0.1-spec-ts-025-rev20231019__ooni-spec.json", F, None),
    ("tcpping__IT-20220509-v0.1.0-spec-ts-032-rev20220509__ooni-spec.json", F, None),
    ("tcpping__IT-20220622-v0.2.0-spec-ts-032-rev20220701__ooni-spec.json", F, None),

    // ---- telegram (unreachable TCP fraction + failed DC POST fraction + 1 if web blocked)
    // 2/10 TCP + 2/3 POST failures + 1 (web blocked) = 1.87
    ("telegram__DE-20170407-v0.3.0-spec-ts-020-rev20190221__ooni-spec.json", A, None),
    // requests without request.url → KeyError → accuracy 0
    // (test_unit.py::test_score_measurement_telegram_nourl: scores_failed)
    ("telegram__IT-20191203-v0.0.3-telegram_nourl__ooni-backend.json", F, None),
    ("telegram__IT-20200109-v0.0.4-spec-ts-020-rev20200109__ooni-spec.json", OK, None),
    // test_keys {}: no TCP data → 0.5, no HTTP data → 0.5; total 1.0 > 0.5 → anomaly
    ("telegram__IT-20200110-v0.0.4-spec-df-000-rev20231103__ooni-spec.json", A, None),
    ("telegram__IT-20200111-v0.0.5-spec-ts-020-rev20220813__ooni-spec.json", OK, None),
    ("telegram__IT-20221207-v0.3.0-spec-ts-020-rev20240826__ooni-spec.json", OK, None),
    // 2/16 TCP + 0/11 POST + 1 (web blocked) = 1.125
    ("telegram__RU-20221109-v0.2.0-explorer-msmtmeta-cd8ea566__ooni-explorer.json", A, None),
    ("telegram__US-20221110-v0.2.0-explorer-msmtmeta-ce62b986__ooni-explorer.json", OK, None),

    ("tlsmiddlebox__IN-20220722-v0.1.0-spec-ts-037-rev20220824__ooni-spec.json", F, None),
    ("tlsmiddlebox__IN-20220827-v0.1.0-spec-ts-037-rev20220827__ooni-spec.json", F, None),
    ("tlsmiddlebox__IN-20220901-v0.1.0-spec-ts-037-rev20220908__ooni-spec.json", F, None),
    ("tlsping__IT-20220509-v0.1.0-spec-ts-033-rev20220509__ooni-spec.json", F, None),
    ("tlsping__IT-20220622-v0.2.0-spec-ts-033-rev20220817__ooni-spec.json", F, None),

    // ---- tor (blocked targets / (blocked + successful))
    // targets is a list (early format) → accuracy 0 (test_unit.py::test_score_tor_list)
    ("tor__IT-20200110-v0.0.1-tor_list__ooni-backend.json", F, None),
    ("tor__IT-20200112-v0.0.1-spec-ts-023-rev20200116__ooni-spec.json", F, None),
    ("tor__IT-20200116-v0.0.1-spec-ts-023-rev20200116__ooni-spec.json", OK, None),
    // 3 targets, all failure null → 0.0 (test_unit.py::test_score_tor)
    ("tor__IT-20200116-v0.0.1-tor__ooni-backend.json", OK, None),
    // 1 of 34 targets failed → 0.03
    ("tor__IT-20200127-v0.1.0-spec-ts-023-rev20200127__ooni-spec.json", OK, None),
    ("tor__IT-20200127-v0.1.0-spec-ts-023-rev20200128__ooni-spec.json", OK, None),
    ("tor__IT-20200130-v0.1.0-spec-ts-023-rev20220613__ooni-spec.json", OK, None),
    // 31 of 35 failed → 0.89
    ("tor__RU-20230121-v0.4.0-explorer-msmtmeta-f4f1085f__ooni-explorer.json", A, None),
    // 13 of 35 failed → 0.37
    ("tor__US-20221110-v0.3.0-explorer-msmtmeta-4ee82e8f__ooni-explorer.json", OK, None),

    // ---- torsf (failure → 1.0; ooniprobe-android* 3.8.3 → accuracy 0)
    ("torsf__IT-20210618-v0.1.0-spec-ts-030-rev20210820__ooni-spec.json", OK, None),
    // test_unit.py::test_score_torsf: 1.0
    ("torsf__IT-20210714-v0.1.0-torsf_1__ooni-backend.json", A, None),
    // test_unit.py::test_score_torsf2: 0.0
    ("torsf__IT-20210727-v0.1.0-torsf_2__ooni-backend.json", OK, None),
    ("torsf__IT-20220207-v0.2.0-spec-ts-030-rev20220506__ooni-spec.json", OK, None),
    ("torsf__IT-20220510-v0.3.0-spec-ts-030-rev20220510__ooni-spec.json", OK, None),
    // ooniprobe-android-unattended 3.8.3 → accuracy 0 (test_unit.py::test_score_torsf383)
    ("torsf__TH-20230817-v0.4.0-torsf_383__ooni-backend.json", F, None),

    ("urlgetter__DE-20220209-v0.2.0-oonireport-testmeasurement-line1__ooni-probe-cli.json", F, None),
    ("urlgetter__DE-20220209-v0.2.0-oonireport-testmeasurement-line2__ooni-probe-cli.json", F, None),
    ("urlgetter__IT-20201202-v0.1.0-spec-ts-027-rev20210820__ooni-spec.json", F, None),

    // ---- vanilla_tor (bootstrapped → ok; else 1 - progress*0.004)
    // tor_progress 100 (test_unit.py::test_score_vanilla_tor_ok: 0.0)
    ("vanilla_tor__BR-20230818-v0.2.0-vanilla_tor_ok__ooni-backend.json", OK, None),
    // tor_log without "Bootstrapped 100%", progress 5 → 0.98
    ("vanilla_tor__CN-20171007-v0.1.0-vanilla_tor_bad_old__ooni-pipeline.json", A, None),
    // test_unit.py::test_score_vanilla_tor: 0.98
    ("vanilla_tor__CN-20220802-v0.2.0-vanilla_tor__ooni-backend.json", A, None),
    // "Bootstrapped 100%: Done" in tor_log
    ("vanilla_tor__IE-20200813-v0.1.0-vanilla_tor_good_old__ooni-pipeline.json", OK, None),
    ("vanilla_tor__IT-20220510-v0.2.0-spec-ts-016-rev20230822__ooni-spec.json", OK, None),
    ("vanilla_tor__US-20220812-v0.2.0-vanilla_tor_good_new__ooni-pipeline.json", OK, None),

    // ---- web_connectivity (score_web_connectivity; probe `blocking` in
    // {tcp_ip, dns, http-diff, http-failure} → 1.0; false → ok; null without a fingerprint
    // match → accuracy 0; confirmed fingerprints add blocking_<locality> = 1)
    // blocking null, accessible null, no match → accuracy 0
    ("web_connectivity__AE-20191118-v0.0.1-explorer-msmtmeta-5d1cb664__ooni-explorer.json", F, None),
    // http-failure; the base64 Location header only hits a `contains` fingerprint, which
    // fastpath ignores (test_unit.py::test_match_fingerprints_b64_hdr: no matches)
    ("web_connectivity__AU-20170725-v0.0.1-web_connectivity_b64_hdr__ooni-backend.json", A, None),
    // test_unit.py::test_score_web_connectivity_odd_hdr: 1.0, blocking_type dns
    ("web_connectivity__CN-20170516-v0.0.1-web_connectivity_odd_hdr__ooni-backend.json", A, None),
    ("web_connectivity__DE-20160523-v0.1.0-spec-ts-017-rev20200813__ooni-spec.json", OK, None),
    ("web_connectivity__ES-20190717-v0.3.2-report2__ooni-backend.json", OK, None),
    // test_keys {} → blocking None, no match → accuracy 0
    ("web_connectivity__GB-20191010-v0.0.1-spec-df-000-rev20231103__ooni-spec.json", F, None),
    // Location prefix http://lamanlabuh.aduankonten.id/ = ooni.id_lamanlabuh_kominfo (nat, ID):
    // confirmed, blocking_country 1 → blocking_general 1 although the probe said blocking false
    // (test_unit.py::test_match_id_fingerprint: matches != [])
    ("web_connectivity__ID-20250527-v0.4.3-20250527233111.802678_ID_webconnectivity_5a37ec909dbf14e3__ooni-backend.json", AC, None),
    ("web_connectivity__IE-20200302-v0.0.1-explorer-msmtmeta-0bc26659__ooni-explorer.json", OK, None),
    ("web_connectivity__IE-20200303-v0.1.0-explorer-msmtmeta-5e2ebe18__ooni-explorer.json", A, None),
    // DNS 10.10.34.36 = ooni.ir_10dot10_ipv4_1 (nat, IR) → 2.0 confirmed (test_unit.py::test_bug_backend352)
    ("web_connectivity__IR-20200302-v0.0.1-bug_352__ooni-backend.json", AC, None),
    // same fingerprint (test_unit.py::test_score_web_connectivity_dns_ir_fingerprint: 2.0, confirmed)
    ("web_connectivity__IR-20220815-v0.4.1-web_connectivity_ir_fp__ooni-backend.json", AC, None),
    // blocking/accessible null (control failed) → accuracy 0 (test_unit.py::..._bug_610_2)
    ("web_connectivity__IR-20220815-v0.4.1-web_connectivity_null2__ooni-backend.json", F, None),
    // test_unit.py::test_score_web_connectivity_no_body: 0.0
    ("web_connectivity__IT-20190330-v0.0.1-web_connectivity_no_body__ooni-backend.json", OK, None),
    ("web_connectivity__IT-20210322-v0.4.0-spec-ts-017-rev20240214__ooni-spec.json", OK, None),
    // blocking null but the body matched `fp`-scope fingerprints (not confirmed), so the
    // null-blocking rule does not fire; http_experiment_failure "unknown_failure…" → accuracy 0
    ("web_connectivity__IT-20231123-v0.5.26-pipeline-youtube__ooni-probe-cli.json", F, None),
    ("web_connectivity__IT-20231130-v0.5.26-cmd-minipipeline__ooni-probe-cli.json", OK, None),
    ("web_connectivity__IT-20231130-v0.5.26-minipipeline-manual-dnsgoogle80__ooni-probe-cli.json", F, None),
    // unconfirmed `fp`-scope body matches do not change anything when blocking is false
    ("web_connectivity__IT-20231130-v0.5.26-minipipeline-manual-noipv6__ooni-probe-cli.json", OK, None),
    ("web_connectivity__IT-20231130-v0.5.26-minipipeline-manual-youtube__ooni-probe-cli.json", OK, None),
    ("web_connectivity__IT-20240123-v0.5.28-minipipeline-manual-issue-2456__ooni-probe-cli.json", OK, None),
    ("web_connectivity__IT-20240124-v0.5.28-minipipeline-manual-8844__ooni-probe-cli.json", F, None),
    ("web_connectivity__IT-20240124-v0.5.28-minipipeline-manual-firefoxcom__ooni-probe-cli.json", OK, None),
    // NETEM QA (report_id "" is kept). blocking false with accessible false = website down → ok
    ("web_connectivity__IT-20240212-v0.5.28-badSSLWithExpiredCertificate__ooni-data.json", OK, None),
    ("web_connectivity__IT-20240212-v0.5.28-badSSLWithUnknownAuthorityWithConsistentDNS__ooni-data.json", OK, None),
    ("web_connectivity__IT-20240212-v0.5.28-badSSLWithUnknownAuthorityWithInconsistentDNS__ooni-data.json", A, None),
    ("web_connectivity__IT-20240212-v0.5.28-badSSLWithWrongServerName__ooni-data.json", OK, None),
    ("web_connectivity__IT-20240212-v0.5.28-cloudflareCAPTCHAWithHTTPS__ooni-data.json", OK, None),
    ("web_connectivity__IT-20240212-v0.5.28-cloudflareCAPTCHAWithHTTP__ooni-data.json", A, None),
    ("web_connectivity__IT-20240212-v0.5.28-controlFailureWithSuccessfulHTTPSWebsite__ooni-data.json", OK, None),
    // control failed → blocking null → accuracy 0
    ("web_connectivity__IT-20240212-v0.5.28-controlFailureWithSuccessfulHTTPWebsite__ooni-data.json", F, None),
    ("web_connectivity__IT-20240212-v0.5.28-dnsBlockingAndroidDNSCacheNoData__ooni-data.json", A, None),
    // the bogon answer 10.10.34.35 is ooni.ir_5, scope nat: is_confirmed is true for any
    // probe country (IT here) → blocking_country 1, confirmed
    ("web_connectivity__IT-20240212-v0.5.28-dnsBlockingBOGON__ooni-data.json", AC, None),
    ("web_connectivity__IT-20240212-v0.5.28-dnsBlockingNXDOMAIN__ooni-data.json", A, None),
    // 127.0.0.1 matches cl.dns_br_localhost (scope vbw, no countries): not confirmed
    ("web_connectivity__IT-20240212-v0.5.28-dnsHijackingToLocalhostWithHTTPS__ooni-data.json", A, None),
    ("web_connectivity__IT-20240212-v0.5.28-dnsHijackingToLocalhostWithHTTP__ooni-data.json", A, None),
    ("web_connectivity__IT-20240212-v0.5.28-dnsHijackingToProxyWithHTTPSURL__ooni-data.json", OK, None),
    ("web_connectivity__IT-20240212-v0.5.28-dnsHijackingToProxyWithHTTPURL__ooni-data.json", OK, None),
    ("web_connectivity__IT-20240212-v0.5.28-ghostDNSBlockingWithHTTPS__ooni-data.json", A, None),
    // "<title>Access Denied</title>" is ooni.in_11 (inst, IN): not confirmed for IT
    ("web_connectivity__IT-20240212-v0.5.28-ghostDNSBlockingWithHTTP__ooni-data.json", A, None),
    ("web_connectivity__IT-20240212-v0.5.28-httpBlockingConnectionReset__ooni-data.json", A, None),
    ("web_connectivity__IT-20240212-v0.5.28-httpDiffWithConsistentDNS__ooni-data.json", A, None),
    ("web_connectivity__IT-20240212-v0.5.28-httpDiffWithInconsistentDNS__ooni-data.json", A, None),
    ("web_connectivity__IT-20240212-v0.5.28-idnaWithoutCensorshipLowercase__ooni-data.json", OK, None),
    ("web_connectivity__IT-20240212-v0.5.28-idnaWithoutCensorshipWithFirstLetterUppercase__ooni-data.json", OK, None),
    ("web_connectivity__IT-20240212-v0.5.28-largeFileWithHTTPS__ooni-data.json", OK, None),
    ("web_connectivity__IT-20240212-v0.5.28-largeFileWithHTTP__ooni-data.json", OK, None),
    // 127.0.0.1 again (vbw, unconfirmed); blocking false → ok
    ("web_connectivity__IT-20240212-v0.5.28-localhostWithHTTPS__ooni-data.json", OK, None),
    ("web_connectivity__IT-20240212-v0.5.28-localhostWithHTTP__ooni-data.json", OK, None),
    ("web_connectivity__IT-20240212-v0.5.28-redirectWithBrokenLocationForHTTPS__ooni-data.json", A, None),
    ("web_connectivity__IT-20240212-v0.5.28-redirectWithBrokenLocationForHTTP__ooni-data.json", A, None),
    ("web_connectivity__IT-20240212-v0.5.28-redirectWithConsistentDNSAndThenConnectionRefusedForHTTPS__ooni-data.json", A, None),
    ("web_connectivity__IT-20240212-v0.5.28-redirectWithConsistentDNSAndThenConnectionRefusedForHTTP__ooni-data.json", A, None),
    ("web_connectivity__IT-20240212-v0.5.28-redirectWithConsistentDNSAndThenConnectionResetForHTTPS__ooni-data.json", A, None),
    ("web_connectivity__IT-20240212-v0.5.28-redirectWithConsistentDNSAndThenConnectionResetForHTTP__ooni-data.json", A, None),
    ("web_connectivity__IT-20240212-v0.5.28-redirectWithConsistentDNSAndThenEOFForHTTPS__ooni-data.json", A, None),
    ("web_connectivity__IT-20240212-v0.5.28-redirectWithConsistentDNSAndThenEOFForHTTP__ooni-data.json", A, None),
    ("web_connectivity__IT-20240212-v0.5.28-redirectWithConsistentDNSAndThenNXDOMAIN__ooni-data.json", A, None),
    ("web_connectivity__IT-20240212-v0.5.28-redirectWithConsistentDNSAndThenTimeoutForHTTPS__ooni-data.json", A, None),
    ("web_connectivity__IT-20240212-v0.5.28-redirectWithConsistentDNSAndThenTimeoutForHTTP__ooni-data.json", A, None),
    // blocking false, but http_experiment_failure "unknown_failure: stopped after 10 redirects"
    // → accuracy 0 (_detect_unknown_failure)
    ("web_connectivity__IT-20240212-v0.5.28-redirectWithMoreThanTenRedirectsAndHTTPS__ooni-data.json", F, None),
    ("web_connectivity__IT-20240212-v0.5.28-redirectWithMoreThanTenRedirectsAndHTTP__ooni-data.json", F, None),
    ("web_connectivity__IT-20240212-v0.5.28-successWithHTTPS__ooni-data.json", OK, None),
    ("web_connectivity__IT-20240212-v0.5.28-successWithHTTP__ooni-data.json", OK, None),
    ("web_connectivity__IT-20240212-v0.5.28-tcpBlockingConnectTimeout__ooni-data.json", A, None),
    ("web_connectivity__IT-20240212-v0.5.28-tcpBlockingConnectionRefusedWithInconsistentDNS__ooni-data.json", A, None),
    ("web_connectivity__IT-20240212-v0.5.28-throttlingWithHTTPS__ooni-data.json", A, None),
    ("web_connectivity__IT-20240212-v0.5.28-throttlingWithHTTP__ooni-data.json", A, None),
    ("web_connectivity__IT-20240212-v0.5.28-tlsBlockingConnectionResetWithConsistentDNS__ooni-data.json", A, None),
    ("web_connectivity__IT-20240212-v0.5.28-tlsBlockingConnectionResetWithInconsistentDNS__ooni-data.json", A, None),
    ("web_connectivity__IT-20240212-v0.5.28-websiteDownNXDOMAIN__ooni-data.json", OK, None),
    ("web_connectivity__IT-20240212-v0.5.28-websiteDownNoAddrs__ooni-data.json", OK, None),
    ("web_connectivity__IT-20240212-v0.5.28-websiteDownTCPConnect__ooni-data.json", OK, None),
    ("web_connectivity__IT-20240214-v0.5.28-spec-ts-017-rev20240214__ooni-spec.json", OK, None),
    // base64 body with incorrect padding → binascii.Error → scored without matches,
    // then accuracy 0 (test_unit.py::test_score_web_connectivity_b64_incorrect only asserts scores)
    ("web_connectivity__MY-20180812-v0.3.2-web_connectivity_b64_incorrect__ooni-backend.json", F, None),
    // http-failure → 1.0 plus unknown_failure → accuracy 0 (test_unit.py::test_bug_backend351)
    ("web_connectivity__NL-20200229-v0.3.0-bug_351__ooni-backend.json", AF, None),
    // eais.rkn.gov.ru blockpage: ooni.ru_5 (nat, RU) and cp.b_nat_ru_12_satellite (nat) → confirmed
    ("web_connectivity__RU-20200303-v0.3.0-explorer-msmtmeta-ec27ea22__ooni-explorer.json", AC, None),
    ("web_connectivity__RU-20201029-v0.1.0-explorer-msmtmeta-579d144d__ooni-explorer.json", OK, None),
    // requests null is iterated as () (test_unit.py::test_bug_requests_None: 1.0, dns)
    ("web_connectivity__SK-20210120-v0.1.0-requests_none__ooni-backend.json", A, None),
    // test_unit.py::test_score_web_connectivity_bug_610: scores_failed
    ("web_connectivity__TM-20220524-v0.4.1-web_connectivity_null__ooni-backend.json", F, None),
    ("web_connectivity__US-20190720-v0.0.1-report1__ooni-backend.json", OK, None),
    // test_keys null → {} → blocking None → accuracy 0 (test_unit.py::test_bug_test_keys_None)
    ("web_connectivity__US-20210121-v0.0.1-test_keys_none__ooni-backend.json", F, None),
    ("web_connectivity__US-20221110-v0.4.1-explorer-msmtmeta-9bf32868__ooni-explorer.json", OK, None),
    ("web_connectivity__US-20230307-v0.4.1-explorer-msmtmeta-f2412f49__ooni-explorer.json", OK, None),

    // ---- whatsapp (score_measurement_whatsapp ignores whatsapp_web_status and the http:// check)
    // web_failure "http_unexpected_status_code" but every request has failure null
    // (test_unit.py::test_score_whatsapp_failure: 0.0)
    ("whatsapp__IE-20221202-v0.9.0-whatsapp__ooni-backend.json", OK, None),
    ("whatsapp__IT-20161125-v0.5.0-spec-ts-018-rev20200629__ooni-spec.json", OK, None),
    ("whatsapp__IT-20200709-v0.8.0-spec-ts-018-rev20210820__ooni-spec.json", OK, None),
    ("whatsapp__IT-20221207-v0.10.0-spec-ts-018-rev20221207__ooni-spec.json", OK, None),
    // https://web.whatsapp.com/ failed (ssl_invalid_hostname) → 1.0
    ("whatsapp__JP-20221105-v0.9.0-explorer-msmtmeta-75f0d5ef__ooni-explorer.json", A, None),
    ("whatsapp__US-20221110-v0.9.0-explorer-msmtmeta-956e71e0__ooni-explorer.json", OK, None),
];

/// measurement_uid per fixture, from MANIFEST.tsv (explorer fixtures name it in the notes,
/// the ID backend fixture in its file name).
fn uids() -> HashMap<String, String> {
    let manifest = std::fs::read_to_string(format!("{DIR}/MANIFEST.tsv")).unwrap();
    let re = regex::Regex::new(
        r"\b(20\d{12}\.\d{6}_[A-Z]{2}_[a-z0-9]+_[0-9a-f]{16}|01\d{8}[0-9a-f]{30})\b",
    )
    .unwrap();
    let mut out = HashMap::new();
    for line in manifest.lines().skip(1) {
        let file = line.split('\t').next().unwrap();
        if let Some(c) = re.captures(line) {
            out.insert(file.to_owned(), c[1].to_owned());
        }
    }
    out
}

fn fixture_files() -> BTreeSet<String> {
    std::fs::read_dir(DIR)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect()
}

#[test]
fn table_covers_every_fixture() {
    let files = fixture_files();
    assert_eq!(files.len(), 206, "fixture set changed");
    let table: BTreeSet<String> = CASES.iter().map(|c| c.0.to_owned()).collect();
    assert_eq!(table.len(), CASES.len(), "duplicate entries in CASES");
    let missing: Vec<_> = files.difference(&table).collect();
    let extra: Vec<_> = table.difference(&files).collect();
    assert!(
        missing.is_empty(),
        "fixtures missing from the table: {missing:#?}"
    );
    assert!(
        extra.is_empty(),
        "table entries without a fixture: {extra:#?}"
    );
}

#[test]
fn verdicts_and_drop_reasons_match_fastpath() {
    let fps = Fingerprints::embedded();
    let uids = uids();
    let mut failures = Vec::new();
    for &(file, exp, drop) in CASES {
        let json = std::fs::read_to_string(format!("{DIR}/{file}")).unwrap();
        let got_drop = drop_reason(&json);
        if got_drop != drop {
            failures.push(format!("{file}: drop {got_drop:?}, expected {drop:?}"));
        }
        let uid = uids.get(file).map(String::as_str);
        let got = match judge(&json, uid, fps) {
            Ok(v) => {
                if v.msm_failure != v.failure_reason.is_some() {
                    failures.push(format!("{file}: failure_reason inconsistent: {v:?}"));
                }
                if v.confirmed != v.matched_fingerprint.is_some() {
                    failures.push(format!("{file}: matched_fingerprint inconsistent: {v:?}"));
                }
                Exp::V(v.anomaly, v.confirmed, v.msm_failure)
            }
            Err(VerdictError::Unscorable(_)) => Exp::Unscorable,
            Err(e) => {
                failures.push(format!("{file}: error {e}"));
                continue;
            }
        };
        if got != exp {
            failures.push(format!("{file}: got {got:?}, expected {exp:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Exact scores that fastpath's own unit tests assert for these documents
/// (`fastpath/tests/test_unit.py` and `test_functional.py`):
/// (file, blocking_general, accuracy, matched fingerprint).
#[rustfmt::skip]
const FASTPATH_SCORES: &[(&str, f64, f64, Option<&str>)] = &[
    ("browser_web__CA-20230320-v0.1.0-browser_web__ooni-backend.json", 0.0, 1.0, None),
    ("browser_web__CA-20230320-v0.1.0-browser_web_error__ooni-backend.json", 1.0, 1.0, None),
    ("http_header_field_manipulation__IT-20200710-v0.1.0-http_header_field_manipulation_1__ooni-backend.json", 0.0, 0.0, None),
    ("http_header_field_manipulation__BR-20191028-v0.2.0-http_header_field_manipulation_2__ooni-backend.json", 0.0, 0.0, None),
    ("http_header_field_manipulation__PK-20191027-v0.2.0-http_header_field_manipulation_3__ooni-backend.json", 0.0, 0.0, None),
    ("http_invalid_request_line__PT-20190411-v0.0.3-mbx-1__ooni-backend.json", 1.0, 1.0, None),
    ("http_invalid_request_line__SD-20181223-v0.0.3-mbx-2__ooni-backend.json", 1.0, 1.0, None),
    ("http_requests__AT-20141102-v0.2.4-http_requests_1__ooni-backend.json", 0.0, 0.0, None),
    ("meek_fronted_requests_test__US-20210122-v0.2.0-meek__ooni-backend.json", 1.0, 1.0, None),
    ("meek_fronted_requests_test__IT-20210122-v0.2.0-meek2__ooni-backend.json", 0.0, 1.0, None),
    ("meek_fronted_requests_test__noCC-20150828-v0.0.1-meek3__ooni-backend.json", 0.5, 1.0, None),
    ("openvpn__RO-20221121-v0.0.16-openvpn__ooni-backend.json", 0.0, 1.0, None),
    ("riseupvpn__AF-20220220-v0.2.0-riseupvpn__ooni-backend.json", 0.0, 1.0, None),
    ("signal__AM-20221027-v0.2.0-signal_2627__ooni-backend.json", 0.0, 0.0, None),
    ("signal__IT-20221118-v0.2.2-signal_022__ooni-backend.json", 0.0, 1.0, None),
    ("signal__US-20230530-v0.2.2-signal_679__ooni-backend.json", 0.0, 0.0, None),
    ("telegram__IT-20191203-v0.0.3-telegram_nourl__ooni-backend.json", 0.0, 0.0, None),
    ("tor__IT-20200116-v0.0.1-tor__ooni-backend.json", 0.0, 1.0, None),
    ("tor__IT-20200110-v0.0.1-tor_list__ooni-backend.json", 0.0, 0.0, None),
    ("torsf__IT-20210714-v0.1.0-torsf_1__ooni-backend.json", 1.0, 1.0, None),
    ("torsf__IT-20210727-v0.1.0-torsf_2__ooni-backend.json", 0.0, 1.0, None),
    ("torsf__TH-20230817-v0.4.0-torsf_383__ooni-backend.json", 0.0, 0.0, None),
    ("vanilla_tor__CN-20220802-v0.2.0-vanilla_tor__ooni-backend.json", 0.98, 1.0, None),
    ("vanilla_tor__BR-20230818-v0.2.0-vanilla_tor_ok__ooni-backend.json", 0.0, 1.0, None),
    ("web_connectivity__CN-20170516-v0.0.1-web_connectivity_odd_hdr__ooni-backend.json", 1.0, 1.0, None),
    ("web_connectivity__IT-20190330-v0.0.1-web_connectivity_no_body__ooni-backend.json", 0.0, 1.0, None),
    ("web_connectivity__TM-20220524-v0.4.1-web_connectivity_null__ooni-backend.json", 0.0, 0.0, None),
    ("web_connectivity__IR-20220815-v0.4.1-web_connectivity_null2__ooni-backend.json", 0.0, 0.0, None),
    ("web_connectivity__IR-20220815-v0.4.1-web_connectivity_ir_fp__ooni-backend.json", 2.0, 1.0, Some("ooni.ir_10dot10_ipv4_1")),
    ("web_connectivity__IR-20200302-v0.0.1-bug_352__ooni-backend.json", 2.0, 1.0, Some("ooni.ir_10dot10_ipv4_1")),
    ("web_connectivity__NL-20200229-v0.3.0-bug_351__ooni-backend.json", 1.0, 0.0, None),
    ("web_connectivity__SK-20210120-v0.1.0-requests_none__ooni-backend.json", 1.0, 1.0, None),
    ("web_connectivity__US-20210121-v0.0.1-test_keys_none__ooni-backend.json", 0.0, 0.0, None),
    ("whatsapp__IE-20221202-v0.9.0-whatsapp__ooni-backend.json", 0.0, 1.0, None),
];

#[test]
fn exact_scores_asserted_by_fastpath_tests() {
    let fps = Fingerprints::embedded();
    for &(file, bg, acc, fp) in FASTPATH_SCORES {
        let json = std::fs::read_to_string(format!("{DIR}/{file}")).unwrap();
        let v = judge(&json, None, fps).unwrap();
        assert_eq!(v.blocking_general, bg, "{file}");
        assert_eq!(v.accuracy, acc, "{file}");
        assert_eq!(v.matched_fingerprint.as_deref(), fp, "{file}");
    }
}

/// Failure reasons for a few fixtures where the rule that fires is not obvious.
#[test]
fn failure_reasons() {
    let fps = Fingerprints::embedded();
    let cases = [
        (
            "web_connectivity__MY-20180812-v0.3.2-web_connectivity_b64_incorrect__ooni-backend.json",
            "bad_base64",
        ),
        (
            "web_connectivity__US-20210121-v0.0.1-test_keys_none__ooni-backend.json",
            "null_test_keys",
        ),
        (
            "web_connectivity__GB-20191010-v0.0.1-spec-df-000-rev20231103__ooni-spec.json",
            "blocking_null",
        ),
        (
            "web_connectivity__IT-20231123-v0.5.26-pipeline-youtube__ooni-probe-cli.json",
            "unknown_failure",
        ),
        (
            "telegram__IT-20191203-v0.0.3-telegram_nourl__ooni-backend.json",
            "request_without_url",
        ),
        (
            "signal__AM-20221027-v0.2.0-signal_2627__ooni-backend.json",
            "known_bad_version",
        ),
        (
            "signal__US-20230530-v0.2.2-signal_679__ooni-backend.json",
            "known_bad_engine_version",
        ),
        (
            "stun_reachability__IT-20200601-v0.0.1-spec-ts-025-rev20231019__ooni-spec.json",
            "unsupported_test",
        ),
        (
            "tor__IT-20200110-v0.0.1-tor_list__ooni-backend.json",
            "legacy_targets_list",
        ),
        (
            "openvpn__MX-20240307-v0.1.0-spec-ts-040-rev20240307__ooni-spec.json",
            "success_null",
        ),
        (
            "dash__US-20190930-v0.7.0-explorer-msmtmeta-33caeae2__ooni-explorer.json",
            "dash_failure",
        ),
    ];
    for (file, reason) in cases {
        let json = std::fs::read_to_string(format!("{DIR}/{file}")).unwrap();
        let v = judge(&json, None, fps).unwrap();
        assert_eq!(v.failure_reason, Some(reason), "{file}");
    }
}
