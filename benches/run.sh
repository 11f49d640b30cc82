#!/usr/bin/env bash
# Throughput and peak memory of ooni-pipeline beside its peers on the same files, in one run:
#   - `gzip -dc` on one core (the floor any reader of OONI's archive pays);
#   - the pipeline with --jobs 1 and --jobs 2 (default settings otherwise);
#   - DuckDB's read_ndjson → zstd Parquet (the tool an analyst would reach for), on the
#     .jsonl.gz cans (DuckDB cannot read the tar postcans), beside `gzip -dc` on those cans;
#   - the pipeline's peak RSS against input size (a quarter, half and all of the archive);
#   - the work no version of the job can skip, on one core (bench-floor): reading every
#     archive a run reads, then also OONI's trivial_id for records without a uid, then also
#     one parse into the model. Two cores can at best halve these times.
#
#   bash benches/run.sh            # generates benches/data/archive (≈200 MB compressed) once
#   BENCH_MB=50 bash benches/run.sh
#   BENCH_BIN=/path/to/ooni-pipeline bash benches/run.sh   # time another build (no cargo build)
#
# Needs a release build (cargo build --release: ≈32 min cold on 2 cores), GNU time, and the
# Python duckdb package (make test-deps installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
if [ -z "${BENCH_BIN:-}" ]; then
  cargo build --release --locked -p ooni-cli -p ooni-benches
fi
cargo build --release --locked -p ooni-benches
bin="${BENCH_BIN:-$target/release/ooni-pipeline}"
floor="$target/release/bench-floor"
data=benches/data
archive="$data/archive"
if [ ! -d "$archive/raw" ]; then
  "$target/release/make-bench-archive" tests/fixtures/ooni-real "$archive" "${BENCH_MB:-200}"
fi
mapfile -t files < <(find "$archive" -name '*.gz' | sort)
mapfile -t lines_files < <(find "$archive" -name '*.jsonl.gz' | sort)
size() { cat "$@" | wc -c; }
unpacked() { gzip -dc "$@" | wc -c; }
stored=$(size "${files[@]}")
decoded=$(unpacked "${files[@]}")
lines_stored=$(size "${lines_files[@]}")
lines_decoded=$(unpacked "${lines_files[@]}")
echo "input: ${#files[@]} cans ($(( ${#files[@]} - ${#lines_files[@]} )) postcans), $stored bytes stored, $decoded decompressed ($(python3 -c "print(f'{$decoded/$stored:.1f}')"):1)"
echo "binary: $bin"

timed() { # label, command...: prints "label seconds peak_kib"
  local label=$1; shift
  local out; out=$(mktemp)
  /usr/bin/time -f '%e %M' -o "$out" "$@" >/dev/null 2>"$data/$label.stderr" || true
  echo "$label $(tail -1 "$out")"
  rm -f "$out"
}

