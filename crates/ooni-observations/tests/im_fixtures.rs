//! Instant-messaging measurements: attribution without transaction ids, shared IPs, data
//! centres keyed by IP, and the first-failing-stage rule on real data.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::{fixture, observe_fixture, outcome, summary};
use ooni_observations::{BlockingKind, DomainSource, OutcomeStage, Stage, Status};

const JP_WHATSAPP: &str =
    "whatsapp__JP-20221105-v0.9.0-explorer-msmtmeta-75f0d5ef__ooni-explorer.json";
const RU_TELEGRAM: &str =
    "telegram__RU-20221109-v0.2.0-explorer-msmtmeta-cd8ea566__ooni-explorer.json";
const IT_WHATSAPP_2020: &str =
    "whatsapp__IT-20200709-v0.8.0-spec-ts-018-rev20210820__ooni-spec.json";

fn is_endpoint(domain: &str) -> bool {
    domain
        .strip_prefix('e')
        .and_then(|r| r.strip_suffix(".whatsapp.net"))
        .is_some_and(|n| n.parse::<u8>().is_ok())
}

/// JP 2022: a filtering resolver answers 0.0.0.0 / :: for every WhatsApp name; port 443 of
/// 0.0.0.0 accepts connections (a local service) and its TLS has the wrong certificate.
/// The sinkhole is the blocking (`dns.bogon`); what happens when connecting to 0.0.0.0 says
/// nothing about WhatsApp, so no later stage has an outcome (and none reads as the "TCP ok,
/// TLS failing" signature of SNI filtering). The observations keep every operation.
#[test]
fn jp_whatsapp_sinkhole_is_dns_blocking_and_the_connects_are_consequences() {
    let o = observe_fixture(JP_WHATSAPP);

    let domains: BTreeSet<&str> = o.outcomes.iter().map(|x| x.domain.as_str()).collect();
    assert_eq!(domains.len(), 18, "16 endpoints, web and registration");
    for d in &domains {
        let dns = outcome(&o, d, OutcomeStage::Dns).unwrap();
        assert!(!dns.failed, "{d}: the lookup itself succeeded");
        assert_eq!(dns.status, Status::Blocked, "{d}: {}", summary(&o, d));
        assert_eq!(dns.blocking_kind, Some(BlockingKind::DnsBogon));
        assert!(matches!(
            dns.evidence.answer.as_deref(),
            Some("0.0.0.0" | "::")
        ));
        for later in [OutcomeStage::Tcp, OutcomeStage::Tls, OutcomeStage::Http] {
            assert!(outcome(&o, d, later).is_none(), "{d}: {}", summary(&o, d));
        }
        let any = outcome(&o, d, OutcomeStage::Any).unwrap();
        assert_eq!(any.blocking_kind, Some(BlockingKind::DnsBogon));
    }
    let endpoints = domains.iter().filter(|d| is_endpoint(d)).count();
    assert_eq!(endpoints, 16);

    // The refused connects are attributed to their endpoint through the network events,
    // never lumped on the shared 0.0.0.0 / :: literal.
    let tcp: Vec<_> = o
        .observations
        .iter()
        .filter(|r| r.stage == Stage::Tcp)
        .collect();
    assert_eq!(tcp.len(), 51);
    for r in &tcp {
        assert_eq!(r.domain_source, DomainSource::NetworkEvents, "{r:?}");
        let d = r.domain.as_deref().unwrap();
        assert!(
            is_endpoint(d) || d == "web.whatsapp.com" || d == "v.whatsapp.net",
            "{d}"
        );
    }
    let refused = tcp
        .iter()
        .filter(|r| r.failure.as_deref() == Some("connection_refused"))
        .count();
    assert_eq!(refused, 32);
    assert!(
        tcp.iter()
            .filter(|r| r.failure.is_some())
            .all(|r| is_endpoint(r.domain.as_deref().unwrap()) && r.port == Some(5222))
    );

    // The two TLS handshakes went to the same address but keep their own SNI.
    let tls: Vec<_> = o
        .observations
        .iter()
        .filter(|r| r.stage == Stage::Tls)
        .collect();
    assert_eq!(tls.len(), 2);
    assert_eq!(tls[0].ip, tls[1].ip);
    assert_eq!(tls[0].ip.as_deref(), Some("127.0.0.1"));
    for r in &tls {
        assert_eq!(r.domain, r.tls_server_name);
        assert_eq!(r.domain_source, DomainSource::Sni);
    }
    assert_ne!(tls[0].domain, tls[1].domain);
    assert_eq!(tls[0].target_id.as_deref(), Some("whatsapp/web"));
    assert_eq!(tls[1].target_id.as_deref(), Some("whatsapp/registration"));
}

