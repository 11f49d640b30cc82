//! The 50 NETEM-QA web_connectivity 0.5.28 measurements (probe-cli's netemx scenarios,
//! real probe code on a simulated network) against the stage and failure each scenario's
//! name implies.
//!
//! Rules used to read the names (see the crate docs for the outcome definitions):
//!
//! * "…Blocking<Failure>" and "websiteDown<Failure>" name the failure and the stage it hits:
//!   the failure is expected as the *first* failing stage of the input's domain, with the
//!   earlier stages ok. A website that is down from the control too still fails here:
//!   failure rates are raw signal, telling "down" from "blocked" is left to the reader of
//!   the control rows.
//! * DNS manipulation that returns addresses (bogon, localhost, a proxy, a "ghost" IP) is
//!   not a failure string, so the DNS stage is ok and the failure, if any, shows at the
//!   first stage that breaks when connecting to the answer (only operations on addresses
//!   from the system resolver count; the probe's extra connects to the control's addresses
//!   stay observations).
//! * Responses that differ from the control (http-diff, Cloudflare CAPTCHA, large files),
//!   broken `Location` headers and redirect loops are application-level results, not
//!   network failures: no failure.
//! * "redirectWithConsistentDNSAndThen<Failure>For<Scheme>": the input's domain (bit.ly)
//!   works and redirects to www.example.com, where <Failure> hits. For HTTPS it hits the TLS
//!   handshake. For HTTP the probe also runs its TLS experiment on port 443 of the new host
//!   and the censor resets/drops that too (it matches the host name), so TLS is the first
//!   failing stage and the plaintext request's own failure shows at HTTP as well.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::{FIXTURES, observe_fixture, outcome, summary};
use ooni_observations::OutcomeStage::{self, Dns, Http, Tcp, Tls};

struct Case {
    scenario: &'static str,
    /// The domain checked; `None`: the input's domain.
    domain: Option<&'static str>,
    /// The first failing stage and its failure; `None`: no stage fails.
    first_failure: Option<(OutcomeStage, &'static str)>,
    /// Stages that must have an ok outcome.
    ok: &'static [OutcomeStage],
    /// Later stages failing with their own operation's failure.
    also_failed: &'static [(OutcomeStage, &'static str)],
}

