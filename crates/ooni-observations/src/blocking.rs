//! What the outcome computation knows about a measurement beyond its network operations:
//! web_connectivity's control, the probe's own verdict keys, the blocking fingerprints that
//! matched, and the final response for the http-diff (see the crate docs, "Blocked, down or
//! failed").

use std::collections::{HashMap, HashSet};

use crate::failure::normalize_failure;
use crate::host::{canonical_ip, normalize_host, parse_url};
use crate::httpdiff::{self, Checks};
use crate::raw::{Control, HttpTransaction, LBool, RawFailure, TestKeys};
use crate::{BlockingKind, FingerprintMatches, OutcomeStage};

/// The tests whose outcomes are judged with their own semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TestKind {
    /// A control (test helper) result to compare with.
    WebConnectivity,
    Whatsapp,
    Telegram,
    Signal,
    FacebookMessenger,
    /// urlgetter, tor, vanilla_tor: failures are `failure`, nothing is judged blocked.
    Other,
}

impl TestKind {
    pub(crate) fn from_test_name(name: &str) -> TestKind {
        match name {
            "web_connectivity" => TestKind::WebConnectivity,
            "whatsapp" => TestKind::Whatsapp,
            "telegram" => TestKind::Telegram,
            "signal" => TestKind::Signal,
            "facebook_messenger" => TestKind::FacebookMessenger,
            _ => TestKind::Other,
        }
    }

    /// The instant-messaging tests, whose DNS answers are judged for bogons.
    pub(crate) fn is_im(self) -> bool {
        matches!(
            self,
            TestKind::Whatsapp
                | TestKind::Telegram
                | TestKind::Signal
                | TestKind::FacebookMessenger
        )
    }
}

/// The control's result for one operation: `None` = succeeded, `Some(f)` = failed with `f`.
pub(crate) type CtrlResult = Option<String>;

/// web_connectivity's control, normalized.
#[derive(Debug, Clone, Default)]
pub(crate) struct ControlView {
    /// `control.dns`: `None` when the control has no DNS result.
    pub dns: Option<CtrlDns>,
    /// `ip:port` → connect result.
    pub tcp: HashMap<(String, Option<u16>), CtrlResult>,
    /// `ip:port` → (SNI, handshake result).
    pub tls: HashMap<(String, Option<u16>), (Option<String>, CtrlResult)>,
    /// `control.http_request`, when the control made one.
    pub http: Option<CtrlHttp>,
    /// ASN of addresses, from the control's `ip_info` and the probe's own annotations.
    pub asns: HashMap<String, u32>,
}

/// `control.dns`.
#[derive(Debug, Clone, Default)]
pub(crate) struct CtrlDns {
    pub failure: Option<String>,
    /// The IP addresses answered (canonical); host names (CNAMEs) are left out.
    pub ips: Vec<String>,
    /// Every answer as written (IPs and names), for the evidence.
    pub answers: Vec<String>,
}

impl CtrlDns {
    /// Whether any answer (IP or name) came back.
    pub(crate) fn any_answer(&self) -> bool {
        !self.answers.is_empty()
    }

    /// The control's DNS result as evidence text.
    pub(crate) fn describe(&self) -> String {
        match &self.failure {
            Some(f) => f.clone(),
            None if self.answers.is_empty() => "no addresses".to_owned(),
            None => self.answers.join(" "),
        }
    }
}

/// `control.http_request`.
#[derive(Debug, Clone, Default)]
pub(crate) struct CtrlHttp {
    pub failure: Option<String>,
    pub response: httpdiff::Control,
}

impl CtrlHttp {
    /// The control fetched the input URL (following its redirects).
    pub(crate) fn ok(&self) -> bool {
        self.failure.is_none() && self.response.status_code > 0
    }
}

/// The probe's own verdict keys of the instant-messaging tests (`Some(true)`: the test
/// calls the target blocked).
#[derive(Debug, Clone, Default)]
pub(crate) struct ImKeys {
    whatsapp_web: Option<bool>,
    whatsapp_registration: Option<bool>,
    whatsapp_endpoints: Option<bool>,
    whatsapp_endpoints_blocked: HashSet<String>,
    telegram_web: Option<bool>,
    telegram_tcp: Option<bool>,
    telegram_http: Option<bool>,
    signal_backend: Option<bool>,
    /// facebook_messenger: host → (`*_dns_consistent`, `*_reachable`).
    facebook: HashMap<&'static str, (Option<bool>, Option<bool>)>,
}