/// RU 2022: the first https://web.telegram.org/ works, the one following the plaintext
/// redirect times out connecting (port 80 worked); the data centres all answer.
#[test]
fn ru_telegram_web_fails_with_a_timeout_at_http_and_data_centres_are_keyed_by_ip() {
    let o = observe_fixture(RU_TELEGRAM);
    let web = "web.telegram.org";

    // DNS, TCP (some connects to :443 time out, others and :80 succeed) and TLS are ok, so
    // the timed-out request is counted once, at HTTP (doc §7.4: "fail with
    // generic_timeout_error if TCP:80 succeeded").
    for ok in [OutcomeStage::Dns, OutcomeStage::Tcp, OutcomeStage::Tls] {
        assert!(
            !outcome(&o, web, ok).unwrap().failed,
            "{}",
            summary(&o, web)
        );
    }
    let http = outcome(&o, web, OutcomeStage::Http).unwrap();
    assert!(http.failed);
    assert_eq!(http.failure.as_deref(), Some("generic_timeout_error"));
    assert_eq!(http.target_id.as_deref(), Some("telegram/web"));
    let any = outcome(&o, web, OutcomeStage::Any).unwrap();
    assert_eq!(any.failure.as_deref(), Some("generic_timeout_error"));

    // The timed-out connects belong to web.telegram.org (its session's lookup), not to an
    // IP literal.
    let timeouts: Vec<_> = o
        .observations
        .iter()
        .filter(|r| r.stage == Stage::Tcp && r.failure.is_some())
        .collect();
    assert_eq!(timeouts.len(), 2);
    assert!(timeouts.iter().all(|r| r.domain.as_deref() == Some(web)
        && r.failure.as_deref() == Some("generic_timeout_error")));

    let dcs = [
        "149.154.175.50",
        "149.154.167.51",
        "149.154.175.100",
        "149.154.167.91",
        "149.154.171.5",
        "95.161.76.100",
    ];
    for dc in dcs {
        let rows: Vec<_> = o
            .observations
            .iter()
            .filter(|r| r.domain.as_deref() == Some(dc))
            .collect();
        // One connect and one POST per port (80 and 443).
        assert_eq!(
            rows.iter().filter(|r| r.stage == Stage::Tcp).count(),
            2,
            "{dc}"
        );
        assert_eq!(
            rows.iter().filter(|r| r.stage == Stage::Http).count(),
            2,
            "{dc}"
        );
        for r in &rows {
            assert_eq!(r.target_id.as_deref(), Some("telegram/dc_pool"));
            let expected = match r.stage {
                Stage::Tcp => DomainSource::IpLiteral,
                _ => DomainSource::Url,
            };
            assert_eq!(r.domain_source, expected);
        }
        for stage in [OutcomeStage::Tcp, OutcomeStage::Http, OutcomeStage::Any] {
            let x = outcome(&o, dc, stage).unwrap();
            assert!(!x.failed, "{dc}");
            assert_eq!(x.target_id.as_deref(), Some("telegram/dc_pool"));
        }
    }
    // Every outcome domain is web.telegram.org or a data centre.
    let domains: BTreeSet<&str> = o.outcomes.iter().map(|x| x.domain.as_str()).collect();
    let mut expected: BTreeSet<&str> = dcs.into_iter().collect();
    expected.insert(web);
    assert_eq!(domains, expected);
}

/// The 2020 probe-engine format (no transaction ids, no TLS addresses): web.whatsapp.com
/// and v.whatsapp.net share 69.171.250.60, and the network events tell their connects
/// apart.
#[test]
fn legacy_whatsapp_rows_sharing_an_ip_keep_their_own_host() {
    let o = observe_fixture(IT_WHATSAPP_2020);
    let tcp: Vec<(&str, u16)> = o
        .observations
        .iter()
        .filter(|r| r.stage == Stage::Tcp)
        .map(|r| (r.domain.as_deref().unwrap(), r.port.unwrap()))
        .collect();
    assert_eq!(
        tcp,
        [
            ("web.whatsapp.com", 443),
            ("e3.whatsapp.net", 443),
            ("web.whatsapp.com", 80),
            ("v.whatsapp.net", 443),
        ]
    );
    // TLS rows get their address from the network events.
    for r in o.observations.iter().filter(|r| r.stage == Stage::Tls) {
        assert_eq!(r.ip.as_deref(), Some("69.171.250.60"));
        assert_eq!(r.port, Some(443));
    }
}

