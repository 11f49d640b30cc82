//! Per-operation observations of one OONI measurement, each attributed to its target, and
//! the per-(domain, stage) outcomes the failure-rate tables are built from.
//!
//! # Brief overview
//!
//! [`observe`] takes one bare measurement (the JSON object, any era from Measurement Kit
//! and the Python probe to probe-cli's measurexlite) and returns an [`Observed`]:
//!
//! * [`Observation`]: one row per network operation: DNS query, TCP connect, TLS handshake
//!   or HTTP transaction ([`Stage`]), plus web_connectivity's control (test-helper) results
//!   flagged `is_control`. Each row carries its target `domain`, the rule that chose it
//!   ([`DomainSource`]), the service role `target_id` of the instant-messaging tests, and the
//!   failure both normalized to OONI's vocabulary ([`normalize_failure`]) and verbatim.
//! * [`StageOutcome`]: for each target domain, whether the measurement failed at the DNS,
//!   TCP, TLS and HTTP stages ([`OutcomeStage`]), counting every failure once, at the first
//!   stage that failed, plus one `Any` outcome per domain.
//!
//! Tests covered: web_connectivity (0.0.x Measurement Kit, 0.1–0.3 Python, 0.1 Go, 0.4,
//! 0.5), whatsapp, telegram, signal, facebook_messenger, urlgetter, tor and vanilla_tor
//! (which records no network operations). Any other test yields an empty [`Observed`].
//!
//! # Target attribution
//!
//! Rows are attributed one by one; rows are never merged by IP address (two host names
//! sharing an address, like `web.whatsapp.com` and `v.whatsapp.net`, keep their own rows).
//! Host names are lower-cased, lose a trailing dot and are punycode-encoded when not ASCII;
//! IP literals are written canonically. A name that is then not a plausible DNS name (labels
//! of `a-z0-9_-`, see [`domain_of_url`]) is no domain: the rules below treat it as absent,
//! so such a row falls back to the next rule, to its IP literal, or keeps a null `domain`.
//!
//! * DNS rows: the query's `hostname` ([`DomainSource::DnsQuery`]).
//! * TLS rows: the SNI `server_name` when it is a host name ([`DomainSource::Sni`]).
//! * HTTP rows: the URL host, an IP literal host staying the IP (Telegram's data centres)
//!   ([`DomainSource::Url`]).
//! * TCP rows (and TLS rows without a host-name SNI), first rule that applies:
//!   1. a DNS, TLS or HTTP row with the same non-zero `transaction_id`
//!      ([`DomainSource::TransactionId`]);
//!   2. the `network_events` windows of legacy netx: a `connect` followed by the
//!      `tls_handshake_done` of a TLS row gives that row's SNI; otherwise the `resolve_done`
//!      that opened the connect's session gives the host resolved at that instant, if it was
//!      the only one and its answers contain the IP ([`DomainSource::NetworkEvents`]);
//!   3. web_connectivity only: the control's `dns.addrs` map the IP to the input's host
//!      ([`DomainSource::ControlHint`]);
//!   4. the DNS answers, only when exactly one host name in the measurement resolved to the
//!      IP ([`DomainSource::DnsAnswer`]);
//!   5. the IP literal itself ([`DomainSource::IpLiteral`]); its `target_id` is set only
//!      when every host that resolved to the IP has the same role (or, for telegram, when
//!      none did: a data centre).
//!
//! DNS failures of legacy split lookups (one failed lookup written as an `A` entry plus an
//! `AAAA` entry with the same failure and time) are emitted once.
//!
//! # Stage outcomes
//!
//! Per domain, over the non-control rows attributed to it. Which attempts count:
//!
//! * web_connectivity: only operations on addresses from the system resolver, as a user's
//!   browser would have used (tagged `classic`, or whose IP a system-resolver lookup
//!   returned; 0.5 also connects to the control's and DoH/UDP answers, which stay
//!   observations only);
//! * failures of the probe itself (a cancelled parallel request, `interrupted`,
//!   `connection_already_closed`, the Python `'ascii' codec` bug) are left out, as are
//!   connects without a status;
//! * application-level results (`http_request_failed`, whatsapp's
//!   `http_unexpected_status_code`, a broken `Location`, a redirect loop) count as a
//!   received response, not a failure.
//!
//! The stages, in order; a stage after one that is not ok (failed, or judged anything but
//! [`Status::Ok`], see below) has no outcome, so each failure is counted once, at the
//! first stage that failed, and the operations that follow a manipulated answer (connecting
//! to a sinkhole) are consequences, not outcomes:
//!
//! * `dns`: classic-resolver lookups (`system`, `getaddrinfo`, `golang_net_resolver`, `go`,
//!   unknown), one per lookup, ignoring `AAAA` `dns_no_answer`; failed if every lookup
//!   failed.
//! * `tcp`: failed if every connect failed, ok if any succeeded.
//! * `tls`: handshakes for that SNI; failed if every one failed.
//! * `http`: the requests to that host that were *reached*: DNS and TCP were ok and,
//!   for `https://`, TLS was ok (nor did the handshake of the same transaction fail; without
//!   that link, a failed request is not reached when any handshake for the SNI failed).
//!   Failed if any reached request failed (requests of a redirect chain are all needed).
//!   Absent when no request was reached, so a TLS timeout is never counted again at HTTP;
//!   plaintext requests do not need TLS and are reached after a failed handshake.
//! * `any`: the first stage that is not ok, else the last stage.
//!
//! A request failure that only one earlier stage can produce yields an extra inferred row
//! for that stage ([`DomainSource::Inferred`], [`StageOutcome::inferred`]): DNS for `dns_*`
//! failures of a host without DNS rows, TCP for connect failures (`connection_refused`, …)
//! of a host without TCP rows, TLS for TLS-class failures in data without TLS records, and
//! TLS for an `https://` failure after a successful TCP connect to port 443 in the 2020 Go
//! web_connectivity 0.1.0, which recorded no TLS handshakes.
//!
//! The normalized failure of a failed stage is the most frequent one among its failed
//! attempts (ties: the earliest).
//!
//! # Blocked, down or failed
//!
//! Every outcome has a [`Status`]: `ok`, `blocked` (interference, with a [`BlockingKind`]),
//! `down` (failed like the control) or `failure` (failed, nothing tells which), and the
//! [`Evidence`] it rests on. The rules are OONI's (`docs/blocking.md` cites each):
//!
//! * web_connectivity compares each stage with its control (`test_keys.control`): a failed
//!   lookup, connect, handshake or request is blocked when the control's succeeded and down
//!   when it failed too; an answer is judged by blockpage fingerprints, bogons and its
//!   consistency with the control (address, ASN, or a TLS handshake that validated the
//!   name's certificate); a received page by HTTP fingerprints and web_connectivity's
//!   http-diff. The input's domain carries the verdict of its redirect chain; the other
//!   domains are hops ([`StageOutcome::is_hop`]).
//! * whatsapp, telegram, signal and facebook_messenger have no control: a failure is
//!   blocked when the test's own verdict key names the target blocked, else `failure`;
//!   bogon answers (and facebook_messenger's failed DNS consistency check) are blocked DNS.
//! * Other tests: failures are `failure`.
//!
//! Blocking fingerprints come from `ooni-verdict`; pass the matches to [`observe_judged`]
//! ([`observe`] and [`observe_as`] know none).

