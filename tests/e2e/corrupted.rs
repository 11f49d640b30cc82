//! A damaged copy of the sample: nothing aborts the run, nothing vanishes.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::support::*;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Appends `lines` to a .jsonl.gz as a second gzip member (OONI's reader must accept
/// multi-member gzip anyway).
fn append_member(path: &Path, lines: &[u8]) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes.extend(gzip(lines));
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_corrupted_sample_still_balances_and_quarantines_every_bad_record() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join("bucket");
    copy_tree(&sample_bucket(), &bucket);

    // 1. A truncated gzip: the second half of the file is gone.
    let truncated = bucket.join("jsonl/whatsapp/AZ/20200924/00/20200924_AZ_whatsapp.l.0.jsonl.gz");
    let bytes = std::fs::read(&truncated).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();

    // 2. Garbage lines: not JSON, JSON that is not an object, invalid UTF-8.
    let garbage = bucket.join("jsonl/telegram/AZ/20200925/00/20200925_AZ_telegram.l.0.jsonl.gz");
    let lines_before = gunzip(&garbage)
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    append_member(
        &garbage,
        b"this is not json\n[1,2,3]\n{\"test_name\": \"whatsapp\", \xff\xfe}\n",
    );

    // 3. A 20 MB line (over the default 16 MiB record limit).
    let big = bucket
        .join("jsonl/webconnectivity/AZ/20200925/00/20200925_AZ_webconnectivity.l.0.jsonl.gz");
    let mut line = b"{\"test_name\":\"web_connectivity\",\"padding\":\"".to_vec();
    line.extend(std::iter::repeat_n(b'x', 20 * 1024 * 1024));
    line.extend(b"\"}\n");
    append_member(&big, &line);

    // 4. A wrong-typed probe_asn on an otherwise valid measurement.
    let typed = bucket.join("jsonl/whatsapp/AZ/20200925/00/20200925_AZ_whatsapp.l.0.jsonl.gz");
    let first = gunzip(&typed)
        .split(|b| *b == b'\n')
        .next()
        .unwrap()
        .to_vec();
    let mut msm: serde_json::Value = serde_json::from_slice(&first).unwrap();
    msm["probe_asn"] = serde_json::json!(28787);
    msm["report_id"] = serde_json::json!("20200925T000000Z_AS28787_wrongtypedasn");
    let mut bad = serde_json::to_vec(&msm).unwrap();
    bad.push(b'\n');
    append_member(&typed, &bad);

    let run = run_sample(&bucket, &[]);
    assert_eq!(
        run.status, 3,
        "success with rejects; stderr:\n{}",
        run.stderr
    );
    assert_balanced(&run.summary);
    assert!(run.summary["counts"]["archive_errors"].as_u64().unwrap() >= 1);

    let rejects = rejects(&run);
    let mut reasons: BTreeMap<&str, Vec<&serde_json::Value>> = BTreeMap::new();
    for r in &rejects {
        reasons
            .entry(r["reason"].as_str().unwrap())
            .or_default()
            .push(r);
    }
    let key_of = |p: &Path| {
        p.strip_prefix(&bucket)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    let only = |reason: &str| -> &serde_json::Value {
        let found = reasons
            .get(reason)
            .unwrap_or_else(|| panic!("no {reason} in {reasons:?}"));
        found
            .iter()
            .find(|r| r["source_key"] != "")
            .copied()
            .unwrap()
    };
    let trunc = reasons
        .get("truncated_record")
        .or(reasons.get("truncated_archive"))
        .expect("the truncated gzip is reported");
    assert_eq!(trunc[0]["source_key"], key_of(&truncated));

    let n = lines_before as u64;
    assert_eq!(only("invalid_json")["source_key"], key_of(&garbage));
    assert_eq!(only("invalid_json")["source_line"], n + 1);
    assert_eq!(only("not_an_object")["source_line"], n + 2);
    assert_eq!(only("invalid_utf8")["source_line"], n + 3);

    let too_large = only("too_large");
    assert_eq!(too_large["source_key"], key_of(&big));
    assert!(too_large["bytes"].as_u64().unwrap() > 20 * 1024 * 1024);
    assert_eq!(too_large["raw_truncated"], true);

    let wrong = only("wrong_type");
    assert_eq!(wrong["source_key"], key_of(&typed));
    assert!(
        wrong["detail"].as_str().unwrap().contains("probe_asn"),
        "{wrong}"
    );

    // The intact measurements are all still there: compare with a clean run.
    let clean = run_sample(&sample_bucket(), &[]);
    let written = |r: &Run| r.summary["measurements_written"].as_u64().unwrap();
    let lost_in_truncation = written(&clean) - written(&run);
    assert!(
        lost_in_truncation <= 10,
        "only lines after the cut of one 10-line file can be missing ({lost_in_truncation})"
    );
}
