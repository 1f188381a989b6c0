"""Benchmark: did the deployment-graph reshape make user-visible commands slower?

Runs two checkouts' CLIs alternately in one run (the machine is shared and noisy, so the
figure is the ratio of medians, both measured under the same load):

- ``neurodeploy export esdnet-tiny --size 64 64`` (load, export, passes, chip.nir, host ONNX);
- ``neurodeploy validate TOY --executor lava-float`` on a toy-residual bundle (32x32) that
  each checkout exported itself.

    .venv/bin/python benchmarks/pipeline_speed.py --before /work/wt/before [--repeats 5]

``--before`` is a checkout of the earlier commit with its own ``.venv`` (e.g. a git worktree
whose venv reuses this one's packages); the "after" side is this checkout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cli(checkout: Path) -> str:
    return str(checkout / ".venv" / "bin" / "neurodeploy")


def _timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", type=Path, required=True, help="checkout of the earlier commit, with .venv")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    sides = {"before": args.before.resolve(), "after": ROOT}
    work = Path(tempfile.mkdtemp(prefix="pipeline-speed-"))
    # size spelled the way both CLIs accept (the repeated form is kept as an alias)
    size = ["--size", "64", "--size", "64"]
    for side, checkout in sides.items():
        subprocess.run([_cli(checkout), "export", "toy-residual", "--out", str(work / f"toy-{side}"),
                        "--size", "32", "--size", "32", "--force"], check=True, capture_output=True)
    times = {(cmd, side): [] for cmd in ("export esdnet-tiny", "validate toy-residual") for side in sides}
    for _ in range(args.repeats):
        for side, checkout in sides.items():
            times[("export esdnet-tiny", side)].append(_timed(
                [_cli(checkout), "export", "esdnet-tiny", "--out", str(work / f"esd-{side}"), *size, "--force"]))
            times[("validate toy-residual", side)].append(_timed(
                [_cli(checkout), "validate", str(work / f"toy-{side}"), "--executor", "lava-float"]))
    rows = []
    for cmd in ("export esdnet-tiny", "validate toy-residual"):
        before = statistics.median(times[(cmd, "before")])
        after = statistics.median(times[(cmd, "after")])
        rows.append({"command": cmd, "before_s": round(before, 2), "after_s": round(after, 2),
                     "after_over_before": round(after / before, 3), "repeats": args.repeats})
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