mod blocking;
mod bogon;
mod build;
mod failure;
mod host;
mod httpdiff;
mod netevents;
mod outcomes;
mod raw;
mod targets;

pub use failure::normalize_failure;

/// The target domain this crate uses for the host of `url`: lower-cased, without trailing
/// dot, punycode-encoded when not ASCII (`http://Яндекс.рф/` → `xn--d1acpjx3f.xn--p1ai`, the
/// name the probe actually resolves), IP literals in canonical form.
///
/// `None` when `url` has no `scheme://host`, or when the host is neither an IP literal nor
/// a plausible DNS name: 1–253 bytes of dot-separated labels, each 1–63 bytes of `a-z`,
/// `0-9`, `-` and `_` (the underscore occurs in real names such as `_dmarc.example.com`).
/// Percent-escapes are not decoded: a probe resolves `%65xample.com` as written, which no
/// resolver answers, so it names no site.
///
/// Use it wherever a measurement's input must be joined with [`StageOutcome::domain`].
///
/// ```
/// use ooni_observations::domain_of_url;
///
/// assert_eq!(
///     domain_of_url("https://WWW.Example.com./path").as_deref(),
///     Some("www.example.com"),
/// );
/// assert_eq!(domain_of_url("http://exa mple.com/"), None);
/// assert_eq!(domain_of_url("http://%65xample.com/"), None);
/// ```
pub fn domain_of_url(url: &str) -> Option<String> {
    host::parse_url(url).and_then(|u| host::normalize_host(&u.host))
}

