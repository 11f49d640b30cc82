//! Per-(domain, stage) outcomes with the first-failing-stage rule (see the crate docs).

use std::collections::{HashMap, HashSet};

use crate::blocking::{Context, CtrlDns, CtrlResult, TestKind, kind_of_failure};
use crate::bogon::is_bogon;
use crate::failure::{FailureKind, classify, is_dns_failure};
use crate::host::is_ip_literal;
use crate::{
    BlockingKind, DomainSource, Evidence, Observation, OutcomeStage, Stage, StageOutcome, Status,
};

/// What the outcome computation needs to know about a row beyond its public fields.
#[derive(Debug, Clone, Default)]
pub(crate) struct RowMeta {
    /// The row counts for the outcomes (false for control rows and, in web_connectivity
    /// ≥ 0.5, for operations not tagged `classic`).
    pub counts: bool,
    /// DNS: the lookup used the system resolver.
    pub classic_dns: bool,
    /// TCP/TLS/HTTP: the operation is tagged `classic` (web_connectivity ≥ 0.5.28).
    pub classic_tag: bool,
    /// HTTP: the URL scheme is `https`.
    pub https: bool,
    /// HTTP: whether the TLS handshake of the same transaction failed, when there is one.
    pub linked_tls_failed: Option<bool>,
    /// HTTP: an inferred DNS or TLS row accounts for this request's failure.
    pub explained: bool,
    /// TLS: the probe verified the certificate (`no_tls_verify` not set), so a successful
    /// handshake proves the address serves the name.
    pub tls_verified: bool,
    /// HTTP: the index of the request in `test_keys.requests` (main list only).
    pub request_index: Option<usize>,
}

/// One attempt as the outcomes see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt<'r> {
    Ok,
    Failed(&'r str),
    /// Left out: an instrument failure.
    Excluded,
}

fn attempt(row: &Observation) -> Attempt<'_> {
    match &row.failure {
        None => Attempt::Ok,
        Some(f) => match classify(f, row.failure_raw.as_deref().unwrap_or("")) {
            FailureKind::Network => Attempt::Failed(f),
            FailureKind::Application => Attempt::Ok,
            FailureKind::Instrument => Attempt::Excluded,
        },
    }
}

/// A stage verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Verdict {
    failed: bool,
    failure: Option<String>,
}

/// The most frequent failure (ties: the earliest).
fn mode<'r>(failures: impl Iterator<Item = &'r str>) -> Option<String> {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for f in failures {
        match counts.iter_mut().find(|(g, _)| *g == f) {
            Some((_, n)) => *n += 1,
            None => counts.push((f, 1)),
        }
    }
    let max = counts.iter().map(|(_, n)| *n).max()?;
    counts
        .into_iter()
        .find(|(_, n)| *n == max)
        .map(|(f, _)| f.to_owned())
}

