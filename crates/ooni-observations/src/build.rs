//! Building the observation rows of one measurement and attributing them to targets.

use std::collections::{HashMap, HashSet};

use crate::blocking::Context;
use crate::failure::{
    FailureKind, classify, is_connect_failure, is_dns_failure, is_tls_failure, normalize_failure,
};
use crate::host::{
    Address, canonical_ip, is_ip_literal, normalize_host, normalize_ip_field, parse_address,
    parse_url,
};
use crate::netevents::NetEvents;
use crate::outcomes::{self, RowMeta};
use crate::raw::{
    Control, HttpTransaction, LI64, LStr, Measurement, NetworkEvent, OrNone, Query, RawFailure,
    TcpConnect, TestKeys, TlsHandshake, TorTarget,
};
use crate::targets::{Platform, target_id_for};
use crate::{DomainSource, FingerprintMatches, Observation, Observed, Stage};

/// The tests this crate produces observations for.
const IN_SCOPE: &[&str] = &[
    "web_connectivity",
    "whatsapp",
    "telegram",
    "signal",
    "facebook_messenger",
    "urlgetter",
    "tor",
    "vanilla_tor",
];

/// DNS engines that are the system resolver (what a user's applications use).
fn is_classic_engine(engine: Option<&str>) -> bool {
    matches!(
        engine,
        None | Some("" | "system" | "getaddrinfo" | "golang_net_resolver" | "go" | "unknown")
    )
}

/// `(normalized, raw)` for a `failure` field.
fn failure_pair(f: &RawFailure<'_>) -> (Option<String>, Option<String>) {
    match f {
        RawFailure::Null | RawFailure::Bool(false) => (None, None),
        RawFailure::Bool(true) => (Some("true".to_owned()), Some("true".to_owned())),
        RawFailure::Str(s) => match normalize_failure(s) {
            Some(n) => (Some(n), Some(s.to_string())),
            None => (None, None),
        },
    }
}

/// A failure field that is set (a non-empty string or `true`).
fn is_set(f: &RawFailure<'_>) -> bool {
    match f {
        RawFailure::Null | RawFailure::Bool(false) => false,
        RawFailure::Bool(true) => true,
        RawFailure::Str(s) => !s.trim().is_empty(),
    }
}

fn nonzero(id: LI64) -> Option<i64> {
    id.0.filter(|&v| v != 0)
}

fn port_of(p: LI64) -> Option<u16> {
    p.0.and_then(|v| u16::try_from(v).ok())
}

fn has_tag(tags: &[LStr<'_>], tag: &str) -> bool {
    tags.iter().any(|t| t.get() == Some(tag))
}

/// An empty row of `stage` from `source_list[list_index]`.
fn blank(stage: Stage, source_list: &'static str, list_index: usize) -> Observation {
    Observation {
        stage,
        is_control: false,
        domain: None,
        domain_source: DomainSource::None,
        target_id: None,
        ip: None,
        port: None,
        failure: None,
        failure_raw: None,
        t: None,
        transaction_id: None,
        source_list,
        list_index: u32::try_from(list_index).unwrap_or(u32::MAX),
        dns_query_type: None,
        dns_engine: None,
        dns_answers: Vec::new(),
        tls_server_name: None,
        http_url: None,
        http_status_code: None,
    }
}

/// The lists of one measurement, or of one tor target.
struct Scope<'r, 'a> {
    queries: &'r [OrNone<Query<'a>>],
    tcp_connect: &'r [OrNone<TcpConnect<'a>>],
    tls_handshakes: &'r [OrNone<TlsHandshake<'a>>],
    requests: &'r [OrNone<HttpTransaction<'a>>],
    network_events: &'r [OrNone<NetworkEvent<'a>>],
    /// tor: the target's address (the peer of its TLS handshakes).
    tor_address: Option<Address>,
    /// tor: `tor/<target_protocol>`.
    tor_target_id: Option<String>,
    /// The measurement's own lists (not a tor target's): request indices refer to
    /// `test_keys.requests`.
    main: bool,
}

