//! `failure_rates` computed in passes over (country, ASN) ranges, as the run does for a large
//! day, equals one pass, on the outcomes of the real fixtures (`tests/fixtures/ooni-real`:
//! dozens of countries and networks, every test, WhatsApp and Telegram pools).

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ooni_aggregate as agg;
use ooni_normalize::{Outcome, normalize};
use ooni_parquet::{Measured, Provenance};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/ooni-real"
);

/// Every fixture's rows, as the run would hold them.
fn measured() -> Vec<Measured> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(FIXTURES)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    names
        .iter()
        .filter_map(
            |path| match normalize(&std::fs::read(path).unwrap(), None) {
                Ok(Outcome::Measurement(m)) => Some(Measured {
                    row: m.row,
                    judgement: m.judgement,
                    provenance: Provenance {
                        source_key: path.display().to_string(),
                        source_line: None,
                        source_member: None,
                    },
                    observations: m.observations,
                    outcomes: m.outcomes,
                }),
                _ => None,
            },
        )
        .collect()
}

/// Writes the `outcomes` table of `rows`, partitioned as the run does; returns its files.
fn write_outcomes(root: &Path, rows: &[Measured]) -> Vec<PathBuf> {
    let mut partitions: BTreeMap<_, Vec<&Measured>> = BTreeMap::new();
    for m in rows {
        partitions
            .entry((m.row.test_name.clone(), m.row.measurement_day))
            .or_default()
            .push(m);
    }
    let mut files = Vec::new();
    for ((test_name, day), rows) in partitions {
        let batch = ooni_parquet::outcomes_batch(&rows).unwrap();
        if batch.num_rows() == 0 {
            continue;
        }
        let dir = ooni_parquet::partition_dir(root, "outcomes", &test_name, day).unwrap();
        let path = dir.join("part-0.parquet");
        ooni_parquet::write_file_atomically(&path, &[batch]).unwrap();
        files.push(path);
    }
    files
}

#[test]
fn passes_over_country_and_asn_ranges_equal_one_pass_on_the_real_fixtures() {
    let rows = measured();
    let networks: std::collections::BTreeSet<_> = rows
        .iter()
        .filter(|m| !m.outcomes.is_empty())
        .map(|m| (m.row.probe_cc.clone(), m.row.probe_asn))
        .collect();
    assert!(networks.len() > 20, "{} networks", networks.len());
    let dir = tempfile::tempdir().unwrap();
    let files = write_outcomes(dir.path(), &rows);
    let scan = || agg::scan_outcomes(&files);
    let one_pass = agg::collect(agg::failure_rates(scan().unwrap()), "failure_rates").unwrap();
    assert!(one_pass.height() > 500, "{} rows", one_pass.height());
    let outcome_rows: usize = rows.iter().map(|m| m.outcomes.len()).sum();
    // One network per pass, a few networks per pass, everything in one pass.
    for max_rows in [1, 400, u32::try_from(outcome_rows).unwrap()] {
        let passes = agg::failure_rates_in_passes(scan, max_rows).unwrap();
        assert!(
            passes.equals_missing(&one_pass),
            "max_rows {max_rows}: {} vs {} rows",
            passes.height(),
            one_pass.height()
        );
    }
}
