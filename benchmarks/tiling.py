"""Tiled deraining: what the halo costs in PSNR, and time and peak memory against image size.

Usage::

    .venv/bin/python benchmarks/tiling.py halo  --image /work/shared/data/real/real-015.png
    .venv/bin/python benchmarks/tiling.py scale --image /work/shared/data/real/real-016.png --mp 1 6 12 24

``halo``: for each shipped derainer, derain the image whole and in tiles of ``--tile``
(default 512, the CLI default) with halos of 0..64 pixels; print the PSNR (RGB, peak 1)
of the tiled output against the whole-image output, and the time of each. The image must
fit in memory whole (a 1.2-MP photo needs ~6 GB with the tiny derainers).

``scale``: synthesise photos of the given sizes (in megapixels, 3:2) by Lanczos upscaling
of a real photo into /tmp, then run ``neurodeploy derain`` on each as a separate process
(the way a user runs it; default tile and halo, all cores) and record wall time and the
child's peak resident memory (``ru_maxrss`` from ``os.wait4``). One JSON line per run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def halo_study(image: Path, tile: int, halos: list[int], models: list[str]) -> None:
    import torch

    from neurodeploy.checkpoint import load_model
    from neurodeploy.models.data import load_image
    from neurodeploy.models.evaluate import derain, tile_grid

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    x = load_image(image)
    for name in models:
        model, _ = load_model(name)
        t0 = time.perf_counter()
        whole = derain(model, x, tile=0)
        t_whole = time.perf_counter() - t0
        for halo in halos:
            t0 = time.perf_counter()
            tiled = derain(model, x, tile=tile, halo=halo)
            dt = time.perf_counter() - t0
            mse = float(((tiled - whole) ** 2).mean())
            psnr = 10 * math.log10(1.0 / mse) if mse > 0 else float("inf")
            print(json.dumps({"model": name, "image": image.name, "size_hw": list(x.shape[1:]), "tile": tile,
                              "halo": halo, "tiles": len(tile_grid(x.shape[1], x.shape[2], tile, halo)),
                              "psnr_tiled_vs_whole_db": round(psnr, 2), "max_abs_diff_8bit": round(float((tiled - whole).abs().max()) * 255, 1),
                              "time_tiled_s": round(dt, 1), "time_whole_s": round(t_whole, 1)}), flush=True)


def synthesize(src: Path, megapixels: float, folder: Path) -> Path:
    from PIL import Image

    w = int(round(math.sqrt(megapixels * 1e6 * 3 / 2)))
    h = int(round(w * 2 / 3))
    out = folder / f"photo-{w}x{h}.png"
    if not out.exists():
        Image.open(src).convert("RGB").resize((w, h), Image.LANCZOS).save(out, compress_level=1)
    return out


def scale_study(image: Path, mps: list[float], checkpoint: str, tile: int | None) -> None:
    folder = Path(tempfile.gettempdir()) / "neurodeploy-tiling"
    folder.mkdir(exist_ok=True)
    for mp in mps:
        photo = synthesize(image, mp, folder)
        out = folder / f"out-{photo.stem}"
        cmd = [sys.executable, "-m", "neurodeploy", "derain", checkpoint, str(photo), "--out", str(out)]
        if tile is not None:
            cmd += ["--tile", str(tile)]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        dt = time.perf_counter() - t0
        err = proc.stderr.read().decode()[-300:]
        from PIL import Image

        w, h = Image.open(photo).size
        print(json.dumps({"checkpoint": checkpoint, "size_wh": [w, h], "megapixels": round(w * h / 1e6, 2),
                          "tile": tile or "default", "exit": os.waitstatus_to_exitcode(status), "wall_s": round(dt, 1),
                          "peak_rss_gb": round(usage.ru_maxrss / 1e6, 2), "cores": len(os.sched_getaffinity(0)),
                          **({"stderr_tail": err} if os.waitstatus_to_exitcode(status) else {})}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", choices=["halo", "scale"])
    ap.add_argument("--image", type=Path, required=True)
    ap.add_argument("--tile", type=int, default=None)
    ap.add_argument("--halos", type=int, nargs="+", default=[0, 16, 32, 64])
    ap.add_argument("--models", nargs="+", default=["esdnet-tiny", "spikerain-tiny", "vlifnet-tiny"])
    ap.add_argument("--mp", type=float, nargs="+", default=[1, 6, 12, 24])
    ap.add_argument("--checkpoint", default="esdnet-tiny")
    args = ap.parse_args()
    if args.study == "halo":
        halo_study(args.image, args.tile or 512, args.halos, args.models)
    else:
        scale_study(args.image, args.mp, args.checkpoint, args.tile)


if __name__ == "__main__":
    main()
