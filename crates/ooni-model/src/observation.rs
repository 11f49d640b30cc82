//! The rows of the `observations` and `outcomes` tables, and the small enums they carry.
//!
//! `ooni-observations` builds them (its crate documentation says how: target attribution,
//! stage outcomes, blocked / down / failed); they live here so that the writer and the
//! aggregations need not depend on the builder.

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

/// How an [`Observation`]'s `domain` was chosen (see `ooni-observations`' crate
/// documentation for the order in which the rules apply).
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
    /// The row itself is inferred from an HTTP request's failure (see `ooni-observations`).
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

/// What a stage outcome says about the network (see `ooni-observations`' crate docs,
/// "Blocked, down or failed").
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

/// The outcome of one stage for one domain in one measurement (see `ooni-observations`).
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
