//! Odd shapes from old probes, type surprises, inference rules and error cases.
#![allow(clippy::unwrap_used)]

mod common;

use common::{observe_fixture, outcome};
use ooni_observations::{DomainSource, ObserveError, Observed, OutcomeStage, Stage, observe};

#[test]
fn bool_failures_from_legacy_probes() {
    // Python ooniprobe 2.2.0 (2017) writes `"failure": false` for successful connects.
    let o = observe_fixture("telegram__DE-20170407-v0.3.0-spec-ts-020-rev20190221__ooni-spec.json");
    let tcp: Vec<_> = o
        .observations
        .iter()
        .filter(|r| r.stage == Stage::Tcp && r.domain_source != DomainSource::Inferred)
        .collect();
    assert_eq!(tcp.len(), 10);
    assert_eq!(
        tcp.iter()
            .filter(|r| r.failure.is_none() && r.failure_raw.is_none())
            .count(),
        8
    );
    // Twisted names are normalized, the raw string kept.
    let web = o
        .observations
        .iter()
        .find(|r| r.http_url.as_deref() == Some("https://web.telegram.org/"))
        .unwrap();
    assert_eq!(web.failure.as_deref(), Some("connection_refused"));
    assert_eq!(web.failure_raw.as_deref(), Some("connection_refused_error"));
    // Only a connect is refused: the two web checks' refusals are inferred TCP rows of
    // web.telegram.org (it has no TCP record), and its TCP outcome says so.
    let inferred: Vec<_> = o
        .observations
        .iter()
        .filter(|r| r.domain_source == DomainSource::Inferred)
        .collect();
    assert_eq!(inferred.len(), 2);
    assert!(inferred.iter().all(|r| r.stage == Stage::Tcp
        && r.domain.as_deref() == Some("web.telegram.org")
        && r.failure.as_deref() == Some("connection_refused")));
    let tcp = outcome(&o, "web.telegram.org", OutcomeStage::Tcp).unwrap();
    assert!(tcp.failed && tcp.inferred);
    assert!(outcome(&o, "web.telegram.org", OutcomeStage::Http).is_none());

    // `true` is a failure without a description.
    let m = r#"{"test_name":"telegram","test_keys":{"tcp_connect":[
        {"ip":"149.154.175.50","port":443,"status":{"failure":true,"success":false}},
        {"ip":"149.154.175.50","port":80,"status":{"success":false}}]}}"#;
    let o = observe(m).unwrap();
    assert_eq!(o.observations[0].failure.as_deref(), Some("true"));
    assert_eq!(o.observations[0].failure_raw.as_deref(), Some("true"));
    // A failed connect without any failure field still fails.
    assert_eq!(
        o.observations[1].failure.as_deref(),
        Some("unknown_failure")
    );
    assert_eq!(o.observations[1].failure_raw, None);
    assert!(
        outcome(&o, "149.154.175.50", OutcomeStage::Tcp)
            .unwrap()
            .failed
    );
}

