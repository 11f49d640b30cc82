//! Blocking events, the country report and the CSV export on the synthetic Azerbaijan-2020
//! scenario, through the real binary: `run` writes `blocking_events/`, `report` writes a
//! page that headless Chromium renders, `export` writes CSV, and the analyst notebook
//! `notebooks/azerbaijan-2020.ipynb` runs against the output.
//!
//! Expectations come from examples/sample-manifest.json, written by the sample generator
//! from the scenario it built (which targets it blocks on which networks, from which day to
//! which day, and when each series was measured), never from the detector's output.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

/// (test, domain, asn)
type Target = (String, String, u32);

/// Per target, its measurement days and whether each day had a blocked measurement.
fn scenario_targets() -> BTreeMap<Target, BTreeMap<String, bool>> {
    let mut targets: BTreeMap<Target, BTreeMap<String, bool>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for e in manifest()["entries"].as_array().unwrap() {
        if e["origin"] != "synthetic" || e["asn"].is_null() {
            continue;
        }
        // One measurement appears in several files (twins, the 10-20 overlap, .x copies).
        if !seen.insert(e["content_sha256"].as_str().unwrap().to_owned()) {
            continue;
        }
        let test = e["identity"]["test_name"].as_str().unwrap().to_owned();
        let asn = e["asn"].as_u64().unwrap() as u32;
        let day = e["day"].as_str().unwrap().to_owned();
        let mut per_domain = vec![&e["expected"]];
        per_domain.extend(e["expected_other"].as_array().unwrap());
        for exp in per_domain {
            let domain = exp["domain"].as_str().unwrap().to_owned();
            let blocked = ["dns", "tcp", "tls", "http", "https"]
                .iter()
                .any(|s| exp[*s] == "fail");
            *targets
                .entry((test.clone(), domain, asn))
                .or_default()
                .entry(day.clone())
                .or_default() |= blocked;
        }
    }
    targets
}

/// Every row of every file of `blocking_events` in a fresh output directory (no user files
/// there), values as text (dates `YYYY-MM-DD`, lists `[a, b]`).
fn read_events(out: &Path) -> Vec<Row> {
    let dir = out.join("blocking_events");
    assert!(dir.is_dir(), "no blocking_events/ in {}", out.display());
    read_table(&dir)
}

