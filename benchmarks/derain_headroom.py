"""How much of the rainy-vs-clean error is a global tone shift (veil), and how much do the derainers remove?

For every pair of a paired test folder this prints Y-PSNR (dB, BT.601, 8-bit, as
``neurodeploy evaluate``) of

- ``rainy``: the rainy input;
- ``rainy+affine``: the rainy input after the per-channel affine map ``a·x + b`` that best
  fits the clean image (least squares, fitted *with* the clean image: an oracle, not a method).
  It removes a uniform veil and colour cast and nothing local, so its gain is what a derainer
  gets from the global tone alone;
- for each checkpoint: its output, and its output after the same kind of oracle affine fit
  (what the model would score if its global tone were right; the rest is local error).

    .venv/bin/python benchmarks/derain_headroom.py esdnet-tiny vlifnet-tiny spikerain-tiny

Prints a Markdown table (per image and mean) and, with ``--json``, one JSON object.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from neurodeploy.checkpoint import load_model
from neurodeploy.metrics import psnr_y
from neurodeploy.models.data import find_pairs, load_image
from neurodeploy.models.evaluate import derain

ROOT = Path(__file__).resolve().parents[1]


def oracle_affine(image: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """``image`` ``(3, H, W)`` in [0, 1] mapped per channel by the least-squares ``a·x + b`` onto ``clean``."""
    out = torch.empty_like(image)
    for ch in range(3):
        x = image[ch].flatten().double()
        design = torch.stack([x, torch.ones_like(x)], 1)
        coef = torch.linalg.lstsq(design, clean[ch].flatten().double()[:, None]).solution
        out[ch] = (design @ coef).reshape(image.shape[1:]).float()
    return out.clamp(0, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="*", help="zoo names or .pt files")
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data/test/DDN-SIRR-subset"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    models = {name: load_model(name)[0] for name in args.checkpoints}
    rows = []
    for pair in find_pairs(args.data):
        rainy, clean = load_image(pair.rainy), load_image(pair.clean)
        row = {"name": pair.name, "rainy": psnr_y(rainy, clean), "rainy+affine": psnr_y(oracle_affine(rainy, clean), clean)}
        for name, model in models.items():
            out = derain(model, rainy)
            row[name] = psnr_y(out, clean)
            row[f"{name}+affine"] = psnr_y(oracle_affine(out, clean), clean)
        rows.append(row)
    cols = [k for k in rows[0] if k != "name"]
    mean = {k: sum(r[k] for r in rows) / len(rows) for k in cols}
    if args.json:
        print(json.dumps({"data": args.data, "mean": mean, "images": rows}))
        return
    print("| image | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for r in rows + [{"name": "**mean**", **mean}]:
        print(f"| {r['name']} | " + " | ".join(f"{r[k]:.2f}" for k in cols) + " |")
    print()
    print("gain over rainy (mean): " + ", ".join(f"{k} {mean[k] - mean['rainy']:+.2f}" for k in cols if k != "rainy"))


if __name__ == "__main__":
    main()