/// The network operation an [`Observation`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// A DNS lookup (`queries`, or the control's `dns`).
    Dns,
    /// A TCP connect (`tcp_connect`, or the control's `tcp_connect`).
    Tcp,
    /// A TLS handshake (`tls_handshakes`, or the control's `tls_handshake`).
    Tls,
    /// An HTTP transaction (`requests`, or the control's `http_request`).
    Http,
}

impl Stage {
    /// `"dns"`, `"tcp"`, `"tls"` or `"http"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Dns => "dns",
            Stage::Tcp => "tcp",
            Stage::Tls => "tls",
            Stage::Http => "http",
        }
    }
}

/// The stage of a [`StageOutcome`]: one of the [`Stage`]s, or `Any` for the whole domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStage {
    /// Name resolution.
    Dns,
    /// TCP connect.
    Tcp,
    /// TLS handshake.
    Tls,
    /// HTTP transaction.
    Http,
    /// Any stage: failed when one of the stages failed.
    Any,
}

impl OutcomeStage {
    /// `"dns"`, `"tcp"`, `"tls"`, `"http"` or `"any"`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeStage::Dns => "dns",
            OutcomeStage::Tcp => "tcp",
            OutcomeStage::Tls => "tls",
            OutcomeStage::Http => "http",
            OutcomeStage::Any => "any",
        }
    }
}

impl From<Stage> for OutcomeStage {
    fn from(s: Stage) -> Self {
        match s {
            Stage::Dns => OutcomeStage::Dns,
            Stage::Tcp => OutcomeStage::Tcp,
            Stage::Tls => OutcomeStage::Tls,
            Stage::Http => OutcomeStage::Http,
        }
    }
}

/// How an [`Observation`]'s `domain` was chosen (see the crate documentation for the
/// order in which the rules apply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DomainSource {
    /// The DNS query's host name.
    DnsQuery,
    /// The TLS handshake's SNI (`server_name`).
    Sni,
    /// The host of the HTTP request's URL (for control rows: of the measurement input).
    Url,
    /// Another row of the same transaction (`transaction_id`).
    TransactionId,
    /// A `network_events` window (legacy probes without transaction ids).
    NetworkEvents,
    /// The DNS answers: exactly one host name in the measurement resolved to this IP.
    DnsAnswer,
    /// web_connectivity's control resolved the input's host to this IP.
    ControlHint,
    /// No host name could be attributed honestly; the domain is the IP literal.
    IpLiteral,
    /// The row itself is inferred from an HTTP request's failure (see the crate docs).
    Inferred,
    /// No domain (e.g. a request without URL, or a scrubbed address).
    None,
}

