"""Reads an ooni-pipeline output directory with DuckDB, pyarrow and polars, exactly as the
README tells analysts to, and prints what each saw as JSON (used by tests/e2e/readers.rs)."""

import json
import sys

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds

out = sys.argv[1]
TABLES = ["measurements", "failure_rates", "ooni_counts"]
result = {"duckdb": {}, "pyarrow": {}, "polars": {}}

con = duckdb.connect()
for table in TABLES:
    hive = 1 if table == "measurements" else 0
    src = f"read_parquet('{out}/{table}/**/*.parquet', hive_partitioning={hive})"
    info = {"rows": con.execute(f"SELECT count(*) FROM {src}").fetchone()[0]}
    if table == "measurements":
        types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
        info["day_type"] = types["measurement_day"]
        info["start_type"] = types["measurement_start_time"]
        info["distinct_days"] = con.execute(f"SELECT count(DISTINCT measurement_day) FROM {src}").fetchone()[0]
        info["test_names"] = sorted(r[0] for r in con.execute(f"SELECT DISTINCT test_name FROM {src}").fetchall())
    result["duckdb"][table] = info

for table in TABLES:
    if table == "measurements":
        # Typed partition columns: the schema says what the directory names mean.
        part = ds.partitioning(pa.schema([("test_name", pa.string()), ("measurement_day", pa.date32())]), flavor="hive")
        t = ds.dataset(f"{out}/{table}", format="parquet", partitioning=part).to_table()
        info = {
            "rows": t.num_rows,
            "day_type": str(t.schema.field("measurement_day").type),
            "start_type": str(t.schema.field("measurement_start_time").type),
            "distinct_days": len(set(t.column("measurement_day").to_pylist())),
            "test_names": sorted(set(t.column("test_name").to_pylist())),
        }
    else:
        t = ds.dataset(f"{out}/{table}", format="parquet").to_table()
        info = {"rows": t.num_rows}
    result["pyarrow"][table] = info

for table in TABLES:
    lf = pl.scan_parquet(f"{out}/{table}/**/*.parquet", hive_partitioning=(table == "measurements"))
    df = lf.collect()
    info = {"rows": df.height}
    if table == "measurements":
        info["day_type"] = str(df.schema["measurement_day"])
        info["start_type"] = str(df.schema["measurement_start_time"])
        info["distinct_days"] = df["measurement_day"].n_unique()
        info["test_names"] = sorted(df["test_name"].unique().to_list())
    result["polars"][table] = info

print(json.dumps(result))
