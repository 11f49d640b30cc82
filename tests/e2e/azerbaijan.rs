//! The synthetic Azerbaijan-2020 scenario: per ASN and day, the failure rates show SNI
//! filtering of web.whatsapp.com (TCP fine, TLS failing and judged blocked, plain HTTP
//! fine) inside the blocking window only.
//!
//! Expectations come from examples/sample-manifest.json, written by the sample generator
//! from the scenario it built, not from this pipeline's output.

use std::collections::{BTreeMap, BTreeSet};

use crate::support::*;

type Cell = (String, u32); // (day, asn)

/// Distinct synthetic measurements of `test`, by (day, asn): how many, and how many have
/// `stage` marked "fail" for web.whatsapp.com in the manifest.
fn expected(test: &str, stage: &str) -> BTreeMap<Cell, (u64, u64)> {
    let mut seen = BTreeSet::new();
    let mut cells: BTreeMap<Cell, (u64, u64)> = BTreeMap::new();
    for e in manifest()["entries"].as_array().unwrap() {
        let exp = &e["expected"];
        if e["origin"] != "synthetic"
            || e["identity"]["test_name"] != test
            || exp["domain"] != "web.whatsapp.com"
            || !seen.insert(e["identity"].to_string())
        {
            continue;
        }
        let cell = (
            e["day"].as_str().unwrap().to_owned(),
            e["asn"].as_u64().unwrap() as u32,
        );
        let entry = cells.entry(cell).or_default();
        entry.0 += 1;
        if exp[stage] == "fail" {
            entry.1 += 1;
        }
    }
    cells
}

fn rates(out: &std::path::Path, test: &str, stage: &str) -> BTreeMap<Cell, (u64, u64)> {
    counts(out, test, "web.whatsapp.com", stage, "failure_count")
}

/// Per (day, asn): `measurement_count` and `column` of `failure_rates` for the cell.
fn counts(
    out: &std::path::Path,
    test: &str,
    domain: &str,
    stage: &str,
    column: &str,
) -> BTreeMap<Cell, (u64, u64)> {
    read_table(&out.join("failure_rates"))
        .into_iter()
        .filter(|r| {
            get(r, "test_name") == Some(test)
                && get(r, "domain") == Some(domain)
                && get(r, "stage") == Some(stage)
        })
        .map(|r| {
            let cell = (
                get(&r, "measurement_day").unwrap().to_owned(),
                get(&r, "probe_asn").unwrap().parse().unwrap(),
            );
            let n = get(&r, "measurement_count").unwrap().parse().unwrap();
            let f = get(&r, column).unwrap().parse().unwrap();
            (cell, (n, f))
        })
        .collect()
}

/// `(failure, blocked)` counts per cell, for one stage.
fn failures_and_blocks(
    out: &std::path::Path,
    test: &str,
    domain: &str,
    stage: &str,
) -> BTreeMap<Cell, (u64, u64)> {
    let failures = counts(out, test, domain, stage, "failure_count");
    let blocks = counts(out, test, domain, stage, "blocked_count");
    failures
        .into_iter()
        .map(|(cell, (_, f))| (cell.clone(), (f, blocks[&cell].1)))
        .collect()
}

