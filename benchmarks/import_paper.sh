#!/usr/bin/env bash
# The authors' paper-size checkpoints through the chain: write -> import -> export -> validate
# -> report, each step under /usr/bin/time -v. Results: benchmarks/import_paper.md.
#
#   bash benchmarks/import_paper.sh [WORKDIR]     (run from the repository root)
set -u
REPO=$(pwd)
BIN=$REPO/.venv/bin
WORK=${1:-$(mktemp -d)}
mkdir -p "$WORK" && cd "$WORK" || exit 2
echo "work folder: $WORK"

step() {  # step NAME COMMAND...: run, keep stdout/stderr, print wall time, peak RSS, exit code
  local name=$1; shift
  /usr/bin/time -v -o "$name.time" "$@" > "$name.out" 2> "$name.err"
  local wall rss rc
  wall=$(grep "Elapsed (wall clock)" "$name.time" | awk '{print $NF}')
  rss=$(grep "Maximum resident set size" "$name.time" | awk '{print $NF}')
  rc=$(grep "Exit status" "$name.time" | awk '{print $NF}')
  printf '| %-16s | %8s | %8d MB | exit %s | %s\n' "$name" "$wall" $((rss / 1024)) "$rc" "$*"
}

step baseline $BIN/python -c "import torch"
step esd-write $BIN/python "$REPO/benchmarks/make_authors_checkpoint.py" esdnet model_last.pth
step esd-import $BIN/neurodeploy import esdnet model_last.pth --out esdnet-imported.pt
step esd-export $BIN/neurodeploy export esdnet-imported.pt --out esdnet-bundle --size 32 32 --force
step esd-validate $BIN/neurodeploy validate esdnet-bundle --executor nir-torch
step esd-report $BIN/neurodeploy report esdnet-bundle --executor nir-torch
step sr-write $BIN/python "$REPO/benchmarks/make_authors_checkpoint.py" spikerain sr_model_best.pth --form bare-module
step sr-import $BIN/neurodeploy import spikerain sr_model_best.pth --out spikerain-imported.pt
step sr-export $BIN/neurodeploy export spikerain-imported.pt --out spikerain-bundle --size 32 32 --force
step sr-validate $BIN/neurodeploy validate spikerain-bundle --executor nir-torch
step sr-report $BIN/neurodeploy report spikerain-bundle --executor nir-torch
tail -n 1 esd-report.err sr-report.err