fn status_blocked(s: Option<&str>) -> Option<bool> {
    s.map(|s| s == "blocked")
}

impl ImKeys {
    fn from_test_keys(tk: &TestKeys<'_>) -> ImKeys {
        let fb = |dns: &LBool, reach: &LBool| (dns.0, reach.0);
        let facebook = HashMap::from([
            (
                "b-api.facebook.com",
                fb(
                    &tk.facebook_b_api_dns_consistent,
                    &tk.facebook_b_api_reachable,
                ),
            ),
            (
                "b-graph.facebook.com",
                fb(
                    &tk.facebook_b_graph_dns_consistent,
                    &tk.facebook_b_graph_reachable,
                ),
            ),
            (
                "edge-mqtt.facebook.com",
                fb(
                    &tk.facebook_edge_dns_consistent,
                    &tk.facebook_edge_reachable,
                ),
            ),
            (
                "external.xx.fbcdn.net",
                fb(
                    &tk.facebook_external_cdn_dns_consistent,
                    &tk.facebook_external_cdn_reachable,
                ),
            ),
            (
                "scontent.xx.fbcdn.net",
                fb(
                    &tk.facebook_scontent_cdn_dns_consistent,
                    &tk.facebook_scontent_cdn_reachable,
                ),
            ),
            (
                "star.c10r.facebook.com",
                fb(
                    &tk.facebook_star_dns_consistent,
                    &tk.facebook_star_reachable,
                ),
            ),
            (
                "stun.fbsbx.com",
                fb(
                    &tk.facebook_stun_dns_consistent,
                    &tk.facebook_stun_reachable,
                ),
            ),
        ]);
        ImKeys {
            whatsapp_web: status_blocked(tk.whatsapp_web_status.get()),
            whatsapp_registration: status_blocked(tk.registration_server_status.get()),
            whatsapp_endpoints: status_blocked(tk.whatsapp_endpoints_status.get()),
            whatsapp_endpoints_blocked: tk
                .whatsapp_endpoints_blocked
                .0
                .iter()
                .filter_map(|h| h.get().and_then(normalize_host))
                .collect(),
            telegram_web: status_blocked(tk.telegram_web_status.get()),
            telegram_tcp: tk.telegram_tcp_blocking.0,
            telegram_http: tk.telegram_http_blocking.0,
            signal_backend: status_blocked(tk.signal_backend_status.get()),
            facebook,
        }
    }
}

/// The probe's own http-diff keys (computed on the full body, before any truncation).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ProbeChecks(Option<Checks>);

/// Everything the outcome computation reads besides the rows.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    pub test: TestKind,
    /// The input's host (URL-input tests).
    pub input_host: Option<String>,
    /// The input URL's scheme is `https`.
    pub input_https: bool,
    /// web_connectivity's control, unless missing or `control_failure` is set.
    pub control: Option<ControlView>,
    /// The probe's `dns_consistency` (`Some(true)`: consistent).
    pub probe_dns_consistent: Option<bool>,
    probe_checks: ProbeChecks,
    /// `requests[0]`, the last response of the redirect chain.
    pub final_response: Option<FinalResponse>,
    pub im: ImKeys,
    /// Address → confirmed DNS fingerprint.
    pub dns_fingerprints: HashMap<String, String>,
    /// Request index → confirmed HTTP fingerprint.
    pub response_fingerprints: HashMap<usize, String>,
}

/// The last response of the chain (`requests[0]`), for the http-diff.
#[derive(Debug, Clone)]
pub(crate) struct FinalResponse {
    /// The request URL's scheme is `http`.
    pub plaintext: bool,
    /// The request carries a failure although a response arrived (a broken `Location`,
    /// a status the probe refused).
    pub failed: bool,
    pub measured: httpdiff::Measured,
}