impl DomainSource {
    /// The snake_case name, e.g. `"dns_query"` or `"ip_literal"`.
    pub fn as_str(self) -> &'static str {
        match self {
            DomainSource::DnsQuery => "dns_query",
            DomainSource::Sni => "sni",
            DomainSource::Url => "url",
            DomainSource::TransactionId => "transaction_id",
            DomainSource::NetworkEvents => "network_events",
            DomainSource::DnsAnswer => "dns_answer",
            DomainSource::ControlHint => "control_hint",
            DomainSource::IpLiteral => "ip_literal",
            DomainSource::Inferred => "inferred",
            DomainSource::None => "none",
        }
    }
}

/// One network operation of a measurement, attributed to its target.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Observation {
    /// The operation.
    pub stage: Stage,
    /// True for web_connectivity control (test-helper) results, kept because "down from
    /// the control too" is not censorship. Control rows never produce outcomes.
    pub is_control: bool,
    /// The target: lower-cased host name without trailing dot, or the IP literal when no
    /// host name can be attributed honestly; `None` when neither is known (a request whose
    /// URL host is not a plausible DNS name, a scrubbed address, …).
    pub domain: Option<String>,
    /// How `domain` was chosen.
    pub domain_source: DomainSource,
    /// Service role, like OONI's `target_id` (`whatsapp/web`, `telegram/dc_pool`, …;
    /// `tor/<target_protocol>` for tor); `None` for web_connectivity and urlgetter.
    pub target_id: Option<String>,
    /// The IP address (canonical text; `"scrubbed"` for the probe's redacted address).
    pub ip: Option<String>,
    /// The port (HTTP: from the address, else the URL, else the scheme's default).
    pub port: Option<u16>,
    /// Normalized failure (OONI vocabulary), `None` on success.
    pub failure: Option<String>,
    /// The failure exactly as the probe wrote it (`null`, `false` and `""` → `None`;
    /// `true` → `"true"`).
    pub failure_raw: Option<String>,
    /// Seconds since the measurement start, when recorded.
    pub t: Option<f64>,
    /// The transaction id (0 → `None`).
    pub transaction_id: Option<i64>,
    /// The list the row comes from: `queries`, `tcp_connect`, `tls_handshakes`, `requests`
    /// or `control`.
    pub source_list: &'static str,
    /// Index within `source_list` (control rows: their order among the control rows).
    pub list_index: u32,
    /// DNS: the query type (`A`, `AAAA`, `ANY`, …).
    pub dns_query_type: Option<String>,
    /// DNS: the engine (`system`, `getaddrinfo`, `udp`, `doh`, …).
    pub dns_engine: Option<String>,
    /// DNS: the IPs (and CNAME host names) answered; empty if none.
    pub dns_answers: Vec<String>,
    /// TLS: the SNI, verbatim.
    pub tls_server_name: Option<String>,
    /// HTTP: the request URL, verbatim.
    pub http_url: Option<String>,
    /// HTTP: the response status code, when a response was received.
    pub http_status_code: Option<i64>,
}

/// What a stage outcome says about the network (see the crate docs, "Blocked, down or
/// failed").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The operation succeeded and nothing shows manipulation.
    Ok,
    /// Interference: the operation failed while the control succeeded, or it "succeeded"
    /// with a manipulated result (a bogon or inconsistent DNS answer, a blockpage, an
    /// http-diff); for the instant-messaging tests, which have no control, the test's own
    /// verdict names the target blocked.
    Blocked,
    /// The operation failed and the control failed the same way: the site, not the network.
    Down,
    /// The operation failed and nothing tells blocked from down.
    Failure,
}

impl Status {
    /// `"ok"`, `"blocked"`, `"down"` or `"failure"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Blocked => "blocked",
            Status::Down => "down",
            Status::Failure => "failure",
        }
    }
}