#[test]
fn null_responses_base64_bodies_list_inputs_and_scrubbed_addresses() {
    let m = r#"{
      "test_name": "web_connectivity", "test_version": "0.4.1",
      "input": ["https://Example.ORG./", "ignored"],
      "test_keys": {
        "queries": [{"hostname": "example.org", "query_type": "A", "engine": "system",
                     "failure": null, "t": 0.1,
                     "answers": [{"answer_type": "A", "ipv4": "93.184.216.34"}]}],
        "tcp_connect": [{"ip": "[scrubbed]", "port": 443, "status": {"failure": null, "success": true}},
                        {"ip": "93.184.216.34", "port": "443", "status": {"failure": null, "success": true}, "t": "0.2"}],
        "tls_handshakes": null,
        "requests": [
          {"failure": "connection_reset", "request": {"url": "https://example.org/", "headers": {"X": {"format": "base64", "data": "AAE="}}},
           "response": null},
          {"failure": null, "request": {"url": "http://example.org/"},
           "response": {"code": 301, "body": {"format": "base64", "data": "PGh0bWw+"}, "headers": {"Location": "https://example.org/"}}}
        ],
        "control": {"dns": {"addrs": ["93.184.216.34"], "failure": null},
                    "tcp_connect": {"93.184.216.34:443": {"status": true, "failure": null}},
                    "http_request": {"status_code": 200, "failure": null, "body_length": 1256}}
      }
    }"#;
    let o = observe(m).unwrap();
    let tcp: Vec<_> = o
        .observations
        .iter()
        .filter(|r| r.stage == Stage::Tcp && !r.is_control)
        .collect();
    assert_eq!(tcp[0].ip.as_deref(), Some("scrubbed"));
    assert_eq!(tcp[0].domain, None);
    assert_eq!(tcp[0].domain_source, DomainSource::None);
    assert_eq!(tcp[1].port, Some(443));
    assert_eq!(tcp[1].t, Some(0.2));
    assert_eq!(tcp[1].domain.as_deref(), Some("example.org"));
    assert_eq!(tcp[1].domain_source, DomainSource::ControlHint);
    let http: Vec<_> = o
        .observations
        .iter()
        .filter(|r| r.stage == Stage::Http && !r.is_control)
        .collect();
    assert_eq!(http[0].http_status_code, None);
    assert_eq!(http[1].http_status_code, Some(301));
    // Control rows use the (joined, normalized) input's host and never yield outcomes.
    let control: Vec<_> = o.observations.iter().filter(|r| r.is_control).collect();
    assert_eq!(control.len(), 3);
    assert!(
        control
            .iter()
            .all(|r| r.domain.as_deref() == Some("example.org"))
    );
    assert!(o.outcomes.iter().all(|x| x.domain == "example.org"));
    // The https failure after a good TCP connect and without TLS records stays at HTTP
    // (only the 2020 Go web_connectivity 0.1.0 rule infers TLS from it).
    let http_outcome = outcome(&o, "example.org", OutcomeStage::Http).unwrap();
    assert_eq!(http_outcome.failure.as_deref(), Some("connection_reset"));
}

#[test]
fn type_surprises_never_fail_the_parse() {
    let m = r#"{"test_name":"whatsapp","test_keys":{
        "queries": "oops",
        "tcp_connect": [7, null, {"ip": 12, "port": -1, "status": "ok", "t": "soon"}],
        "tls_handshakes": {"not": "a list"},
        "requests": [{"failure": 3, "request": null, "response": [1,2], "t": true,
                      "transaction_id": 4.0}],
        "network_events": [{"operation": 1, "address": {"x": 1}, "t": null}],
        "control": "none"
    }}"#;
    let o = observe(m).unwrap();
    assert_eq!(o.observations.len(), 2);
    assert!(
        o.observations
            .iter()
            .all(|r| r.failure.is_none() && r.domain.is_none())
    );
    assert_eq!(o.observations[1].transaction_id, Some(4));
    assert!(o.outcomes.is_empty());
}

#[test]
fn out_of_scope_and_empty_measurements_give_nothing() {
    for m in [
        r#"{"test_name":"dash","test_keys":{"simple":{"median_bitrate":1}}}"#,
        r#"{"test_name":"web_connectivity","test_keys":null}"#,
        r#"{"test_name":"web_connectivity"}"#,
        r#"{"test_name":"vanilla_tor","test_keys":{"success":true,"error":null}}"#,
        r#"{}"#,
    ] {
        assert_eq!(observe(m).unwrap(), Observed::default(), "{m}");
    }
}

#[test]
fn only_unusable_json_is_an_error() {
    assert!(matches!(observe("[]"), Err(ObserveError::NotAnObject)));
    assert!(matches!(observe("null"), Err(ObserveError::NotAnObject)));
    assert!(matches!(
        observe(r#"{"test_name": "#),
        Err(ObserveError::Json(_))
    ));
    assert!(matches!(observe(""), Err(ObserveError::Json(_))));
    // A duplicated key keeps its last value, as in Python's `json`, wherever it is.
    let m = r#"{"test_name":"telegram","test_name":"telegram","test_keys":{"tcp_connect":[
        {"ip":"149.154.175.50","port":443,"status":{"failure":null,"failure":"connection_reset"}}]},
        "annotations":{"engine_name":"ooniprobe-engine","engine_name":"ooniprobe-engine"},
        "input":[{"a":1,"a":2}]}"#;
    let o = observe(m).unwrap();
    assert_eq!(
        o.observations[0].failure.as_deref(),
        Some("connection_reset")
    );
}

