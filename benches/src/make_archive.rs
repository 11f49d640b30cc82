//! Builds a large archive in OONI's `raw/` layout from the real fixtures, for benchmarks.
//!
//! `make-bench-archive <fixtures dir> <out dir> <compressed MB>` writes
//! `raw/20240115/HH/CC/<test>/2024011500_CC_<test>.n0.<k>.jsonl.gz` files of about 5 MB
//! each (OONI rolls its cans over at 20 MB uncompressed), until the total reaches the
//! target. Every line is a real fixture with a fresh report_id and a start time on
//! 2024-01-15, so no two lines are duplicates; lines of one file are shuffled with a fixed
//! seed so consecutive lines differ and gzip sees data shaped like OONI's.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::Value;

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
    if args.len() != 4 {
        eprintln!("usage: make-bench-archive <fixtures dir> <out dir> <compressed MB>");
        std::process::exit(2);
    }
    let (fixtures, out) = (Path::new(&args[1]), PathBuf::from(&args[2]));
    let target_bytes: u64 = args[3].parse::<u64>()? * 1_000_000;

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
        let dir = out.join(format!("raw/20240115/{hour:02}/{cc}/{compact}"));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!(
            "20240115{hour:02}_{cc}_{compact}.n0.{files}.jsonl.gz"
        ));
        let mut gz = GzEncoder::new(Vec::new(), Compression::new(6));
        let mut raw = 0usize;
        while raw < 20_000_000 {
            let mut msm = templates[(rng.next() % templates.len() as u64) as usize].clone();
            let secs = rng.next() % 3600;
            msm["measurement_start_time"] = Value::from(format!(
                "2024-01-15 {hour:02}:{:02}:{:02}",
                secs / 60,
                secs % 60
            ));
            msm["report_id"] = Value::from(format!(
                "20240115T{hour:02}0000Z_{compact}_{cc}_1_n1_bench{:016x}",
                rng.next()
            ));
            let mut line = serde_json::to_vec(&msm)?;
            line.push(b'\n');
            raw += line.len();
            gz.write_all(&line)?;
            lines += 1;
            // Small groups would otherwise make files of one repeated line.
            if templates.len() < 3 && raw > 2_000_000 {
                break;
            }
        }
        let bytes = gz.finish()?;
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