impl<'r, 'a> Scope<'r, 'a> {
    fn main(tk: &'r TestKeys<'a>) -> Self {
        Scope {
            queries: &tk.queries.0,
            tcp_connect: &tk.tcp_connect.0,
            tls_handshakes: tk.tls_handshakes.0.as_deref().unwrap_or_default(),
            requests: &tk.requests.0,
            network_events: tk.network_events.0.as_deref().unwrap_or_default(),
            tor_address: None,
            tor_target_id: None,
            main: true,
        }
    }

    fn tor(t: &'r TorTarget<'a>) -> Self {
        Scope {
            queries: &t.queries.0,
            tcp_connect: &t.tcp_connect.0,
            tls_handshakes: t.tls_handshakes.0.as_deref().unwrap_or_default(),
            requests: &t.requests.0,
            network_events: t.network_events.0.as_deref().unwrap_or_default(),
            tor_address: t.target_address.get().and_then(parse_address),
            tor_target_id: Some(match t.target_protocol.get() {
                Some(p) if !p.is_empty() => format!("tor/{p}"),
                _ => "tor".to_owned(),
            }),
            main: false,
        }
    }
}

/// What the DNS, TLS and HTTP rows of a scope tell about hosts, for attributing TCP (and
/// host-less TLS) rows.
#[derive(Default)]
struct ScopeIndex {
    /// IP → the distinct host names that resolved to it.
    hosts_by_ip: HashMap<String, Vec<String>>,
    /// DNS `t` → (host, IPs) of the lookups finished at that instant.
    lookups_by_t: HashMap<u64, Vec<(String, Vec<String>)>>,
    dns_host_by_tid: HashMap<i64, String>,
    http_host_by_tid: HashMap<i64, String>,
    tls_sni_by_tid: HashMap<i64, String>,
    tls_failed_by_tid: HashMap<i64, bool>,
    events: NetEvents,
}

impl ScopeIndex {
    fn by_transaction(&self, tid: Option<i64>) -> Option<String> {
        let tid = tid?;
        self.tls_sni_by_tid
            .get(&tid)
            .or_else(|| self.http_host_by_tid.get(&tid))
            .or_else(|| self.dns_host_by_tid.get(&tid))
            .cloned()
    }

    /// The host resolved by the `resolve_done` that opened `connect`'s session, if it is
    /// the only host resolved at that instant and it resolved to `ip`.
    fn by_resolve_window(&self, connect: usize, ip: &str) -> Option<String> {
        let t = self.events.resolve_done_before(connect)?;
        let lookups = self.lookups_by_t.get(&t.to_bits())?;
        let first = &lookups.first()?.0;
        if lookups.iter().any(|(h, _)| h != first) {
            return None;
        }
        lookups
            .iter()
            .any(|(_, ips)| ips.iter().any(|a| a == ip))
            .then(|| first.clone())
    }

    /// The host that resolved to `ip`, when exactly one did.
    fn by_answers(&self, ip: &str) -> Option<String> {
        match self.hosts_by_ip.get(ip).map(Vec::as_slice) {
            Some([only]) => Some(only.clone()),
            _ => None,
        }
    }
}

struct Builder {
    platform: Platform,
    /// web_connectivity: the control's `dns.addrs` (IP → the input's host).
    control_hints: HashMap<String, String>,
    rows: Vec<Observation>,
    metas: Vec<RowMeta>,
}

/// The 2020 Go web_connectivity 0.1.0, which wrote neither TLS handshakes nor network
/// events.
fn is_go_web_connectivity_010(m: &Measurement<'_>, tk: &TestKeys<'_>) -> bool {
    let engine = m.annotations.0.as_ref().and_then(|a| a.engine_name.get());
    let software = m.software_name.get().unwrap_or("");
    m.test_version.get() == Some("0.1.0")
        && tk.tls_handshakes.0.is_none()
        && tk.network_events.0.is_none()
        && (engine == Some("ooniprobe-engine") || software.starts_with("miniooni"))
}

