"""Short training runs that compare training recipes of a tiny derainer (ablation, not a ship run).

Each variant trains ``--iters`` iterations (one epoch, the cosine schedule over those
iterations) on ``--data`` and is evaluated with ``neurodeploy evaluate``'s code on
``--test``; prints one JSON line per variant (mean and per-image PSNR on Y, dB).

    .venv/bin/python benchmarks/derain_recipe.py esdnet --iters 150 \
        --variant ssim:l1=0,identity=0 --variant ssim+identity:l1=0,identity=1 \
        --variant ssim+l1+identity:l1=10,identity=1

Variants run one after the other on one thread; run two invocations side by side to use
both cores (the numbers do not depend on it, only the wall time does).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from neurodeploy.models.evaluate import evaluate
from neurodeploy.models.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]


def parse_variant(text: str) -> tuple[str, dict]:
    """``name:l1=10,identity=1`` -> ``("name", {"l1_weight": 10.0, "identity_start": True})``."""
    name, _, spec = text.partition(":")
    keys = {"l1": ("l1_weight", float), "identity": ("identity_start", lambda v: v == "1"), "lr": ("lr", float), "psnr": ("psnr_weight", float),
            "synth": ("synthetic_fraction", float), "batch": ("batch_size", int), "crop": ("crop", int),
            "cast": ("colour_cast", float)}
    opts = {}
    for item in filter(None, spec.split(",")):
        k, _, v = item.partition("=")
        field, conv = keys[k]
        opts[field] = conv(v)
    return name, opts


def result_line(head: dict, name: str, opts: dict, iters: int, wall_s: float, ev: dict) -> str:
    """One JSON line: ``head``, the variant and its options, train time (s), mean and per-image PSNR (dB)."""
    return json.dumps({
        **head, "variant": name, **opts, "iters": iters,
        "train_s": round(wall_s, 1), "psnr": round(ev["psnr"], 2), "ssim": round(ev["ssim"], 4),
        "input_psnr": round(ev["input_psnr"], 2),
        "per_image_psnr": {r["name"]: round(r["psnr"], 2) for r in ev["images"]},
    })


def add_screen_arguments(ap: argparse.ArgumentParser, iters: int, seed: int) -> None:
    """The options every recipe screen takes: ``--iters``, ``--variant`` (repeatable), ``--data``, ``--test``, ``--seed``."""
    ap.add_argument("--iters", type=int, default=iters)
    ap.add_argument("--variant", action="append", required=True, help="name:l1=W,identity=0|1,lr=X,synth=F,batch=N,crop=N,cast=F")
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data/train"))
    ap.add_argument("--test", default=str(ROOT.parent / "shared/data/test/DDN-SIRR-subset"))
    ap.add_argument("--seed", type=int, default=seed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("architecture")
    add_screen_arguments(ap, iters=150, seed=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    for text in args.variant:
        name, opts = parse_variant(text)
        cfg = TrainConfig(
            architecture=args.architecture, preset="tiny", data=[args.data], epochs=1,
            iters_per_epoch=args.iters, seed=args.seed, threads=1, **opts,
        )
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            result = train(cfg, Path(tmp) / "run.pt")
            wall = time.perf_counter() - t0
        print(result_line({"architecture": args.architecture}, name, opts, args.iters, wall, evaluate(result.model, args.test)), flush=True)


if __name__ == "__main__":
    main()