impl Context {
    pub(crate) fn new(
        test_name: &str,
        input: Option<&str>,
        tk: &TestKeys<'_>,
        fingerprints: &FingerprintMatches,
    ) -> Context {
        let test = TestKind::from_test_name(test_name);
        let input_url = input.and_then(parse_url);
        let input_host = input_url.as_ref().and_then(|u| normalize_host(&u.host));
        let is_wc = test == TestKind::WebConnectivity;
        let control = if is_wc && !is_set(&tk.control_failure) {
            tk.control.0.as_ref().map(|c| control_view(c, tk))
        } else {
            None
        };
        let probe_checks = ProbeChecks(tk.status_code_match.0.map(|s| Checks {
            status_code_match: Some(s),
            body_length_match: tk.body_length_match.0,
            headers_match: tk.headers_match.0,
            title_match: tk.title_match.0,
        }));
        let final_response = if is_wc {
            tk.requests
                .0
                .first()
                .and_then(|r| r.0.as_ref())
                .map(final_response)
        } else {
            None
        };
        Context {
            test,
            input_https: input_url.as_ref().is_some_and(|u| u.scheme == "https"),
            input_host,
            control,
            probe_dns_consistent: match tk.dns_consistency.get() {
                Some("consistent") => Some(true),
                Some("inconsistent") => Some(false),
                _ => None,
            },
            probe_checks,
            final_response,
            im: if test.is_im() {
                ImKeys::from_test_keys(tk)
            } else {
                ImKeys::default()
            },
            dns_fingerprints: first_per_key(
                fingerprints
                    .dns
                    .iter()
                    .map(|(a, n)| (canonical_ip(a).unwrap_or_else(|| a.clone()), n.clone())),
            ),
            response_fingerprints: first_per_key(fingerprints.responses.iter().cloned()),
        }
    }

    /// The http-diff of the final response against the control's, when it applies: a
    /// response was received and the control fetched the page too. An https page that
    /// loaded without failure is never diffed: TLS proves it came from the site
    /// (probe-cli `summary.go`). The probe's own checks are used when it wrote them (it
    /// compared the full body), else they are computed from the measurement.
    pub(crate) fn http_diff(&self) -> Option<Checks> {
        let ctrl = self.control.as_ref()?.http.as_ref().filter(|h| h.ok())?;
        let fin = self
            .final_response
            .as_ref()
            .filter(|f| f.plaintext || f.failed)?;
        if fin.measured.code.unwrap_or(0) <= 0 {
            return None;
        }
        Some(
            self.probe_checks
                .0
                .unwrap_or_else(|| Checks::compute(&fin.measured, &ctrl.response)),
        )
    }

    /// The instant-messaging test's own verdict on `domain` (role `target_id`) at `stage`:
    /// `true` when it names the target blocked.
    pub(crate) fn im_says_blocked(
        &self,
        domain: &str,
        target_id: Option<&str>,
        stage: OutcomeStage,
    ) -> bool {
        let k = &self.im;
        let yes = |v: Option<bool>| v == Some(true);
        match (self.test, target_id) {
            (TestKind::Whatsapp, Some("whatsapp/web")) => yes(k.whatsapp_web),
            (TestKind::Whatsapp, Some("whatsapp/registration")) => yes(k.whatsapp_registration),
            (TestKind::Whatsapp, Some("whatsapp/endpoints")) => {
                k.whatsapp_endpoints_blocked.contains(domain) || yes(k.whatsapp_endpoints)
            }
            (TestKind::Telegram, Some("telegram/web")) => yes(k.telegram_web),
            (TestKind::Telegram, Some("telegram/dc_pool")) => match stage {
                OutcomeStage::Tcp => yes(k.telegram_tcp),
                OutcomeStage::Http => yes(k.telegram_http),
                _ => false,
            },
            // The backend endpoints the test's status covers; uptime.signal.org is looked
            // up but not part of the verdict.
            (TestKind::Signal, Some(id)) => id != "signal/uptime" && yes(k.signal_backend),
            (TestKind::FacebookMessenger, _) => {
                let Some((dns, reach)) = k.facebook.get(domain) else {
                    return false;
                };
                match stage {
                    OutcomeStage::Dns => *dns == Some(false),
                    _ => *reach == Some(false),
                }
            }
            _ => false,
        }
    }

    /// facebook_messenger's own DNS check (the answer's ASN must be Facebook's) failed for
    /// `domain`.
    pub(crate) fn facebook_dns_inconsistent(&self, domain: &str) -> bool {
        self.test == TestKind::FacebookMessenger
            && self
                .im
                .facebook
                .get(domain)
                .is_some_and(|(dns, _)| *dns == Some(false))
    }
}

