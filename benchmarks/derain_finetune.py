"""Short fine-tuning screens: continue a trained checkpoint with a changed recipe, then evaluate.

A cheaper screen than :mod:`derain_recipe` for changes that matter late in training (larger
crops, colour casts): it starts from the checkpoint's weights instead of from scratch.
Each variant runs ``--iters`` iterations (Adam, cosine from ``lr`` to 1e-7, seed 1) with
the shipped loss (1 - SSIM + 5 log10 MSE) and prints one JSON line (mean and per-image
PSNR on Y, dB, on ``--test``). The checkpoint itself is not changed.

    .venv/bin/python benchmarks/derain_finetune.py esdnet-tiny --iters 300 \
        --variant same:lr=2e-4,synth=0.25 --variant cast25:lr=2e-4,synth=0.25,cast=0.25

Variant keys as in ``derain_recipe.py`` (``lr``, ``synth``, ``batch``, ``crop``, ``cast``, ...).
A run appends its meta line (command, commit, dates, load) and its lines to
``benchmarks/derain_finetune.out.jsonl`` and renders ``benchmarks/derain_recipe.md`` again, whose
fine-tuning table is rendered from that record (``derain_recipe.py --check`` checks it).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from neurodeploy.checkpoint import load_model
from neurodeploy.models.evaluate import evaluate
from neurodeploy.models.train import TrainConfig, build_patches, training_loss

import _record
from derain_recipe import FINETUNE, MD, add_screen_arguments, parse_variant, rendered, result_line


def finetune(model: torch.nn.Module, cfg: TrainConfig, iters: int, seed: int) -> float:
    """Train ``model`` in place for ``iters`` batches; returns the wall time in s."""
    patches = build_patches(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=iters, eta_min=cfg.lr_min)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    t0 = time.perf_counter()
    for _ in range(iters):
        rainy, clean = patches.batch(cfg.batch_size, gen)
        loss = training_loss(model(rainy), clean, cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", help="shipped name or file")
    add_screen_arguments(ap, iters=300, seed=1)
    args = ap.parse_args()
    if not args.variant:
        ap.error("at least one --variant is needed")
    meta = _record.started()
    torch.set_num_threads(1)
    lines = []
    for text in args.variant:
        name, opts = parse_variant(text)
        model, ckpt = load_model(args.checkpoint)
        cfg = TrainConfig(
            architecture=ckpt.architecture, preset=ckpt.meta.get("preset", "tiny"), data=[args.data], epochs=1,
            iters_per_epoch=args.iters, psnr_weight=5.0, seed=args.seed, threads=1, **opts,
        )
        wall = finetune(model, cfg, args.iters, args.seed)
        lines.append(result_line({"checkpoint": args.checkpoint}, name, opts, args.iters, wall, evaluate(model, args.test)))
        print(lines[-1], flush=True)
    _record.append_run(FINETUNE, _record.finished(meta), [json.loads(x) for x in lines])
    _record.write_md(MD, rendered())


if __name__ == "__main__":
    main()
