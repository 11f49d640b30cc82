#!/usr/bin/env bash
# Peak RSS of `ooni-pipeline run --jobs 2` (default settings) as the input grows, two ways:
#   - more days: 1, 2 and 4 days of ≈200 MB stored each (a backfill, a week of nightly runs);
#   - a larger day: one day of ≈200 and ≈400 MB stored.
# Each archive comes from make-bench-archive (same fixtures, fresh report ids), generated once
# under benches/data/growth/. Prints one table row per run: input, days, stored MB,
# measurements, seconds, peak RSS MB.
#
#   bash benches/rss-growth.sh
#   BENCH_BIN=/path/to/ooni-pipeline bash benches/rss-growth.sh
#
# Needs a release build (cargo build --release -p ooni-cli -p ooni-benches) and GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
bin="${BENCH_BIN:-$target/release/ooni-pipeline}"
make_archive="$target/release/make-bench-archive"
data=benches/data/growth
mkdir -p "$data"

archive() { # name, MB, days → path (generated once)
  local dir="$data/$1"
  if [ ! -d "$dir/raw" ]; then
    "$make_archive" tests/fixtures/ooni-real "$dir" "$2" "$3" >&2
  fi
  echo "$dir"
}

echo "binary: $bin"
echo
echo "| input | days | stored MB | measurements | seconds | peak RSS MB |"
echo "|---|---|---|---|---|---|"
for spec in "1-day:200:1" "2-days:400:2" "4-days:800:4" "1-larger-day:400:1"; do
  IFS=: read -r name mb days <<<"$spec"
  src=$(archive "$name" "$mb" "$days")
  out="$data/out-$name"
  rm -rf "$out"
  until=$(date -u -d "2024-01-15 + $days days" +%F)
  /usr/bin/time -f '%e %M' -o "$data/$name.time" "$bin" run --source "$src" \
    --since 2024-01-15 --until "$until" --out "$out" --jobs 2 --json >/dev/null 2>"$data/$name.stderr"
  read -r secs kib < <(tail -1 "$data/$name.time")
  stored=$(find "$src" -name '*.gz' -exec cat {} + | wc -c)
  written=$(python3 -c "import json,glob,sys; s=json.load(open(sorted(glob.glob(sys.argv[1] + '/_runs/*.json'))[-1])); print(s['measurements_written'])" "$out")
  echo "| $name | $days | $(( stored / 1000000 )) | $written | $secs | $(( kib / 1024 )) |"
done
