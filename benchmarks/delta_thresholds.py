"""Sigma-delta across the chip/host cut: one threshold for every edge against a threshold per edge (issue 31).

Usage::

    .venv/bin/python benchmarks/delta_thresholds.py            # measure; write delta_thresholds.out.json and .md
    .venv/bin/python benchmarks/delta_thresholds.py --check    # exit 1 when the .md differs from its record
    .venv/bin/python benchmarks/delta_thresholds.py --render   # write the .md again from the record

Per tiny derainer, exported at 64x64 with ``--residency gates`` (as ``chip_residency.py``), run by nir-torch
(float64) on the 64x64 crop of the example photo: the messages per step across the cut and the output
PSNR (dB, peak 1) against the exact run (threshold 0), for ``export --delta-threshold X`` (X in model
units, every edge) and ``export --delta-relative R`` (each edge R times the largest |value| its source
sends on the same crop: ``bundle._relative_delta_thresholds``, what the export computes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _record

HERE = Path(__file__).resolve().parent
MD, OUT = HERE / "delta_thresholds.md", HERE / "delta_thresholds.out.json"
TINY = ["esdnet-tiny", "spikerain-tiny", "vlifnet-tiny"]
ABSOLUTE = [0.01, 0.05]  # model units (the image and the gates live in [0, 1])
RELATIVE = [0.01, 0.05]  # fractions of each edge's range


def measure(name: str) -> dict:
    import numpy as np

    from neurodeploy.bundle import _relative_delta_thresholds
    from neurodeploy.checkpoint import load_model
    from neurodeploy.images import load_inputs
    from neurodeploy.ir import DeployGraph
    from neurodeploy.nir_export import export_graph
    from neurodeploy.passes import run_passes
    from neurodeploy.targets.nir_torch import NirTorchExecutor

    model, ckpt = load_model(name)
    g = DeployGraph.from_nir(export_graph(model, (64, 64), architecture=ckpt.architecture, config=ckpt.config,
                                          residency="gates", delta_threshold=0.0))
    run_passes(g)
    images, _ = load_inputs(None, (64, 64))
    exact = NirTorchExecutor(g.nir, g.info, delta_threshold=0.0).run(images)[0]

    def row(kind: str, value: float, trace) -> dict:
        mse = float(np.mean((trace.output - exact.output) ** 2))
        return {"kind": kind, "value": value, "per_step": round(sum(trace.meta["cut_messages_per_step"].values())),
                "output_psnr_db": 200.0 if mse == 0 else min(200.0, 10 * float(np.log10(1.0 / mse)))}

    rows = [row("exact", 0.0, exact)]
    for th in ABSOLUTE:
        rows.append(row("absolute", th, NirTorchExecutor(g.nir, g.info, delta_threshold=th).run(images)[0]))
    for r in RELATIVE:
        g.info.delta_thresholds = _relative_delta_thresholds(g, r, None, (64, 64))
        t = NirTorchExecutor(g.nir, g.info).run(images)[0]
        rows.append({**row("relative", r, t), "edges": len(g.info.delta_thresholds),
                     "threshold_min": min(g.info.delta_thresholds.values()),
                     "threshold_max": max(g.info.delta_thresholds.values())})
    g.info.delta_thresholds = {}
    return {"model": name, "cut_edges": len(exact.meta["cut_messages_per_step"]), "rows": rows}


def render(record: dict) -> str:
    lines = ["# Sigma-delta thresholds: one for every cut edge, or one per edge (`benchmarks/delta_thresholds.py`)",
             "", _record.provenance(record["meta"]), "",
             "Each tiny derainer exported at 64x64 with `--residency gates`, run by nir-torch (float64) on the 64x64 "
             "crop of the example photo. Messages per step: the values that cross the chip/host cut as sigma-delta "
             "messages (a value is sent when it changed by more than its edge's threshold). PSNR: the output against "
             "the exact run (threshold 0), peak 1. `--delta-threshold X`: X in model units on every edge. "
             "`--delta-relative R`: each edge R times the largest |value| its source sends on the same crop (the "
             "export measures it on its calibration crops, or on the example image), so a gate in [0, 1] and a "
             "feature map with a larger range drop changes of the same relative size.", ""]
    body = []
    for m in record["models"]:
        for r in m["rows"]:
            opt = ("exact (`--delta-threshold 0`)" if r["kind"] == "exact" else
                   f"`--delta-threshold {r['value']:g}`" if r["kind"] == "absolute" else
                   f"`--delta-relative {r['value']:g}`")
            span = (f"{r['threshold_min']:.3g} – {r['threshold_max']:.3g}" if r["kind"] == "relative" else
                    f"{r['value']:g}")
            body.append([m["model"], opt, span, f"{r['per_step']:,}",
                         "exact" if r["output_psnr_db"] >= 200 else f"{r['output_psnr_db']:.1f}"])
    lines += _record.table(["model", "thresholds", "per-edge thresholds (model units)", "messages / step",
                            "output PSNR vs exact (dB)"], body, "lllrr")
    lines += ["", "Per model, the row with fewer messages at a higher PSNR is the better choice of the two rules "
              "at that budget; neither is chosen by default (the default sends every value every step)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--render", action="store_true")
    args = ap.parse_args(argv)
    if args.check or args.render:
        return _record.check_or_write(MD, OUT, render, write=args.render)
    meta = _record.started(argv and [sys.argv[0], *argv])
    models = []
    for name in TINY:
        models.append(measure(name))
        print(models[-1], flush=True)
    _record.write_json(OUT, {"meta": _record.finished(meta), "models": models})
    return _record.check_or_write(MD, OUT, render, write=True)


if __name__ == "__main__":
    raise SystemExit(main())
