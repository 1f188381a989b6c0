"""Scale-out (issue 27): the same jobs in-process, on a local Ray of 1 and 2 workers and on Ray's
3-node test cluster, in one run; writes scale_out.out.jsonl (raw) and scale_out.md.

Jobs: the emulator evaluation of the 11-image DDN-SIRR subset (whole images) with esdnet-tiny
exported at 64x64 and quantized (calibrated on examples/images/calib), and a lava-fixed
validation against the emulator of the centre 64x64 crops of its first 4 images. Every mode's
scores are checked equal to the in-process ones. Ray's start-up is timed apart (``ray_start_s``:
``ray.init`` of a local Ray, or the test cluster's nodes coming up) and is inside the wall time.

    .venv/bin/python benchmarks/scale_out.py [--data DIR] [--skip-lava] [--modes MODE...] [--append] [--render]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
DATA = Path("/work/shared/data/test/DDN-SIRR-subset")
MODES = ("in-process", "1 worker", "2 workers", "3-node cluster")


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def _scores(job: str, data: dict) -> object:
    if job == "evaluate":
        return [{k: v for k, v in r.items() if k != "run_s"} for r in data["images"]]  # times
    return {k: v for k, v in data.items() if k not in ("run_s", "scale_out", "validated_utc")}  # times and stats


def _run(job: str, mode: str, bundle: Path, data: Path, images: list[Path], cluster_address: str | None = None):
    import neurodeploy as nd

    options = {"in-process": {}, "1 worker": {"workers": 1}, "2 workers": {"workers": 2},
               "3-node cluster": {"cluster": cluster_address}}[mode]
    t0 = time.monotonic()
    if job == "evaluate":
        result = nd.evaluate(bundle, data, executor="emulator", **options).data
    else:
        result = nd.validate(bundle, executor="lava-fixed", against="emulator", images=images,
                             min_agreement_pct=0, min_psnr_db=0, **options).data
    return result, time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--skip-lava", action="store_true", help="only the emulator evaluation")
    ap.add_argument("--jobs", nargs="+", default=["evaluate", "validate"], help="jobs to run (default: both)")
    ap.add_argument("--render", action="store_true", help="only write scale_out.md again from scale_out.out.jsonl")
    ap.add_argument("--modes", nargs="+", default=list(MODES), help="modes to run (default: all four)")
    ap.add_argument("--append", action="store_true", help="add this run's rows (and its meta line) to "
                                                          "scale_out.out.jsonl instead of replacing it")
    args = ap.parse_args()
    if args.render:
        (HERE / "scale_out.md").write_text(render(*_read(HERE / "scale_out.out.jsonl")))
        return
    import neurodeploy as nd

    command = ".venv/bin/python benchmarks/scale_out.py " + " ".join(sys.argv[1:])
    meta = {"kind": "meta", "command": command.strip(), "commit": _git("rev-parse", "--short", "HEAD"),
            "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "cores": len(os.sched_getaffinity(0)), "load_start": _load()}
    rows = []
    raw = HERE / "scale_out.out.jsonl"
    # each row is kept as soon as it is measured: a run that dies (this machine's OOM killer took
    # one) keeps the rows before it
    with open(raw, "a" if args.append else "w") as f:
        f.write(json.dumps(meta) + "\n")
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "esdnet-tiny-int"
        nd.export("esdnet-tiny", bundle, size=(64, 64), quantize="int", calib=ROOT / "examples/images/calib")
        images = sorted((args.data / "rainy").iterdir())[:4]
        jobs = [j for j in args.jobs if not (args.skip_lava and j == "validate")]
        for job in jobs:
            reference = None
            for mode in args.modes:
                load0 = _load()
                cluster, address, cluster_s = None, None, None
                if mode == "3-node cluster":
                    from ray.cluster_utils import Cluster

                    t0 = time.monotonic()
                    cluster = Cluster(initialize_head=True, head_node_args={
                        "num_cpus": 0, "object_store_memory": 300 << 20, "include_dashboard": False})
                    for _ in range(2):
                        cluster.add_node(num_cpus=1, object_store_memory=300 << 20)
                    cluster.wait_for_nodes()
                    address, cluster_s = cluster.address, time.monotonic() - t0
                try:
                    result, wall = _run(job, mode, bundle, args.data, images, address)
                finally:
                    if cluster is not None:
                        import ray

                        ray.shutdown()
                        cluster.shutdown()
                scores = _scores(job, result)
                if reference is None:
                    reference = scores
                so = result.get("scale_out") or {}
                row = {"kind": "run", "job": job, "mode": mode, "units": len(result.get("images") or
                                                                             result.get("per_image")),
                       "wall_s": round(wall + (cluster_s or 0.0), 2),
                       "ray_start_s": None if mode == "in-process" else round(
                           cluster_s if cluster_s is not None else so.get("ray_start_s") or 0.0, 2),
                       "unit_s_mean": so.get("unit_s_mean"), "retried": so.get("retried"),
                       "identical_to_in_process": scores == reference,
                       "psnr": result.get("psnr"), "output_psnr_db": result.get("output_psnr_db"),
                       "load_before": load0[0], "load_after": _load()[0]}
                rows.append(row)
                print(json.dumps(row), flush=True)
                with open(raw, "a") as f:
                    f.write(json.dumps(row) + "\n")
    with open(raw, "a") as f:
        f.write(json.dumps({"kind": "end", "load_end": _load()}) + "\n")
    metas, rows = _read(raw)
    (HERE / "scale_out.md").write_text(render(metas, rows))


def _read(raw: Path) -> tuple[list[dict], list[dict]]:
    """The runs' meta lines (each with its load at the end) and all rows."""
    metas, rows = [], []
    for line in raw.read_text().splitlines():
        entry = json.loads(line)
        if entry["kind"] == "meta":
            metas.append(entry)
        elif entry["kind"] == "end":
            metas[-1]["load_end"] = entry["load_end"]
        else:
            rows.append({**entry, "run": len(metas) - 1})
    return metas, rows


