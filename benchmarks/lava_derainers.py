"""Benchmark: whole derainers on the Lava float simulator against torch float64.

For each model: export (not timed) at SIZE x SIZE, then ``validate --executor lava-float``
on a centre crop of a real rainy photo; records spike agreement per layer (minimum),
output PSNR against the torch output, the Lava run time (compile, run, read-back and
stop: the executor's ``run_s``) and the wall time of the validate command.

    .venv/bin/python benchmarks/lava_derainers.py [--size 64] [--models esdnet-tiny ...] > out.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real" / "real-001.png"


def _process_count(bundle_dir: Path, size: int) -> int:
    """Lava processes of the bundle's run (built, not run): nodes, fused groups, delay lines, sinks."""
    from neurodeploy.bundle import Bundle
    from neurodeploy.targets.loihi.lower import lower
    from neurodeploy.targets.loihi.network import LavaNetwork

    b = Bundle.open(bundle_dir)
    return LavaNetwork(lower(b.graph, b.info), np.zeros((1, 3, size, size)), bundle_dir / "host").process_count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--models", nargs="+", default=["esdnet-tiny", "spikerain-tiny", "vlifnet-tiny"])
    args = ap.parse_args()
    cli = str(ROOT / ".venv" / "bin" / "neurodeploy")
    work = Path(tempfile.mkdtemp(prefix="lava-derainers-"))
    with Image.open(REAL) as img:
        rgb = np.asarray(img.convert("RGB"))
    h, w = rgb.shape[:2]
    s = args.size
    crop = work / "crop.png"
    Image.fromarray(rgb[h // 2 - s // 2:h // 2 + s - s // 2, w // 2 - s // 2:w // 2 + s - s // 2]).save(crop)
    rows = []
    for model in args.models:
        out = work / model
        subprocess.run([cli, "export", model, "--out", str(out), "--size", str(s), str(s), "--force"], check=True,
                       capture_output=True)
        start = time.perf_counter()
        done = subprocess.run([cli, "validate", str(out), "--executor", "lava-float", "--image", str(crop),
                               "--min-agreement", "99.9", "--json"], capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode not in (0, 1):
            print(done.stderr, file=sys.stderr)
            raise SystemExit(done.returncode)
        v = json.loads(done.stdout)
        manifest = json.loads((out / "manifest.json").read_text())
        rows.append({"model": model, "size": s, "passed": v["passed"], "layers": len(v["layers"]),
                     "min_agreement_pct": min(v["layers"].values()), "output_psnr_db": round(v["output_psnr_db"], 2),
                     "lava_run_s": round(v["run_s"]["lava-float"], 1), "validate_wall_s": round(wall, 1),
                     "lava_steps_per_image": manifest["lowering"]["lava_steps_per_image"],
                     "processes": _process_count(out, s)})
        print(json.dumps(rows[-1]), flush=True)


if __name__ == "__main__":
    main()
