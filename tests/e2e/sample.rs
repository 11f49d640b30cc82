//! A run over the whole embedded sample.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};

use serde_json::Value;

use crate::support::*;

/// A run over the whole sample, its output removed when the test drops it. (Not shared
/// through a static: statics are never dropped, so their temporary directory would outlive
/// the test process, and nextest runs each test in a process of its own anyway.)
fn sample_run() -> Run {
    run_sample(&sample_bucket(), &[])
}

/// Manifest entries in the archives the pipeline reads: raw/ jsonl.gz twins are not read,
/// because their postcan holds the same measurements with OONI's uid.
fn read_entries() -> Vec<&'static Value> {
    manifest()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| !(e["layout"] == "raw" && e["key"].as_str().unwrap().ends_with(".jsonl.gz")))
        .collect()
}

/// `(key, "line N" | "member M")`, the position of a record.
fn position(key: &str, line: Option<&str>, member: Option<&str>) -> (String, String) {
    match (line, member) {
        (Some(l), _) => (key.to_owned(), format!("line {l}")),
        (None, Some(m)) => (key.to_owned(), format!("member {m}")),
        (None, None) => (key.to_owned(), String::new()),
    }
}

fn entry_position(e: &Value) -> (String, String) {
    let line = e["line"].as_u64().map(|l| l.to_string());
    position(
        e["key"].as_str().unwrap(),
        line.as_deref(),
        e["member"].as_str(),
    )
}

#[test]
fn sample_run_is_balanced_and_writes_the_contract_layout() {
    let run = &sample_run();
    // Every fixture becomes a row (the 2015 ones without measurement_start_time or
    // probe_asn too, as OONI normalizes them): nothing is rejected.
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_balanced(&run.summary);
    for table in ["measurements", "failure_rates", "ooni_counts"] {
        assert!(!parquet_files(&run.out.join(table)).is_empty(), "{table}");
    }
    for file in parquet_files(&run.out.join("measurements")) {
        let rel = file.strip_prefix(run.out.join("measurements")).unwrap();
        let parts: Vec<_> = rel.iter().map(|p| p.to_str().unwrap()).collect();
        assert!(parts[0].starts_with("test_name="), "{rel:?}");
        assert!(parts[1].starts_with("measurement_day="), "{rel:?}");
        assert_eq!(parts.len(), 3);
    }
    assert_eq!(
        std::fs::read_dir(run.out.join("_runs")).unwrap().count(),
        1,
        "one summary per run"
    );
    // Every record the manifest lists in the archives that were read was read.
    assert_eq!(
        run.summary["counts"]["records_read"].as_u64().unwrap(),
        read_entries().len() as u64
    );
}

