//! Per-(domain, stage) outcomes with the first-failing-stage rule (see the crate docs).

use std::collections::HashMap;

use crate::failure::{FailureKind, classify, is_dns_failure};
use crate::{Observation, OutcomeStage, Stage, StageOutcome};

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

fn is_failed(v: &Option<Verdict>) -> bool {
    v.as_ref().is_some_and(|v| v.failed)
}

pub(crate) fn compute(rows: &[Observation], metas: &[RowMeta]) -> Vec<StageOutcome> {
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

    let mut out = Vec::new();
    for domain in order {
        let idx = &groups[domain];
        let of_stage = |s: Stage| idx.iter().copied().filter(move |&i| rows[i].stage == s);
        let target_id = idx.iter().find_map(|&i| rows[i].target_id.clone());

        let dns = dns_verdict(rows, metas, of_stage(Stage::Dns));
        let tcp = (!is_failed(&dns))
            .then(|| {
                all_failed(
                    &of_stage(Stage::Tcp)
                        .map(|i| attempt(&rows[i]))
                        .collect::<Vec<_>>(),
                )
            })
            .flatten();
        let tls = (!is_failed(&dns) && !is_failed(&tcp))
            .then(|| {
                all_failed(
                    &of_stage(Stage::Tls)
                        .map(|i| attempt(&rows[i]))
                        .collect::<Vec<_>>(),
                )
            })
            .flatten();
        let any_tls_failed =
            of_stage(Stage::Tls).any(|i| matches!(attempt(&rows[i]), Attempt::Failed(_)));
        let http = (!is_failed(&dns) && !is_failed(&tcp))
            .then(|| {
                http_verdict(
                    rows,
                    metas,
                    of_stage(Stage::Http),
                    is_failed(&tls),
                    any_tls_failed,
                )
            })
            .flatten();

        let stages = [
            (OutcomeStage::Dns, dns),
            (OutcomeStage::Tcp, tcp),
            (OutcomeStage::Tls, tls),
            (OutcomeStage::Http, http),
        ];
        let mut any: Option<Verdict> = None;
        for (stage, verdict) in stages {
            let Some(v) = verdict else { continue };
            match &any {
                Some(a) if a.failed => {}
                _ => any = Some(v.clone()),
            }
            out.push(StageOutcome {
                domain: domain.to_owned(),
                target_id: target_id.clone(),
                stage,
                failed: v.failed,
                failure: v.failure,
            });
        }
        if let Some(a) = any {
            out.push(StageOutcome {
                domain: domain.to_owned(),
                target_id,
                stage: OutcomeStage::Any,
                failed: a.failed,
                failure: a.failure,
            });
        }
    }
    out
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

/// HTTP: the reached requests; failed when any of them failed.
fn http_verdict(
    rows: &[Observation],
    metas: &[RowMeta],
    idx: impl Iterator<Item = usize>,
    tls_failed: bool,
    any_tls_failed: bool,
) -> Option<Verdict> {
    let mut reached: Vec<Attempt<'_>> = Vec::new();
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
    }
    if reached.is_empty() {
        return None;
    }
    let failures = reached.iter().filter_map(|a| match a {
        Attempt::Failed(f) => Some(*f),
        _ => None,
    });
    let failure = mode(failures);
    Some(Verdict {
        failed: failure.is_some(),
        failure,
    })
}