const fn case(
    scenario: &'static str,
    first_failure: Option<(OutcomeStage, &'static str)>,
    ok: &'static [OutcomeStage],
) -> Case {
    Case {
        scenario,
        domain: None,
        first_failure,
        ok,
        also_failed: &[],
    }
}

const ALL: &[OutcomeStage] = &[Dns, Tcp, Tls, Http];
const REDIRECT_TARGET: &str = "www.example.com";

const CASES: &[Case] = &[
    // The certificate is the website's own problem, but the handshake fails: TLS.
    case(
        "badSSLWithExpiredCertificate",
        Some((Tls, "ssl_invalid_certificate")),
        &[Dns, Tcp],
    ),
    case(
        "badSSLWithUnknownAuthorityWithConsistentDNS",
        Some((Tls, "ssl_unknown_authority")),
        &[Dns, Tcp],
    ),
    // The system resolver's answer leads to a server with an untrusted certificate; the
    // control's address works but is not what a user would have used.
    case(
        "badSSLWithUnknownAuthorityWithInconsistentDNS",
        Some((Tls, "ssl_unknown_authority")),
        &[Dns, Tcp],
    ),
    case(
        "badSSLWithWrongServerName",
        Some((Tls, "ssl_invalid_hostname")),
        &[Dns, Tcp],
    ),
    // A 503 CAPTCHA page is a response.
    case("cloudflareCAPTCHAWithHTTPS", None, ALL),
    case("cloudflareCAPTCHAWithHTTP", None, ALL),
    // The control failed, the website did not.
    case("controlFailureWithSuccessfulHTTPSWebsite", None, ALL),
    case("controlFailureWithSuccessfulHTTPWebsite", None, ALL),
    case(
        "dnsBlockingAndroidDNSCacheNoData",
        Some((Dns, "android_dns_cache_no_data")),
        &[],
    ),
    // The bogon answer is not a failure; the connect to it times out.
    case(
        "dnsBlockingBOGON",
        Some((Tcp, "generic_timeout_error")),
        &[Dns],
    ),
    case(
        "dnsBlockingNXDOMAIN",
        Some((Dns, "dns_nxdomain_error")),
        &[],
    ),
    // 127.0.0.1 is not a failure and the probe does not connect to loopback: DNS only.
    case("dnsHijackingToLocalhostWithHTTPS", None, &[Dns]),
    case("dnsHijackingToLocalhostWithHTTP", None, &[Dns]),
    // A transparent proxy serves the website: everything works.
    case("dnsHijackingToProxyWithHTTPSURL", None, ALL),
    case("dnsHijackingToProxyWithHTTPURL", None, ALL),
    // The "ghost" address refuses port 443…
    case(
        "ghostDNSBlockingWithHTTPS",
        Some((Tcp, "connection_refused")),
        &[Dns],
    ),
    // …but serves a page on port 80 (an http-diff, not a failure); one connect succeeded.
    case("ghostDNSBlockingWithHTTP", None, &[Dns, Tcp, Http]),
    case(
        "httpBlockingConnectionReset",
        Some((Http, "connection_reset")),
        ALL_BUT_HTTP,
    ),
    case("httpDiffWithConsistentDNS", None, ALL),
    case("httpDiffWithInconsistentDNS", None, ALL),
    // The input's host is punycode-encoded (the name the probe resolves).
    case("idnaWithoutCensorshipLowercase", None, ALL),
    case("idnaWithoutCensorshipWithFirstLetterUppercase", None, ALL),
    case("largeFileWithHTTPS", None, ALL),
    case("largeFileWithHTTP", None, ALL),
    // The website itself resolves to 127.0.0.1: DNS only.
    case("localhostWithHTTPS", None, &[Dns]),
    case("localhostWithHTTP", None, &[Dns]),
    // http_invalid_redirect_location_host is application-level (doc §2.6).
    case("redirectWithBrokenLocationForHTTPS", None, ALL),
    case("redirectWithBrokenLocationForHTTP", None, ALL),
    case(
        "redirectWithConsistentDNSAndThenConnectionRefusedForHTTPS",
        None,
        ALL,
    ),
    Case {
        domain: Some(REDIRECT_TARGET),
        ..case(
            "redirectWithConsistentDNSAndThenConnectionRefusedForHTTPS",
            Some((Tcp, "connection_refused")),
            &[Dns],
        )
    },
    case(
        "redirectWithConsistentDNSAndThenConnectionRefusedForHTTP",
        None,
        ALL,
    ),
    Case {
        domain: Some(REDIRECT_TARGET),
        ..case(
            "redirectWithConsistentDNSAndThenConnectionRefusedForHTTP",
            Some((Tcp, "connection_refused")),
            &[Dns],
        )
    },
    case(
        "redirectWithConsistentDNSAndThenConnectionResetForHTTPS",
        None,
        ALL,
    ),
    Case {
        domain: Some(REDIRECT_TARGET),
        ..case(
            "redirectWithConsistentDNSAndThenConnectionResetForHTTPS",
            Some((Tls, "connection_reset")),
            &[Dns, Tcp],
        )
    },
    case(
        "redirectWithConsistentDNSAndThenConnectionResetForHTTP",
        None,
        ALL,
    ),
    Case {
        domain: Some(REDIRECT_TARGET),
        also_failed: &[(Http, "connection_reset")],
        ..case(
            "redirectWithConsistentDNSAndThenConnectionResetForHTTP",
            Some((Tls, "connection_reset")),
            &[Dns, Tcp],
        )
    },
    case("redirectWithConsistentDNSAndThenEOFForHTTPS", None, ALL),
    Case {
        domain: Some(REDIRECT_TARGET),
        ..case(
            "redirectWithConsistentDNSAndThenEOFForHTTPS",
            Some((Tls, "eof_error")),
            &[Dns, Tcp],
        )
    },
    case("redirectWithConsistentDNSAndThenEOFForHTTP", None, ALL),
    Case {
        domain: Some(REDIRECT_TARGET),
        also_failed: &[(Http, "eof_error")],
        ..case(
            "redirectWithConsistentDNSAndThenEOFForHTTP",
            Some((Tls, "eof_error")),
            &[Dns, Tcp],
        )
    },
    case("redirectWithConsistentDNSAndThenNXDOMAIN", None, ALL),
    Case {
        domain: Some(REDIRECT_TARGET),
        ..case(
            "redirectWithConsistentDNSAndThenNXDOMAIN",
            Some((Dns, "dns_nxdomain_error")),
            &[],
        )
    },
    case("redirectWithConsistentDNSAndThenTimeoutForHTTPS", None, ALL),
    Case {
        domain: Some(REDIRECT_TARGET),
        ..case(
            "redirectWithConsistentDNSAndThenTimeoutForHTTPS",
            Some((Tls, "generic_timeout_error")),
            &[Dns, Tcp],
        )
    },
    case("redirectWithConsistentDNSAndThenTimeoutForHTTP", None, ALL),
    Case {
        domain: Some(REDIRECT_TARGET),
        also_failed: &[(Http, "generic_timeout_error")],
        ..case(
            "redirectWithConsistentDNSAndThenTimeoutForHTTP",
            Some((Tls, "generic_timeout_error")),
            &[Dns, Tcp],
        )
    },
    // A redirect loop is the website's behaviour, not a network failure.
    case("redirectWithMoreThanTenRedirectsAndHTTPS", None, ALL),
    case("redirectWithMoreThanTenRedirectsAndHTTP", None, ALL),
    case("successWithHTTPS", None, ALL),
    case("successWithHTTP", None, ALL),
    case(
        "tcpBlockingConnectTimeout",
        Some((Tcp, "generic_timeout_error")),
        &[Dns],
    ),
    // The system resolver's (wrong) address refuses both ports.
    case(
        "tcpBlockingConnectionRefusedWithInconsistentDNS",
        Some((Tcp, "connection_refused")),
        &[Dns],
    ),
    // The body download times out after a successful handshake.
    case(
        "throttlingWithHTTPS",
        Some((Http, "generic_timeout_error")),
        ALL_BUT_HTTP,
    ),
    case(
        "throttlingWithHTTP",
        Some((Http, "generic_timeout_error")),
        ALL_BUT_HTTP,
    ),
    case(
        "tlsBlockingConnectionResetWithConsistentDNS",
        Some((Tls, "connection_reset")),
        &[Dns, Tcp],
    ),
    case(
        "tlsBlockingConnectionResetWithInconsistentDNS",
        Some((Tls, "connection_reset")),
        &[Dns, Tcp],
    ),
    case(
        "websiteDownNXDOMAIN",
        Some((Dns, "dns_nxdomain_error")),
        &[],
    ),
    // The name exists but has no address (AAAA-only `dns_no_answer` would be ignored; this
    // is the getaddrinfo lookup).
    case("websiteDownNoAddrs", Some((Dns, "dns_no_answer")), &[]),
    // Nothing listens on port 444.
    case(
        "websiteDownTCPConnect",
        Some((Tcp, "connection_refused")),
        &[Dns],
    ),
];

const ALL_BUT_HTTP: &[OutcomeStage] = &[Dns, Tcp, Tls];

const ORDER: [OutcomeStage; 4] = [Dns, Tcp, Tls, Http];

/// The NETEM-QA scenario names and files, from the corpus manifest.
fn qa_fixtures() -> Vec<(String, String)> {
    let manifest = std::fs::read_to_string(format!("{FIXTURES}/MANIFEST.tsv")).unwrap();
    manifest
        .lines()
        .filter_map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let notes = cols.get(8)?;
            if !notes.starts_with("NETEM-QA") {
                return None;
            }
            let file = cols[0];
            let scenario = file
                .split_once("-v0.5.28-")?
                .1
                .strip_suffix("__ooni-data.json")?;
            Some((scenario.to_owned(), file.to_owned()))
        })
        .collect()
}