#[test]
fn whatsapp_shows_sni_filtering_per_asn_and_day_inside_the_window_only() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("az");
    run_azerbaijan(&out);
    let window = &manifest()["blocking_window"];
    let (first, last) = (
        window["first_blocked_day"].as_str().unwrap(),
        window["last_blocked_day"].as_str().unwrap(),
    );

    // whatsapp: TCP to web.whatsapp.com never fails; TLS fails exactly where the scenario
    // blocked it; `any` equals TLS because nothing failed before it.
    let tls = rates(&out, "whatsapp", "tls");
    assert_eq!(tls, expected("whatsapp", "tls"));
    assert_eq!(rates(&out, "whatsapp", "any"), tls);
    for ((day, asn), (n, f)) in &rates(&out, "whatsapp", "tcp") {
        assert_eq!(*f, 0, "{day} AS{asn}: tcp failures out of {n}");
    }
    let mut inside = 0;
    for ((day, asn), (n, f)) in &tls {
        let blocked = day.as_str() >= first && day.as_str() <= last;
        assert_eq!(*f, if blocked { *n } else { 0 }, "{day} AS{asn}: {f}/{n}");
        inside += u64::from(blocked);
    }
    assert!(inside >= 20, "cells inside the window: {inside}");

    // Every TLS failure is judged blocked (the test itself says whatsapp_web_status
    // "blocked"), with a TLS kind; TCP, DNS and the plain-HTTP check are never blocked.
    for ((day, asn), (f, b)) in &failures_and_blocks(&out, "whatsapp", "web.whatsapp.com", "tls") {
        assert_eq!(b, f, "{day} AS{asn}: blocked {b} of {f} failures");
    }
    for stage in ["dns", "tcp", "http"] {
        let cells = failures_and_blocks(&out, "whatsapp", "web.whatsapp.com", stage);
        assert!(!cells.is_empty(), "{stage}");
        for ((day, asn), (f, b)) in &cells {
            assert_eq!((*f, *b), (0, 0), "{stage} {day} AS{asn}");
        }
    }
    let kinds: BTreeSet<String> = read_table(&out.join("failure_rates"))
        .into_iter()
        .filter(|r| get(r, "test_name") == Some("whatsapp") && get(r, "stage") == Some("tls"))
        .filter_map(|r| get(&r, "top_blocking_kind").map(str::to_owned))
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["tls.reset".to_owned(), "tls.timeout".to_owned()])
    );
    // The endpoints pool (WhatsApp's any_of role) is never blocked: SNI filtering spares
    // the chat endpoints.
    for ((day, asn), (n, b)) in &counts(
        &out,
        "whatsapp",
        "whatsapp/endpoints",
        "any",
        "blocked_count",
    ) {
        assert!(*n > 0 && *b == 0, "{day} AS{asn}");
    }

    // web_connectivity 0.1.0 has no TLS records: the https request that failed after a
    // successful TCP connect is the TLS failure (the manifest calls it the https stage),
    // blocked because the control fetched the page.
    assert_eq!(
        rates(&out, "web_connectivity", "tls"),
        expected("web_connectivity", "https")
    );
    for ((day, asn), (f, b)) in
        &failures_and_blocks(&out, "web_connectivity", "web.whatsapp.com", "tls")
    {
        assert_eq!(b, f, "{day} AS{asn}");
    }
    for ((day, asn), (_, f)) in &rates(&out, "web_connectivity", "tcp") {
        assert_eq!(*f, 0, "{day} AS{asn}");
    }
    // The TLS stage of web_connectivity 0.1.0 is inferred, and says so.
    let outcomes = read_table(&out.join("outcomes"));
    let wc_tls: Vec<_> = outcomes
        .iter()
        .filter(|r| {
            get(r, "test_name") == Some("web_connectivity")
                && get(r, "domain") == Some("web.whatsapp.com")
                && get(r, "stage") == Some("tls")
        })
        .collect();
    assert!(!wc_tls.is_empty());
    assert!(wc_tls.iter().all(|r| get(r, "inferred") == Some("true")));
}

/// ooni_counts and failure_rates meet on (day, country, ASN, test, domain): for
/// web_connectivity the domain of both is the input's, and OONI's anomalies are the
/// measurements blocked at some stage. The IM tests have no domain in ooni_counts (OONI's
/// API keys them by input, which they lack); their failure_rates rows per host (and per
/// pool: `whatsapp/endpoints`, `telegram/dc_pool`) carry the detail.
#[test]
fn ooni_counts_and_failure_rates_join_on_the_input_domain() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("az");
    run_azerbaijan(&out);
    let key = |r: &Row| {
        (
            get(r, "measurement_day").unwrap().to_owned(),
            get(r, "probe_asn").unwrap().to_owned(),
            get(r, "test_name").unwrap().to_owned(),
            get(r, "domain").map(str::to_owned),
        )
    };
    let any: BTreeMap<_, _> = read_table(&out.join("failure_rates"))
        .into_iter()
        .filter(|r| get(r, "stage") == Some("any"))
        .map(|r| (key(&r), r))
        .collect();
    let counts = read_table(&out.join("ooni_counts"));
    let mut joined = 0;
    for c in counts
        .iter()
        .filter(|c| get(c, "test_name") == Some("web_connectivity"))
    {
        let r = any
            .get(&key(c))
            .unwrap_or_else(|| panic!("no failure_rates row for {:?}", key(c)));
        let n = |row: &Row, col: &str| -> u64 { get(row, col).unwrap().parse().unwrap() };
        assert_eq!(n(c, "measurement_count"), n(r, "measurement_count"));
        assert_eq!(n(c, "anomaly_count"), n(r, "blocked_count"), "{:?}", key(c));
        joined += 1;
    }
    assert!(joined >= 40, "joined cells: {joined}");
    // No web_connectivity row of failure_rates lacks its ooni_counts partner.
    let count_keys: BTreeSet<_> = counts.iter().map(&key).collect();
    for k in any.keys().filter(|k| k.2 == "web_connectivity") {
        assert!(count_keys.contains(k), "{k:?}");
    }
    // whatsapp: OONI's anomalies are the measurements whose web check is blocked.
    for c in counts
        .iter()
        .filter(|c| get(c, "test_name") == Some("whatsapp"))
    {
        assert_eq!(get(c, "domain"), None);
        let (day, asn, test, _) = key(c);
        let web = &any[&(day, asn, test, Some("web.whatsapp.com".to_owned()))];
        assert_eq!(
            get(c, "anomaly_count"),
            get(web, "blocked_count"),
            "{:?}",
            key(c)
        );
    }
}