/// The mechanism of a `blocked` outcome: `<stage>.<what>`. The vocabulary is closed and
/// stable (documented in `docs/blocking.md`); [`BlockingKind::ALL`] lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum BlockingKind {
    /// `dns.nxdomain`: the name does not exist for the probe (`dns_nxdomain_error`,
    /// Android's `android_dns_cache_no_data`) while it exists for the control.
    #[serde(rename = "dns.nxdomain")]
    DnsNxdomain,
    /// `dns.timeout`: the lookup timed out.
    #[serde(rename = "dns.timeout")]
    DnsTimeout,
    /// `dns.failure`: another resolver failure (refused, servfail, no answer, …).
    #[serde(rename = "dns.failure")]
    DnsFailure,
    /// `dns.bogon`: the answer is a private, loopback or reserved address.
    #[serde(rename = "dns.bogon")]
    DnsBogon,
    /// `dns.blockpage`: the answer is a known blockpage address (a DNS fingerprint).
    #[serde(rename = "dns.blockpage")]
    DnsBlockpage,
    /// `dns.inconsistent`: the answer matches the control neither by address, nor by ASN,
    /// nor by a TLS handshake that validated the name's certificate.
    #[serde(rename = "dns.inconsistent")]
    DnsInconsistent,
    /// `tcp.timeout`: the connect timed out.
    #[serde(rename = "tcp.timeout")]
    TcpTimeout,
    /// `tcp.refused`: the connect was refused.
    #[serde(rename = "tcp.refused")]
    TcpRefused,
    /// `tcp.reset`: the connect was reset.
    #[serde(rename = "tcp.reset")]
    TcpReset,
    /// `tcp.failure`: another connect failure (unreachable, …).
    #[serde(rename = "tcp.failure")]
    TcpFailure,
    /// `tls.timeout`: the handshake timed out.
    #[serde(rename = "tls.timeout")]
    TlsTimeout,
    /// `tls.reset`: the handshake was reset.
    #[serde(rename = "tls.reset")]
    TlsReset,
    /// `tls.eof`: the connection was closed during the handshake.
    #[serde(rename = "tls.eof")]
    TlsEof,
    /// `tls.certificate`: the certificate did not validate (name, authority, validity)
    /// while the control's handshake succeeded: a man in the middle.
    #[serde(rename = "tls.certificate")]
    TlsCertificate,
    /// `tls.failure`: another handshake failure.
    #[serde(rename = "tls.failure")]
    TlsFailure,
    /// `http.timeout`: the request or the body timed out (e.g. throttling).
    #[serde(rename = "http.timeout")]
    HttpTimeout,
    /// `http.reset`: the connection was reset during the request.
    #[serde(rename = "http.reset")]
    HttpReset,
    /// `http.eof`: the connection was closed during the request.
    #[serde(rename = "http.eof")]
    HttpEof,
    /// `http.failure`: another failure during the request.
    #[serde(rename = "http.failure")]
    HttpFailure,
    /// `http.blockpage`: a response matched a known blockpage (an HTTP fingerprint).
    #[serde(rename = "http.blockpage")]
    HttpBlockpage,
    /// `http.diff`: the page differs from the control's (status code, and body length,
    /// headers and title all differ).
    #[serde(rename = "http.diff")]
    HttpDiff,
}

impl BlockingKind {
    /// Every kind, in documentation order.
    pub const ALL: [BlockingKind; 21] = [
        BlockingKind::DnsNxdomain,
        BlockingKind::DnsTimeout,
        BlockingKind::DnsFailure,
        BlockingKind::DnsBogon,
        BlockingKind::DnsBlockpage,
        BlockingKind::DnsInconsistent,
        BlockingKind::TcpTimeout,
        BlockingKind::TcpRefused,
        BlockingKind::TcpReset,
        BlockingKind::TcpFailure,
        BlockingKind::TlsTimeout,
        BlockingKind::TlsReset,
        BlockingKind::TlsEof,
        BlockingKind::TlsCertificate,
        BlockingKind::TlsFailure,
        BlockingKind::HttpTimeout,
        BlockingKind::HttpReset,
        BlockingKind::HttpEof,
        BlockingKind::HttpFailure,
        BlockingKind::HttpBlockpage,
        BlockingKind::HttpDiff,
    ];