#[test]
fn every_netem_qa_scenario_fails_where_its_name_says() {
    let fixtures = qa_fixtures();
    assert_eq!(fixtures.len(), 50);
    let scenarios: BTreeSet<&str> = fixtures.iter().map(|(s, _)| s.as_str()).collect();
    let covered: BTreeSet<&str> = CASES
        .iter()
        .filter(|c| c.domain.is_none())
        .map(|c| c.scenario)
        .collect();
    assert_eq!(scenarios, covered, "one input-domain row per scenario");

    let mut problems = Vec::new();
    for c in CASES {
        let (_, file) = fixtures.iter().find(|(s, _)| s == c.scenario).unwrap();
        let text = common::fixture(file);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let domain = match c.domain {
            Some(d) => d.to_owned(),
            None => ooni_observations::domain_of_url(value["input"].as_str().unwrap()).unwrap(),
        };
        let o = observe_fixture(file);
        let mut fail = |what: String| {
            problems.push(format!(
                "{} [{domain}]: {what} ({})",
                c.scenario,
                summary(&o, &domain)
            ))
        };

        let Some(any) = outcome(&o, &domain, OutcomeStage::Any) else {
            fail("no outcome at all".into());
            continue;
        };
        let mut expected_failed: Vec<(OutcomeStage, &str)> = c.also_failed.to_vec();
        match c.first_failure {
            None => {
                if any.failed {
                    fail("unexpected failure".into());
                }
            }
            Some((stage, failure)) => {
                expected_failed.push((stage, failure));
                if !any.failed || any.failure.as_deref() != Some(failure) {
                    fail(format!("any should fail with {failure}"));
                }
                for earlier in ORDER.iter().take_while(|s| **s != stage) {
                    if outcome(&o, &domain, *earlier).is_some_and(|x| x.failed) {
                        fail(format!(
                            "{} fails before {}",
                            earlier.as_str(),
                            stage.as_str()
                        ));
                    }
                }
            }
        }
        for (stage, failure) in &expected_failed {
            match outcome(&o, &domain, *stage) {
                Some(x) if x.failed && x.failure.as_deref() == Some(*failure) => {}
                _ => fail(format!("{} should fail with {failure}", stage.as_str())),
            }
        }
        for x in o.outcomes.iter().filter(|x| x.domain == domain && x.failed) {
            if x.stage != OutcomeStage::Any && !expected_failed.iter().any(|(s, _)| *s == x.stage) {
                fail(format!("{} fails unexpectedly", x.stage.as_str()));
            }
        }
        for stage in c.ok {
            if outcome(&o, &domain, *stage).is_none_or(|x| x.failed) {
                fail(format!("{} should be ok", stage.as_str()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