/// A map keeping the first value of each key (fingerprints are listed in fastpath's
/// matching order; the first one is the one fastpath reports).
fn first_per_key<K: std::hash::Hash + Eq, V>(pairs: impl Iterator<Item = (K, V)>) -> HashMap<K, V> {
    let mut out = HashMap::new();
    for (k, v) in pairs {
        out.entry(k).or_insert(v);
    }
    out
}

fn is_set(f: &RawFailure<'_>) -> bool {
    match f {
        RawFailure::Null | RawFailure::Bool(false) => false,
        RawFailure::Bool(true) => true,
        RawFailure::Str(s) => !s.trim().is_empty(),
    }
}

/// A failure field, normalized; `status: false` without a failure string is a failure.
fn ctrl_result(failure: &RawFailure<'_>, status: Option<bool>) -> CtrlResult {
    let f = match failure {
        RawFailure::Str(s) => normalize_failure(s),
        RawFailure::Bool(true) => Some("true".to_owned()),
        _ => None,
    };
    match (f, status) {
        (Some(f), _) => Some(f),
        (None, Some(false)) => Some("unknown_failure".to_owned()),
        (None, _) => None,
    }
}

fn split_key(key: &str) -> (String, Option<u16>) {
    match crate::host::parse_address(key) {
        Some(a) => (a.ip, a.port),
        None => (key.to_owned(), None),
    }
}

fn control_view(c: &Control<'_>, tk: &TestKeys<'_>) -> ControlView {
    let mut v = ControlView::default();
    if let Some(dns) = &c.dns.0 {
        let addrs = dns.addrs.0.as_ref().or(dns.ips.0.as_ref());
        let all: Vec<&str> = addrs
            .into_iter()
            .flatten()
            .filter_map(|a| a.get())
            .collect();
        v.dns = Some(CtrlDns {
            failure: ctrl_result(&dns.failure, None),
            ips: all.iter().filter_map(|a| canonical_ip(a)).collect(),
            answers: all.iter().map(|a| (*a).to_owned()).collect(),
        });
    }
    for (key, entry) in &c.tcp_connect.0 {
        if let Some(e) = &entry.0 {
            v.tcp
                .insert(split_key(key), ctrl_result(&e.failure, e.status.0));
        }
    }
    for (key, entry) in &c.tls_handshake.0 {
        if let Some(e) = &entry.0 {
            let sni = e.server_name.get().and_then(normalize_host);
            v.tls
                .insert(split_key(key), (sni, ctrl_result(&e.failure, e.status.0)));
        }
    }
    if let Some(h) = &c.http_request.0 {
        v.http = Some(CtrlHttp {
            failure: ctrl_result(&h.failure, None),
            response: httpdiff::Control {
                status_code: h.status_code.0.unwrap_or(-1),
                body_length: h.body_length.0.unwrap_or(-1),
                title: h.title.get().unwrap_or("").to_owned(),
                header_names: h.headers.0.iter().map(|(k, _)| k.to_string()).collect(),
            },
        });
    }
    for (ip, info) in &c.ip_info.0 {
        if let (Some(ip), Some(asn)) = (
            canonical_ip(ip),
            info.0
                .as_ref()
                .and_then(|i| i.asn.0)
                .and_then(|a| u32::try_from(a).ok()),
        ) && asn != 0
        {
            v.asns.insert(ip, asn);
        }
    }
    // The probe annotates its own answers with their ASN (probe-engine ≥ 2020); an
    // address the control also returned gets the same ASN.
    for q in tk.queries.0.iter().filter_map(|q| q.0.as_ref()) {
        for a in q.answers.0.iter().filter_map(|a| a.0.as_ref()) {
            let ip = a.ipv4.get().or(a.ipv6.get()).and_then(canonical_ip);
            let asn = a
                .asn
                .0
                .and_then(|x| u32::try_from(x).ok())
                .filter(|&x| x != 0);
            if let (Some(ip), Some(asn)) = (ip, asn) {
                v.asns.entry(ip).or_insert(asn);
            }
        }
    }
    v
}