#[test]
fn blocking_events_match_the_azerbaijan_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("az");
    run_azerbaijan(&out);
    let events = read_events(&out);
    let window = &manifest()["blocking_window"];
    let first_blocked = window["first_blocked_day"].as_str().unwrap();
    let first_unblocked = window["first_unblocked_day_after"].as_str().unwrap();
    let names: BTreeMap<u32, String> = manifest()["asns"]
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
    let day = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let near = |a: &str, b: chrono::NaiveDate| (day(a) - b).num_days().abs() <= 1;
    // Social media: its own onset, on some networks only (manifest `social_media`).
    let social = &window["social_media"];
    let social_first = social["first_blocked_day"].as_str().unwrap();
    let social_domains: BTreeSet<String> = social["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_owned())
        .collect();
    let social_blocked_asns: BTreeSet<u32> = social["blocked_asns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_u64().unwrap() as u32)
        .collect();
    assert!(!social_domains.is_empty() && !social_blocked_asns.is_empty());

    let mut by_target: BTreeMap<Target, Vec<&Row>> = BTreeMap::new();
    for e in &events {
        assert_eq!(get(e, "probe_cc"), Some("AZ"));
        let target = (
            get(e, "test_name").unwrap().to_owned(),
            get(e, "domain").unwrap_or("").to_owned(),
            get(e, "probe_asn").unwrap().parse().unwrap(),
        );
        by_target.entry(target).or_default().push(e);
    }
    let targets = scenario_targets();
    // Nothing the scenario did not block has an event: the control site, the WhatsApp
    // endpoints, the Telegram DCs, and blocked targets on networks where they are not.
    for (target, list) in &by_target {
        let days = targets.get(target).unwrap_or_else(|| {
            panic!("event on a target the scenario does not measure: {target:?}")
        });
        assert!(
            days.values().any(|b| *b),
            "event on {target:?}, which the scenario never blocks: {list:?}"
        );
    }
    let mut blocked_targets = 0;
    for (target, days) in &targets {
        if !days.values().any(|b| *b) {
            assert!(
                !by_target.contains_key(target),
                "{target:?} is never blocked"
            );
            continue;
        }
        blocked_targets += 1;
        let list = by_target
            .get(target)
            .unwrap_or_else(|| panic!("no event for blocked {target:?}"));
        // One block is one event per series (not OONI's flapping alerts), at TLS: the
        // scenario's SNI filtering (TCP fine, the handshake fails).
        assert_eq!(list.len(), 1, "{target:?}: {list:?}");
        let e = list[0];
        assert_eq!(get(e, "stage"), Some("tls"), "{target:?}");
        let onset = if social_domains.contains(&target.1) {
            social_first
        } else {
            first_blocked
        };
        assert!(
            near(get(e, "onset_day").unwrap(), day(onset)),
            "{target:?}: onset {:?}, the scenario blocks from {onset}",
            get(e, "onset_day")
        );
        assert_eq!(
            get(e, "probe_network_name"),
            names.get(&target.2).map(String::as_str)
        );
        assert!(
            get(e, "witness_uids").is_some_and(|w| w.len() > 2),
            "{target:?} has witnesses"
        );
        // The end: 2020-11-12 ± 1 day when the scenario measured the series after the
        // window; ongoing (null) when it did not — no day back to normal was ever seen.
        let after: Vec<&String> = days
            .keys()
            .filter(|d| d.as_str() >= first_unblocked)
            .collect();
        let last_in_window_blocked = days
            .range(..first_unblocked.to_owned())
            .next_back()
            .is_some_and(|(_, b)| *b);
        match (after.first(), get(e, "end_day")) {
            (None, end) => assert_eq!(end, None, "{target:?} is never measured after the window"),
            (Some(_), None) => panic!("{target:?} measured unblocked after the window, no end"),
            (Some(first_after), Some(end)) if last_in_window_blocked => {
                let expected = day(first_unblocked) + chrono::Duration::days(1);
                assert!(
                    near(end, expected),
                    "{target:?}: end {end} vs 2020-11-12 ± 1"
                );
                assert!(end <= first_after.as_str());
            }
            (Some(first_after), Some(end)) => {
                // The series' last measurement in the window is one of the scenario's "few
                // successful Telegram tests": the end lies after the last blocked day.
                let last_blocked = days.iter().filter(|(_, b)| **b).map(|(d, _)| d).next_back();
                assert_eq!(
                    get(e, "end_last_blocked_day"),
                    last_blocked.map(String::as_str)
                );
                assert!(end <= first_after.as_str(), "{target:?}");
            }
        }
    }
    // WhatsApp (2 SNIs), Telegram and web.whatsapp.com on 5 networks, plus each
    // social-media site on the networks that block it.
    assert_eq!(
        blocked_targets,
        20 + social_domains.len() * social_blocked_asns.len()
    );
    // Each social-media site: an event starting within a day of its onset on exactly the
    // networks the scenario blocks it on.
    for domain in &social_domains {
        let asns: BTreeSet<u32> = by_target
            .iter()
            .filter(|((t, d, _), _)| t == "web_connectivity" && d == domain)
            .map(|((_, _, a), list)| {
                for e in list {
                    assert!(
                        near(get(e, "onset_day").unwrap(), day(social_first)),
                        "{domain} AS{a}: onset {:?} vs {social_first}",
                        get(e, "onset_day")
                    );
                }
                *a
            })
            .collect();
        assert_eq!(
            asns, social_blocked_asns,
            "{domain}: networks with an event"
        );
    }
    // WhatsApp and Telegram: measured on every network after the window, so every
    // network's event ends 2020-11-11/12 (± 1 day).
    let im_after = &window["im_measured_after_window"];
    assert!(!im_after["days"].as_array().unwrap().is_empty());
    for test in im_after["tests"].as_array().unwrap() {
        let test = test.as_str().unwrap();
        for asn in names.keys() {
            let ends: Vec<Option<&str>> = by_target
                .iter()
                .filter(|((t, _, a), _)| t == test && a == asn)
                .flat_map(|(_, list)| list.iter().map(|e| get(e, "end_day")))
                .collect();
            assert!(!ends.is_empty(), "{test} AS{asn}: no event");
            for end in ends {
                let end = end.unwrap_or_else(|| panic!("{test} AS{asn}: no end"));
                assert!(
                    day(end) >= day(first_unblocked) - chrono::Duration::days(1)
                        && day(end) <= day(first_unblocked) + chrono::Duration::days(2),
                    "{test} AS{asn}: end {end} vs {first_unblocked}/12 ± 1"
                );
            }
        }
    }
    // One national block per onset: at most one group per distinct scenario onset.
    let groups: BTreeSet<Option<&str>> = events.iter().map(|e| get(e, "group_id")).collect();
    let onsets: BTreeSet<&str> = [first_blocked, social_first].into_iter().collect();
    assert!(
        !groups.is_empty() && groups.len() <= onsets.len(),
        "{groups:?}"
    );

    // Stable across reruns: a second run (nothing new to read) leaves the same events.
    run_azerbaijan(&out);
    let mut again = read_events(&out);
    let mut first = events.clone();
    again.sort();
    first.sort();
    assert_eq!(first, again);
}

/// Runs `chromium --headless` with `args` on `page`; returns stdout.
fn chromium(page: &Path, args: &[&str]) -> String {
    let output = Command::new("chromium")
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--hide-scrollbars",
        ])
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium (Debian package `chromium`; `make test-deps` installs it)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The text from `start` to the next `end`.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap_or_else(|| panic!("no {start}"));
    let rest = &text[from..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

#[test]
fn the_sample_report_opens_offline_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sample");
    let run = run_command(&["run", "--config", "pipelines/sample.toml"], &out);
    assert!(matches!(run.status, 0 | 3), "{}", run.stderr);
    let report = pipeline(&["report", "--out", out.to_str().unwrap(), "--probe-cc", "AZ"]);
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let page: PathBuf = out.join("report/AZ.html");
    let html = std::fs::read_to_string(&page).unwrap();
    // Opens offline: nothing to fetch.
    assert!(!html.contains("<script"));
    for external in ["src=\"http", "<link", "@import", "url("] {
        assert!(!html.contains(external), "{external}");
    }

    let dom = chromium(&page, &["--dump-dom"]);
    let heatmaps = between(&dom, "<section id=\"heatmaps\"", "</section>");
    assert!(
        heatmaps.matches("<svg").count() >= 4,
        "the legend and heatmaps"
    );
    assert!(heatmaps.matches("<rect").count() > 1000, "heatmap cells");
    let networks = between(&dom, "<table class=\"networks\"", "</table>");
    assert_eq!(
        networks.matches("<tr").count(),
        1 + 5,
        "a header and five networks"
    );
    for asn in manifest()["asns"].as_array().unwrap() {
        let name = asn["probe_network_name"].as_str().unwrap();
        assert!(networks.contains(name), "{name}");
    }
    for app in ["WhatsApp", "Telegram", "web.whatsapp.com"] {
        assert!(networks.contains(app), "{app}");
    }
    assert!(networks.contains("2020-09-27") && networks.contains("TLS handshake blocked"));
    let events = between(&dom, "<table class=\"events\"", "</table>");
    assert!(events.matches("<tr").count() > 10);
    assert!(events.contains("https://explorer.ooni.org/m/2020"));

    let shot = dir.path().join("report-az.png");
    chromium(
        &page,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1400,2000",
        ],
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 100_000,
        "{} bytes",
        png.len()
    );
    // `OONI_UPDATE_SCREENSHOT=1` refreshes the README's picture from this very page.
    if std::env::var_os("OONI_UPDATE_SCREENSHOT").is_some() {
        std::fs::write(repo().join("docs/report-az.png"), png).unwrap();
    }
}

