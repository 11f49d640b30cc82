//! The detector on the synthetic Azerbaijan-2020 scenario, run through the real pipeline
//! binary named by `OONI_PIPELINE_BIN` (the e2e suite, `tests/e2e/report.rs`, runs the same
//! checks through `ooni-pipeline run` with the blocking_events table the CLI writes).
//!
//! Every expectation comes from `examples/sample-manifest.json`, which the sample generator
//! wrote from the scenario it built: which (test, domain, ASN) it blocked, from which day to
//! which day, and which days each series was measured on. None comes from the detector.

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// (test, domain, asn)
type Target = (String, String, u32);

/// What the scenario says about one target on one ASN.
#[derive(Debug, Default)]
struct Truth {
    /// Measurement days, and whether that day's measurements include a blocked one.
    days: BTreeMap<NaiveDate, bool>,
}

struct Scenario {
    first_blocked: NaiveDate,
    first_unblocked: NaiveDate,
    /// Social-media domains and their own first blocked day (manifest `social_media`).
    social_domains: BTreeSet<String>,
    social_first_blocked: NaiveDate,
    targets: BTreeMap<Target, Truth>,
    network_names: BTreeMap<u32, String>,
}

fn scenario() -> Scenario {
    let text = std::fs::read_to_string(repo().join("examples/sample-manifest.json")).unwrap();
    let manifest: Value = serde_json::from_str(&text).unwrap();
    let window = &manifest["blocking_window"];
    let mut targets: BTreeMap<Target, Truth> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for e in manifest["entries"].as_array().unwrap() {
        if e["origin"] != "synthetic" || e["asn"].is_null() {
            continue;
        }
        // One measurement appears in several files (twins, overlaps, duplicates).
        if !seen.insert(e["content_sha256"].as_str().unwrap().to_owned()) {
            continue;
        }
        let test = e["identity"]["test_name"].as_str().unwrap().to_owned();
        let asn = e["asn"].as_u64().unwrap() as u32;
        let d = day(e["day"].as_str().unwrap());
        let mut per_domain = vec![&e["expected"]];
        per_domain.extend(e["expected_other"].as_array().unwrap());
        for exp in per_domain {
            let domain = exp["domain"].as_str().unwrap().to_owned();
            let blocked = ["dns", "tcp", "tls", "http", "https"]
                .iter()
                .any(|s| exp[*s] == "fail");
            let truth = targets.entry((test.clone(), domain, asn)).or_default();
            *truth.days.entry(d).or_default() |= blocked;
        }
    }
    let network_names = manifest["asns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["asn"].as_u64().unwrap() as u32,
                a["probe_network_name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    Scenario {
        first_blocked: day(window["first_blocked_day"].as_str().unwrap()),
        first_unblocked: day(window["first_unblocked_day_after"].as_str().unwrap()),
        social_domains: window["social_media"]["domains"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_owned())
            .collect(),
        social_first_blocked: day(window["social_media"]["first_blocked_day"]
            .as_str()
            .unwrap()),
        targets,
        network_names,
    }
}

fn run_pipeline(bin: &str, out: &Path) {
    let status = std::process::Command::new(bin)
        .args(["run", "--config", "pipelines/azerbaijan-2020.toml", "--out"])
        .arg(out)
        .current_dir(repo())
        .status()
        .unwrap();
    assert!(status.success(), "{bin} run failed: {status}");
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
#[ignore = "needs OONI_PIPELINE_BIN (a built ooni-pipeline); tests/e2e/report.rs runs the same checks with the real binary"]
fn azerbaijan_events_match_the_scenario() {
    let bin = std::env::var("OONI_PIPELINE_BIN").expect("OONI_PIPELINE_BIN");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("az");
    run_pipeline(&bin, &out);
    let inputs = ooni_events::Inputs {
        failure_rates: files(&out.join("failure_rates")),
        outcomes: files(&out.join("outcomes")),
        measurements: files(&out.join("measurements")),
    };
    let events = ooni_events::detect_files(&inputs, &ooni_events::Params::default()).unwrap();
    for e in &events {
        eprintln!(
            "{} {} AS{} {} {:?} {} onset {:?}..{} end {}..{:?} ({:?}) {}/{} group {} {:?}",
            e.event_id,
            e.key.probe_cc,
            e.key.probe_asn,
            e.key.test_name,
            e.key.domain,
            e.key.stage,
            e.episode.onset_last_clean_day,
            e.episode.onset_day,
            e.episode.end_last_blocked_day,
            e.episode.end_day,
            e.episode.end_confirmed,
            e.episode.inside.positives,
            e.episode.inside.measurements,
            e.group_id,
            e.witnesses,
        );
    }
    check(&scenario(), &events);

    // Deterministic: a second detection over the same files gives the same table.
    let again = ooni_events::detect_files(&inputs, &ooni_events::Params::default()).unwrap();
    assert_eq!(events, again);
}

fn check(s: &Scenario, events: &[ooni_events::Event]) {
    let mut by_target: BTreeMap<Target, Vec<&ooni_events::Event>> = BTreeMap::new();
    for e in events {
        assert_eq!(e.key.probe_cc, "AZ");
        let target = (
            e.key.test_name.clone(),
            e.key.domain.clone().unwrap_or_default(),
            e.key.probe_asn,
        );
        by_target.entry(target).or_default().push(e);
    }
    // Nothing the scenario did not block has an event (the control site, the eN endpoints,
    // the Telegram DCs, and blocked targets on no other network).
    for (target, list) in &by_target {
        let truth = s.targets.get(target).unwrap_or_else(|| {
            panic!("event on a target the scenario does not measure: {target:?}")
        });
        assert!(
            truth.days.values().any(|b| *b),
            "event on {target:?}, which the scenario never blocks: {list:#?}"
        );
    }
    let tolerance = chrono::Duration::days(1);
    for (target, truth) in &s.targets {
        if !truth.days.values().any(|b| *b) {
            assert!(
                !by_target.contains_key(target),
                "{target:?} is never blocked"
            );
            continue;
        }
        let list = by_target
            .get(target)
            .unwrap_or_else(|| panic!("no event for blocked {target:?}"));
        // One block is one event per series, at the stage where it shows (TLS: the SNI
        // filtering of the scenario), not a flapping list.
        assert_eq!(list.len(), 1, "{target:?}: {list:#?}");
        let e = list[0];
        assert_eq!(e.key.stage, "tls", "{target:?}");
        let first_blocked = if s.social_domains.contains(&target.1) {
            s.social_first_blocked
        } else {
            s.first_blocked
        };
        assert!(
            (e.episode.onset_day - first_blocked).abs() <= tolerance,
            "{target:?} onset {} vs scenario {}",
            e.episode.onset_day,
            first_blocked
        );
        // The scenario unblocks on first_unblocked; whether a series can show it depends on
        // whether it was measured after that day, which the manifest says.
        let measured_after: Vec<NaiveDate> = truth
            .days
            .range(s.first_unblocked..)
            .map(|(d, _)| *d)
            .collect();
        // The end the issue asks for: 2020-11-12 ± 1 day (the scenario's first unblocked
        // day, 11-11, and the day after, when a series was not measured on 11-11).
        let expected_end = s.first_unblocked + chrono::Duration::days(1);
        match measured_after.first() {
            None => assert_eq!(
                e.episode.end_day, None,
                "{target:?} has no measurement after the window: the event is ongoing"
            ),
            Some(_) => {
                let last_in_window_blocked = truth
                    .days
                    .range(..s.first_unblocked)
                    .next_back()
                    .is_some_and(|(_, b)| *b);
                let end = e.episode.end_day.unwrap_or_else(|| {
                    panic!("{target:?} measured unblocked after the window, but no end")
                });
                if last_in_window_blocked {
                    assert!(
                        (end - expected_end).abs() <= tolerance,
                        "{target:?} end {end} vs 2020-11-12 ± 1"
                    );
                } else {
                    // The series' last measurements inside the window are not blocked (the
                    // scenario no longer has such series): the end lies between the last
                    // blocked measurement and the first measurement after the window.
                    let last_blocked = truth
                        .days
                        .iter()
                        .filter(|(_, b)| **b)
                        .map(|(d, _)| *d)
                        .next_back()
                        .unwrap();
                    assert!(
                        end > last_blocked && end <= measured_after[0],
                        "{target:?} {end}"
                    );
                    assert_eq!(e.episode.end_last_blocked_day, last_blocked, "{target:?}");
                }
            }
        }
        assert_eq!(
            e.probe_network_name.as_deref(),
            s.network_names.get(&target.2).map(String::as_str),
            "{target:?}"
        );
        assert!(!e.witnesses.is_empty(), "{target:?} has no witness");
    }
    // WhatsApp and Telegram on every ASN share one TLS group: one national block.
    let groups: BTreeSet<&str> = events
        .iter()
        .filter(|e| e.key.test_name != "web_connectivity")
        .map(|e| e.group_id.as_str())
        .collect();
    assert_eq!(groups.len(), 1, "{groups:?}");
}
