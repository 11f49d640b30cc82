//! The output read back by the readers analysts use: DuckDB, pyarrow and polars (Python).

use std::process::Command;

use serde_json::Value;

use crate::support::*;

#[test]
fn duckdb_pyarrow_and_polars_read_the_output_hive_partitioned() {
    let run = run_sample(&sample_bucket(), &[]);
    let script = repo().join("tests/python/read_outputs.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg(&run.out)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "tests/python/read_outputs.py failed (install its packages with \
         `pip install -r tests/requirements.txt`):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    let expected = |table: &str| read_table(&run.out.join(table)).len() as u64;
    for reader in ["duckdb", "pyarrow", "polars"] {
        for table in ["measurements", "failure_rates", "ooni_counts"] {
            assert_eq!(
                seen[reader][table]["rows"].as_u64(),
                Some(expected(table)),
                "{reader} {table}: {seen}"
            );
        }
        // Partition columns come back typed from the directory names.
        let m = &seen[reader]["measurements"];
        assert_eq!(
            m["distinct_days"],
            seen["duckdb"]["measurements"]["distinct_days"]
        );
        assert!(
            m["test_names"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t == "web_connectivity")
        );
        assert!(
            m["day_type"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("date"),
            "{reader}: measurement_day is a date: {m}"
        );
        assert!(
            m["start_type"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("utc")
                || m["start_type"]
                    .as_str()
                    .unwrap()
                    .to_lowercase()
                    .contains("time zone"),
            "{reader}: measurement_start_time is a UTC timestamp: {m}"
        );
    }
}