#[test]
fn export_writes_csv_filtered_by_country_and_days() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("az");
    run_azerbaijan(&out);
    let export = |table: &str, extra: &[&str]| {
        let mut args = vec![
            "export",
            "--out",
            out.to_str().unwrap(),
            "--table",
            table,
            "--format",
            "csv",
        ];
        args.extend_from_slice(extra);
        let output = pipeline(&args);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let csv = export(
        "failure_rates",
        &[
            "--probe-cc",
            "AZ",
            "--since",
            "2020-09-27",
            "--until",
            "2020-09-29",
        ],
    );
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&header[..6], ooni_aggregate_keys());
    let rows: Vec<&str> = lines.collect();
    let expected = read_table(&out.join("failure_rates"))
        .into_iter()
        .filter(|r| matches!(get(r, "measurement_day"), Some("2020-09-27" | "2020-09-28")))
        .count();
    assert_eq!(rows.len(), expected);
    assert!(
        rows.iter()
            .all(|r| r.starts_with("2020-09-27,AZ,") || r.starts_with("2020-09-28,AZ,"))
    );

    let csv = export("blocking_events", &["--probe-cc", "AZ"]);
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("event_id,"));
    assert_eq!(lines.count(), read_events(&out).len());
    // Another country: the header only.
    assert_eq!(
        export("blocking_events", &["--probe-cc", "RU"])
            .lines()
            .count(),
        1
    );
}

fn ooni_aggregate_keys() -> [&'static str; 6] {
    [
        "measurement_day",
        "probe_cc",
        "probe_asn",
        "test_name",
        "domain",
        "stage",
    ]
}

#[test]
fn the_azerbaijan_notebook_runs_against_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("az");
    run_azerbaijan(&out);
    let output = Command::new("python3")
        .arg(repo().join("tests/notebooks/run.py"))
        .arg(repo().join("notebooks/azerbaijan-2020.ipynb"))
        .arg(&out)
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the notebook failed (`make test-deps` installs nbclient):\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