/// Failed when every attempt failed; `None` without attempts.
fn all_failed(attempts: &[Attempt<'_>]) -> Option<Verdict> {
    let counted: Vec<_> = attempts
        .iter()
        .filter(|a| **a != Attempt::Excluded)
        .collect();
    if counted.is_empty() {
        return None;
    }
    let failed = counted.iter().all(|a| matches!(a, Attempt::Failed(_)));
    Some(Verdict {
        failed,
        failure: failed
            .then(|| {
                mode(counted.iter().filter_map(|a| match a {
                    Attempt::Failed(f) => Some(*f),
                    _ => None,
                }))
            })
            .flatten(),
    })
}

/// A stage's outcome with its judgement.
#[derive(Debug, Clone)]
struct Judged {
    stage: OutcomeStage,
    failed: bool,
    failure: Option<String>,
    status: Status,
    kind: Option<BlockingKind>,
    evidence: Evidence,
    inferred: bool,
}

impl Judged {
    /// Neither failed nor judged anything but ok: the next stage is reached.
    fn ok(&self) -> bool {
        !self.failed && self.status == Status::Ok
    }

    fn new(stage: OutcomeStage, v: Verdict, inferred: bool) -> Judged {
        Judged {
            stage,
            failed: v.failed,
            failure: v.failure,
            status: Status::Ok,
            kind: None,
            evidence: Evidence::default(),
            inferred,
        }
    }

    fn blocked(mut self, kind: BlockingKind) -> Judged {
        self.status = Status::Blocked;
        self.kind = Some(kind);
        self
    }

    fn with(mut self, status: Status) -> Judged {
        self.status = status;
        self.kind = None;
        self
    }

    /// Blocked with the kind of its own failure (a failed stage).
    fn blocked_by_failure(self) -> Judged {
        let kind = kind_of_failure(self.stage, self.failure.as_deref().unwrap_or(""));
        self.blocked(kind)
    }

    fn control(mut self, text: impl Into<String>) -> Judged {
        self.evidence.control = Some(text.into());
        self
    }
}

/// What the control says about an operation, for its judgement.
enum CtrlSays {
    /// The control succeeded where the probe failed: blocked.
    Ok,
    /// The control failed too (its failure): down.
    Failed(String),
    /// Nothing to compare with.
    Unknown,
}

impl CtrlSays {
    /// blocked / down / failure for a failed stage.
    fn judge(self, j: Judged) -> Judged {
        match self {
            CtrlSays::Ok => j.blocked_by_failure().control("ok"),
            CtrlSays::Failed(f) => j.with(Status::Down).control(f),
            CtrlSays::Unknown => j.with(Status::Failure),
        }
    }
}

/// Failures that only say the probe has no route for the address family.
fn is_unreachable(f: &str) -> bool {
    matches!(
        f,
        "host_unreachable" | "network_unreachable" | "address_not_available"
    )
}

/// The rows of one domain and the measurement-level facts needed to judge them.
struct Judge<'a> {
    rows: &'a [Observation],
    metas: &'a [RowMeta],
    ctx: &'a Context,
    domain: &'a str,
    target_id: Option<&'a str>,
    idx: &'a [usize],
    /// web_connectivity: the input's own domain, judged against the control's results
    /// for each stage (other domains are redirect hops, judged against the control's
    /// fetch of the page).
    is_input: bool,
}