#[test]
fn every_real_fixture_becomes_a_row_or_a_reject() {
    let run = &sample_run();
    let fixtures: BTreeSet<String> = std::fs::read_dir(repo().join("tests/fixtures/ooni-real"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    assert_eq!(fixtures.len(), 206);
    let origin: BTreeMap<(String, String), &Value> = read_entries()
        .into_iter()
        .map(|e| (entry_position(e), e))
        .collect();

    let mut accounted = BTreeSet::new();
    for row in read_table(&run.out.join("measurements")) {
        let pos = position(
            get(&row, "source_key").unwrap(),
            get(&row, "source_line"),
            get(&row, "source_member"),
        );
        let e = origin
            .get(&pos)
            .unwrap_or_else(|| panic!("row from unknown {pos:?}"));
        accounted.insert(e["origin"].as_str().unwrap().to_owned());
    }
    for reject in rejects(run) {
        let line = reject["source_line"].as_u64().map(|l| l.to_string());
        let pos = position(
            reject["source_key"].as_str().unwrap(),
            line.as_deref(),
            reject["source_member"].as_str(),
        );
        let e = origin[&pos];
        let reason = reject["reason"].as_str().unwrap();
        // The only broken fixtures are spec examples without a start time or an ASN.
        assert_eq!(reason, "missing_field", "{reject}");
        let detail = reject["detail"].as_str().unwrap();
        if e["identity"]["measurement_start_time"].is_null() {
            assert!(detail.contains("measurement_start_time"), "{detail}");
        } else {
            assert!(detail.contains("probe_asn"), "{detail}");
        }
        accounted.insert(e["origin"].as_str().unwrap().to_owned());
    }
    let missing: Vec<_> = fixtures
        .iter()
        .filter(|f| !accounted.contains(&format!("fixture:{f}")))
        .collect();
    assert!(
        missing.is_empty(),
        "fixtures neither written nor rejected: {missing:?}"
    );
}

#[test]
fn each_measurement_is_written_once() {
    let run = &sample_run();
    let rows = read_table(&run.out.join("measurements"));
    let uids: BTreeSet<_> = rows
        .iter()
        .map(|r| get(r, "measurement_uid").unwrap())
        .collect();
    assert_eq!(uids.len(), rows.len(), "measurement_uid is unique");

    // The manifest's own identities: content for measurements with a report id, else the id.
    let rejected: BTreeSet<(String, String)> = rejects(run)
        .iter()
        .map(|r| {
            let line = r["source_line"].as_u64().map(|l| l.to_string());
            position(
                r["source_key"].as_str().unwrap(),
                line.as_deref(),
                r["source_member"].as_str(),
            )
        })
        .collect();
    let mut identities = BTreeSet::new();
    for e in read_entries() {
        if e.get("placeholder").is_some() || rejected.contains(&entry_position(e)) {
            continue;
        }
        let id = &e["identity"];
        let key = match id["report_id"].as_str() {
            Some(rid) if !rid.is_empty() => format!(
                "{rid}|{}|{}|{}",
                id["test_name"], id["input"], id["measurement_start_time"]
            ),
            _ => e["trivial_id"]
                .as_str()
                .or(e["measurement_uid"].as_str())
                .unwrap()
                .to_owned(),
        };
        identities.insert(key);
    }
    assert_eq!(rows.len(), identities.len());
    assert_eq!(
        run.summary["conservation"]["duplicates"].as_u64().unwrap()
            + rows.len() as u64
            + rejected.len() as u64
            + 1,
        read_entries().len() as u64,
        "duplicates + rows + rejects + the yaml post = records"
    );
}

#[test]
fn the_layout_overlap_keeps_oonis_postcan_uid() {
    let run = &sample_run();
    let rows = read_table(&run.out.join("measurements"));
    // One report holds several measurements (web_connectivity: one per input).
    let by_report: BTreeMap<(&str, Option<&str>), &Row> = rows
        .iter()
        .filter_map(|r| get(r, "report_id").map(|rid| ((rid, get(r, "input")), r)))
        .collect();
    let entries = manifest()["entries"].as_array().unwrap();
    let mut jsonl_ids = BTreeMap::new();
    for e in entries
        .iter()
        .filter(|e| e["layout"] == "jsonl" && e["origin"] == "synthetic")
    {
        jsonl_ids.insert(e["identity"]["report_id"].as_str().unwrap(), e);
    }
    let mut checked = 0;
    for e in entries
        .iter()
        .filter(|e| e["layout"] == "raw" && e["member"].is_string())
    {
        let rid = e["identity"]["report_id"].as_str().unwrap_or("");
        if !jsonl_ids.contains_key(rid) {
            continue;
        }
        // The same measurement is in jsonl/ (trivial id) and in a raw/ postcan (OONI's uid).
        let row = by_report[&(rid, e["identity"]["input"].as_str())];
        assert_eq!(get(row, "uid_source"), Some("postcan"));
        assert_eq!(get(row, "measurement_uid"), e["measurement_uid"].as_str());
        checked += 1;
    }
    assert!(
        checked >= 10,
        "the sample has overlap measurements ({checked})"
    );
}

#[test]
fn trivial_id_matches_oonis_derivation_computed_by_python() {
    // examples/make_sample.py computed each line's trivial_id with hashlib:
    // "01" + YYYYMMDD(measurement_start_time) + shake_128(line incl. "\n").hexdigest(15).
    let mut by_file: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for e in manifest()["entries"].as_array().unwrap() {
        if e["trivial_id"].is_string() {
            by_file
                .entry(e["key"].as_str().unwrap())
                .or_default()
                .push(e);
        }
    }
    let mut checked = 0;
    for (key, entries) in by_file {
        let file = std::fs::File::open(sample_bucket().join(key)).unwrap();
        let mut reader = BufReader::new(flate2::read::MultiGzDecoder::new(file));
        let mut lines = Vec::new();
        loop {
            let mut line = Vec::new();
            if reader.read_until(b'\n', &mut line).unwrap() == 0 {
                break;
            }
            lines.push(line);
        }
        for e in entries {
            let line = &lines[e["line"].as_u64().unwrap() as usize - 1];
            let day = e["identity"]["measurement_start_time"]
                .as_str()
                .and_then(ooni_normalize::parse_measurement_time)
                .map(|t| t.date());
            assert_eq!(
                ooni_normalize::trivial_id(line, day),
                e["trivial_id"].as_str().unwrap(),
                "{key}:{}",
                e["line"]
            );
            checked += 1;
        }
    }
    assert!(checked > 300, "{checked}");

    // And the rows that carry a trivial id carry that one.
    let run = &sample_run();
    let expected: BTreeMap<(String, String), &str> = manifest()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| Some((entry_position(e), e["trivial_id"].as_str()?)))
        .collect();
    for row in read_table(&run.out.join("measurements")) {
        if get(&row, "uid_source") == Some("trivial_id") {
            let pos = position(
                get(&row, "source_key").unwrap(),
                get(&row, "source_line"),
                None,
            );
            assert_eq!(get(&row, "measurement_uid"), Some(expected[&pos]));
        }
    }
}

#[test]
fn ooni_counts_partition_every_measurement_like_oonis_api() {
    let run = &sample_run();
    let counts = read_table(&run.out.join("ooni_counts"));
    assert!(!counts.is_empty());
    let n = |r: &Row, c: &str| get(r, c).unwrap().parse::<u64>().unwrap();
    let mut total = 0;
    for row in &counts {
        assert_eq!(
            n(row, "anomaly_count")
                + n(row, "confirmed_count")
                + n(row, "failure_count")
                + n(row, "ok_count"),
            n(row, "measurement_count"),
            "{row:?}"
        );
        total += n(row, "measurement_count");
    }
    // Every written measurement is counted once, except those OONI's fastpath drops.
    let rows = read_table(&run.out.join("measurements"));
    let kept = rows
        .iter()
        .filter(|r| get(r, "ooni_drop_reason").is_none())
        .count() as u64;
    assert_eq!(total, kept);
    assert!(
        kept < rows.len() as u64,
        "the sample has measurements OONI drops (ZZ, AS0, no report id)"
    );
    // Web tests are counted per input domain, messaging tests with a null domain, as OONI's API.
    assert!(
        counts
            .iter()
            .any(|r| get(r, "test_name") == Some("whatsapp") && get(r, "domain").is_none())
    );
    assert!(
        counts
            .iter()
            .any(|r| get(r, "test_name") == Some("web_connectivity")
                && get(r, "domain") == Some("web.whatsapp.com"))
    );
}

#[test]
fn the_summarys_worst_cells_add_up_from_failure_rates() {
    let run = &sample_run();
    let cells = run.summary["worst_cells"].as_array().unwrap();
    assert!(cells.len() >= 10, "{cells:?}");
    let rates = read_table(&run.out.join("failure_rates"));
    let n = |r: &Row, c: &str| get(r, c).map_or(0, |v| v.parse::<u64>().unwrap());
    let mut blocked_somewhere = false;
    for cell in cells {
        let asn = cell["probe_asn"].to_string();
        let mine: Vec<&Row> = rates
            .iter()
            .filter(|r| {
                get(r, "stage") == Some("any")
                    && get(r, "rollup") != Some("true")
                    && get(r, "probe_cc") == cell["probe_cc"].as_str()
                    && get(r, "probe_asn") == Some(asn.as_str())
                    && get(r, "test_name") == cell["test_name"].as_str()
                    && get(r, "domain") == cell["domain"].as_str()
            })
            .collect();
        for column in [
            "measurement_count",
            "failure_count",
            "blocked_count",
            "down_count",
        ] {
            let sum: u64 = mine.iter().map(|r| n(r, column)).sum();
            assert_eq!(cell[column].as_u64(), Some(sum), "{column} of {cell}");
        }
        let blocked = cell["blocked_count"].as_u64().unwrap();
        assert!(
            blocked + cell["down_count"].as_u64().unwrap()
                <= cell["failure_count"].as_u64().unwrap()
        );
        blocked_somewhere |= blocked > 0;
    }
    assert!(
        blocked_somewhere,
        "the Azerbaijan cells are blocked, not only failing"
    );
    // The console prints the same cells with their blocked and down counts.
    let console = std::process::Command::new(env!("CARGO_BIN_EXE_ooni-pipeline"))
        .args(["run", "--source"])
        .arg(sample_bucket())
        .args(["--since", "2014-01-01", "--until", "2026-01-01", "--out"])
        .arg(&run.out)
        .output()
        .unwrap();
    let stdout = String::from_utf8(console.stdout).unwrap();
    let header = stdout.lines().find(|l| l.starts_with("cc ")).unwrap();
    assert!(
        header.contains(" blocked ") && header.contains(" down "),
        "{header}"
    );
}

#[test]
fn reading_in_small_batches_gives_the_same_rows() {
    // --batch-mib 1 splits the 4 MB sample into several batches written one after the other;
    // duplicates across batches (the jsonl/raw overlap) must still keep OONI's postcan uid.
    let dir = tempfile::tempdir().unwrap();
    let batched = run_into(
        &sample_bucket(),
        &dir.path().join("batched"),
        &["--batch-mib", "1"],
    );
    assert_balanced(&batched.summary);
    let files = batched.summary["written_files"].as_array().unwrap();
    assert!(
        files
            .iter()
            .any(|f| f.as_str().unwrap().ends_with("-0003.parquet")),
        "several batches"
    );
    assert_eq!(all_rows(&batched.out), all_rows(&sample_run().out));
}

/// Every row of every table of the sample, as a row count and a digest per table: a change
/// to any row (a refactor of the normalizer, the verdict or the aggregates) fails here and
/// must be explained, then accepted with `cargo insta review`. On a mismatch the rows are
/// written to `$CARGO_TARGET_TMPDIR/sample-tables/<table>.jsonl`, to diff against a dump
/// made by the previous version (`git stash`, rerun this test, copy the directory).
#[test]
fn the_sample_tables_are_unchanged() {
    use sha2::{Digest, Sha256};
    let run = &sample_run();
    let dump = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sample-tables");
    std::fs::create_dir_all(&dump).unwrap();
    let mut summary = BTreeMap::new();
    for (table, rows) in all_rows(&run.out) {
        let mut text = String::new();
        for row in &rows {
            text.push_str(&serde_json::to_string(row).unwrap());
            text.push('\n');
        }
        std::fs::write(dump.join(format!("{table}.jsonl")), &text).unwrap();
        let digest = Sha256::digest(text.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        summary.insert(table, format!("{} rows, sha256 {hex}", rows.len()));
    }
    insta::assert_yaml_snapshot!(summary);
}