    /// The stable name, e.g. `"dns.bogon"`.
    pub fn as_str(self) -> &'static str {
        match self {
            BlockingKind::DnsNxdomain => "dns.nxdomain",
            BlockingKind::DnsTimeout => "dns.timeout",
            BlockingKind::DnsFailure => "dns.failure",
            BlockingKind::DnsBogon => "dns.bogon",
            BlockingKind::DnsBlockpage => "dns.blockpage",
            BlockingKind::DnsInconsistent => "dns.inconsistent",
            BlockingKind::TcpTimeout => "tcp.timeout",
            BlockingKind::TcpRefused => "tcp.refused",
            BlockingKind::TcpReset => "tcp.reset",
            BlockingKind::TcpFailure => "tcp.failure",
            BlockingKind::TlsTimeout => "tls.timeout",
            BlockingKind::TlsReset => "tls.reset",
            BlockingKind::TlsEof => "tls.eof",
            BlockingKind::TlsCertificate => "tls.certificate",
            BlockingKind::TlsFailure => "tls.failure",
            BlockingKind::HttpTimeout => "http.timeout",
            BlockingKind::HttpReset => "http.reset",
            BlockingKind::HttpEof => "http.eof",
            BlockingKind::HttpFailure => "http.failure",
            BlockingKind::HttpBlockpage => "http.blockpage",
            BlockingKind::HttpDiff => "http.diff",
        }
    }
}

/// What a [`StageOutcome`]'s status rests on; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Evidence {
    /// The DNS answer behind a `dns.*` verdict (the bogon, the blockpage address, the
    /// inconsistent answer).
    pub answer: Option<String>,
    /// The name of the blocking fingerprint that matched (`dns.blockpage`,
    /// `http.blockpage`).
    pub fingerprint: Option<String>,
    /// What web_connectivity's control saw at this stage: `ok`, its failure, or its DNS
    /// answers; `None` without a control.
    pub control: Option<String>,
    /// For the input's domain: the redirect hop whose outcome is filed here.
    pub hop: Option<String>,
    /// For `http.diff`: the four checks (`status_code_match=… body_length_match=…
    /// headers_match=… title_match=…`).
    pub http_diff: Option<String>,
}

/// The outcome of one stage for one domain in one measurement (see the crate docs).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StageOutcome {
    /// The target domain (as in [`Observation::domain`]).
    pub domain: String,
    /// The domain's service role, if any.
    pub target_id: Option<String>,
    /// The stage.
    pub stage: OutcomeStage,
    /// Whether the probe reported a failure at this stage for this domain (a failure
    /// string; unchanged by the status).
    pub failed: bool,
    /// The normalized failure, when `failed`.
    pub failure: Option<String>,
    /// What the outcome says about the network.
    pub status: Status,
    /// The mechanism, when `status` is `Blocked`.
    pub blocking_kind: Option<BlockingKind>,
    /// The stage was not recorded but inferred from a later operation's failure (an HTTP
    /// request's `connection_refused` for TCP, a TLS-class failure for TLS, …).
    pub inferred: bool,
    /// A redirect hop of a URL-input test (web_connectivity): a domain other than the
    /// input's. The hop's outcome is also filed under the input's domain.
    pub is_hop: bool,
    /// What the status rests on.
    pub evidence: Evidence,
}

/// Blocking fingerprints that matched in a measurement and hold for its country (from
/// `ooni-verdict`), for [`observe_judged`], each list in fastpath's matching order (the
/// first match of an answer or response is its evidence).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FingerprintMatches {
    /// `(address as written in a DNS answer, fingerprint name)`.
    pub dns: Vec<(String, String)>,
    /// `(index in test_keys.requests, fingerprint name)`.
    pub responses: Vec<(usize, String)>,
}

/// Everything [`observe`] extracts from one measurement.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Observed {
    /// One row per network operation.
    pub observations: Vec<Observation>,
    /// One row per (domain, stage) with an outcome, plus one `Any` per such domain.
    pub outcomes: Vec<StageOutcome>,
}