/// The observations of `m`, read as test `test_name` when given, else as its body says.
pub(crate) fn observe_measurement(
    m: &Measurement<'_>,
    test_name: Option<&str>,
    fingerprints: &FingerprintMatches,
) -> Observed {
    let test_name = test_name.or_else(|| m.test_name.get()).unwrap_or("");
    if !IN_SCOPE.contains(&test_name) {
        return Observed::default();
    }
    let Some(tk) = m.test_keys.0.as_ref() else {
        return Observed::default();
    };
    let is_web_connectivity = test_name == "web_connectivity";
    let input_host = m
        .input
        .0
        .as_deref()
        .and_then(parse_url)
        .and_then(|u| normalize_host(&u.host));

    let mut control_hints = HashMap::new();
    if is_web_connectivity
        && let (Some(host), Some(control)) = (&input_host, &tk.control.0)
        && let Some(dns) = &control.dns.0
    {
        let addrs = dns.addrs.0.iter().chain(dns.ips.0.iter()).flatten();
        for a in addrs {
            if let Some(ip) = a.get().and_then(canonical_ip) {
                control_hints.insert(ip, host.clone());
            }
        }
    }

    let mut b = Builder {
        platform: Platform::from_test_name(test_name),
        control_hints,
        rows: Vec::new(),
        metas: Vec::new(),
    };
    if test_name == "tor" {
        for target in &tk.targets.0 {
            b.scope(&Scope::tor(target));
        }
    } else {
        b.scope(&Scope::main(tk));
    }
    if is_web_connectivity {
        b.keep_classic_only();
    }
    let has_tls_list =
        tk.tls_handshakes.0.is_some() || tk.targets.0.iter().any(|t| t.tls_handshakes.0.is_some());
    b.inferred_rows(
        has_tls_list,
        is_web_connectivity && is_go_web_connectivity_010(m, tk),
    );
    if is_web_connectivity
        && !is_set(&tk.control_failure)
        && let Some(control) = &tk.control.0
    {
        // Without a valid input host the control's results are still observations; they
        // only lose their domain (and the hints above).
        b.control_rows(control, input_host.as_deref(), m.input.0.as_deref());
    }

    let ctx = Context::new(test_name, m.input.0.as_deref(), tk, fingerprints);
    let outcomes = outcomes::compute(&b.rows, &b.metas, &ctx);
    Observed {
        observations: b.rows,
        outcomes,
    }
}

impl Builder {
    fn push(&mut self, row: Observation, meta: RowMeta) {
        self.rows.push(row);
        self.metas.push(meta);
    }

    /// web_connectivity: only the operations on addresses from the system resolver count
    /// for the outcomes (what a user's browser would have used). web_connectivity ≥ 0.5
    /// also connects to the addresses the control and its DoH/UDP lookups returned; those
    /// rows stay observations but leave the outcomes. An operation counts when it is
    /// tagged `classic`, when its IP is among the answers of a system-resolver lookup, when
    /// its domain got no such answer at all (nothing to compare with), or when its IP is
    /// unknown.
    fn keep_classic_only(&mut self) {
        let mut classic_ips: HashSet<&str> = HashSet::new();
        let mut answered: HashSet<&str> = HashSet::new();
        for (r, m) in self.rows.iter().zip(&self.metas) {
            if r.stage != Stage::Dns || r.is_control || !m.classic_dns {
                continue;
            }
            for a in r.dns_answers.iter().filter(|a| is_ip_literal(a)) {
                classic_ips.insert(a);
                if let Some(d) = &r.domain {
                    answered.insert(d);
                }
            }
        }
        let keep: Vec<bool> = self
            .rows
            .iter()
            .zip(&self.metas)
            .map(|(r, m)| {
                if r.stage == Stage::Dns || r.is_control || m.classic_tag {
                    return m.counts;
                }
                let from_system_resolver = match r.ip.as_deref().filter(|ip| is_ip_literal(ip)) {
                    None => true,
                    Some(ip) => {
                        classic_ips.contains(ip)
                            || r.domain.as_deref().is_none_or(|d| !answered.contains(d))
                    }
                };
                m.counts && from_system_resolver
            })
            .collect();
        for (m, k) in self.metas.iter_mut().zip(keep) {
            m.counts = k;
        }
    }