impl Judge<'_> {
    fn of_stage(&self, s: Stage) -> impl Iterator<Item = usize> + '_ {
        self.idx
            .iter()
            .copied()
            .filter(move |&i| self.rows[i].stage == s)
    }

    /// All counted rows of the stage are inferred (not recorded by the probe).
    fn inferred(&self, s: Stage) -> bool {
        let mut any = false;
        for i in self.of_stage(s) {
            if attempt(&self.rows[i]) == Attempt::Excluded {
                continue;
            }
            any = true;
            if self.rows[i].domain_source != DomainSource::Inferred {
                return false;
            }
        }
        any
    }

    fn is_wc(&self) -> bool {
        self.ctx.test == TestKind::WebConnectivity
    }

    /// The control's HTTP fetch of the input URL (it follows redirects, so it covers the
    /// hops too).
    fn ctrl_http(&self) -> CtrlSays {
        match self.ctx.control.as_ref().and_then(|c| c.http.as_ref()) {
            Some(h) if h.ok() => CtrlSays::Ok,
            Some(h) => CtrlSays::Failed(
                h.failure
                    .clone()
                    .unwrap_or_else(|| "unknown_failure".to_owned()),
            ),
            None => CtrlSays::Unknown,
        }
    }

    /// A failed stage without a control of its own: the test's own verdict for the
    /// instant-messaging tests, the control's HTTP fetch for web_connectivity.
    fn judge_failed_without_stage_control(&self, j: Judged) -> Judged {
        if self.ctx.test.is_im() {
            return if self
                .ctx
                .im_says_blocked(self.domain, self.target_id, j.stage)
            {
                j.blocked_by_failure()
            } else {
                j.with(Status::Failure)
            };
        }
        if self.is_wc() {
            return self.ctrl_http().judge(j);
        }
        j.with(Status::Failure)
    }

    fn dns(&self) -> Option<Judged> {
        let v = dns_verdict(self.rows, self.metas, self.of_stage(Stage::Dns))?;
        let j = Judged::new(OutcomeStage::Dns, v, self.inferred(Stage::Dns));
        if j.failed {
            return Some(self.dns_failed(j));
        }
        Some(self.dns_answers(j))
    }

    fn dns_failed(&self, j: Judged) -> Judged {
        if !self.is_input {
            return self.judge_failed_without_stage_control(j);
        }
        let Some(ctrl) = self.ctx.control.as_ref().and_then(|c| c.dns.as_ref()) else {
            return j.with(Status::Failure);
        };
        if ctrl.failure.is_some() || !ctrl.any_answer() {
            // The control failed too, or found no address either (probe-cli's
            // minipipeline: an expected failure).
            return j.with(Status::Down).control(ctrl.describe());
        }
        j.blocked_by_failure().control(ctrl.describe())
    }

    /// The distinct IP answers of the system-resolver lookups that succeeded.
    fn answers(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for i in self.of_stage(Stage::Dns) {
            let (r, m) = (&self.rows[i], &self.metas[i]);
            if !m.classic_dns || r.failure.is_some() {
                continue;
            }
            for a in r.dns_answers.iter().filter(|a| is_ip_literal(a)) {
                if !out.contains(&a.as_str()) {
                    out.push(a);
                }
            }
        }
        out
    }

    fn dns_answers(&self, mut j: Judged) -> Judged {
        // uptime.signal.org answers a loopback address by design: its answer is Signal's
        // status flag (127.0.0.1 up, 127.0.0.2 down), not where to connect.
        let judged =
            (self.is_wc() || self.ctx.test.is_im()) && self.target_id != Some("signal/uptime");
        let answers = self.answers();
        if answers.is_empty() || !judged {
            return j;
        }
        for a in &answers {
            if let Some(fp) = self.ctx.dns_fingerprints.get(*a) {
                j.evidence.answer = Some((*a).to_owned());
                j.evidence.fingerprint = Some(fp.clone());
                return j.blocked(BlockingKind::DnsBlockpage);
            }
        }
        let ctrl_dns = self
            .ctx
            .control
            .as_ref()
            .and_then(|c| c.dns.as_ref())
            .filter(|_| self.is_input);
        let in_ctrl = |a: &str| ctrl_dns.is_some_and(|c| c.ips.iter().any(|x| x == a));
        if let Some(a) = answers.iter().find(|a| is_bogon(a) && !in_ctrl(a)) {
            j.evidence.answer = Some((*a).to_owned());
            if let Some(c) = ctrl_dns {
                j = j.control(c.describe());
            }
            return j.blocked(BlockingKind::DnsBogon);
        }
        if answers.iter().all(|a| is_bogon(a)) {
            // The control got the same private address: the site's own DNS points nowhere
            // (ooni/data's `bogon_in_ctrl`).
            j.evidence.answer = Some(answers[0].to_owned());
            return j.with(Status::Down).control("same answer");
        }
        if self.ctx.facebook_dns_inconsistent(self.domain) {
            j.evidence.answer = Some(answers[0].to_owned());
            return j.blocked(BlockingKind::DnsInconsistent);
        }
        let Some(ctrl) = ctrl_dns else { return j };
        if self.consistent(&answers, ctrl) {
            return j;
        }
        j.evidence.answer = Some(answers[0].to_owned());
        j.control(ctrl.describe())
            .blocked(BlockingKind::DnsInconsistent)
    }

    /// An answer is consistent with the control when the control returned the same
    /// address, or an address in the same ASN, or when a TLS handshake with this name on
    /// that address validated the certificate (the control's, or the probe's own).
    fn consistent(&self, answers: &[&str], ctrl: &CtrlDns) -> bool {
        let Some(cv) = self.ctx.control.as_ref() else {
            return true;
        };
        if answers.iter().any(|a| ctrl.ips.iter().any(|c| c == a)) {
            return true;
        }
        let tls_valid = |a: &str| {
            cv.tls.iter().any(|((ip, _), (sni, r))| {
                ip == a && r.is_none() && sni.as_deref().is_none_or(|s| s == self.domain)
            }) || self.rows.iter().zip(self.metas).any(|(r, m)| {
                r.stage == Stage::Tls
                    && !r.is_control
                    && r.failure.is_none()
                    && m.tls_verified
                    && r.ip.as_deref() == Some(a)
                    && r.domain.as_deref() == Some(self.domain)
            })
        };
        if answers.iter().any(|a| tls_valid(a)) {
            return true;
        }
        let ctrl_asns: HashSet<u32> = ctrl
            .ips
            .iter()
            .filter_map(|ip| cv.asns.get(ip).copied())
            .collect();
        let mut asn_evaluated = false;
        for a in answers {
            if let Some(asn) = cv.asns.get(*a)
                && !ctrl_asns.is_empty()
            {
                asn_evaluated = true;
                if ctrl_asns.contains(asn) {
                    return true;
                }
            }
        }
        // Without ASNs for both sides the probe's own check (which had its ASN database)
        // decides.
        !asn_evaluated && self.ctx.probe_dns_consistent == Some(true)
    }

    /// TCP or TLS: failed when every attempt failed.
    fn connect_stage(&self, s: Stage) -> Option<Judged> {
        let attempts: Vec<Attempt<'_>> = self.of_stage(s).map(|i| attempt(&self.rows[i])).collect();
        let v = all_failed(&attempts)?;
        let j = Judged::new(s.into(), v, self.inferred(s));
        if !j.failed {
            return Some(j);
        }
        if !self.is_input {
            return Some(self.judge_failed_without_stage_control(j));
        }
        Some(self.connect_failed(s, j))
    }

    /// web_connectivity's input: compare each failed attempt with the control's connect or
    /// handshake to the same address.
    fn connect_failed(&self, s: Stage, j: Judged) -> Judged {
        let Some(cv) = self.ctx.control.as_ref() else {
            return j.with(Status::Failure);
        };
        let failed: Vec<&Observation> = self
            .of_stage(s)
            .map(|i| &self.rows[i])
            .filter(|r| matches!(attempt(r), Attempt::Failed(_)))
            .collect();
        // A probe without IPv6 fails every IPv6 connect (ooni/data masks these:
        // `ipv6_broken_probe`).
        if failed.iter().all(|r| {
            r.ip.as_deref().is_some_and(|ip| ip.contains(':'))
                && r.failure.as_deref().is_some_and(is_unreachable)
        }) {
            return j.with(Status::Failure);
        }
        let lookup = |ip: &str, port: Option<u16>| -> Option<CtrlResult> {
            let key = (ip.to_owned(), port);
            match s {
                Stage::Tcp => cv.tcp.get(&key).cloned(),
                _ => cv.tls.get(&key).map(|(_, r)| r.clone()),
            }
        };
        let mut says: Vec<CtrlResult> = failed
            .iter()
            .filter_map(|r| lookup(r.ip.as_deref()?, r.port))
            .collect();
        if says.is_empty() {
            // No control result for these addresses: the control's results for the same
            // port on the name's other addresses.
            let ports: HashSet<Option<u16>> = failed.iter().map(|r| r.port).collect();
            says = match s {
                Stage::Tcp => cv
                    .tcp
                    .iter()
                    .filter(|((_, p), _)| ports.contains(p))
                    .map(|(_, r)| r.clone())
                    .collect(),
                _ => cv
                    .tls
                    .iter()
                    .filter(|((_, p), _)| ports.contains(p))
                    .map(|(_, (_, r))| r.clone())
                    .collect(),
            };
        }
        if says.iter().any(Option::is_none) {
            return CtrlSays::Ok.judge(j);
        }
        if let Some(Some(f)) = says.first() {
            return CtrlSays::Failed(f.clone()).judge(j);
        }
        // Nothing for this stage: the control's fetch of the page (over TLS only when the
        // input is https).
        if s == Stage::Tcp || self.ctx.input_https {
            return self.ctrl_http().judge(j);
        }
        j.with(Status::Failure)
    }

    fn http(&self, tls_failed: bool, any_tls_failed: bool) -> Option<Judged> {
        let (v, reached) = http_verdict(
            self.rows,
            self.metas,
            self.of_stage(Stage::Http),
            tls_failed,
            any_tls_failed,
        )?;
        let mut j = Judged::new(OutcomeStage::Http, v, false);
        if j.failed {
            return Some(self.judge_failed_without_stage_control(j));
        }
        for i in reached {
            if let Some(fp) = self.metas[i]
                .request_index
                .and_then(|k| self.ctx.response_fingerprints.get(&k))
            {
                j.evidence.fingerprint = Some(fp.clone());
                return Some(j.blocked(BlockingKind::HttpBlockpage));
            }
        }
        Some(j)
    }

    /// The domain's stages in order, each reached only when the ones before it were ok
    /// (plaintext HTTP does not need TLS).
    fn chain(&self) -> Vec<Judged> {
        let mut out = Vec::new();
        let dns = self.dns();
        let dns_ok = dns.as_ref().is_none_or(Judged::ok);
        out.extend(dns);
        if !dns_ok {
            return out;
        }
        let tcp = self.connect_stage(Stage::Tcp);
        let tcp_ok = tcp.as_ref().is_none_or(Judged::ok);
        out.extend(tcp);
        if !tcp_ok {
            return out;
        }
        let tls = self.connect_stage(Stage::Tls);
        let tls_failed = tls.as_ref().is_some_and(|t| !t.ok());
        out.extend(tls);
        let any_tls_failed = self
            .of_stage(Stage::Tls)
            .any(|i| matches!(attempt(&self.rows[i]), Attempt::Failed(_)));
        out.extend(self.http(tls_failed, any_tls_failed));
        out
    }
}

