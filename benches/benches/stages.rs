//! Per-stage micro-benchmarks of the hot path (issue 11), over the 206 real fixtures
//! (`tests/fixtures/ooni-real`): `cargo bench -p ooni-benches --bench stages`.
//!
//! Each fixture is minified (whitespace outside strings dropped, key order kept) and given
//! its trailing `\n`, so it is the line an archive would hold. Throughput is counted in
//! those record bytes for every stage but the decoder's (decompressed bytes), so the
//! figures say what share of a record's cost each stage is.
//!
//! - `parse`: [`ooni_model::Record::parse`] alone;
//! - `normalize`: [`ooni_normalize::normalize`] whole (parse, row, verdict, observations);
//!   `normalize_two_threads` the same on two threads at once (MB/s per thread);
//! - `verdict`: [`ooni_verdict::judge_measurement`] over already-parsed measurements;
//! - `observations`: [`ooni_observations::observe_measurement`] likewise;
//! - `trivial_id`: [`ooni_normalize::trivial_id`] (SHAKE-128 over the record);
//! - `read_records`: gzip decode and line split of a generated 20 MB `.jsonl.gz`;
//! - `parquet_*`: the Arrow batches and zstd Parquet encoding of the rows, to memory and
//!   through [`ooni_parquet::write_file_atomically`] (with its fsync).

#![allow(
    clippy::unwrap_used,
    reason = "a benchmark: a failure should stop it loudly"
)]

use std::path::Path;
use std::sync::{Arc, LazyLock};

use arrow::record_batch::RecordBatch;
use divan::Bencher;
use divan::counter::BytesCount;
use ooni_model::{Framing, Measured, Measurement, Provenance, Record};
use ooni_normalize::{Normalized, Outcome};
use ooni_observations::FingerprintMatches;
use ooni_verdict::{Filled, Fingerprints, HitLocation};

/// The `ooni-pipeline` binary's allocator, with `--features mimalloc`.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    divan::main();
}

/// Whitespace outside strings removed, everything else (key order, escapes) kept.
fn minify(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len());
    let (mut in_str, mut escaped) = (false, false);
    for &b in json {
        if in_str {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_str = false;
            }
        } else if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            out.push(b);
            in_str = b == b'"';
        }
    }
    out
}

/// The fixtures as archive lines (minified, with `\n`), sorted by name.
static LINES: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/ooni-real");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let mut line = minify(&std::fs::read(p).unwrap());
            line.push(b'\n');
            line
        })
        .collect()
});

fn total(lines: &[impl AsRef<[u8]>]) -> usize {
    lines.iter().map(|l| l.as_ref().len()).sum()
}

/// One fixture that normalizes to a measurement, with what the verdict and the
/// observations are given by `normalize`.
struct Judged {
    line: &'static [u8],
    m: Measurement<'static>,
    uid: String,
    test_name: String,
    start_text: Option<String>,
    matches: FingerprintMatches,
    normalized: Normalized,
}

impl Judged {
    fn filled(&self) -> Filled<'_> {
        Filled {
            measurement_start_time: self.start_text.as_deref(),
            probe_asn: self.m.probe_asn.is_none().then_some("AS0"),
        }
    }
}

static JUDGED: LazyLock<Vec<Judged>> = LazyLock::new(|| {
    let fps = Fingerprints::embedded();
    LINES
        .iter()
        .filter_map(|line| {
            let line: &'static [u8] = line.as_slice();
            let Ok(Outcome::Measurement(n)) = ooni_normalize::normalize(line, None) else {
                return None;
            };
            let Ok(Record::Measurement(m)) = Record::parse(line, Framing::Line) else {
                return None;
            };
            let start_text = m
                .measurement_start_time
                .is_none()
                .then(|| ooni_model::format_start_time(&n.row.measurement_start_time));
            let mut j = Judged {
                line,
                m,
                uid: n.row.measurement_uid.clone(),
                test_name: n.row.test_name.clone(),
                start_text,
                matches: FingerprintMatches::default(),
                normalized: *n,
            };
            if let Ok(v) = ooni_verdict::judge_measurement(&j.m, &j.filled(), Some(&j.uid), fps) {
                for hit in v.fingerprint_hits {
                    match hit.location {
                        HitLocation::DnsAnswer(a) if hit.country_consistent => {
                            j.matches.dns.push((a, hit.name));
                        }
                        HitLocation::Response(i) if hit.confirmed => {
                            j.matches.responses.push((i, hit.name));
                        }
                        _ => {}
                    }
                }
            }
            Some(j)
        })
        .collect()
});

fn judged_bytes() -> usize {
    JUDGED.iter().map(|j| j.line.len()).sum()
}

#[divan::bench(sample_count = 40)]
fn parse(b: Bencher<'_, '_>) {
    b.counter(BytesCount::new(total(&LINES))).bench(|| {
        let mut n = 0usize;
        for line in LINES.iter() {
            if let Ok(Record::Measurement(m)) = Record::parse(line, Framing::Line) {
                n += usize::from(m.test_keys.is_some());
            }
        }
        n
    });
}

#[divan::bench(sample_count = 40)]
fn normalize(b: Bencher<'_, '_>) {
    b.counter(BytesCount::new(total(&LINES))).bench(|| {
        LINES
            .iter()
            .map(|line| ooni_normalize::normalize(line, None).is_ok())
            .filter(|ok| *ok)
            .count()
    });
}

/// `normalize` on two threads at once (as `--jobs 2` runs it): the figure is per thread, so
/// twice it is the machine's; allocator contention shows here.
#[divan::bench(sample_count = 40, threads = 2)]
fn normalize_two_threads(b: Bencher<'_, '_>) {
    normalize(b);
}

