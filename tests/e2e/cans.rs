//! OONI's legacy cans (`canned/YYYY-MM-DD/*.tar.lz4`, `*.json.lz4`), read with `--cans`:
//! they fill gaps of jsonl/, repeat what jsonl/ has without duplicating it, mix countries
//! (filtered per measurement), and their YAML reports are counted, not lost.

use std::io::Write;
use std::path::Path;

use crate::support::*;

/// The JSONL lines of one sample archive.
fn lines_of(key: &str) -> Vec<String> {
    let file = std::fs::File::open(sample_bucket().join(key)).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(file), &mut text).unwrap();
    text.lines().map(str::to_owned).collect()
}

/// LZ4 frames (two, concatenated, as OONI's cans can be) around `bytes`.
fn lz4(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for half in [&bytes[..bytes.len() / 2], &bytes[bytes.len() / 2..]] {
        let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
        enc.write_all(half).unwrap();
        out.extend(enc.finish().unwrap());
    }
    out
}

fn tar(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, body) in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, &body[..]).unwrap();
    }
    builder.into_inner().unwrap()
}

fn put(bucket: &Path, key: &str, bytes: Vec<u8>) {
    let path = bucket.join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn cans_fill_jsonl_gaps_without_duplicating_it() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join("bucket");
    copy_tree(&sample_bucket(), &bucket);

    // A whatsapp tarcan for 2020-09-25: the day's AZ lines (already in jsonl/), one
    // measurement jsonl/ lacks, one from another country, and a YAML report.
    let mut jsonl = lines_of("jsonl/whatsapp/AZ/20200925/00/20200925_AZ_whatsapp.l.0.jsonl.gz");
    let mut missing: serde_json::Value = serde_json::from_str(&jsonl[0]).unwrap();
    missing["report_id"] = "20200925T230000Z_AS28787_onlyinthecan".into();
    let mut foreign = missing.clone();
    foreign["probe_cc"] = "IT".into();
    foreign["report_id"] = "20200925T230000Z_AS3269_italianreport".into();
    let report_a = jsonl.drain(..5).collect::<Vec<_>>().join("\n") + "\n";
    let report_b =
        jsonl.join("\n") + "\n" + &missing.to_string() + "\n" + &foreign.to_string() + "\n";
    let can = tar(&[
        (
            "2020-09-25/20200925T100000Z-AZ-AS28787-whatsapp-a-0.2.0-probe.json",
            report_a.into_bytes(),
        ),
        (
            "2020-09-25/20200925T110000Z-AZ-AS29049-whatsapp-b-0.2.0-probe.json",
            report_b.into_bytes(),
        ),
        (
            "2020-09-25/20200925T120000Z-AZ-AS29049-whatsapp-c-0.2.0-probe.yaml",
            b"---\nold: yaml\n...\n".to_vec(),
        ),
    ]);
    put(&bucket, "canned/2020-09-25/whatsapp.0.tar.lz4", lz4(&can));
    // A telegram reportcan of the same day: all already in jsonl/.
    let telegram = lines_of("jsonl/telegram/AZ/20200925/00/20200925_AZ_telegram.l.0.jsonl.gz");
    put(
        &bucket,
        "canned/2020-09-25/20200925T090000Z-AZ-AS34170-telegram-r-0.2.0-probe.json.lz4",
        lz4((telegram.join("\n") + "\n").as_bytes()),
    );

    let args = [
        "--since",
        "2020-09-25",
        "--until",
        "2020-09-26",
        "--probe-cc",
        "AZ",
        "--late-upload-days",
        "0",
    ];
    let mut base = vec!["run", "--source", bucket.to_str().unwrap()];
    base.extend_from_slice(&args);
    let without = run_command(&base, &dir.path().join("without"));
    base.push("--cans");
    let with = run_command(&base, &dir.path().join("with"));
    assert_balanced(&with.summary);

    let rows = |run: &Run| read_table(&run.out.join("measurements"));
    let (a, b) = (rows(&without), rows(&with));
    // Exactly one more measurement: the one only the can had; the Italian one is filtered.
    assert_eq!(b.len(), a.len() + 1, "{}", with.stderr);
    let extra: Vec<_> = b
        .iter()
        .filter(|r| get(r, "report_id") == Some("20200925T230000Z_AS28787_onlyinthecan"))
        .collect();
    assert_eq!(extra.len(), 1);
    assert_eq!(get(extra[0], "uid_source"), Some("trivial_id"));
    assert_eq!(
        get(extra[0], "source_key"),
        Some("canned/2020-09-25/whatsapp.0.tar.lz4")
    );
    assert!(
        get(extra[0], "source_member")
            .unwrap()
            .ends_with("-b-0.2.0-probe.json")
    );
    assert_eq!(with.summary["counts"]["yaml_reports"], 1);
    assert_eq!(
        with.summary["counts"]["skipped"]["other_country_or_test"],
        1
    );
    let can_lines = 10 + 2 + telegram.len() as u64;
    assert_eq!(
        with.summary["conservation"]["duplicates"].as_u64().unwrap(),
        without.summary["conservation"]["duplicates"]
            .as_u64()
            .unwrap()
            + can_lines
            - 2,
        "every can line already in jsonl/ is a duplicate"
    );
}