/// One domain's judged stages.
struct Chain<'a> {
    domain: &'a str,
    target_id: Option<String>,
    is_hop: bool,
    stages: Vec<Judged>,
}

impl Chain<'_> {
    fn first_not_ok(&self) -> Option<&Judged> {
        self.stages.iter().find(|j| !j.ok())
    }
}

pub(crate) fn compute(rows: &[Observation], metas: &[RowMeta], ctx: &Context) -> Vec<StageOutcome> {
    let mut order: Vec<&str> = Vec::new();
    let mut groups: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        if r.is_control || !metas[i].counts {
            continue;
        }
        if let Some(d) = r.domain.as_deref() {
            groups
                .entry(d)
                .or_insert_with(|| {
                    order.push(d);
                    Vec::new()
                })
                .push(i);
        }
    }
    // URL-input tests judged against a control: the input's domain and its hops.
    let input = ctx
        .input_host
        .as_deref()
        .filter(|_| ctx.test == TestKind::WebConnectivity);
    let mut chains: Vec<Chain<'_>> = order
        .iter()
        .map(|&domain| {
            let idx = &groups[domain];
            let target_id = idx.iter().find_map(|&i| rows[i].target_id.clone());
            let is_input = input == Some(domain);
            // Every other domain of a URL-input test is reached through the input (a
            // redirect); without a valid input host none is the tested target.
            let is_hop = ctx.test == TestKind::WebConnectivity && !is_input;
            let judge = Judge {
                rows,
                metas,
                ctx,
                domain,
                target_id: target_id.as_deref(),
                idx,
                is_input,
            };
            Chain {
                domain,
                stages: judge.chain(),
                target_id,
                is_hop,
            }
        })
        .collect();
    if let Some(input) = input
        && let Some(k) = chains.iter().position(|c| c.domain == input)
    {
        file_hops_under_input(&mut chains, k, ctx);
    }

    let mut out = Vec::new();
    for c in chains {
        let any = c
            .stages
            .iter()
            .find(|j| !j.ok())
            .or(c.stages.last())
            .cloned();
        for j in c.stages.into_iter().chain(any.map(|mut a| {
            a.stage = OutcomeStage::Any;
            a
        })) {
            out.push(StageOutcome {
                domain: c.domain.to_owned(),
                target_id: c.target_id.clone(),
                stage: j.stage,
                failed: j.failed,
                failure: j.failure,
                status: j.status,
                blocking_kind: j.kind,
                inferred: j.inferred,
                is_hop: c.is_hop,
                evidence: j.evidence,
            });
        }
    }
    out
}