    /// The service role of a row.
    fn role(
        &self,
        scope: &Scope<'_, '_>,
        index: &ScopeIndex,
        domain: Option<&str>,
        source: DomainSource,
    ) -> Option<String> {
        if let Some(id) = &scope.tor_target_id {
            return Some(id.clone());
        }
        let domain = domain?;
        if source == DomainSource::IpLiteral
            && let Some(hosts) = index.hosts_by_ip.get(domain)
            && !hosts.is_empty()
        {
            // Several hosts resolved to this IP: a role only if they all share it.
            let first = target_id_for(self.platform, &hosts[0]);
            let all_same = hosts
                .iter()
                .all(|h| target_id_for(self.platform, h) == first);
            return if all_same {
                first.map(str::to_owned)
            } else {
                None
            };
        }
        target_id_for(self.platform, domain).map(str::to_owned)
    }

    /// The last resorts for an IP: control hint, unique DNS answer, the IP literal.
    fn attribute_ip(&self, index: &ScopeIndex, ip: &str) -> (Option<String>, DomainSource) {
        if let Some(h) = self.control_hints.get(ip) {
            return (Some(h.clone()), DomainSource::ControlHint);
        }
        if let Some(h) = index.by_answers(ip) {
            return (Some(h), DomainSource::DnsAnswer);
        }
        if is_ip_literal(ip) {
            return (Some(ip.to_owned()), DomainSource::IpLiteral);
        }
        (None, DomainSource::None)
    }

    fn scope(&mut self, scope: &Scope<'_, '_>) {
        let mut index = ScopeIndex {
            events: NetEvents::new(scope.network_events),
            ..ScopeIndex::default()
        };
        self.dns_rows(scope, &mut index);

        // URL hosts by transaction, for TLS and TCP attribution.
        for r in scope.requests.iter().filter_map(|r| r.0.as_ref()) {
            if let Some(tid) = nonzero(r.transaction_id)
                && let Some(host) = r
                    .request
                    .0
                    .as_ref()
                    .and_then(|q| q.url.get())
                    .and_then(parse_url)
                    .and_then(|u| normalize_host(&u.host))
            {
                index.http_host_by_tid.entry(tid).or_insert(host);
            }
        }

        // TLS: pair with the network events first (for legacy rows without address).
        let tls: Vec<_> = scope
            .tls_handshakes
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.0.as_ref().map(|e| (i, e)))
            .collect();
        let tls_ts: Vec<Option<f64>> = tls.iter().map(|(_, e)| e.t.0).collect();
        let tls_done = index.events.pair_tls(&tls_ts);
        let tls_connect: Vec<Option<usize>> = tls_done
            .iter()
            .map(|d| d.and_then(|d| index.events.connect_before_tls_done(d)))
            .collect();
        let tls_sni: Vec<Option<String>> = tls
            .iter()
            .map(|(_, e)| {
                e.server_name
                    .get()
                    .and_then(normalize_host)
                    .filter(|h| !is_ip_literal(h))
            })
            .collect();
        for ((_, e), sni) in tls.iter().zip(&tls_sni) {
            if let Some(tid) = nonzero(e.transaction_id) {
                if let Some(sni) = sni {
                    index
                        .tls_sni_by_tid
                        .entry(tid)
                        .or_insert_with(|| sni.clone());
                }
                let (failure, raw) = failure_pair(&e.failure);
                let failed = failure.as_deref().is_some_and(|f| {
                    classify(f, raw.as_deref().unwrap_or("")) == FailureKind::Network
                });
                index.tls_failed_by_tid.entry(tid).or_insert(failed);
            }
        }
        let tls_by_connect: HashMap<usize, usize> = tls_connect
            .iter()
            .enumerate()
            .filter_map(|(k, c)| c.map(|c| (c, k)))
            .collect();

        // TCP rows (before TLS rows in the output, as in the measurement).
        self.tcp_rows(scope, &index, &tls_sni, &tls_by_connect);

