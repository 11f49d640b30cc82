//! Nightly operation: crash safety, idempotent reruns, late uploads, hostile values.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::support::*;

fn args(out: &Path) -> Vec<String> {
    let mut args = crate::promises::az(&sample_bucket());
    args.extend(["--out".to_owned(), out.to_str().unwrap().to_owned()]);
    args
}

fn leftovers(out: &Path) -> Vec<PathBuf> {
    walk(out)
        .into_iter()
        .filter(|p| {
            let name = p.to_string_lossy();
            name.ends_with(".tmp") || name.contains("_staging")
        })
        .collect()
}

#[test]
fn a_run_killed_at_any_point_and_rerun_gives_the_uninterrupted_output() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference");
    assert!(
        pipeline(
            &args(&reference)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
        )
        .status
        .success()
    );
    let expected = all_rows(&reference);
    assert!(!expected["measurements"].is_empty());

    // After some archives; mid-way through writing partition files; after some files were
    // moved into place but before the manifest recorded them; while aggregating.
    for point in ["read:20", "write:7", "commit:30", "aggregate:5"] {
        let out = dir.path().join(point.replace(':', "-"));
        let flag = dir
            .path()
            .join(format!("{}.paused", point.replace(':', "-")));
        let mut child = start_paused(&crate::promises::az(&sample_bucket()), &out, point, &flag)
            .unwrap_or_else(|| panic!("{point}: exited before pausing"));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let rerun = pipeline(&args(&out).iter().map(String::as_str).collect::<Vec<_>>());
        assert!(
            rerun.status.success(),
            "{point}: {}",
            String::from_utf8_lossy(&rerun.stderr)
        );
        let stderr = String::from_utf8_lossy(&rerun.stderr);
        assert!(
            stderr.contains("stale lock"),
            "{point}: the dead run's lock is reported: {stderr}"
        );
        let got = all_rows(&out);
        for table in TABLES {
            assert_eq!(
                got[table], expected[table],
                "{point}: {table} differs from an uninterrupted run"
            );
        }
        assert!(leftovers(&out).is_empty(), "{point}: {:?}", leftovers(&out));
    }
}

#[test]
fn a_second_run_with_the_same_arguments_reads_nothing_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let first = run_into(&sample_bucket(), &out, &[]);
    let before = all_rows(&out);
    let second = run_into(&sample_bucket(), &out, &[]);
    assert!(first.summary["new_objects"].as_u64().unwrap() > 100);
    assert_eq!(second.summary["new_objects"], 0, "{}", second.stderr);
    assert_eq!(second.summary["counts"]["records_read"], 0);
    assert_eq!(second.summary["requests"]["get"], 0, "no object was opened");
    assert!(second.stderr.contains("0 new objects"), "{}", second.stderr);
    assert_eq!(before, all_rows(&out));
}

/// A gzip'd JSONL archive of `lines` at `key` under `bucket`.
pub fn put_jsonl(bucket: &Path, key: &str, lines: &[String]) {
    let path = bucket.join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for line in lines {
        gz.write_all(line.as_bytes()).unwrap();
        gz.write_all(b"\n").unwrap();
    }
    std::fs::write(path, gz.finish().unwrap()).unwrap();
}

/// A synthetic whatsapp measurement of the sample from `day`, as a JSON value.
pub fn sample_measurement(day: &str) -> serde_json::Value {
    let entry = manifest()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["day"] == day && e["identity"]["test_name"] == "whatsapp" && e["line"].is_u64())
        .unwrap();
    let file = std::fs::File::open(sample_bucket().join(entry["key"].as_str().unwrap())).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(file), &mut text).unwrap();
    let line = text
        .lines()
        .nth(entry["line"].as_u64().unwrap() as usize - 1)
        .unwrap();
    serde_json::from_str(line).unwrap()
}