fn final_response(r: &HttpTransaction<'_>) -> FinalResponse {
    let url = r.request.0.as_ref().and_then(|q| q.url.get());
    let resp = r.response.0.as_ref();
    let plaintext = url.and_then(parse_url).is_some_and(|u| u.scheme == "http");
    let measured = match resp {
        None => httpdiff::Measured::default(),
        Some(resp) => httpdiff::Measured {
            code: resp.code.0,
            body_len: resp.body.0.as_ref().map(|b| b.len),
            truncated: resp.body_is_truncated.0 == Some(true),
            title: resp.body.0.as_ref().and_then(|b| b.title.clone()),
            header_names: resp.headers.0.iter().map(|(k, _)| k.to_string()).collect(),
        },
    };
    FinalResponse {
        plaintext,
        failed: !matches!(r.failure, RawFailure::Null | RawFailure::Bool(false)),
        measured,
    }
}

/// The mechanism of a failed operation at `stage`, from its normalized failure.
pub(crate) fn kind_of_failure(stage: OutcomeStage, failure: &str) -> BlockingKind {
    let timeout = matches!(
        failure,
        "generic_timeout_error" | "timed_out" | "http_timeout"
    );
    let reset = matches!(failure, "connection_reset" | "network_reset");
    let eof = failure == "eof_error";
    match stage {
        OutcomeStage::Dns => {
            if matches!(failure, "dns_nxdomain_error" | "android_dns_cache_no_data") {
                BlockingKind::DnsNxdomain
            } else if timeout {
                BlockingKind::DnsTimeout
            } else {
                BlockingKind::DnsFailure
            }
        }
        OutcomeStage::Tcp => {
            if timeout {
                BlockingKind::TcpTimeout
            } else if failure == "connection_refused" {
                BlockingKind::TcpRefused
            } else if reset {
                BlockingKind::TcpReset
            } else {
                BlockingKind::TcpFailure
            }
        }
        OutcomeStage::Tls => {
            if timeout {
                BlockingKind::TlsTimeout
            } else if reset {
                BlockingKind::TlsReset
            } else if eof {
                BlockingKind::TlsEof
            } else if matches!(
                failure,
                "ssl_invalid_hostname" | "ssl_unknown_authority" | "ssl_invalid_certificate"
            ) {
                BlockingKind::TlsCertificate
            } else {
                BlockingKind::TlsFailure
            }
        }
        OutcomeStage::Http | OutcomeStage::Any => {
            if timeout {
                BlockingKind::HttpTimeout
            } else if reset {
                BlockingKind::HttpReset
            } else if eof {
                BlockingKind::HttpEof
            } else {
                BlockingKind::HttpFailure
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_of_failures() {
        use OutcomeStage::*;
        let k = |stage, f| kind_of_failure(stage, f).as_str();
        assert_eq!(k(Dns, "dns_nxdomain_error"), "dns.nxdomain");
        assert_eq!(k(Dns, "android_dns_cache_no_data"), "dns.nxdomain");
        assert_eq!(k(Dns, "generic_timeout_error"), "dns.timeout");
        assert_eq!(k(Dns, "dns_server_misbehaving"), "dns.failure");
        assert_eq!(k(Tcp, "connection_refused"), "tcp.refused");
        assert_eq!(k(Tcp, "generic_timeout_error"), "tcp.timeout");
        assert_eq!(k(Tcp, "host_unreachable"), "tcp.failure");
        assert_eq!(k(Tls, "connection_reset"), "tls.reset");
        assert_eq!(k(Tls, "eof_error"), "tls.eof");
        assert_eq!(k(Tls, "ssl_invalid_hostname"), "tls.certificate");
        assert_eq!(k(Tls, "tls_handshake_failure"), "tls.failure");
        assert_eq!(k(Http, "generic_timeout_error"), "http.timeout");
        assert_eq!(k(Http, "connection_reset"), "http.reset");
        assert_eq!(k(Http, "eof_error"), "http.eof");
        assert_eq!(k(Http, "unknown_failure"), "http.failure");
    }

    #[test]
    fn the_vocabulary_is_closed() {
        let names: Vec<&str> = BlockingKind::ALL.iter().map(|k| k.as_str()).collect();
        let unique: HashSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len());
        for n in names {
            let (stage, what) = n.split_once('.').unwrap_or_default();
            assert!(["dns", "tcp", "tls", "http"].contains(&stage), "{n}");
            assert!(!what.is_empty(), "{n}");
        }
    }
}