        // TLS rows.
        for (k, (i, e)) in tls.iter().enumerate() {
            let mut row = blank(Stage::Tls, "tls_handshakes", *i);
            let addr = e
                .address
                .get()
                .and_then(parse_address)
                .or_else(|| tls_connect[k].and_then(|c| index.events.address(c).cloned()))
                .or_else(|| scope.tor_address.clone());
            let tid = nonzero(e.transaction_id);
            let ip = addr.as_ref().map(|a| a.ip.clone());
            let (domain, source) = if let Some(sni) = &tls_sni[k] {
                (Some(sni.clone()), DomainSource::Sni)
            } else if let Some(h) = index.by_transaction(tid) {
                (Some(h), DomainSource::TransactionId)
            } else if let Some(h) = tls_connect[k]
                .zip(ip.as_deref())
                .and_then(|(c, ip)| index.by_resolve_window(c, ip))
            {
                (Some(h), DomainSource::NetworkEvents)
            } else if let Some(sni_ip) = e.server_name.get().and_then(canonical_ip) {
                (Some(sni_ip), DomainSource::IpLiteral)
            } else if let Some(ip) = &ip {
                self.attribute_ip(&index, ip)
            } else {
                (None, DomainSource::None)
            };
            row.target_id = self.role(scope, &index, domain.as_deref(), source);
            row.domain = domain;
            row.domain_source = source;
            row.ip = ip;
            row.port = addr.and_then(|a| a.port);
            (row.failure, row.failure_raw) = failure_pair(&e.failure);
            row.t = e.t.0;
            row.transaction_id = tid;
            row.tls_server_name = e.server_name.get().map(str::to_owned);
            let meta = RowMeta {
                counts: true,
                classic_tag: has_tag(&e.tags.0, "classic"),
                tls_verified: e.no_tls_verify.0 != Some(true),
                ..RowMeta::default()
            };
            self.push(row, meta);
        }