/// Why a measurement could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    /// The text is not valid JSON.
    #[error("measurement is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The JSON is valid but not an object.
    #[error("measurement is not a JSON object")]
    NotAnObject,
}

/// Turns one measurement into its observations and stage outcomes.
///
/// `measurement_json` is the bare measurement object (postcan wrapper already removed).
/// Tests this crate does not cover, and measurements whose `test_keys` are null or
/// missing, give `Ok(Observed::default())`. Type surprises inside the measurement (a bool
/// where a string was expected, `null` lists, …) never make this fail; only text that is
/// not a JSON object does.
///
/// ```
/// let m = r#"{"test_name":"telegram","test_keys":{"tcp_connect":[
///     {"ip":"149.154.175.50","port":443,"status":{"failure":false,"success":true}}]}}"#;
/// let observed = ooni_observations::observe(m).unwrap();
/// assert_eq!(observed.observations[0].domain.as_deref(), Some("149.154.175.50"));
/// assert_eq!(observed.observations[0].target_id.as_deref(), Some("telegram/dc_pool"));
/// assert_eq!(observed.observations[0].failure, None);
/// ```
pub fn observe(measurement_json: &str) -> Result<Observed, ObserveError> {
    observe_impl(measurement_json, None, &FingerprintMatches::default())
}

/// Like [`observe`], but reads the measurement as test `test_name` whatever its body's
/// `test_name` says.
///
/// For callers that canonicalize the body's spelling (`ooni-normalize` turns a body's
/// `webconnectivity`, the spelling of OONI's bucket keys, into `web_connectivity`): the
/// observations then follow the same name as the rest of the row instead of the body's.
///
/// ```
/// let m = r#"{"test_name":"webconnectivity","input":"https://example.org/","test_keys":{
///     "queries":[{"hostname":"example.org","query_type":"A","failure":null}]}}"#;
/// assert!(ooni_observations::observe(m).unwrap().observations.is_empty());
/// let observed = ooni_observations::observe_as(m, "web_connectivity").unwrap();
/// assert_eq!(observed.observations[0].domain.as_deref(), Some("example.org"));
/// ```
pub fn observe_as(measurement_json: &str, test_name: &str) -> Result<Observed, ObserveError> {
    observe_impl(
        measurement_json,
        Some(test_name),
        &FingerprintMatches::default(),
    )
}

/// Like [`observe_as`] (with `test_name` optional), with the blocking fingerprints that
/// matched the measurement: DNS answers and responses that match a confirmed fingerprint
/// make the `dns.blockpage` and `http.blockpage` outcomes. [`observe`] and [`observe_as`]
/// know no fingerprints.
pub fn observe_judged(
    measurement_json: &str,
    test_name: Option<&str>,
    fingerprints: &FingerprintMatches,
) -> Result<Observed, ObserveError> {
    observe_impl(measurement_json, test_name, fingerprints)
}

/// [`observe`] with an optional override of the body's test name.
fn observe_impl(
    measurement_json: &str,
    test_name: Option<&str>,
    fingerprints: &FingerprintMatches,
) -> Result<Observed, ObserveError> {
    use serde::Deserialize;

    let starts_with_brace = measurement_json.trim_start().starts_with('{');
    if starts_with_brace
        && let Ok(m) = serde_json::from_str::<raw::Measurement<'_>>(measurement_json)
    {
        return Ok(build::observe_measurement(&m, test_name, fingerprints));
    }
    // Slow path: not an object, invalid JSON, or something the typed parse rejects (in
    // practice only duplicate keys, which a `Value` resolves by keeping the last one).
    let value: serde_json::Value = serde_json::from_str(measurement_json)?;
    if !value.is_object() {
        return Err(ObserveError::NotAnObject);
    }
    let m = raw::Measurement::deserialize(&value)?;
    Ok(build::observe_measurement(&m, test_name, fingerprints))
}