def render(metas: list[dict], rows: list[dict]) -> str:
    out = [f"# Scale-out on Ray (`benchmarks/scale_out.py`)", ""]
    for i, meta in enumerate(metas):
        out.append(f"Run {i + 1}: `{meta['command']}` at commit {meta['commit']}"
                   f"{' (with uncommitted changes)' if meta.get('dirty') else ''}, {meta['date']}, on {meta['cores']} "
                   f"cores; load average (1, 5, 15 min) {meta.get('load_start')} at the start and "
                   f"{meta.get('load_end')} at the end. {meta.get('note', '')}")
        out.append("")
    out += ["Other sessions share this machine. Raw rows: `scale_out.out.jsonl` (each row names its run).", "",
           "Bundle: esdnet-tiny exported at 64x64 with `--quantize int --calib examples/images/calib`. "
           "`evaluate`: the integer emulator on the 11 whole images of DDN-SIRR-subset (481x321), one unit per "
           "pair. `validate`: lava-fixed against the emulator on the centre 64x64 crops of the first 4 images, "
           "one unit per image (in-process, all 4 stream through one Lava run). Wall time includes Ray's "
           "start-up (`ray.init` of a local Ray, or the 3-node test cluster's nodes coming up: a head without "
           "CPUs and two nodes of one CPU, `ray.cluster_utils.Cluster`), shown apart.", ""]
    for job in dict.fromkeys(r["job"] for r in rows):
        part = [r for r in rows if r["job"] == job]
        base = next(r["wall_s"] for r in part if r["mode"] == "in-process")
        out += [f"## {job}", "", "| mode | run | units | wall s | Ray start-up s | wall without start-up s | s per unit "
                "| speed-up vs in-process | same results | load before / after |", "|---|---|---|---|---|---|---|---|---|---|"]
        for r in part:
            start = r["ray_start_s"] or 0.0
            shown_start = "-" if r["ray_start_s"] is None else f"{start:.1f}"
            per_unit = "-" if r["unit_s_mean"] is None else f"{r['unit_s_mean']:.2f}"
            same = "yes" if r["identical_to_in_process"] else "NO"
            out.append(f"| {r['mode']} | {r['run'] + 1} | {r['units']} | {r['wall_s']:.1f} | {shown_start} | {r['wall_s'] - start:.1f} | "
                       f"{per_unit} | {base / r['wall_s']:.2f}x | {same} | {r['load_before']} / {r['load_after']} |")
        out.append("")
        two = next((r for r in part if r["mode"] == "2 workers"), None)
        if two is not None:
            ratio = base / two["wall_s"]
            out += [f"2 workers against in-process: **{ratio:.2f}x** (target 1.6x: "
                    f"{'met' if ratio >= 1.6 else 'missed'}); retried units: "
                    + ", ".join(f"{r['mode']} {r['retried']}" for r in part if r["retried"] is not None) + ".", ""]
    out += ["## Reading these numbers", "",
            "In-process, a bundle's evaluation runs torch on one thread (`evaluate` sets it: one image at a "
            "time), so on an idle 2-core machine two workers can at best halve the wall time, less Ray's start-up "
            "and each worker's own start (import, opening the bundle: its first unit is the longest). The load "
            "columns say how far this machine was from idle: with other sessions keeping 15 to 60 processes "
            "runnable on 2 cores, a worker gets a small and changing share of a core, and rows measured minutes "
            "apart are not comparable. What would reach the 1.6x target: the same run on an idle machine (the "
            "units are independent and equal in size, so two workers on two free cores approach 2x once the "
            "start-up is small against the run: 11 whole images are minutes of work, Ray's start-up seconds), or "
            "more cores. The lava-fixed rows pay per unit what the in-process run pays once (Lava compiles and "
            "starts its processes per run; in-process, the 4 crops stream through one run), so on small crops "
            "units only pay off across machines; on full-resolution images the run dominates "
            "(`docs/scale-out-plan.md`).", ""]
    return "\n".join(out)


if __name__ == "__main__":
    main()
