//! The 50 NETEM-QA web_connectivity 0.5.28 measurements (probe-cli's netemx scenarios,
//! real probe code on a simulated network) against the verdict each scenario's name
//! implies: the first stage of the checked domain that is not `ok`, its status, blocking
//! kind and failure (see the crate docs, "Blocked, down or failed").
//!
//! How the names read:
//!
//! * "…Blocking<Failure>": blocked at the stage the failure hits, the control having
//!   succeeded there. DNS manipulation that returns addresses is blocked at DNS: a bogon
//!   (`dns.bogon`, also for "localhost" hijacking), or an address that matches the control
//!   neither by address, ASN nor a validated TLS handshake (`dns.inconsistent`, the "ghost"
//!   and "inconsistent DNS" scenarios). Connecting to such an address is a consequence: no
//!   later stage has an outcome.
//! * "websiteDown…", "badSSL…" with consistent DNS, "localhostWith…": the control fails the
//!   same way (or got the same loopback answer): down, not blocked.
//! * "dnsHijackingToProxy…" and "httpDiffWithInconsistentDNS": the resolved proxy completes
//!   TLS with a valid certificate for the name, so the answer is consistent (ooni/data's
//!   `tls_consistent_answer`); the proxy either serves the site (ok) or another page
//!   (`http.diff`).
//! * "httpDiff…", "cloudflareCAPTCHAWithHTTP", "redirectWithBrokenLocation…": the page
//!   differs from the control's (`http.diff`, a received page, not a failure).
//! * "redirectWithConsistentDNSAndThen<Failure>For<Scheme>": bit.ly (the input) works and
//!   redirects to www.example.com, where <Failure> hits. The hop keeps its own rows (marked
//!   as a hop, failing at its own stage); the verdict is filed under bit.ly, at its DNS
//!   stage for the hop's NXDOMAIN and at its HTTP stage otherwise.
//! * Redirect loops, control failures, large files, IDNA: nothing wrong.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::{FIXTURES, observe_fixture, outcome, summary};
use ooni_observations::BlockingKind::{self, *};
use ooni_observations::OutcomeStage::{self, Dns, Http, Tcp, Tls};
use ooni_observations::Status::{self, Blocked, Down};

/// The first stage that is not ok: stage, status, blocking kind, failure.
type First = (
    OutcomeStage,
    Status,
    Option<BlockingKind>,
    Option<&'static str>,
);

struct Case {
    scenario: &'static str,
    /// The domain checked; `None`: the input's domain.
    domain: Option<&'static str>,
    /// `None`: every stage is ok.
    first: Option<First>,
    /// Later stages that are not ok either (plaintext HTTP does not need TLS).
    also: &'static [First],
}

const fn ok(scenario: &'static str) -> Case {
    Case {
        scenario,
        domain: None,
        first: None,
        also: &[],
    }
}

const fn at(scenario: &'static str, first: First) -> Case {
    Case {
        scenario,
        domain: None,
        first: Some(first),
        also: &[],
    }
}

const HOP: &str = "www.example.com";

const fn hop(scenario: &'static str, first: First, also: &'static [First]) -> Case {
    Case {
        scenario,
        domain: Some(HOP),
        first: Some(first),
        also,
    }
}

const fn blocked(stage: OutcomeStage, kind: BlockingKind, failure: &'static str) -> First {
    (stage, Blocked, Some(kind), Some(failure))
}

const fn manipulated(stage: OutcomeStage, kind: BlockingKind) -> First {
    (stage, Blocked, Some(kind), None)
}

const fn down(stage: OutcomeStage, failure: Option<&'static str>) -> First {
    (stage, Down, None, failure)
}

