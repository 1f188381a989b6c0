#!/usr/bin/env bash
# PTQ sweep of esdnet-tiny (issue 27): 2 calibration set sizes x 2 ranges on 2 Ray workers, evaluated on
# the first two DDN-SIRR pairs (whole 481x321 images, integer emulator; two, to fit this shared machine's
# time). Writes benchmarks/sweep_esdnet.md (header, the command's table) and sweep_esdnet.out.json (summary.json).
#   bash benchmarks/sweep_esdnet.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=$(mktemp -d); OUT=$(mktemp -d)/sweep
trap 'rm -rf "$DATA" "$OUT"' EXIT
mkdir -p "$DATA/rainy" "$DATA/clean"
for f in input01 input09; do
  cp ../shared/data/test/DDN-SIRR-subset/rainy/$f.png "$DATA/rainy/"; cp ../shared/data/test/DDN-SIRR-subset/clean/$f.png "$DATA/clean/"
done
CMD=(.venv/bin/neurodeploy sweep esdnet-tiny --size 64 64 --data "$DATA" --calib ../shared/data/train/Rain13K-samples
     --calib-images 4 16 --range max percentile:99.99 --out "$OUT" --workers 2)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg); START=$(date -u +%FT%TZ); T0=$(date +%s)
TABLE=$(COLUMNS=140 "${CMD[@]}")
T1=$(date +%s); LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
cp "$OUT/summary.json" benchmarks/sweep_esdnet.out.json
{
  echo "# PTQ sweep of esdnet-tiny (\`benchmarks/sweep_esdnet.sh\`)"
  echo
  echo "Written by \`bash benchmarks/sweep_esdnet.sh\` at commit $(git rev-parse --short HEAD), $START, $(( T1 - T0 )) s wall;"
  echo "load average $LOAD0 at the start and $LOAD1 at the end (2 cores, shared with other sessions)."
  echo "Command (DATA: the first two DDN-SIRR-subset pairs, whole 481x321 images):"
  echo
  echo '```'
  echo "neurodeploy sweep esdnet-tiny --size 64 64 --data DATA --calib ../shared/data/train/Rain13K-samples --calib-images 4 16 --range max percentile:99.99 --out OUT --workers 2"
  echo '```'
  echo
  echo '```'
  echo "$TABLE"
  echo '```'
  echo
  echo "Raw summary (every setting's scores and costs): \`sweep_esdnet.out.json\`."
} > benchmarks/sweep_esdnet.md