/// web_connectivity 0.1.0 from the 2020 Go probe-engine wrote no TLS handshakes and no
/// network events: an https failure without response after a good TCP connect to the
/// host's port 443 is a TLS-stage failure.
#[test]
fn go_web_connectivity_010_https_failure_after_tcp_is_inferred_tls() {
    let make = |annotations: &str, software: &str| {
        format!(
            r#"{{"test_name":"web_connectivity","test_version":"0.1.0","software_name":"{software}",
            "annotations":{annotations},"input":"https://blocked.example/",
            "test_keys":{{
              "queries":[{{"hostname":"blocked.example","query_type":"A","engine":"system","failure":null,
                           "t":0.05,"answers":[{{"answer_type":"A","ipv4":"93.184.216.34"}}]}}],
              "tcp_connect":[{{"ip":"93.184.216.34","port":443,"status":{{"failure":null,"success":true}},"t":0.2}}],
              "requests":[{{"failure":"connection_reset","request":{{"url":"https://blocked.example/"}},
                            "response":null,"t":0.4}}]}}}}"#
        )
    };
    let go = make(
        r#"{"engine_name":"ooniprobe-engine","engine_version":"0.20.2"}"#,
        "ooniprobe-desktop",
    );
    let o = observe(&go).unwrap();
    let inferred: Vec<_> = o
        .observations
        .iter()
        .filter(|r| r.domain_source == DomainSource::Inferred)
        .collect();
    assert_eq!(inferred.len(), 1);
    assert_eq!(inferred[0].stage, Stage::Tls);
    assert_eq!(inferred[0].source_list, "requests");
    assert_eq!(inferred[0].failure.as_deref(), Some("connection_reset"));
    let d = "blocked.example";
    assert!(!outcome(&o, d, OutcomeStage::Tcp).unwrap().failed);
    assert_eq!(
        outcome(&o, d, OutcomeStage::Tls)
            .unwrap()
            .failure
            .as_deref(),
        Some("connection_reset")
    );
    assert!(
        outcome(&o, d, OutcomeStage::Http).is_none(),
        "not counted again at HTTP"
    );
    // It may have been a reset after the handshake: the outcome says it is a reading.
    assert!(outcome(&o, d, OutcomeStage::Tls).unwrap().inferred);
    assert!(!outcome(&o, d, OutcomeStage::Tcp).unwrap().inferred);

    // The Python probe's 0.1.0 has the same shape but no such rule: the failure stays at HTTP.
    let python = make(r#"{"platform":"linux"}"#, "ooniprobe");
    let o = observe(&python).unwrap();
    assert!(
        o.observations
            .iter()
            .all(|r| r.domain_source != DomainSource::Inferred)
    );
    assert!(outcome(&o, d, OutcomeStage::Tls).is_none());
    assert_eq!(
        outcome(&o, d, OutcomeStage::Http)
            .unwrap()
            .failure
            .as_deref(),
        Some("connection_reset")
    );
}

/// An ssl_* failure can only come from a TLS handshake: in data without TLS records
/// (Measurement Kit) it is counted at TLS.
#[test]
fn certificate_failures_without_tls_records_are_tls_failures() {
    let o = observe_fixture(
        "web_connectivity__IT-20190330-v0.0.1-web_connectivity_no_body__ooni-backend.json",
    );
    let d = "www.nmrc.org";
    let tls = outcome(&o, d, OutcomeStage::Tls).unwrap();
    assert_eq!(tls.failure.as_deref(), Some("ssl_invalid_certificate"));
    assert!(outcome(&o, d, OutcomeStage::Http).is_none());
    let row = o
        .observations
        .iter()
        .find(|r| r.stage == Stage::Tls)
        .unwrap();
    assert_eq!(row.domain_source, DomainSource::Inferred);
    assert_eq!(
        row.failure_raw.as_deref(),
        Some("ssl_error: error:14007086:SSL routines:CONNECT_CR_CERT:certificate verify failed")
    );
}