#[divan::bench(sample_count = 40)]
fn verdict(b: Bencher<'_, '_>) {
    let fps = Fingerprints::embedded();
    b.counter(BytesCount::new(judged_bytes())).bench(|| {
        JUDGED
            .iter()
            .map(|j| ooni_verdict::judge_measurement(&j.m, &j.filled(), Some(&j.uid), fps))
            .filter(Result::is_ok)
            .count()
    });
}

#[divan::bench(sample_count = 40)]
fn observations(b: Bencher<'_, '_>) {
    b.counter(BytesCount::new(judged_bytes())).bench(|| {
        JUDGED
            .iter()
            .map(|j| {
                ooni_observations::observe_measurement(&j.m, Some(&j.test_name), &j.matches)
                    .map(|o| o.observations.len())
                    .unwrap_or(0)
            })
            .sum::<usize>()
    });
}

#[divan::bench(sample_count = 40)]
fn trivial_id(b: Bencher<'_, '_>) {
    let day = chrono::NaiveDate::from_ymd_opt(2024, 1, 15);
    b.counter(BytesCount::new(total(&LINES))).bench(|| {
        LINES
            .iter()
            .map(|line| ooni_normalize::trivial_id(line, day).len())
            .sum::<usize>()
    });
}

/// A `.jsonl.gz` of about 20 MB decompressed (an OONI can's roll-over size): the fixture
/// lines in a fixed shuffled order, gzip level 6 (as `make-bench-archive`).
static JSONL_GZ: LazyLock<(Vec<u8>, usize)> = LazyLock::new(|| {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    let (mut raw, mut state) = (0usize, 0x005e_ed0f_0041u64);
    while raw < 20_000_000 {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let pick = state.wrapping_mul(0x2545_f491_4f6c_dd1d) % LINES.len() as u64;
        let line = &LINES[usize::try_from(pick).unwrap()];
        gz.write_all(line).unwrap();
        raw += line.len();
    }
    (gz.finish().unwrap(), raw)
});

#[divan::bench(sample_count = 20)]
fn read_records(b: Bencher<'_, '_>) {
    let (gz, raw) = &*JSONL_GZ;
    b.counter(BytesCount::new(*raw)).bench(|| {
        let mut n = 0usize;
        ooni_source::read_records(
            "raw/20240115/00/IT/webconnectivity/x.jsonl.gz",
            ooni_source::ArchiveFormat::Jsonl,
            gz.as_slice(),
            ooni_source::Limits::default(),
            |r| n += r.map(|r| r.bytes.len()).unwrap_or(0),
        );
        n
    });
}

/// Copies of each measured fixture, with distinct ids, as the writer gets them.
const COPIES: usize = 40;

static MEASURED: LazyLock<(Vec<Measured>, usize)> = LazyLock::new(|| {
    let mut rows = Vec::new();
    let mut bytes = 0;
    for k in 0..COPIES {
        for (i, j) in JUDGED.iter().enumerate() {
            let n = &j.normalized;
            let mut row = n.row.clone();
            row.measurement_uid = format!("{}{k:03}", row.measurement_uid);
            row.content_id = format!("{}{k:03}", row.content_id);
            rows.push(Measured {
                row,
                judgement: n.judgement.clone(),
                provenance: Provenance {
                    source_key: "raw/20240115/00/IT/webconnectivity/x.jsonl.gz".to_owned(),
                    source_line: Some((k * JUDGED.len() + i + 1) as u64),
                    source_member: None,
                },
                observations: n.observations.clone(),
                outcomes: n.outcomes.clone(),
            });
            bytes += j.line.len();
        }
    }
    (rows, bytes)
});

type Batcher = fn(&[&Measured]) -> Result<RecordBatch, arrow::error::ArrowError>;

const TABLES: [(&str, Batcher); 3] = [
    ("measurements", ooni_parquet::measurements_batch),
    ("observations", ooni_parquet::observations_batch),
    ("outcomes", ooni_parquet::outcomes_batch),
];

fn batches() -> Vec<RecordBatch> {
    let refs: Vec<&Measured> = MEASURED.0.iter().collect();
    TABLES.iter().map(|(_, f)| f(&refs).unwrap()).collect()
}

/// The three tables' Arrow batches only.
#[divan::bench(sample_count = 20)]
fn parquet_batches(b: Bencher<'_, '_>) {
    b.counter(BytesCount::new(MEASURED.1))
        .bench(|| batches().len());
}

/// Batches and zstd Parquet encoding into memory, with the project's writer settings.
#[divan::bench(sample_count = 20)]
fn parquet_encode(b: Bencher<'_, '_>) {
    b.counter(BytesCount::new(MEASURED.1)).bench(|| {
        let mut size = 0;
        for batch in batches() {
            let mut w = parquet::arrow::ArrowWriter::try_new(
                Vec::new(),
                Arc::clone(&batch.schema()),
                Some(ooni_parquet::writer_properties()),
            )
            .unwrap();
            w.write(&batch).unwrap();
            size += w.into_inner().unwrap().len();
        }
        size
    });
}

/// Batches and [`ooni_parquet::write_file_atomically`] (temporary file, fsync, rename).
#[divan::bench(sample_count = 20)]
fn parquet_write_file(b: Bencher<'_, '_>) {
    let dir = tempfile::tempdir().unwrap();
    b.counter(BytesCount::new(MEASURED.1)).bench(|| {
        for ((table, _), batch) in TABLES.iter().zip(batches()) {
            let path = dir.path().join(format!("{table}.parquet"));
            ooni_parquet::write_file_atomically(&path, &[batch]).unwrap();
        }
    });
}