        // HTTP rows.
        for (i, e) in scope.requests.iter().enumerate() {
            let Some(e) = &e.0 else { continue };
            let mut row = blank(Stage::Http, "requests", i);
            let url = e.request.0.as_ref().and_then(|r| r.url.get());
            let parts = url.and_then(parse_url);
            let tid = nonzero(e.transaction_id);
            let (domain, source) = match parts.as_ref().and_then(|p| normalize_host(&p.host)) {
                Some(h) => (Some(h), DomainSource::Url),
                None => match index.by_transaction(tid) {
                    Some(h) => (Some(h), DomainSource::TransactionId),
                    None => (None, DomainSource::None),
                },
            };
            let addr = e.address.get().and_then(parse_address);
            row.target_id = self.role(scope, &index, domain.as_deref(), source);
            row.domain = domain;
            row.domain_source = source;
            row.port = addr
                .as_ref()
                .and_then(|a| a.port)
                .or_else(|| parts.as_ref().and_then(|p| p.port));
            row.ip = addr.map(|a| a.ip);
            (row.failure, row.failure_raw) = failure_pair(&e.failure);
            row.t = e.t.0;
            row.transaction_id = tid;
            row.http_url = url.map(str::to_owned);
            row.http_status_code = e
                .response
                .0
                .as_ref()
                .and_then(|r| r.code.0)
                .filter(|&c| c > 0);
            let meta = RowMeta {
                counts: true,
                classic_tag: has_tag(&e.tags.0, "classic"),
                https: parts.as_ref().is_some_and(|p| p.scheme == "https"),
                linked_tls_failed: tid.and_then(|t| index.tls_failed_by_tid.get(&t).copied()),
                request_index: scope.main.then_some(i),
                ..RowMeta::default()
            };
            self.push(row, meta);
        }
    }

    /// Emits the DNS rows of a scope and fills the DNS part of its index.
    fn dns_rows(&mut self, scope: &Scope<'_, '_>, index: &mut ScopeIndex) {
        // (hostname, engine, t, transaction id, raw failure): with the list index and the
        // query type of the previous entry, what the legacy A/AAAA split rule compares.
        type Key<'k> = (
            Option<&'k str>,
            Option<&'k str>,
            Option<u64>,
            Option<i64>,
            Option<String>,
        );
        let mut previous: Option<(usize, Key<'_>, Option<&str>)> = None;
        for (i, q) in scope.queries.iter().enumerate() {
            let Some(q) = &q.0 else { continue };
            let host = q.hostname.get().and_then(normalize_host);
            let answers: Vec<String> = q
                .answers
                .0
                .iter()
                .filter_map(|a| a.0.as_ref())
                .filter_map(|a| {
                    let text = a.ipv4.get().or(a.ipv6.get()).or(a.hostname.get())?;
                    Some(canonical_ip(text).unwrap_or_else(|| text.to_owned()))
                })
                .collect();
            if let Some(host) = &host {
                let ips: Vec<String> = answers
                    .iter()
                    .filter(|a| is_ip_literal(a))
                    .cloned()
                    .collect();
                for ip in &ips {
                    let hosts = index.hosts_by_ip.entry(ip.clone()).or_default();
                    if !hosts.contains(host) {
                        hosts.push(host.clone());
                    }
                }
                if let Some(t) = q.t.0 {
                    index
                        .lookups_by_t
                        .entry(t.to_bits())
                        .or_default()
                        .push((host.clone(), ips));
                }
                if let Some(tid) = nonzero(q.transaction_id) {
                    index
                        .dns_host_by_tid
                        .entry(tid)
                        .or_insert_with(|| host.clone());
                }
            }
            let (failure, failure_raw) = failure_pair(&q.failure);
            let tid = nonzero(q.transaction_id);
            let qtype = q.query_type.get();
            let key: Key<'_> = (
                q.hostname.get(),
                q.engine.get(),
                q.t.0.map(f64::to_bits),
                tid,
                failure_raw.clone(),
            );
            // A failed legacy lookup is written as an A entry and an AAAA entry with the
            // same failure: emit it once.
            let duplicate = failure_raw.is_some()
                && qtype == Some("AAAA")
                && previous
                    .as_ref()
                    .is_some_and(|(pi, pk, pt)| *pi + 1 == i && *pk == key && *pt == Some("A"));
            previous = Some((i, key, qtype));
            if duplicate {
                continue;
            }
            let mut row = blank(Stage::Dns, "queries", i);
            row.target_id = self.role(scope, index, host.as_deref(), DomainSource::DnsQuery);
            row.domain_source = if host.is_some() {
                DomainSource::DnsQuery
            } else {
                DomainSource::None
            };
            row.domain = host;
            row.failure = failure;
            row.failure_raw = failure_raw;
            row.t = q.t.0;
            row.transaction_id = tid;
            row.dns_query_type = qtype.map(str::to_owned);
            row.dns_engine = q.engine.get().map(str::to_owned);
            row.dns_answers = answers;
            let meta = RowMeta {
                counts: true,
                classic_dns: is_classic_engine(q.engine.get()),
                ..RowMeta::default()
            };
            self.push(row, meta);
        }
    }

    fn tcp_rows(
        &mut self,
        scope: &Scope<'_, '_>,
        index: &ScopeIndex,
        tls_sni: &[Option<String>],
        tls_by_connect: &HashMap<usize, usize>,
    ) {
        let entries: Vec<_> = scope
            .tcp_connect
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.0.as_ref().map(|e| (i, e)))
            .collect();
        let keys: Vec<(String, Option<u16>, Option<f64>)> = entries
            .iter()
            .map(|(_, e)| {
                (
                    normalize_ip_field(e.ip.get().unwrap_or("")),
                    port_of(e.port),
                    e.t.0,
                )
            })
            .collect();
        let connects = index.events.pair_connects(&keys);
        for (k, (i, e)) in entries.iter().enumerate() {
            let mut row = blank(Stage::Tcp, "tcp_connect", *i);
            let ip = keys[k].0.clone();
            let tid = nonzero(e.transaction_id);
            let connect = connects[k];
            let (domain, source) = if let Some(h) = index.by_transaction(tid) {
                (Some(h), DomainSource::TransactionId)
            } else if let Some(h) = connect
                .and_then(|c| tls_by_connect.get(&c))
                .and_then(|&t| tls_sni[t].clone())
            {
                (Some(h), DomainSource::NetworkEvents)
            } else if let Some(h) = connect.and_then(|c| index.by_resolve_window(c, &ip)) {
                (Some(h), DomainSource::NetworkEvents)
            } else {
                self.attribute_ip(index, &ip)
            };
            row.target_id = self.role(scope, index, domain.as_deref(), source);
            row.domain = domain;
            row.domain_source = source;
            row.ip = (is_ip_literal(&ip) || ip == "scrubbed").then_some(ip);
            row.port = port_of(e.port);
            let status = e.status.0.as_ref();
            if let Some(status) = status {
                (row.failure, row.failure_raw) = failure_pair(&status.failure);
                if row.failure.is_none() && status.success.0 == Some(false) {
                    // A failed connect without a failure string.
                    row.failure = Some("unknown_failure".to_owned());
                }
            }
            row.t = e.t.0;
            row.transaction_id = tid;
            let meta = RowMeta {
                // Without a status the outcome of the connect is unknown.
                counts: status.is_some(),
                classic_tag: has_tag(&e.tags.0, "classic"),
                ..RowMeta::default()
            };
            self.push(row, meta);
        }
    }

    /// Rows for stages the measurement did not record but an HTTP failure reveals (see the
    /// crate documentation): a DNS-only failure for a host without DNS rows, and TLS
    /// failures in data without TLS records.
    fn inferred_rows(&mut self, has_tls_list: bool, go_web_connectivity_010: bool) {
        let mut dns_domains: HashSet<String> = self
            .rows
            .iter()
            .filter(|r| r.stage == Stage::Dns && !r.is_control)
            .filter_map(|r| r.domain.clone())
            .collect();
        let tcp_domains: HashSet<String> = self
            .rows
            .iter()
            .filter(|r| r.stage == Stage::Tcp && !r.is_control)
            .filter_map(|r| r.domain.clone())
            .collect();
        for i in 0..self.rows.len() {
            let row = &self.rows[i];
            if row.stage != Stage::Http || row.is_control || !self.metas[i].counts {
                continue;
            }
            // Without TLS records, an https request that got a response proves the handshake
            // succeeded. Recording that success keeps the TLS denominator honest: otherwise
            // only inferred failures would count and every cell would read as 100% blocked.
            if !has_tls_list
                && self.metas[i].https
                && (row.failure.is_none() || row.http_status_code.is_some_and(|c| c > 0))
                && let Some(domain) = &row.domain
            {
                let mut inferred = blank(Stage::Tls, "requests", row.list_index as usize);
                inferred.domain = Some(domain.clone());
                inferred.domain_source = DomainSource::Inferred;
                inferred.target_id = row.target_id.clone();
                inferred.ip = row.ip.clone();
                inferred.port = row.port;
                inferred.t = row.t;
                inferred.transaction_id = row.transaction_id;
                let meta = RowMeta {
                    counts: true,
                    classic_dns: true,
                    ..RowMeta::default()
                };
                self.push(inferred, meta);
                continue;
            }
            let row = &self.rows[i];
            let (Some(domain), Some(failure)) = (&row.domain, &row.failure) else {
                continue;
            };
            if classify(failure, row.failure_raw.as_deref().unwrap_or("")) != FailureKind::Network {
                continue;
            }
            let stage = if is_dns_failure(failure) {
                if dns_domains.contains(domain) {
                    continue;
                }
                Stage::Dns
            } else if is_connect_failure(failure) && !tcp_domains.contains(domain) {
                // Only a connect fails this way (python-era telegram wrote the web
                // checks' `connection_refused_error` without any TCP record).
                Stage::Tcp
            } else if self.metas[i].https && row.http_status_code.is_none() {
                let tls_class = !has_tls_list && is_tls_failure(failure);
                // web_connectivity 0.1.0 from the 2020 Go probe-engine recorded no TLS
                // handshakes and no network events: an https request that failed without a
                // response after a successful TCP connect to the host's port is a TLS-stage
                // failure (the handshake is the next step after the connect).
                let after_tcp = go_web_connectivity_010
                    && self.rows.iter().any(|r| {
                        r.stage == Stage::Tcp
                            && !r.is_control
                            && r.domain.as_deref() == Some(domain)
                            && r.port == row.port
                            && r.failure.is_none()
                    });
                if !(tls_class || after_tcp) {
                    continue;
                }
                Stage::Tls
            } else {
                continue;
            };
            let mut inferred = blank(stage, "requests", row.list_index as usize);
            inferred.domain = Some(domain.clone());
            inferred.domain_source = DomainSource::Inferred;
            inferred.target_id = row.target_id.clone();
            inferred.ip = row.ip.clone();
            inferred.port = if stage == Stage::Dns { None } else { row.port };
            inferred.failure = row.failure.clone();
            inferred.failure_raw = row.failure_raw.clone();
            inferred.t = row.t;
            inferred.transaction_id = row.transaction_id;
            if stage == Stage::Dns {
                dns_domains.insert(domain.clone());
            }
            self.metas[i].explained = true;
            let meta = RowMeta {
                counts: true,
                classic_dns: true,
                ..RowMeta::default()
            };
            self.push(inferred, meta);
        }
    }

    /// web_connectivity's control results, as `is_control` rows, attributed to the input's
    /// host when it has a valid one.
    fn control_rows(
        &mut self,
        control: &Control<'_>,
        input_host: Option<&str>,
        input: Option<&str>,
    ) {
        let mut n = 0usize;
        let mut next = |stage: Stage| {
            let mut row = blank(stage, "control", n);
            n += 1;
            row.is_control = true;
            if let Some(host) = input_host {
                row.domain = Some(host.to_owned());
                row.domain_source = DomainSource::Url;
            }
            row
        };
        let mut out = Vec::new();
        if let Some(dns) = &control.dns.0 {
            let addrs = dns.addrs.0.as_ref().or(dns.ips.0.as_ref());
            if is_set(&dns.failure) || addrs.is_some() {
                let mut row = next(Stage::Dns);
                (row.failure, row.failure_raw) = failure_pair(&dns.failure);
                row.dns_answers = addrs
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.get())
                    .map(|a| canonical_ip(a).unwrap_or_else(|| a.to_owned()))
                    .collect();
                out.push(row);
            }
        }
        for (key, entry) in &control.tcp_connect.0 {
            let Some(entry) = &entry.0 else { continue };
            let mut row = next(Stage::Tcp);
            let addr = parse_address(key);
            row.port = addr.as_ref().and_then(|a| a.port);
            row.ip = addr.map(|a| a.ip);
            (row.failure, row.failure_raw) = failure_pair(&entry.failure);
            if row.failure.is_none() && entry.status.0 == Some(false) {
                row.failure = Some("unknown_failure".to_owned());
            }
            out.push(row);
        }
        for (key, entry) in &control.tls_handshake.0 {
            let Some(entry) = &entry.0 else { continue };
            let mut row = next(Stage::Tls);
            let addr = parse_address(key);
            row.port = addr.as_ref().and_then(|a| a.port);
            row.ip = addr.map(|a| a.ip);
            if let Some(sni) = entry
                .server_name
                .get()
                .and_then(normalize_host)
                .filter(|h| !is_ip_literal(h))
            {
                row.domain = Some(sni);
                row.domain_source = DomainSource::Sni;
            }
            row.tls_server_name = entry.server_name.get().map(str::to_owned);
            (row.failure, row.failure_raw) = failure_pair(&entry.failure);
            if row.failure.is_none() && entry.status.0 == Some(false) {
                row.failure = Some("unknown_failure".to_owned());
            }
            out.push(row);
        }
        if let Some(http) = &control.http_request.0
            && (is_set(&http.failure) || http.status_code.0.is_some())
        {
            let mut row = next(Stage::Http);
            (row.failure, row.failure_raw) = failure_pair(&http.failure);
            row.http_url = input.map(str::to_owned);
            row.http_status_code = http.status_code.0.filter(|&c| c > 0);
            row.port = input.and_then(parse_url).and_then(|u| u.port);
            out.push(row);
        }
        for row in out {
            self.push(row, RowMeta::default());
        }
    }
}