/// The Azerbaijan 2020 pattern (doc §7.4, §7.5 #5), built from the 2020 probe-engine
/// whatsapp example: the web.whatsapp.com handshake and its https request time out, the
/// rest works. Expected: tcp ok, tls fail, http ok (the plaintext 302), counted once.
#[test]
fn sni_filtering_of_web_whatsapp_is_a_tls_failure_counted_once() {
    let mut m: serde_json::Value = serde_json::from_str(&fixture(IT_WHATSAPP_2020)).unwrap();
    let tk = &mut m["test_keys"];
    let timeout = serde_json::json!("generic_timeout_error");
    let t = tk["tls_handshakes"][0]["t"].clone();
    assert_eq!(tk["tls_handshakes"][0]["server_name"], "web.whatsapp.com");
    tk["tls_handshakes"][0]["failure"] = timeout.clone();
    for e in tk["network_events"].as_array_mut().unwrap() {
        if e["operation"] == "tls_handshake_done" && e["t"] == t {
            e["failure"] = timeout.clone();
        }
    }
    for r in tk["requests"].as_array_mut().unwrap() {
        if r["request"]["url"] == "https://web.whatsapp.com/" {
            r["failure"] = timeout.clone();
            r["response"] = serde_json::Value::Null;
        }
    }
    let o = ooni_observations::observe(&m.to_string()).unwrap();
    let web = "web.whatsapp.com";
    assert!(!outcome(&o, web, OutcomeStage::Dns).unwrap().failed);
    assert!(!outcome(&o, web, OutcomeStage::Tcp).unwrap().failed);
    let tls = outcome(&o, web, OutcomeStage::Tls).unwrap();
    assert_eq!(
        (tls.failed, tls.failure.as_deref()),
        (true, Some("generic_timeout_error"))
    );
    let http = outcome(&o, web, OutcomeStage::Http).unwrap();
    assert!(
        !http.failed,
        "the https request is not reached; http:// got its 302"
    );
    let any = outcome(&o, web, OutcomeStage::Any).unwrap();
    assert_eq!(any.failure.as_deref(), Some("generic_timeout_error"));
    for host in ["v.whatsapp.net", "e3.whatsapp.net"] {
        assert!(!outcome(&o, host, OutcomeStage::Any).unwrap().failed);
    }
}

/// Signal IR 2021: every lookup but one is NXDOMAIN, written as A + AAAA entries.
#[test]
fn legacy_split_lookup_failures_are_emitted_and_counted_once() {
    let o = observe_fixture(
        "signal__IR-20210415-v0.2.0-explorer-msmtmeta-2953bf2e__ooni-explorer.json",
    );
    for host in [
        "api.directory.signal.org",
        "storage.signal.org",
        "cdn.signal.org",
        "cdn2.signal.org",
        "sfu.voip.signal.org",
        "uptime.signal.org",
    ] {
        let dns: Vec<_> = o
            .observations
            .iter()
            .filter(|r| r.stage == Stage::Dns && r.domain.as_deref() == Some(host))
            .collect();
        assert_eq!(dns.len(), 1, "{host}");
        assert_eq!(dns[0].dns_query_type.as_deref(), Some("A"));
        let x = outcome(&o, host, OutcomeStage::Dns).unwrap();
        assert_eq!(x.failure.as_deref(), Some("dns_nxdomain_error"));
        // The https request failed with the same NXDOMAIN: not reached, not counted again.
        assert!(outcome(&o, host, OutcomeStage::Http).is_none(), "{host}");
    }
    let chat = "textsecure-service.whispersystems.org";
    assert_eq!(
        o.observations
            .iter()
            .filter(|r| r.stage == Stage::Dns && r.domain.as_deref() == Some(chat))
            .count(),
        1,
        "a successful lookup keeps its (single, non-empty) family"
    );
    assert!(!outcome(&o, chat, OutcomeStage::Any).unwrap().failed);
}