const CASES: &[Case] = &[
    at(
        "badSSLWithExpiredCertificate",
        down(Tls, Some("ssl_invalid_certificate")),
    ),
    at(
        "badSSLWithUnknownAuthorityWithConsistentDNS",
        down(Tls, Some("ssl_unknown_authority")),
    ),
    // The answer leads to a server whose certificate the control rejects too and that the
    // control never resolved (ooni/data: `tls_inconsistent_not_in_ctrl`).
    at(
        "badSSLWithUnknownAuthorityWithInconsistentDNS",
        manipulated(Dns, DnsInconsistent),
    ),
    at(
        "badSSLWithWrongServerName",
        down(Tls, Some("ssl_invalid_hostname")),
    ),
    ok("cloudflareCAPTCHAWithHTTPS"),
    // A 503 CAPTCHA instead of the page: an http-diff (the probe says so too).
    at("cloudflareCAPTCHAWithHTTP", manipulated(Http, HttpDiff)),
    ok("controlFailureWithSuccessfulHTTPSWebsite"),
    ok("controlFailureWithSuccessfulHTTPWebsite"),
    at(
        "dnsBlockingAndroidDNSCacheNoData",
        blocked(Dns, DnsNxdomain, "android_dns_cache_no_data"),
    ),
    at("dnsBlockingBOGON", manipulated(Dns, DnsBogon)),
    at(
        "dnsBlockingNXDOMAIN",
        blocked(Dns, DnsNxdomain, "dns_nxdomain_error"),
    ),
    at(
        "dnsHijackingToLocalhostWithHTTPS",
        manipulated(Dns, DnsBogon),
    ),
    at(
        "dnsHijackingToLocalhostWithHTTP",
        manipulated(Dns, DnsBogon),
    ),
    ok("dnsHijackingToProxyWithHTTPSURL"),
    ok("dnsHijackingToProxyWithHTTPURL"),
    at(
        "ghostDNSBlockingWithHTTPS",
        manipulated(Dns, DnsInconsistent),
    ),
    at(
        "ghostDNSBlockingWithHTTP",
        manipulated(Dns, DnsInconsistent),
    ),
    at(
        "httpBlockingConnectionReset",
        blocked(Http, HttpReset, "connection_reset"),
    ),
    at("httpDiffWithConsistentDNS", manipulated(Http, HttpDiff)),
    at("httpDiffWithInconsistentDNS", manipulated(Http, HttpDiff)),
    ok("idnaWithoutCensorshipLowercase"),
    ok("idnaWithoutCensorshipWithFirstLetterUppercase"),
    ok("largeFileWithHTTPS"),
    ok("largeFileWithHTTP"),
    // The website itself resolves to 127.0.0.1, for the control too.
    at("localhostWithHTTPS", down(Dns, None)),
    at("localhostWithHTTP", down(Dns, None)),
    at(
        "redirectWithBrokenLocationForHTTPS",
        manipulated(Http, HttpDiff),
    ),
    at(
        "redirectWithBrokenLocationForHTTP",
        manipulated(Http, HttpDiff),
    ),
    at(
        "redirectWithConsistentDNSAndThenConnectionRefusedForHTTPS",
        blocked(Http, TcpRefused, "connection_refused"),
    ),
    hop(
        "redirectWithConsistentDNSAndThenConnectionRefusedForHTTPS",
        blocked(Tcp, TcpRefused, "connection_refused"),
        &[],
    ),
    at(
        "redirectWithConsistentDNSAndThenConnectionRefusedForHTTP",
        blocked(Http, TcpRefused, "connection_refused"),
    ),
    hop(
        "redirectWithConsistentDNSAndThenConnectionRefusedForHTTP",
        blocked(Tcp, TcpRefused, "connection_refused"),
        &[],
    ),
    at(
        "redirectWithConsistentDNSAndThenConnectionResetForHTTPS",
        blocked(Http, TlsReset, "connection_reset"),
    ),
    hop(
        "redirectWithConsistentDNSAndThenConnectionResetForHTTPS",
        blocked(Tls, TlsReset, "connection_reset"),
        &[],
    ),
    at(
        "redirectWithConsistentDNSAndThenConnectionResetForHTTP",
        blocked(Http, TlsReset, "connection_reset"),
    ),
    hop(
        "redirectWithConsistentDNSAndThenConnectionResetForHTTP",
        blocked(Tls, TlsReset, "connection_reset"),
        &[blocked(Http, HttpReset, "connection_reset")],
    ),
    at(
        "redirectWithConsistentDNSAndThenEOFForHTTPS",
        blocked(Http, TlsEof, "eof_error"),
    ),
    hop(
        "redirectWithConsistentDNSAndThenEOFForHTTPS",
        blocked(Tls, TlsEof, "eof_error"),
        &[],
    ),
    at(
        "redirectWithConsistentDNSAndThenEOFForHTTP",
        blocked(Http, TlsEof, "eof_error"),
    ),
    hop(
        "redirectWithConsistentDNSAndThenEOFForHTTP",
        blocked(Tls, TlsEof, "eof_error"),
        &[blocked(Http, HttpEof, "eof_error")],
    ),
    at(
        "redirectWithConsistentDNSAndThenNXDOMAIN",
        blocked(Dns, DnsNxdomain, "dns_nxdomain_error"),
    ),
    hop(
        "redirectWithConsistentDNSAndThenNXDOMAIN",
        blocked(Dns, DnsNxdomain, "dns_nxdomain_error"),
        &[],
    ),
    at(
        "redirectWithConsistentDNSAndThenTimeoutForHTTPS",
        blocked(Http, TlsTimeout, "generic_timeout_error"),
    ),
    hop(
        "redirectWithConsistentDNSAndThenTimeoutForHTTPS",
        blocked(Tls, TlsTimeout, "generic_timeout_error"),
        &[],
    ),
    at(
        "redirectWithConsistentDNSAndThenTimeoutForHTTP",
        blocked(Http, TlsTimeout, "generic_timeout_error"),
    ),
    hop(
        "redirectWithConsistentDNSAndThenTimeoutForHTTP",
        blocked(Tls, TlsTimeout, "generic_timeout_error"),
        &[blocked(Http, HttpTimeout, "generic_timeout_error")],
    ),
    // A redirect loop the control hits too.
    ok("redirectWithMoreThanTenRedirectsAndHTTPS"),
    ok("redirectWithMoreThanTenRedirectsAndHTTP"),
    ok("successWithHTTPS"),
    ok("successWithHTTP"),
    at(
        "tcpBlockingConnectTimeout",
        blocked(Tcp, TcpTimeout, "generic_timeout_error"),
    ),
    // The system resolver's (wrong) address refuses both ports: the answer is the block.
    at(
        "tcpBlockingConnectionRefusedWithInconsistentDNS",
        manipulated(Dns, DnsInconsistent),
    ),
    // The body download times out after a successful handshake.
    at(
        "throttlingWithHTTPS",
        blocked(Http, HttpTimeout, "generic_timeout_error"),
    ),
    at(
        "throttlingWithHTTP",
        blocked(Http, HttpTimeout, "generic_timeout_error"),
    ),
    at(
        "tlsBlockingConnectionResetWithConsistentDNS",
        blocked(Tls, TlsReset, "connection_reset"),
    ),
    // The control's handshake with the resolved address succeeded: the answer is
    // consistent (ooni/data: "DNS is actually not inconsistent") and TLS is blocked.
    at(
        "tlsBlockingConnectionResetWithInconsistentDNS",
        blocked(Tls, TlsReset, "connection_reset"),
    ),
    at("websiteDownNXDOMAIN", down(Dns, Some("dns_nxdomain_error"))),
    // The name exists but has no address, for the control too.
    at("websiteDownNoAddrs", down(Dns, Some("dns_no_answer"))),
    // Nothing listens on port 444, for the control either.
    at(
        "websiteDownTCPConnect",
        down(Tcp, Some("connection_refused")),
    ),
];

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
fn every_netem_qa_scenario_has_the_verdict_its_name_says() {
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
        let input = ooni_observations::domain_of_url(value["input"].as_str().unwrap()).unwrap();
        let domain = c.domain.map_or(input.clone(), str::to_owned);
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
        if any.is_hop != c.domain.is_some() {
            fail(format!("is_hop is {}", any.is_hop));
        }
        let got = |stage: OutcomeStage| {
            outcome(&o, &domain, stage)
                .map(|x| (stage, x.status, x.blocking_kind, x.failure.clone()))
        };
        let same = |x: &(OutcomeStage, Status, Option<BlockingKind>, Option<String>), e: &First| {
            x.0 == e.0 && x.1 == e.1 && x.2 == e.2 && x.3.as_deref() == e.3
        };
        let stages: Vec<_> = ORDER.iter().filter_map(|s| got(*s)).collect();
        let first = stages.iter().find(|x| x.1 != Status::Ok);
        match (first, &c.first) {
            (None, None) => {}
            (Some(x), Some(e)) if same(x, e) => {
                // The `any` row repeats the first stage that is not ok.
                if (any.status, any.blocking_kind) != (e.1, e.2) {
                    fail("`any` differs from the first stage".into());
                }
            }
            (x, e) => fail(format!("first not ok: got {x:?}, expected {e:?}")),
        }
        for e in c.also {
            if !got(e.0).is_some_and(|x| same(&x, e)) {
                fail(format!("expected also {e:?}"));
            }
        }
        // Nothing else is anything but ok.
        for x in &stages {
            let expected = c.first.iter().chain(c.also).any(|e| e.0 == x.0);
            if x.1 != Status::Ok && !expected {
                fail(format!("{} is {:?}", x.0.as_str(), x.1));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