/// A DNS failure carried by a request is never an HTTP failure; without DNS rows for the
/// host it becomes an inferred DNS row.
#[test]
fn dns_failures_of_requests_without_dns_rows_are_dns_failures() {
    let m = r#"{"test_name":"urlgetter","test_keys":{"requests":[
        {"failure":"dns_nxdomain_error","request":{"url":"https://gone.example/"},"response":null}]}}"#;
    let o = observe(m).unwrap();
    assert_eq!(o.observations.len(), 2);
    assert_eq!(o.observations[1].stage, Stage::Dns);
    assert_eq!(o.observations[1].domain_source, DomainSource::Inferred);
    assert_eq!(
        outcome(&o, "gone.example", OutcomeStage::Dns)
            .unwrap()
            .failure
            .as_deref(),
        Some("dns_nxdomain_error")
    );
    assert!(outcome(&o, "gone.example", OutcomeStage::Http).is_none());
}

/// Application-level results and instrument failures are not network failures.
#[test]
fn application_and_instrument_failures_do_not_fail_http() {
    let m = r#"{"test_name":"urlgetter","test_keys":{"requests":[
        {"failure":"http_request_failed","request":{"url":"https://a.example/"},"response":{"code":403}},
        {"failure":"unknown_failure: http_request_canceled","request":{"url":"https://a.example/"},"response":null},
        {"failure":null,"request":{"url":"https://a.example/"},"response":{"code":200}}]}}"#;
    let o = observe(m).unwrap();
    assert_eq!(o.observations[1].failure.as_deref(), Some("interrupted"));
    let http = outcome(&o, "a.example", OutcomeStage::Http).unwrap();
    assert!(!http.failed);
    // Only instrument failures: no outcome at all.
    let m = r#"{"test_name":"urlgetter","test_keys":{"requests":[
        {"failure":"unknown_failure: http_request_canceled","request":{"url":"https://a.example/"}}]}}"#;
    assert!(observe(m).unwrap().outcomes.is_empty());
}

/// A failed https request whose handshake cannot be identified is not reached when a
/// handshake for its SNI failed; a plaintext failure with TCP ok is an HTTP failure.
#[test]
fn unlinkable_requests_follow_the_2020_rules() {
    let m = r#"{"test_name":"telegram","test_keys":{
        "queries":[{"hostname":"web.telegram.org","query_type":"A","engine":"system","t":1.0,
                    "answers":[{"answer_type":"A","ipv4":"149.154.167.99"}]}],
        "tcp_connect":[{"ip":"149.154.167.99","port":443,"status":{"failure":null,"success":true},"t":1.1},
                       {"ip":"149.154.167.99","port":80,"status":{"failure":null,"success":true},"t":1.2}],
        "tls_handshakes":[{"server_name":"web.telegram.org","failure":"generic_timeout_error","t":11.1},
                          {"server_name":"web.telegram.org","failure":null,"t":2.1}],
        "requests":[{"failure":"generic_timeout_error","request":{"url":"https://web.telegram.org/"},"response":null,"t":1.0},
                    {"failure":"generic_timeout_error","request":{"url":"http://web.telegram.org/"},"response":null,"t":1.0}]}}"#;
    let o = observe(m).unwrap();
    let d = "web.telegram.org";
    // One handshake worked: TLS ok; the https failure is explained by the failed one.
    assert!(!outcome(&o, d, OutcomeStage::Tls).unwrap().failed);
    let http = outcome(&o, d, OutcomeStage::Http).unwrap();
    assert!(http.failed, "the http:// failure");
    assert_eq!(http.failure.as_deref(), Some("generic_timeout_error"));
    // TCP rows found their host through the unique DNS answer.
    assert!(
        o.observations
            .iter()
            .filter(|r| r.stage == Stage::Tcp)
            .all(|r| r.domain.as_deref() == Some(d) && r.domain_source == DomainSource::DnsAnswer)
    );
}

