"""Plan a full-resolution lava-fixed run of a 100-image test set (issue 27) from measured units.

Measures here, for esdnet-tiny quantized (calibrated on examples/images/calib), one lava-fixed
validation unit against the emulator (one image: Lava compile + run + read + stop, the emulator
run, the comparison) at two crop sizes: wall seconds and the peak of the summed resident memory
of the unit's process and all its children (Lava runs one OS process per Lava process),
sampled every 0.2 s (proportional set size, so shared pages count once). A line ``a + b * pixels`` through the two points gives the estimate for a
481x321 image (Rain100L's size); the page it writes (docs/scale-out-plan.md) says which numbers
are measured and which are extrapolated.

    .venv/bin/python benchmarks/scale_out_plan.py [--sizes 64 128] [--render]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGE = Path("/work/shared/data/test/DDN-SIRR-subset/rainy/input01.png")
FULL = (321, 481)  # Rain100L / DDN-SIRR image, H x W pixels
IMAGES = 100
TARGET_S = 3600.0


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def _rss_tree(pid: int) -> int:
    """Proportional resident bytes (PSS) of ``pid`` and all its descendants: forked Lava processes
    share their parent's pages, which a sum of RSS would count once per process."""
    from neurodeploy.cli_signals import descendants

    total = 0
    for p in [pid, *descendants(pid)]:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                total += next(int(line.split()[1]) * 1024 for line in f if line.startswith("Pss:"))
        except (OSError, StopIteration):
            pass
    return total


