//! Rows of the real fixtures for the crate's unit tests.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ooni_model::Table;
use ooni_parquet::{Measured, Provenance};

use crate::run::PARTITIONED_TABLES;
use crate::state;

/// The rows of the real fixtures (`tests/fixtures/ooni-real`), as a batch holds them.
pub fn fixture_rows() -> Vec<Measured> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/ooni-real");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .filter_map(|path| {
            let bytes = std::fs::read(path).unwrap();
            match ooni_normalize::normalize(&bytes, None) {
                Ok(ooni_normalize::Outcome::Measurement(m)) => Some(Measured {
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
            }
        })
        .collect()
}

/// Writes `table` of `rows` as the files run `run_id` commits, one per partition; returns
/// their paths relative to `out`.
pub fn write_as_run(out: &Path, table: Table, run_id: &str, rows: &[Measured]) -> Vec<String> {
    let mut partitions: BTreeMap<_, Vec<&Measured>> = BTreeMap::new();
    for m in rows {
        partitions
            .entry((m.row.test_name.clone(), m.row.measurement_day))
            .or_default()
            .push(m);
    }
    let (_, build) = PARTITIONED_TABLES
        .into_iter()
        .find(|(t, _)| *t == table)
        .unwrap();
    let mut files = Vec::new();
    for ((test_name, day), rows) in partitions {
        let batch = build(&rows).unwrap();
        if batch.num_rows() == 0 {
            continue;
        }
        let dir = ooni_parquet::partition_dir(out, table.as_str(), &test_name, day).unwrap();
        let path = dir.join(format!("part-{run_id}-0001.parquet"));
        ooni_parquet::write_file_atomically(&path, &[batch]).unwrap();
        files.push(state::relative(out, &path));
    }
    files
}
