#!/usr/bin/env bash
# Side-by-side per-stage throughput of several builds of the `stages` bench, alternating
# A B A B … so that a noisy shared machine affects them alike (issue 11).
#
#   cargo bench -p ooni-benches --bench stages --no-run   # at each revision; copy the
#   cp target/release/deps/stages-<hash> /tmp/stages-A     # executable it names
#   bash benches/stages-ab.sh 5 A=/tmp/stages-A B=/tmp/stages-B
#
# Prints, per stage, the median over ROUNDS runs of divan's median throughput (MB/s).
set -euo pipefail
rounds=$1
shift
all=$(mktemp)
trap 'rm -f "$all"' EXIT
for ((i = 0; i < rounds; i++)); do
  for spec in "$@"; do
    label=${spec%%=*}
    bin=${spec#*=}
    nice -n 5 "$bin" --bench 2>/dev/null | awk -v L="$label" '
      /[├╰]─/ { name = $2; next }
      name != "" && /B\/s/ {
        sub(/^[│ ]+/, "")
        v = $7; u = $8
        if (u == "GB/s") v *= 1000
        if (u == "KB/s") v /= 1000
        print L, name, v
        name = ""
      }' >>"$all"
  done
done
python3 - "$all" "$@" <<'PY'
import collections, statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
labels = [a.split("=")[0] for a in sys.argv[2:]]
runs = collections.defaultdict(list)
for label, name, value in rows:
    runs[(label, name)].append(float(value))
names = sorted({name for _, name, _ in rows})
print("| stage | " + " | ".join(labels) + " |")
print("|---|" + "---|" * len(labels))
for n in names:
    cells = [f"{statistics.median(runs[(l, n)]):.0f}" if runs[(l, n)] else "–" for l in labels]
    print(f"| {n} | " + " | ".join(cells) + " |")
PY