/// The input's verdict covers its redirect chain: a hop's first stage that is not ok is
/// filed under the input, at the input's DNS stage when it is DNS interference (the same
/// resolver answers every name of the chain; probe-cli's `summary.go` calls a
/// `dns_nxdomain_error` after a redirect "dns"), else at its HTTP stage (the input's own
/// connection worked; fetching the page failed further down the chain, which
/// `summary.go` calls "http-failure"). Without a failing hop, the final page is compared
/// with the control's (http-diff).
fn file_hops_under_input(chains: &mut [Chain<'_>], k: usize, ctx: &Context) {
    if chains[k].first_not_ok().is_some() {
        return;
    }
    let hop_verdicts: Vec<(String, Judged)> = chains
        .iter()
        .filter(|c| c.is_hop)
        .filter_map(|c| c.first_not_ok().map(|j| (c.domain.to_owned(), j.clone())))
        .collect();
    let input = &mut chains[k];
    let filed = hop_verdicts
        .iter()
        .find(|(_, j)| j.stage == OutcomeStage::Dns)
        .or_else(|| hop_verdicts.first());
    if let Some((hop, j)) = filed {
        let mut j = j.clone();
        j.evidence.hop = Some(hop.clone());
        if j.stage == OutcomeStage::Dns {
            // The chain stopped at resolving the hop: the page was never fetched.
            input.stages.retain(|s| s.stage != OutcomeStage::Http);
            match input
                .stages
                .iter_mut()
                .find(|s| s.stage == OutcomeStage::Dns)
            {
                Some(s) => *s = j,
                None => input.stages.insert(0, j),
            }
        } else {
            j.stage = OutcomeStage::Http;
            match input
                .stages
                .iter_mut()
                .find(|s| s.stage == OutcomeStage::Http)
            {
                Some(s) => *s = j,
                None => input.stages.push(j),
            }
        }
        return;
    }
    if let Some(http) = input
        .stages
        .iter_mut()
        .find(|s| s.stage == OutcomeStage::Http)
        && let Some(checks) = ctx.http_diff()
        && !checks.page_matches()
    {
        http.status = Status::Blocked;
        http.kind = Some(BlockingKind::HttpDiff);
        http.evidence.http_diff = Some(checks.describe());
        http.evidence.control = Some("ok".to_owned());
    }
}

/// DNS: classic-resolver lookups, one per lookup (entries sharing engine, `t` and
/// transaction id), ignoring `AAAA` `dns_no_answer`; failed when every lookup failed.
fn dns_verdict(
    rows: &[Observation],
    metas: &[RowMeta],
    idx: impl Iterator<Item = usize>,
) -> Option<Verdict> {
    type LookupKey<'r> = (Option<&'r str>, Option<u64>, Option<i64>, Option<usize>);
    let mut lookups: Vec<(LookupKey<'_>, Vec<Attempt<'_>>)> = Vec::new();
    for i in idx {
        let r = &rows[i];
        if !metas[i].classic_dns {
            continue;
        }
        if r.dns_query_type.as_deref() == Some("AAAA")
            && r.failure.as_deref() == Some("dns_no_answer")
        {
            continue;
        }
        let a = attempt(r);
        if a == Attempt::Excluded {
            continue;
        }
        // Without a time, entries cannot be grouped: each is its own lookup.
        let key: LookupKey<'_> = (
            r.dns_engine.as_deref(),
            r.t.map(f64::to_bits),
            r.transaction_id,
            r.t.is_none().then_some(i),
        );
        match lookups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(a),
            None => lookups.push((key, vec![a])),
        }
    }
    if lookups.is_empty() {
        return None;
    }
    // A lookup failed when all its entries failed; its failure is the first entry's.
    let per_lookup: Vec<Attempt<'_>> = lookups
        .iter()
        .map(|(_, entries)| {
            if entries.iter().all(|a| matches!(a, Attempt::Failed(_))) {
                entries[0]
            } else {
                Attempt::Ok
            }
        })
        .collect();
    all_failed(&per_lookup)
}