#[test]
fn a_late_upload_changes_only_its_days_partitions_and_aggregates() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join("bucket");
    copy_tree(&sample_bucket(), &bucket);
    let out = dir.path().join("out");
    let run =
        |extra: &[&str]| run_into(&bucket, &out, &[&["--probe-cc", "AZ"][..], extra].concat());
    run(&[]);
    let snapshot = |table: &str| -> BTreeMap<PathBuf, Vec<u8>> {
        parquet_files(&out.join(table))
            .into_iter()
            .map(|p| {
                (
                    p.strip_prefix(&out).unwrap().to_owned(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect()
    };
    // blocking_events is one file recomputed over the whole history with the aggregates.
    let per_day = || TABLES.iter().filter(|t| **t != "blocking_events");
    let before: Vec<_> = per_day().map(|t| snapshot(t)).collect();
    let rows_before = read_table(&out.join("measurements")).len();

    // Two measurements of 2020-10-21 arrive late, uploaded on 2020-10-23.
    let mut late = sample_measurement("2020-10-21");
    let lines: Vec<String> = (0..2)
        .map(|i| {
            late["report_id"] = format!("20201021T120000Z_AS28787_latelatelate{i}").into();
            late["measurement_start_time"] = format!("2020-10-21 12:0{i}:00").into();
            late.to_string()
        })
        .collect();
    put_jsonl(
        &bucket,
        "raw/20201023/08/AZ/whatsapp/2020102308_AZ_whatsapp.n9.0.jsonl.gz",
        &lines,
    );

    let second = run(&[]);
    assert_eq!(second.summary["new_objects"], 1, "{}", second.stderr);
    assert_eq!(second.summary["measurements_written"], 2);
    assert_eq!(read_table(&out.join("measurements")).len(), rows_before + 2);
    for (table, old) in per_day().zip(&before) {
        let new = snapshot(table);
        for (path, bytes) in &new {
            let name = path.to_string_lossy();
            let late_day = name.contains("2020-10-21");
            match old.get(path) {
                Some(old_bytes) if !late_day => {
                    assert_eq!(
                        old_bytes, bytes,
                        "{name} changed though its day got nothing new"
                    );
                }
                Some(old_bytes)
                    if name.contains("failure_rates") || name.contains("ooni_counts") =>
                {
                    assert_ne!(
                        old_bytes, bytes,
                        "{name}: the late day's aggregate is recomputed"
                    );
                }
                Some(_) => {}
                None => assert!(late_day, "{name} is new but not of the late upload's day"),
            }
        }
        assert!(
            old.keys().all(|p| new.contains_key(p)),
            "{table}: no file disappeared"
        );
    }

    // Uploading the same measurements again, in another file, adds nothing.
    put_jsonl(
        &bucket,
        "raw/20201023/09/AZ/whatsapp/2020102309_AZ_whatsapp.n9.0.jsonl.gz",
        &lines,
    );
    let third = run(&[]);
    assert_eq!(third.summary["new_objects"], 1);
    assert_eq!(third.summary["already_in_output"], 2);
    assert_eq!(third.summary["measurements_written"], 0);
    assert_eq!(read_table(&out.join("measurements")).len(), rows_before + 2);

    // --full-refresh rebuilds from scratch: same rows.
    let rows = read_table(&out.join("measurements"));
    let refreshed = run(&["--full-refresh"]);
    assert!(refreshed.summary["new_objects"].as_u64().unwrap() > 50);
    let mut a = rows;
    let mut b = read_table(&out.join("measurements"));
    for r in a.iter_mut().chain(b.iter_mut()) {
        r.remove("source_key"); // the two copies of the late upload: either file may win
        r.remove("source_line");
    }
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

#[test]
fn hostile_partition_values_are_rejected_and_nothing_is_written_outside_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join("bucket");
    let mut good = sample_measurement("2020-10-21");
    let mut lines = vec![good.to_string()];
    for (field, value) in [
        ("test_name", "../../x"),
        ("test_name", "whatsapp/../../../escape"),
        ("test_name", "what\u{0}sapp"),
        ("test_name", &"a".repeat(300)),
        ("probe_cc", "AZ/.."),
        ("measurement_start_time", "2020-10-21 10:00:00/../../x"),
    ] {
        let mut bad = good.clone();
        bad[field] = value.into();
        bad["report_id"] = format!("20201021T100000Z_AS1_{}", lines.len()).into();
        lines.push(bad.to_string());
    }
    good["report_id"] = "20201021T100000Z_AS1_fine".into();
    lines.push(good.to_string());
    put_jsonl(
        &bucket,
        "raw/20201021/10/AZ/whatsapp/2020102110_AZ_whatsapp.n0.0.jsonl.gz",
        &lines,
    );

    let out = dir.path().join("out");
    let run = run_into(&bucket, &out, &[]);
    assert_eq!(run.status, 3);
    assert_balanced(&run.summary);
    assert_eq!(run.summary["measurements_written"], 2);
    let rejects = rejects(&run);
    assert_eq!(rejects.len(), 6);
    assert!(
        rejects.iter().all(|r| r["reason"] == "invalid_value"),
        "{rejects:?}"
    );
    let mut top: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(
        top,
        ["bucket", "out"],
        "nothing written beside the output directory"
    );
    for file in parquet_files(&out) {
        let rel = file
            .strip_prefix(&out)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(!rel.contains(".."), "{rel}");
        assert!(
            rel.starts_with("measurements/test_name=whatsapp/")
                || rel.starts_with("observations/test_name=whatsapp/")
                || rel.starts_with("outcomes/test_name=whatsapp/")
                || rel.starts_with("failure_rates/")
                || rel.starts_with("ooni_counts/")
                || rel == "blocking_events/blocking_events.parquet",
            "{rel}"
        );
    }
}
