#!/usr/bin/env bash
# Throughput and peak memory of ooni-pipeline beside `gzip -dc` on the same files, in one run.
#
#   bash benches/run.sh            # generates benches/data/archive (≈200 MB compressed) once
#   BENCH_MB=50 bash benches/run.sh
#
# Needs a release build (cargo build --release: ≈32 min cold on 2 cores) and GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked -p ooni-cli -p ooni-benches
bin="$target/release"
data=benches/data
archive="$data/archive"
if [ ! -d "$archive/raw" ]; then
  "$bin/make-bench-archive" tests/fixtures/ooni-real "$archive" "${BENCH_MB:-200}"
fi
mapfile -t files < <(find "$archive" -name '*.jsonl.gz' | sort)
stored=$(cat "${files[@]}" | wc -c)
decoded=$(gzip -dc "${files[@]}" | wc -c)
echo "input: ${#files[@]} files, $stored bytes stored, $decoded bytes decompressed"

timed() { # label, command...: prints "label seconds peak_kib"
  local label=$1; shift
  local out; out=$(mktemp)
  /usr/bin/time -f '%e %M' -o "$out" "$@" >/dev/null 2>"$data/$label.stderr" || true
  echo "$label $(tail -1 "$out")"
  rm -f "$out"
}

results=()
results+=("$(timed gzip-dc gzip -dc "${files[@]}")")
for jobs in 1 2; do
  rm -rf "$data/out-$jobs"
  results+=("$(timed "pipeline-jobs-$jobs" "$bin/ooni-pipeline" run --source "$archive" \
    --since 2024-01-15 --until 2024-01-16 --out "$data/out-$jobs" --jobs "$jobs" --json)")
done

printf '\n| run | seconds | stored MB/s | decompressed MB/s | measurements/s | peak RSS MB |\n|---|---|---|---|---|---|\n'
for r in "${results[@]}"; do
  read -r label secs kib <<<"$r"
  msm=""
  if [[ $label == pipeline-jobs-* ]]; then
    jobs=${label##*-}
    msm=$(python3 -c "import json,glob; s=json.load(open(sorted(glob.glob('$data/out-$jobs/_runs/*.json'))[-1])); print(s['measurements_written'])")
  fi
  python3 - "$label" "$secs" "$kib" "$stored" "$decoded" "$msm" <<'PY'
import sys
label, secs, kib, stored, decoded, msm = sys.argv[1:]
secs = float(secs)
rate = f"{int(msm) / secs:,.0f}" if msm else "–"
print(f"| {label} | {secs:.2f} | {int(stored) / 1e6 / secs:.1f} | {int(decoded) / 1e6 / secs:.1f} | {rate} | {int(kib) / 1024:.0f} |")
PY
done
for jobs in 1 2; do
  python3 -c "import json,glob; s=json.load(open(sorted(glob.glob('$data/out-$jobs/_runs/*.json'))[-1])); print('jobs $jobs phases (s):', {k: round(v, 2) for k, v in s['seconds'].items()}, 'observations:', s['observations_written'])"
done
