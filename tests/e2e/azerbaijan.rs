//! The synthetic Azerbaijan-2020 scenario: per ASN and day, the failure rates show SNI
//! filtering of web.whatsapp.com (TCP fine, TLS failing) inside the blocking window only.
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
    read_table(&out.join("failure_rates"))
        .into_iter()
        .filter(|r| {
            get(r, "test_name") == Some(test)
                && get(r, "domain") == Some("web.whatsapp.com")
                && get(r, "stage") == Some(stage)
        })
        .map(|r| {
            let cell = (
                get(&r, "measurement_day").unwrap().to_owned(),
                get(&r, "probe_asn").unwrap().parse().unwrap(),
            );
            let n = get(&r, "measurement_count").unwrap().parse().unwrap();
            let f = get(&r, "failure_count").unwrap().parse().unwrap();
            (cell, (n, f))
        })
        .collect()
}

#[test]
fn whatsapp_shows_sni_filtering_per_asn_and_day_inside_the_window_only() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("az");
    let output = pipeline(&[
        "run",
        "--config",
        "pipelines/azerbaijan-2020.toml",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
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

    // web_connectivity 0.1.0 has no TLS records: the https request that failed after a
    // successful TCP connect is the TLS failure (the manifest calls it the https stage).
    assert_eq!(
        rates(&out, "web_connectivity", "tls"),
        expected("web_connectivity", "https")
    );
    for ((day, asn), (_, f)) in &rates(&out, "web_connectivity", "tcp") {
        assert_eq!(*f, 0, "{day} AS{asn}");
    }
}
