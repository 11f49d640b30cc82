#!/usr/bin/env bash
# Do two builds write the same tables? Runs each on the benchmark archive (`run.sh` makes
# it) and compares all six tables row for row: a change meant to be fast, not to change
# numbers, must print "identical" six times (issue 11).
#
#   bash benches/same-tables.sh /path/to/old/ooni-pipeline /path/to/new/ooni-pipeline
#   SOURCE=examples/bucket SINCE=2020-10-20 UNTIL=2020-10-23 bash benches/same-tables.sh A B
#
# Needs Python with polars (make test-deps installs it). Exits 1 if any table differs.
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1
new=$2
source_dir=${SOURCE:-benches/data/archive}
since=${SINCE:-2024-01-15}
until=${UNTIL:-2024-01-16}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for side in old new; do
  bin=${!side}
  "$bin" run --source "$source_dir" --since "$since" --until "$until" \
    --out "$work/$side" --json >"$work/$side.json"
done
python3 - "$work/old" "$work/new" <<'PY'
import glob, sys
import polars as pl

old, new = sys.argv[1], sys.argv[2]
same = True
for table in ["measurements", "observations", "outcomes", "failure_rates", "ooni_counts",
              "blocking_events"]:
    files = {side: sorted(glob.glob(f"{root}/{table}/**/*.parquet", recursive=True))
             for side, root in (("old", old), ("new", new))}
    if not files["old"] and not files["new"]:
        print(f"{table}: absent from both")
        continue
    frames = {}
    for side, paths in files.items():
        frame = pl.read_parquet(paths, hive_partitioning=True) if paths else pl.DataFrame()
        frame = frame.select(sorted(frame.columns))
        # Row order across files is not part of the contract: compare sorted by every
        # column that sorts (lists do not).
        keys = [c for c, t in frame.schema.items() if not isinstance(t, pl.List)]
        frames[side] = frame.sort(keys, nulls_last=True)
    equal = frames["old"].equals(frames["new"])
    same &= equal
    print(f"{table}: {frames['old'].height} and {frames['new'].height} rows, "
          + ("identical" if equal else "DIFFERENT"))
sys.exit(0 if same else 1)
PY
