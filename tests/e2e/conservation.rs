//! The conservation invariant as a property: on any small bucket of good, duplicated,
//! placeholder, blank, broken and cut-short lines, `records_read = measurements_written +
//! duplicates + skipped + rejected` holds term by term against what the generator made,
//! and every rejected line is in the rejects file with its key and line number.
//!
//! The expected counts come from the generator, not from the pipeline's code: it knows
//! what each line is, and for a gzip cut short it decodes the cut file itself (flate2's
//! `MultiGzDecoder`, read until it fails) to know which lines are still readable: the whole
//! lines before the cut are read, a line cut in the middle is read and rejected as
//! `truncated_record`, and a cut between lines is only an archive error.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::OnceLock;

use flate2::Compression;
use flate2::write::GzEncoder;
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Value, json};

use crate::support::*;

/// One generated line (its bytes are made by [`Made::line`]).
#[derive(Debug, Clone)]
enum Line {
    /// A new measurement started `seconds` after 2020-10-21 00:00:00 UTC.
    Valid { seconds: u32 },
    /// The exact bytes of an earlier valid line (`n` modulo their number); a new
    /// measurement when none came before.
    Duplicate(usize),
    /// `{}`.
    Placeholder,
    /// Nothing but ASCII whitespace.
    Blank(&'static str),
    /// Printable ASCII that is not JSON.
    Garbage(String),
    /// A line with bytes that are not UTF-8 (always with a 0xff).
    InvalidUtf8(Vec<u8>),
    /// A JSON array.
    Array(Vec<i32>),
    /// A measurement whose `probe_asn` is a number instead of `"AS…"`.
    WrongAsn { seconds: u32 },
}

/// One `.jsonl.gz` of the bucket.
#[derive(Debug, Clone)]
struct File {
    lines: Vec<Line>,
    /// Where a second gzip member starts (a line index, modulo `lines.len() + 1`).
    second_member: Option<usize>,
    /// Cut the file short: keep this many thousandths of its bytes (at least 2, at most
    /// all but the last byte, so the gzip magic is kept and the trailer is lost).
    cut: Option<u16>,
}

/// What reading one line must give.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    /// A measurement, by its report_id.
    Measurement(String),
    Skipped(&'static str),
    Rejected(&'static str),
}

fn line() -> impl Strategy<Value = Line> {
    let printable = || prop::collection::vec(0x20u8..0x7f, 0..40);
    prop_oneof![
        5 => (0u32..86_400).prop_map(|seconds| Line::Valid { seconds }),
        2 => (0usize..1000).prop_map(Line::Duplicate),
        1 => Just(Line::Placeholder),
        1 => prop::sample::select(vec!["", " ", "\t \r"]).prop_map(Line::Blank),
        1 => (prop::sample::select(vec!["#", "{#", "not json "]), printable()).prop_map(
            |(head, tail)| Line::Garbage(format!("{head}{}", String::from_utf8(tail).unwrap()))
        ),
        1 => prop::collection::vec(0x80u8..=0xff, 0..8).prop_map(Line::InvalidUtf8),
        1 => prop::collection::vec(any::<i32>(), 0..4).prop_map(Line::Array),
        1 => (0u32..86_400).prop_map(|seconds| Line::WrongAsn { seconds }),
    ]
}

fn file() -> impl Strategy<Value = File> {
    (
        prop::collection::vec(line(), 0..12),
        prop::option::weighted(0.25, 0usize..64),
        prop::option::weighted(0.25, 0u16..1000),
    )
        .prop_map(|(lines, second_member, cut)| File {
            lines,
            second_member,
            cut,
        })
}

/// A real whatsapp measurement from the sample (Azerbaijan, October 2020).
fn base_measurement() -> &'static Value {
    static BASE: OnceLock<Value> = OnceLock::new();
    BASE.get_or_init(|| {
        let path = sample_bucket()
            .join("raw/20201021/11/AZ/whatsapp/2020102111_AZ_whatsapp.n0.0.jsonl.gz");
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        serde_json::from_str(text.lines().next().unwrap()).unwrap()
    })
}

/// The base measurement with its own report_id and start time; returns (line, report_id).
fn measurement(n: usize, seconds: u32, probe_asn: Value) -> (Vec<u8>, String) {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let report_id = format!("20201021T{h:02}{m:02}{s:02}Z_AS29049_conservation{n:04}");
    let mut msm = base_measurement().clone();
    msm["report_id"] = json!(report_id);
    msm["measurement_start_time"] = json!(format!("2020-10-21 {h:02}:{m:02}:{s:02}"));
    msm["test_start_time"] = msm["measurement_start_time"].clone();
    msm["probe_asn"] = probe_asn;
    let mut bytes = serde_json::to_vec(&msm).unwrap();
    bytes.push(b'\n');
    (bytes, report_id)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// What a gzip reader gets out of `bytes` before it stops, and whether it stopped on an
/// error (a cut-short file) rather than at a clean end.
fn decodable(bytes: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut decoder = flate2::read::MultiGzDecoder::new(bytes);
    let mut buf = [0u8; 8192];
    loop {
        match decoder.read(&mut buf) {
            Ok(0) => return (out, false),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (out, true),
        }
    }
}

/// The bucket as written, and what reading it must give.
#[derive(Default)]
struct Bucket {
    /// Per key: (line number, expectation) of every line the pipeline can read.
    read: BTreeMap<String, Vec<(u64, Expect)>>,
    /// Keys whose end is unreadable, with the line number where reading stopped, when it
    /// stopped between lines (a `truncated_archive` reject that counts no record).
    broken: BTreeMap<String, Option<u64>>,
}

/// Makes the bytes of generated lines, remembering the valid measurements made so far.
#[derive(Default)]
struct Made {
    /// Measurements made (valid or not): numbers their report_ids.
    count: usize,
    /// The valid ones: (line, report_id).
    valid: Vec<(Vec<u8>, String)>,
}

impl Made {
    fn measurement(&mut self, seconds: u32) -> (Vec<u8>, Expect) {
        self.count += 1;
        let (bytes, id) = measurement(self.count, seconds, json!("AS29049"));
        self.valid.push((bytes.clone(), id.clone()));
        (bytes, Expect::Measurement(id))
    }

    fn line(&mut self, line: &Line) -> (Vec<u8>, Expect) {
        match line {
            Line::Valid { seconds } => self.measurement(*seconds),
            Line::Duplicate(_) if self.valid.is_empty() => self.measurement(0),
            Line::Duplicate(n) => {
                let (bytes, id) = self.valid[n % self.valid.len()].clone();
                (bytes, Expect::Measurement(id))
            }
            Line::Placeholder => (b"{}\n".to_vec(), Expect::Skipped("placeholder")),
            Line::Blank(space) => (
                format!("{space}\n").into_bytes(),
                Expect::Skipped("blank_line"),
            ),
            Line::Garbage(text) => (
                format!("{text}\n").into_bytes(),
                Expect::Rejected("invalid_json"),
            ),
            Line::InvalidUtf8(bytes) => {
                let mut l = br#"{"test_name":"whatsapp","x":""#.to_vec();
                l.extend(bytes);
                l.extend(b"\xff\"}\n");
                (l, Expect::Rejected("invalid_utf8"))
            }
            Line::Array(items) => (
                format!("{}\n", json!(items)).into_bytes(),
                Expect::Rejected("not_an_object"),
            ),
            Line::WrongAsn { seconds } => {
                self.count += 1;
                let (bytes, _) = measurement(self.count, *seconds, json!(29049));
                (bytes, Expect::Rejected("wrong_type"))
            }
        }
    }
}

impl Bucket {
    /// Writes `files` under `root` in OONI's raw/ layout.
    fn render(files: &[File], root: &Path) -> Bucket {
        let dir = root.join("raw/20201021/10/AZ/whatsapp");
        std::fs::create_dir_all(&dir).unwrap();
        let mut bucket = Bucket::default();
        let mut made = Made::default();
        for (k, file) in files.iter().enumerate() {
            let key = format!("raw/20201021/10/AZ/whatsapp/2020102110_AZ_whatsapp.n0.{k}.jsonl.gz");
            let lines: Vec<(Vec<u8>, Expect)> = file.lines.iter().map(|l| made.line(l)).collect();

            let content: Vec<u8> = lines.iter().flat_map(|(b, _)| b.clone()).collect();
            let mut bytes = match file.second_member {
                Some(at) => {
                    let at = at % (lines.len() + 1);
                    let split: usize = lines[..at].iter().map(|(b, _)| b.len()).sum();
                    let mut bytes = gzip(&content[..split]);
                    bytes.extend(gzip(&content[split..]));
                    bytes
                }
                None => gzip(&content),
            };
            if let Some(per_mille) = file.cut {
                let keep = 2 + (bytes.len() - 3) * usize::from(per_mille) / 1000;
                bytes.truncate(keep);
            }
            std::fs::write(dir.join(key.rsplit('/').next().unwrap()), &bytes).unwrap();

            // Which lines can be read: all of them, unless the file was cut short.
            let (readable, broken) = decodable(&bytes);
            let whole = readable.iter().filter(|b| **b == b'\n').count();
            let partial = !readable.is_empty() && !readable.ends_with(b"\n");
            assert!(whole + usize::from(partial) <= lines.len());
            assert!(file.cut.is_some() || (!broken && whole == lines.len()));
            let mut read: Vec<(u64, Expect)> = lines
                .into_iter()
                .take(whole)
                .enumerate()
                .map(|(i, (_, expect))| (i as u64 + 1, expect))
                .collect();
            if partial {
                read.push((whole as u64 + 1, Expect::Rejected("truncated_record")));
            }
            if broken {
                bucket
                    .broken
                    .insert(key.clone(), (!partial).then_some(whole as u64 + 1));
            }
            bucket.read.insert(key, read);
        }
        bucket
    }

    fn expectations(&self) -> impl Iterator<Item = (&String, u64, &Expect)> {
        self.read
            .iter()
            .flat_map(|(key, lines)| lines.iter().map(move |(n, e)| (key, *n, e)))
    }

    /// Reason → count, for skipped or rejected lines.
    fn reasons(&self, rejected: bool) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for (_, _, expect) in self.expectations() {
            match (expect, rejected) {
                (Expect::Skipped(r), false) | (Expect::Rejected(r), true) => {
                    *counts.entry((*r).to_owned()).or_default() += 1;
                }
                _ => {}
            }
        }
        counts
    }

    /// report_id → the first (key, line) holding it: the copy the pipeline keeps.
    fn measurements(&self) -> BTreeMap<&str, (&str, u64)> {
        let mut first = BTreeMap::new();
        for (key, line, expect) in self.expectations() {
            if let Expect::Measurement(id) = expect {
                first.entry(id.as_str()).or_insert((key.as_str(), line));
            }
        }
        first
    }
}

fn check(files: &[File]) {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("bucket");
    let out = dir.path().join("out");
    let bucket = Bucket::render(files, &source);
    let output = pipeline(&[
        "run",
        "--source",
        source.to_str().unwrap(),
        "--since",
        "2020-10-21",
        "--until",
        "2020-10-22",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("no JSON summary ({e}); stderr:\n{stderr}"));
    assert_balanced(&summary);

    let n = |v: &Value| v.as_u64().unwrap();
    let c = &summary["conservation"];
    let lines_read = bucket.expectations().count() as u64;
    let measurement_lines = bucket
        .expectations()
        .filter(|(_, _, e)| matches!(e, Expect::Measurement(_)))
        .count() as u64;
    let measurements = bucket.measurements();
    let distinct = measurements.len() as u64;
    assert_eq!(n(&c["records_read"]), lines_read, "{c}");
    assert_eq!(n(&c["measurements_written"]), distinct, "{c}");
    assert_eq!(n(&c["duplicates"]), measurement_lines - distinct, "{c}");
    assert_eq!(n(&summary["already_in_output"]), 0);
    let counts = |kind: &str| -> BTreeMap<String, u64> {
        serde_json::from_value(summary["counts"][kind].clone()).unwrap()
    };
    assert_eq!(counts("skipped"), bucket.reasons(false));
    assert_eq!(counts("rejected"), bucket.reasons(true));
    assert_eq!(
        n(&summary["counts"]["archive_errors"]),
        bucket.broken.len() as u64
    );
    let clean = bucket.reasons(true).is_empty() && bucket.broken.is_empty();
    assert_eq!(
        output.status.code(),
        Some(if clean { 0 } else { 3 }),
        "stderr:\n{stderr}"
    );

    // Every rejected line is in the rejects file, with its key, line and reason; the only
    // other entries are the files that stopped between two lines.
    let mut expected: BTreeSet<(String, u64, &str)> = bucket
        .expectations()
        .filter_map(|(key, line, e)| match e {
            Expect::Rejected(reason) => Some((key.clone(), line, *reason)),
            _ => None,
        })
        .collect();
    for (key, line) in &bucket.broken {
        if let Some(line) = line {
            expected.insert((key.clone(), *line, "truncated_archive"));
        }
    }
    let found: Vec<(String, u64, String)> = rejects_of(&summary)
        .iter()
        .map(|r| {
            (
                r["source_key"].as_str().unwrap().to_owned(),
                n(&r["source_line"]),
                r["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let found_set: BTreeSet<(String, u64, &str)> = found
        .iter()
        .map(|(k, l, r)| (k.clone(), *l, r.as_str()))
        .collect();
    assert_eq!(found.len(), found_set.len(), "a line rejected twice");
    assert_eq!(found_set, expected);

    // The measurements written are the distinct ones, each from its first copy.
    let rows = read_table(&out.join("measurements"));
    let written: BTreeMap<&str, (&str, u64)> = rows
        .iter()
        .map(|row| {
            let line = get(row, "source_line").unwrap().parse().unwrap();
            (
                get(row, "report_id").unwrap(),
                (get(row, "source_key").unwrap(), line),
            )
        })
        .collect();
    assert_eq!(written.len(), rows.len(), "a measurement written twice");
    assert_eq!(written, measurements);
}

proptest! {
    #![proptest_config(Config {
        cases: 24,
        failure_persistence: None,
        // Each case runs the binary: a failure is shrunk for a few minutes at most.
        max_shrink_iters: 100,
        ..Config::default()
    })]

    #[test]
    fn every_record_read_is_written_duplicated_skipped_or_rejected(
        files in prop::collection::vec(file(), 1..=4)
    ) {
        check(&files);
    }
}