/// An IP two hosts resolved to is not attributed to either; its role is kept only when
/// both hosts share it.
#[test]
fn shared_ips_are_not_merged() {
    let m = r#"{"test_name":"whatsapp","test_keys":{
        "queries":[{"hostname":"e1.whatsapp.net","engine":"system","answers":[{"ipv4":"3.33.252.61"}]},
                   {"hostname":"e2.whatsapp.net","engine":"system","answers":[{"ipv4":"3.33.252.61"}]},
                   {"hostname":"v.whatsapp.net","engine":"system","answers":[{"ipv4":"31.13.86.51"}]},
                   {"hostname":"web.whatsapp.com","engine":"system","answers":[{"ipv4":"31.13.86.51"}]}],
        "tcp_connect":[{"ip":"3.33.252.61","port":5222,"status":{"failure":"generic_timeout_error","success":false}},
                       {"ip":"31.13.86.51","port":443,"status":{"failure":null,"success":true}}]}}"#;
    let o = observe(m).unwrap();
    let tcp: Vec<_> = o
        .observations
        .iter()
        .filter(|r| r.stage == Stage::Tcp)
        .collect();
    assert_eq!(tcp[0].domain.as_deref(), Some("3.33.252.61"));
    assert_eq!(tcp[0].domain_source, DomainSource::IpLiteral);
    assert_eq!(tcp[0].target_id.as_deref(), Some("whatsapp/endpoints"));
    assert_eq!(tcp[1].domain.as_deref(), Some("31.13.86.51"));
    assert_eq!(tcp[1].target_id, None);
    assert!(outcome(&o, "e1.whatsapp.net", OutcomeStage::Tcp).is_none());
}

/// Host names that are not plausible DNS names (a space, a percent-escape, a NUL) are no
/// domain: each row falls back to the next rule or keeps a null domain, and none is lost.
#[test]
fn implausible_host_names_are_no_domain_and_lose_no_row() {
    let m = r#"{
      "test_name": "web_connectivity", "test_version": "0.4.1",
      "input": "https://exa mple.com/",
      "test_keys": {
        "queries": [{"hostname": "exa mple.com", "query_type": "A", "engine": "system",
                     "failure": null, "t": 0.1,
                     "answers": [{"answer_type": "A", "ipv4": "93.184.216.34"}]},
                    {"hostname": "%65xample.com", "query_type": "A", "engine": "system",
                     "failure": "dns_nxdomain_error", "t": 0.1, "answers": null}],
        "tcp_connect": [{"ip": "93.184.216.34", "port": 443, "status": {"failure": null, "success": true}}],
        "tls_handshakes": [{"server_name": "exa\u0000mple.com", "address": "93.184.216.34:443",
                            "failure": "connection_reset", "t": 0.3}],
        "requests": [{"failure": "connection_reset", "request": {"url": "https://exa mple.com/"},
                      "response": null}],
        "control": {"dns": {"addrs": ["93.184.216.34"], "failure": null},
                    "tcp_connect": {"93.184.216.34:443": {"status": true, "failure": null}},
                    "http_request": {"status_code": 200, "failure": null}}
      }
    }"#;
    let o = observe(m).unwrap();
    let rows = |stage: Stage, control: bool| -> Vec<_> {
        o.observations
            .iter()
            .filter(|r| r.stage == stage && r.is_control == control)
            .collect()
    };
    let dns = rows(Stage::Dns, false);
    assert_eq!(dns.len(), 2);
    assert!(
        dns.iter()
            .all(|r| r.domain.is_none() && r.domain_source == DomainSource::None)
    );
    // TCP and TLS fall back to the IP literal (no valid host resolved to it, no hint).
    for r in rows(Stage::Tcp, false)
        .into_iter()
        .chain(rows(Stage::Tls, false))
    {
        assert_eq!(r.domain.as_deref(), Some("93.184.216.34"));
        assert_eq!(r.domain_source, DomainSource::IpLiteral);
    }
    assert_eq!(
        rows(Stage::Tls, false)[0].tls_server_name.as_deref(),
        Some("exa\0mple.com")
    );
    let http = rows(Stage::Http, false);
    assert_eq!(http.len(), 1);
    assert_eq!(http[0].domain, None);
    assert_eq!(http[0].http_url.as_deref(), Some("https://exa mple.com/"));
    // The control's results stay, without a domain.
    let control: Vec<_> = o.observations.iter().filter(|r| r.is_control).collect();
    assert_eq!(control.len(), 3);
    assert!(control.iter().all(|r| r.domain.is_none()));
    // Outcomes exist only for a domain that is one.
    assert!(o.outcomes.iter().all(|x| x.domain == "93.184.216.34"));
    assert!(
        outcome(&o, "93.184.216.34", OutcomeStage::Tls)
            .unwrap()
            .failed
    );
}