/// HTTP: the reached requests; failed when any of them failed. Also returns the rows of
/// the reached requests.
fn http_verdict(
    rows: &[Observation],
    metas: &[RowMeta],
    idx: impl Iterator<Item = usize>,
    tls_failed: bool,
    any_tls_failed: bool,
) -> Option<(Verdict, Vec<usize>)> {
    let mut reached: Vec<Attempt<'_>> = Vec::new();
    let mut reached_rows: Vec<usize> = Vec::new();
    for i in idx {
        let (r, m) = (&rows[i], &metas[i]);
        let a = attempt(r);
        if a == Attempt::Excluded || m.explained {
            continue;
        }
        if let Attempt::Failed(f) = a
            && is_dns_failure(f)
        {
            // Name resolution failed: the request never reached HTTP.
            continue;
        }
        if m.https {
            if tls_failed {
                continue;
            }
            match m.linked_tls_failed {
                Some(true) => continue,
                Some(false) => {}
                // No link to a handshake: a failed request is not reached when a handshake
                // for this SNI failed in the measurement.
                None if any_tls_failed && a != Attempt::Ok => continue,
                None => {}
            }
        }
        reached.push(a);
        reached_rows.push(i);
    }
    if reached.is_empty() {
        return None;
    }
    let failures = reached.iter().filter_map(|a| match a {
        Attempt::Failed(f) => Some(*f),
        _ => None,
    });
    let failure = mode(failures);
    Some((
        Verdict {
            failed: failure.is_some(),
            failure,
        },
        reached_rows,
    ))
}