def measure(size: int, image: Path) -> dict:
    import neurodeploy as nd

    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "b"
        nd.export("esdnet-tiny", bundle, size=(size, size), quantize="int", calib=ROOT / "examples/images/calib")
        peak, stop = [0], threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], _rss_tree(os.getpid()))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        load0 = os.getloadavg()[0]
        sampler.start()
        t0 = time.monotonic()
        v = nd.validate(bundle, executor="lava-fixed", against="emulator", images=[image], min_agreement_pct=0,
                        min_psnr_db=0)
        wall = time.monotonic() - t0
        stop.set()
        sampler.join()
    return {"kind": "unit", "size": [size, size], "pixels": size * size, "wall_s": round(wall, 2),
            "lava_run_s": round(v.data["run_s"]["lava-fixed"], 2), "peak_rss_gb": round(peak[0] / 1e9, 2),
            "min_agreement_pct": min(v.layers.values()), "load_before": round(load0, 2),
            "load_after": round(os.getloadavg()[0], 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs=2, default=[64, 128])
    ap.add_argument("--image", type=Path, default=IMAGE)
    ap.add_argument("--render", action="store_true", help="only write the page again from scale_out_plan.out.jsonl")
    args = ap.parse_args()
    raw = ROOT / "benchmarks" / "scale_out_plan.out.jsonl"
    if args.render:
        meta, *rows = [json.loads(line) for line in raw.read_text().splitlines()]
        (ROOT / "docs" / "scale-out-plan.md").write_text(render(meta, rows))
        return
    meta = {"kind": "meta", "command": ".venv/bin/python benchmarks/scale_out_plan.py " + " ".join(sys.argv[1:]),
            "commit": _git("rev-parse", "--short", "HEAD"), "dirty": bool(_git("status", "--porcelain",
                                                                                "--untracked-files=no")),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "cores": len(os.sched_getaffinity(0)), "load_start": [round(v, 2) for v in os.getloadavg()]}
    rows = []
    for size in args.sizes:
        rows.append(measure(size, args.image))
        print(json.dumps(rows[-1]), flush=True)
    meta["load_end"] = [round(v, 2) for v in os.getloadavg()]
    raw.write_text("\n".join(json.dumps(r) for r in [meta, *rows]) + "\n")
    (ROOT / "docs" / "scale-out-plan.md").write_text(render(meta, rows))


def render(meta: dict, rows: list[dict]) -> str:
    a, b = rows[0], rows[1]
    full = FULL[0] * FULL[1]

    def line(key: str) -> float:
        slope = (b[key] - a[key]) / (b["pixels"] - a["pixels"])
        return max(b[key], b[key] + slope * (full - b["pixels"]))

    # the Lava run is the part that grows with the pixels; the rest of a unit (bundle open, emulator,
    # comparison, start-up) is taken as the larger crop's
    unit_s, unit_gb = (b["wall_s"] - b["lava_run_s"]) + line("lava_run_s"), line("peak_rss_gb")
    per_node_units = 2  # a node of 2 cores runs 2 units at once, memory permitting
    node_hours = IMAGES * unit_s / 3600.0
    nodes = math.ceil(IMAGES * unit_s / (TARGET_S * per_node_units))
    fits = ("" if per_node_units * unit_gb <= 24 else
            f"- **It does not fit this machine kind** (24 GiB for 2 units of {unit_gb:.0f} GB): run one unit per node "
            f"(`--unit-memory {math.ceil(unit_gb)}` makes Ray do so) on nodes with at least {math.ceil(unit_gb) + 1} GB, "
            f"{math.ceil(IMAGES * unit_s / TARGET_S)} of them for one hour, or validate 128x128 crops (export "
            "`--size 128 128`, one unit per crop; 12 crops cover most of an image) where the memory per unit is "
            "a few GB.\n")
    rows_md = "\n".join(f"| {r['size'][0]}x{r['size'][1]} | {r['wall_s']:.1f} | {r['lava_run_s']:.1f} | "
                        f"{r['peak_rss_gb']:.2f} | {r['min_agreement_pct']:.2f} | {r['load_before']} / {r['load_after']} |"
                        for r in rows)
    return f"""# Planning a 100-image full-resolution lava-fixed run

Written by `{meta['command'].strip()}` at commit {meta['commit']}{' (with uncommitted changes)' if meta['dirty'] else ''},
{meta['date']}, on {meta['cores']} cores; load average {meta['load_start']} at the start and
{meta['load_end']} at the end (other sessions share this machine: times are several times an idle
machine's). Raw rows: `benchmarks/scale_out_plan.out.jsonl`.

**The job.** A Rain100L-size test set: {IMAGES} images of {FULL[1]}x{FULL[0]} pixels, each validated on
Lava `fixed_pt` against the integer emulator at full resolution (`neurodeploy export esdnet-tiny --size
{FULL[0]} {FULL[1]} --quantize int --calib DIR`, then `neurodeploy validate BUNDLE --executor lava-fixed
--against emulator --image DIR --cluster ADDRESS --out runs/full --unit-memory GB`). **The unit** is one
image: one Lava run (compile, run, read back, stop) and one emulator run, compared layer by layer;
`units.jsonl` keeps each as it finishes, so a lost node or a Ctrl-C costs at most the units in flight.

## Measured here: one unit of esdnet-tiny at two sizes

| crop | unit wall s | of it the Lava run s | peak memory of the unit, GB (all processes) | min spike agreement % | load before / after |
|---|---|---|---|---|---|
{rows_md}

## Extrapolated to {FULL[1]}x{FULL[0]} ({full:,} pixels, {full / b['pixels']:.0f}x the larger crop)

A straight line through the two points above, in pixels (never below the larger crop's figure),
for the Lava run and for memory; the rest of a unit as at the larger crop:
**{unit_s:,.0f} s per image** and **{unit_gb:.1f} GB per unit**. On a machine this loaded the two
points carry much noise (compare their load columns), so take the time as an order of magnitude. This is an extrapolation, not a
measurement: the Lava processes' work grows with the pixels, their number does not (the graph is
the same at every size), so the fixed part (compile, process start-up) is counted once per unit.
Measure one full-resolution unit on the target machines before booking them (`--workers 1` on one
image, `units.jsonl` has its `seconds`).

- Work: {IMAGES} x {unit_s:,.0f} s = **{node_hours:,.1f} unit-hours**.
- Nodes for a one-hour run, at {per_node_units} units at once per node (2 cores, as this machine):
  **{nodes} nodes**, each with at least **{per_node_units * unit_gb:.0f} GB** for the units plus Ray's
  object store (about 0.3 GB is enough: one image in, one comparison out per unit).
- Declare the memory: `--unit-memory {math.ceil(unit_gb)}` so that Ray never starts a third unit on
  a node whose memory holds two.
- With fewer nodes the run just takes longer: {math.ceil(node_hours / per_node_units):,} hours on one such node.
{fits}"""


if __name__ == "__main__":
    main()
