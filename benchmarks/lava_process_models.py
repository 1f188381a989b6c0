"""Benchmark: neurodeploy's faster Lava process models against Lava's own, in one run.

1. Conv, floating point: :func:`~neurodeploy.targets.loihi.processes.fast.conv_xyc` (the
   computation of ``PyConvModelFloatFast``) against Lava's ``utils.conv_scipy`` (what
   ``PyConvModelFloat`` runs), on the conv shapes of esdnet-tiny at 64x64; same inputs,
   largest difference relative to the output's magnitude.
2. Read-back: the file-writing record sink against Lava's ``RingBuffer`` sink + ``Var.get()``
   for one layer's spikes (8 channels, 64x64, 46 steps) in a real Lava run.
3. Fusion: a whole vlifnet-tiny Lava run (32x32 crop of a real rainy photo) with connected
   routing/relay/interpolation nodes fused into one process each (delays on their inputs
   held inside) against one process per node plus delay-line processes; identical records.

    .venv/bin/python benchmarks/lava_process_models.py --write   # all parts; .out.json and .md
    .venv/bin/python benchmarks/lava_process_models.py --check   # does the .md equal its record?
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np

# neurodeploy and Lava are imported in each part: --check renders from the record without them


def _best(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def conv_rows() -> list[dict]:
    import neurodeploy.targets.loihi  # noqa: F401  (Lava's Python 3.11 shim, before lava)
    from lava.proc.conv import utils

    from neurodeploy.bundle import export_bundle
    from neurodeploy.targets.loihi.lower import lower
    from neurodeploy.targets.loihi.processes.fast import conv_xyc
    from neurodeploy.bundle import Bundle

    work = Path(tempfile.mkdtemp())
    export_bundle("esdnet-tiny", work / "b", size=(64, 64))
    b = Bundle.open(work / "b")
    rows, seen = [], set()
    rng = np.random.default_rng(0)
    for node in lower(b.graph, b.info).nodes.values():
        if node.kind != "conv":
            continue
        p = node.params
        key = (p["input_shape"], p["weight"].shape, p["stride"], p["groups"])
        if key in seen:
            continue
        seen.add(key)
        x = rng.random(p["input_shape"])
        k = p["weight"].shape[1:3]
        lava = utils.conv_scipy(x, p["weight"], k, p["stride"], p["padding"], p["dilation"], p["groups"])
        ours = conv_xyc(x, p["weight"], p["stride"], p["padding"], p["dilation"], p["groups"])
        t_lava = _best(lambda: utils.conv_scipy(x, p["weight"], k, p["stride"], p["padding"], p["dilation"], p["groups"]))
        t_ours = _best(lambda: conv_xyc(x, p["weight"], p["stride"], p["padding"], p["dilation"], p["groups"]))
        rows.append({"conv": node.name, "input_xyc": list(p["input_shape"]), "weight": list(p["weight"].shape),
                     "stride": list(p["stride"]), "groups": p["groups"],
                     "lava_ms": round(t_lava * 1e3, 3), "fast_ms": round(t_ours * 1e3, 3),
                     "speedup": round(t_lava / t_ours, 1),
                     "max_rel_diff": float(np.max(np.abs(lava - ours)) / np.max(np.abs(lava)))})
    return rows


def readback_row() -> dict:
    import neurodeploy.targets.loihi  # noqa: F401  (Lava's Python 3.11 shim, before lava)
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    from neurodeploy.targets.loihi.processes.functions import record_process

    shape, steps = (64, 64, 8), 46
    data = (np.random.default_rng(0).random(shape + (steps,)) > 0.8).astype(float)
    src = Source(data=data)
    sink = Sink(shape=shape, buffer=steps)
    path = Path(tempfile.mkdtemp()) / "rec.npy"
    rec, model = record_process("rec", shape, steps, str(path))
    src.s_out.connect(sink.a_in)
    src.s_out.connect(rec.a_in)
    src.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="floating_pt",
                                                                       exception_proc_model_map={rec: model}))
    start = time.perf_counter()
    via_var = sink.data.get()
    t_var = time.perf_counter() - start
    src.stop()
    start = time.perf_counter()
    via_file = np.load(path)
    t_file = time.perf_counter() - start
    assert np.array_equal(via_var, via_file) and np.array_equal(via_file, data)
    return {"record": "one layer 64x64x8, 46 steps", "var_get_s": round(t_var, 3), "file_s": round(t_file, 4),
            "speedup": round(t_var / t_file, 0)}


def fusion_row(size: int = 32) -> dict:
    import neurodeploy.targets.loihi  # noqa: F401  (Lava's Python 3.11 shim, before lava)
    from neurodeploy.bundle import Bundle, export_bundle
    from neurodeploy.images import read_image
    from neurodeploy.targets.loihi.lower import lower
    from neurodeploy.targets.loihi.network import LavaNetwork

    work = Path(tempfile.mkdtemp())
    export_bundle("vlifnet-tiny", work / "b", size=(size, size))
    b = Bundle.open(work / "b")
    img = read_image(Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "real-001.png")
    h, w = img.shape[1:]
    image = img[None, :, h // 2 - size // 2:h // 2 + size // 2, w // 2 - size // 2:w // 2 + size // 2]
    lowered = lower(b.graph, b.info)
    runs = {}
    for fuse in (False, True):
        net = LavaNetwork(lowered, image, b.path / "host", fuse=fuse)
        spikes, out, seconds = net.run()
        runs[fuse] = (net.process_count, spikes, out, seconds)
    same = all(np.array_equal(runs[True][1][k], runs[False][1][k]) for k in runs[False][1]) and \
        np.array_equal(runs[True][2], runs[False][2])
    assert same
    return {"model": f"vlifnet-tiny {size}x{size}", "lava_steps": lowered.steps_for(1),
            "processes_unfused": runs[False][0], "processes_fused": runs[True][0],
            "run_s_unfused": round(runs[False][3], 1), "run_s_fused": round(runs[True][3], 1),
            "speedup": round(runs[False][3] / runs[True][3], 2), "identical_records": same}


HERE = Path(__file__).resolve().parent
MD, OUT = HERE / "lava_process_models.md", HERE / "lava_process_models.out.json"


def render(out: dict) -> str:
    """lava_process_models.md from its recorded output file alone."""
    from _record import provenance, table

    lines = ["# Faster Lava process models against Lava's own (one run)", "", provenance(out.get("meta"), out), ""]
    if "conv" in out:
        rows = out["conv"]
        lines += ["## Conv, floating point: `PyConvModelFloatFast` (`conv_xyc`) vs Lava's `PyConvModelFloat` "
                  "(`utils.conv_scipy`)", "",
                  "Every distinct conv of esdnet-tiny exported at 64x64 (Lava layout X, Y, C; weight C_out, kx, ky, "
                  "C_in/groups); best of 3 per conv, both sides under the same load.", ""]
        lines += table(["conv", "input (X,Y,C)", "weight", "stride", "Lava ms", "ours ms", "speedup",
                        "max diff / max |output|"],
                       [[r["conv"], str(tuple(r["input_xyc"])), str(tuple(r["weight"])), str(tuple(r["stride"])),
                         str(r["lava_ms"]), str(r["fast_ms"]), f"{r['speedup']}x", f"{r['max_rel_diff']:.1e}"]
                        for r in rows], "llllrrrr")
        lines += ["", f"Every conv is at least {min(r['speedup'] for r in rows):.1f}x faster (target: 5x); the outputs "
                  f"agree to {max(r['max_rel_diff'] for r in rows):.1e} of their magnitude (a different summation "
                  "order); `tests/test_fast_models.py` checks the values on random layers and that a Lava run gives "
                  "the same spikes with either model.", ""]
    if "readback" in out:
        r = out["readback"]
        lines += ["## Read-back: file-writing record sink vs Lava's `RingBuffer` sink + `Var.get()`", "",
                  f"{r['record']}: `Var.get()` {r['var_get_s']} s, `np.load` of the record {r['file_s']} s "
                  f"({r['speedup']:.0f}x; the record is written inside the run). Identical arrays (asserted).", ""]
    if "fusion" in out:
        r = out["fusion"]
        lines += ["## Fused routing processes: one process per connected group of relays/routing/interpolation", "",
                  f"{r['model']}, the centre crop of `real-001.png`, one image, both runs in this invocation; "
                  "identical records in every layer and identical output images (asserted).", ""]
        lines += table(["run", "Lava steps", "Lava processes", "run s (compile + run + stop)", "speed-up"],
                       [["one process per relay/concat/upsample/patch-to-time, delay-line processes into them",
                         str(r["lava_steps"]), str(r["processes_unfused"]), str(r["run_s_unfused"]), ""],
                        ["connected ones fused, their input delays held inside", str(r["lava_steps"]),
                         str(r["processes_fused"]), str(r["run_s_fused"]), f"{r['speedup']}×"]], "lrrrr")
        lines += [""]
    return "\n".join(lines)


if __name__ == "__main__":
    import argparse
    import platform

    import _record

    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", nargs="+", default=["conv", "readback", "fusion"])
    ap.add_argument("--write", action="store_true", help="write the .out.json and render the .md from it")
    ap.add_argument("--check", action="store_true", help="re-render the .md from the .out.json; exit 1 if it differs")
    args = ap.parse_args()
    if args.check:
        raise SystemExit(_record.check_or_write(MD, OUT, render, write=False))
    meta = _record.started()
    parts = args.parts
    result = {}
    if "conv" in parts:
        result["conv"] = conv_rows()
    if "readback" in parts:
        result["readback"] = readback_row()
    if "fusion" in parts:
        result["fusion"] = fusion_row()
    print(json.dumps(result, indent=1))
    if args.write:
        out = {"command": meta["command"], "python": platform.python_version(), "meta": _record.finished(meta), **result}
        _record.write_json(OUT, out)
        _record.write_md(MD, render(out))