# The subsets for RSS against input size: hard links to the first quarter and half of the cans.
subset() { # fraction-name, count
  local dir="$data/subset-$1"
  rm -rf "$dir"
  for f in "${files[@]:0:$2}"; do
    mkdir -p "$dir/$(dirname "${f#"$archive"/}")"
    ln "$f" "$dir/${f#"$archive"/}"
  done
  echo "$dir"
}
quarter=$(subset quarter $(( ${#files[@]} / 4 )))
half=$(subset half $(( ${#files[@]} / 2 )))

pipeline() { # label, source, jobs
  rm -rf "$data/out-$1"
  timed "$1" "$bin" run --source "$2" --since 2024-01-15 --until 2024-01-16 \
    --out "$data/out-$1" --jobs "$3" --json
}

duckdb_copy() {
  rm -f "$data/duckdb.parquet"
  timed duckdb python3 - "$data/duckdb.parquet" "${lines_files[@]}" <<'PY'
import sys, duckdb
out, files = sys.argv[1], sys.argv[2:]
con = duckdb.connect()
con.execute("SET threads = 2")
columns = {c: "VARCHAR" for c in ["report_id", "test_name", "test_version", "probe_cc",
    "probe_asn", "probe_network_name", "resolver_ip", "software_name", "software_version",
    "measurement_start_time", "input"]}
columns.update({"test_runtime": "DOUBLE", "annotations": "JSON", "test_keys": "JSON"})
con.execute(
    "COPY (SELECT * FROM read_ndjson($files, columns = $columns, ignore_errors = true,"
    " maximum_object_size = 67108864)) TO '" + out + "' (FORMAT parquet, COMPRESSION zstd)",
    {"files": files, "columns": columns},
)
PY
}

results=()
results+=("$(timed gzip-dc gzip -dc "${files[@]}")")
results+=("$(pipeline pipeline-jobs-1 "$archive" 1)")
results+=("$(pipeline pipeline-jobs-2 "$archive" 2)")
if [ -x "$floor" ]; then
  for mode in read ids parse; do
    results+=("$(timed "floor-$mode" "$floor" "$archive" "$mode")")
  done
fi
lines_results=()
lines_results+=("$(timed gzip-dc-jsonl gzip -dc "${lines_files[@]}")")
lines_results+=("$(duckdb_copy)")
rss_results=()
rss_results+=("$(pipeline pipeline-quarter "$quarter" 2)")
rss_results+=("$(pipeline pipeline-half "$half" 2)")

row() { # label secs kib stored decoded msm
  python3 - "$@" <<'PY'
import sys
label, secs, kib, stored, decoded, msm = sys.argv[1:]
secs = float(secs)
rate = f"{int(msm) / secs:,.0f}" if msm else "–"
print(f"| {label} | {secs:.2f} | {int(stored) / 1e6 / secs:.1f} | {int(decoded) / 1e6 / secs:.1f} | {rate} | {int(kib) / 1024:.0f} |")
PY
}
written() { # output dir → measurements written
  python3 -c "import json,glob,sys; s=json.load(open(sorted(glob.glob(sys.argv[1] + '/_runs/*.json'))[-1])); print(s['measurements_written'])" "$1"
}

header='| run | seconds | stored MB/s | decompressed MB/s | measurements/s | peak RSS MB |\n|---|---|---|---|---|---|'
printf '\nAll cans:\n\n%b\n' "$header"
for r in "${results[@]}"; do
  read -r label secs kib <<<"$r"
  msm=""
  [[ $label == pipeline-* ]] && msm=$(written "$data/out-$label")
  row "$label" "$secs" "$kib" "$stored" "$decoded" "$msm"
done
printf '\nThe .jsonl.gz cans only (what DuckDB can read):\n\n%b\n' "$header"
for r in "${lines_results[@]}"; do
  read -r label secs kib <<<"$r"
  row "$label" "$secs" "$kib" "$lines_stored" "$lines_decoded" ""
done
printf '\nPeak RSS against input size (--jobs 2, default --batch-mib):\n\n| input | stored MB | peak RSS MB |\n|---|---|---|\n'
for r in "${rss_results[@]}" "${results[2]}"; do
  read -r label secs kib <<<"$r"
  case $label in
    pipeline-quarter) src=$quarter ;;
    pipeline-half) src=$half ;;
    *) src=$archive ;;
  esac
  name=${label#pipeline-}
  [ "$name" = jobs-2 ] && name=all
  echo "| $name | $(( $(find "$src" -name '*.gz' -exec cat {} + | wc -c) / 1000000 )) | $(( kib / 1024 )) |"
done
for label in pipeline-jobs-1 pipeline-jobs-2; do
  python3 -c "import json,glob,sys; s=json.load(open(sorted(glob.glob(sys.argv[1] + '/_runs/*.json'))[-1])); print(sys.argv[2], 'phases (s):', {k: round(v, 2) for k, v in s['seconds'].items()}, 'observations:', s['observations_written'], 'rejected:', s['conservation']['rejected'])" "$data/out-$label" "$label"
done
# How far the goal (two cores in half of gzip -dc's time) is, and how far it could be: the
# floor's one-core times can at best be halved by two cores.
python3 - "${results[@]}" <<'PY'
import sys
secs = {r.split()[0]: float(r.split()[1]) for r in sys.argv[1:]}
gzip = secs["gzip-dc"]
print(f"\ngzip -dc / pipeline --jobs 2: {gzip / secs['pipeline-jobs-2']:.2f} (goal: 2.0)")
for mode in ("read", "ids", "parse"):
    if f"floor-{mode}" in secs:
        print(f"gzip -dc / (floor-{mode} / 2), the best any job doing only that could reach: "
              f"{gzip / (secs[f'floor-{mode}'] / 2):.2f}")
PY
