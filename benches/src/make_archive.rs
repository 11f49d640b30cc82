//! Builds a large archive in OONI's `raw/` layout from the real fixtures, for benchmarks.
//!
//! `make-bench-archive <fixtures dir> <out dir> <compressed MB> [days]` writes, until the
//! total reaches the target, cans of 20 MB uncompressed (OONI rolls its cans over there):
//! two in three as `raw/20240115/HH/CC/<test>/2024011500_CC_<test>.n0.<k>.jsonl.gz`, one in
//! three as a postcan `….n0.<k>.tar.gz` (a gzip-compressed tar of `<measurement_uid>.post`
//! members, each `{"format":"json","content":{…}}`), the two layouts the pipeline reads.
//! With `days` (default 1), can k goes to day k mod `days` from 2024-01-15 on, so a larger
//! archive can be more days rather than a larger day; one day gives the same bytes as
//! before the argument existed. Every measurement is a real fixture with a fresh report_id
//! and a start time on its can's day, so no two are duplicates; measurements of one can are shuffled with a fixed
//! seed so consecutive ones differ, and each carries a random `annotations.bench_nonce` so
//! the archive compresses about 7:1, as OONI's does (the fixtures alone compress 8.8:1:
//! fewer distinct bodies than a day of real measurements).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::Value;

/// Random hex characters added to each measurement (see the module docs).
const NONCE_HEX: usize = 220;

/// A tiny deterministic generator (xorshift64*), so runs are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if !(4..=5).contains(&args.len()) {
        eprintln!("usage: make-bench-archive <fixtures dir> <out dir> <compressed MB> [days]");
        std::process::exit(2);
    }
    let (fixtures, out) = (Path::new(&args[1]), PathBuf::from(&args[2]));
    let target_bytes: u64 = args[3].parse::<u64>()? * 1_000_000;
    let days: u64 = args.get(4).map_or(Ok(1), |d| d.parse())?.max(1);
    let first_day = chrono::NaiveDate::from_ymd_opt(2024, 1, 15).ok_or("first day")?;

    // Fixtures grouped by (country, test), skipping ones the pipeline rejects.
    let mut groups: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
    let mut names: Vec<PathBuf> = std::fs::read_dir(fixtures)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    for path in names {
        let msm: Value = serde_json::from_slice(&std::fs::read(&path)?)?;
        let (Some(cc), Some(tn)) = (msm["probe_cc"].as_str(), msm["test_name"].as_str()) else {
            continue;
        };
        if cc.len() != 2
            || !msm["probe_asn"].is_string()
            || !msm["measurement_start_time"].is_string()
        {
            continue;
        }
        groups
            .entry((cc.to_owned(), tn.to_owned()))
            .or_default()
            .push(msm);
    }
    let groups: Vec<_> = groups.into_iter().collect();

    let mut rng = Rng(0x005e_ed0f_0041);
    let (mut written, mut files, mut lines) = (0u64, 0u64, 0u64);
    while written < target_bytes {
        let ((cc, tn), templates) = &groups[files as usize % groups.len()];
        let compact = tn.replace('_', "");
        let hour = files % 24;
        let day = first_day + chrono::Days::new(files % days);
        let (ymd, iso) = (day.format("%Y%m%d").to_string(), day.to_string());
        let dir = out.join(format!("raw/{ymd}/{hour:02}/{cc}/{compact}"));
        std::fs::create_dir_all(&dir)?;
        let postcan = files % 3 == 2;
        let can = format!("{ymd}{hour:02}_{cc}_{compact}.n0.{files}");
        let path = dir.join(format!(
            "{can}.{}",
            if postcan { "tar.gz" } else { "jsonl.gz" }
        ));
        let gz = GzEncoder::new(Vec::new(), Compression::new(6));
        let mut sink = if postcan {
            Sink::Postcan(tar::Builder::new(gz))
        } else {
            Sink::Lines(gz)
        };
        let mut raw = 0usize;
        while raw < 20_000_000 {
            let mut msm = templates[(rng.next() % templates.len() as u64) as usize].clone();
            let secs = rng.next() % 3600;
            msm["measurement_start_time"] =
                Value::from(format!("{iso} {hour:02}:{:02}:{:02}", secs / 60, secs % 60));
            msm["report_id"] = Value::from(format!(
                "{ymd}T{hour:02}0000Z_{compact}_{cc}_1_n1_bench{:016x}",
                rng.next()
            ));
            let nonce: String = (0..NONCE_HEX.div_ceil(16))
                .map(|_| format!("{:016x}", rng.next()))
                .collect::<String>()[..NONCE_HEX]
                .to_owned();
            match msm.get_mut("annotations").and_then(Value::as_object_mut) {
                Some(annotations) => {
                    annotations.insert("bench_nonce".into(), Value::from(nonce));
                }
                None => {
                    msm["annotations"] = serde_json::json!({ "bench_nonce": nonce });
                }
            }
            raw += match &mut sink {
                Sink::Lines(gz) => {
                    let mut line = serde_json::to_vec(&msm)?;
                    line.push(b'\n');
                    gz.write_all(&line)?;
                    line.len()
                }
                Sink::Postcan(tar) => {
                    let secs = rng.next() % 3600;
                    let uid = format!(
                        "{ymd}{hour:02}{:02}{:02}.{:06}_{cc}_{compact}_{:016x}",
                        secs / 60,
                        secs % 60,
                        rng.next() % 1_000_000,
                        rng.next()
                    );
                    let post = serde_json::to_vec(
                        &serde_json::json!({ "format": "json", "content": msm }),
                    )?;
                    let mut header = tar::Header::new_gnu();
                    header.set_size(post.len() as u64);
                    header.set_mode(0o644);
                    header.set_cksum();
                    tar.append_data(&mut header, format!("{can}/{uid}.post"), post.as_slice())?;
                    post.len()
                }
            };
            lines += 1;
            // Small groups would otherwise make files of one repeated line.
            if templates.len() < 3 && raw > 2_000_000 {
                break;
            }
        }
        let bytes = match sink {
            Sink::Lines(gz) => gz.finish()?,
            Sink::Postcan(tar) => tar.into_inner()?.finish()?,
        };
        written += bytes.len() as u64;
        std::fs::write(&path, bytes)?;
        files += 1;
    }
    println!(
        "{files} files, {lines} measurements, {written} bytes compressed in {}",
        out.display()
    );
    Ok(())
}

/// Where a can's measurements go: JSONL lines, or `.post` members of a tar.
enum Sink {
    Lines(GzEncoder<Vec<u8>>),
    Postcan(tar::Builder<GzEncoder<Vec<u8>>>),
}
