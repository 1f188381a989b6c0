"""Model cards for shipped checkpoints: what it is, how it was trained, how well it derains.

``python -m neurodeploy.models.cards CKPT --test-root ../shared/data/test --out NAME.md``
evaluates the checkpoint on every paired folder under ``--test-root`` (the same code as
``neurodeploy evaluate``) and writes the card; the training facts come from the
checkpoint's meta (command, wall time, data, epochs). The deployment table (float / PTQ /
QAT) is measured by ``benchmarks/quantize_qat.py``, which writes it onto the shipped cards
itself (``--cards``); to keep it when a card is rewritten here, name that benchmark's
results file: ``--deployment benchmarks/quantize_qat.out.json``. (Nothing installed reads
``benchmarks/`` on its own: a user's installed package has no such folder.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from .checkpoint import load_model, resolve

from .counting import count_params
from .data import expand_data_dirs
from .evaluate import evaluate


def _data_kind(train: dict) -> str:
    if train.get("synthetic_rain"):
        kind = "synthetic rain on the clean images"
    elif train.get("synthetic_fraction"):
        kind = f"real rainy/clean pairs, {train['synthetic_fraction']:.0%} of crops with synthetic rain instead"
    else:
        kind = "real rainy/clean pairs"
    if train.get("colour_cast"):
        kind += f"; {train['colour_cast']:.0%} of crops with a random colour cast on the rainy side"
    return kind


# Architectures whose authors' checkpoints `neurodeploy import` reads (neurodeploy/authors.py).
IMPORTABLE = ("esdnet", "spikerain")


def repo_relative(path: str) -> str:
    """A data path as the repository sees it: ``.../shared/data/X`` -> ``../shared/data/X``.

    The shared data sits beside the repository (``../shared``); the machine path it was
    read from at training time says nothing to a reader of the card.
    """
    parts = Path(path).parts
    for i in range(len(parts) - 1):
        if parts[i] == "shared" and parts[i + 1] == "data":
            return str(Path("..", *parts[i:]))
    return path


def what_it_is(architecture: str, preset: str, params: int, wall_min: float, results: dict) -> str:
    """The card's first paragraph: a CPU-trained demo, its measured gain, where paper-size weights come from."""
    gains = "; ".join(f"{r['psnr'] - r['input_psnr']:+.2f} dB PSNR(Y) on {name}" for name, r in results.items())
    text = (f"**What this is**: a small demonstration checkpoint (`{preset}` preset, {params:,} parameters), "
            f"trained for {wall_min:.0f} min on a shared 2-core CPU with `neurodeploy train`; measured gain over "
            f"the rainy input: {gains or 'not measured'} (table below). It is not the paper's model and does not "
            "reach the papers' quality. ")
    if architecture in IMPORTABLE:
        text += (f"Paper-size {architecture} checkpoints come from the authors' training (their code, on GPUs) and "
                 f"are imported: `neurodeploy import {architecture} model_best.pth --out {architecture}.pt` "
                 "(README, \"Deploy a checkpoint trained with the authors' code\").")
    else:
        text += (f"Paper-size {architecture} weights cannot be imported: the authors' training code is not public.")
    return text


DEPLOY_HEADING = "## Deployment to Loihi 2 integers: float / PTQ / QAT"


def deployment_lines(row: dict, command: str) -> list[str]:
    """The card's deployment table (one row of ``benchmarks/quantize_qat.out.json``): PSNR/SSIM of the float
    model, of its PTQ bundle and of its QAT fine-tune's PTQ bundle through the integer emulator."""
    qat = row.get("qat") or {}
    lines = [
        DEPLOY_HEADING,
        "",
        f"Whole images of `{row['test']}` ({row['images']} images), Y channel. Float: `neurodeploy evaluate`; PTQ and "
        "QAT: the bundle exported at 64×64 with `--quantize int --calib` (the calibration folder below) and evaluated "
        "with `--executor emulator` (chip part in Loihi 2 integers, host islands in float32). Cost = float PSNR minus "
        f"deployed PSNR (targets: PTQ ≤ 0.3 dB, QAT ≤ 0.1 dB). Produced by `{command}`.",
        "",
        "| model | PSNR (dB) | SSIM | cost (dB) |",
        "|---|---|---|---|",
        f"| float | {row['float_psnr']:.2f} | {row['float_ssim']:.4f} | - |",
        f"| PTQ (integer emulator) | {row['ptq_psnr']:.2f} | {row['ptq_ssim']:.4f} | {row['ptq_cost_db']:+.2f} |",
    ]
    if qat and "sd" in qat:  # several seeds: the mean, its sd and the verdict of benchmarks/quantize_qat.md
        n, sd = len(qat["seeds"]), qat["sd"]
        lines += [f"| QAT fine-tune, float (mean ± sd of {n} seeds) | {qat['float_psnr']:.2f} ± {sd['float_psnr']:.2f} "
                  f"| {qat['float_ssim']:.4f} | - |",
                  f"| QAT fine-tune, PTQ (integer emulator; mean ± sd of {n} seeds) | {qat['psnr']:.2f} ± "
                  f"{sd['psnr']:.2f} | {qat['ssim']:.4f} | {qat['cost_db']:+.2f} ± {sd['cost_db']:.2f} |",
                  "",
                  f"QAT: `{qat['command']}` and seeds {', '.join(map(str, qat['seeds']))}; the state kept is the best "
                  f"on held-out training pairs, which was the unchanged model for {qat['kept_unchanged']} of {n} seeds. "
                  f"Verdict: **{'QAT' if qat['earns_its_place'] else 'use PTQ'}** (QAT earns its place when its mean "
                  "integer PSNR is at least PTQ's and its mean cost at most 0.1 dB with a fine-tuned state kept). "
                  f"Calibration `{row['calib']}`."]
    elif qat:
        lines += [f"| QAT fine-tune, float | {qat['float_psnr']:.2f} | {qat['float_ssim']:.4f} | - |",
                  f"| QAT fine-tune, PTQ (integer emulator) | {qat['psnr']:.2f} | {qat['ssim']:.4f} | "
                  f"{qat['cost_db']:+.2f} |",
                  "",
                  f"QAT: `{qat['command']}` ({qat['wall_s']:.0f} s of fine-tuning); calibration `{row['calib']}`."]
    return lines + [""]


def with_deployment(text: str, lines: list[str]) -> str:
    """``text`` (a card) with its deployment section replaced by ``lines`` (appended when it has none)."""
    head, sep, rest = text.partition(DEPLOY_HEADING)
    tail = ""
    if sep:
        nxt = rest.find("\n## ")
        tail = rest[nxt + 1:] if nxt >= 0 else ""
    body = "\n".join(lines)
    return (head.rstrip("\n") + "\n\n" + body + ("\n" + tail if tail else "")).rstrip("\n") + "\n"


def deployment_row(results: dict, name: str) -> tuple[dict, str] | None:
    """``(row, command)`` of checkpoint ``name`` in a deployment benchmark's results
    (``{"command": ..., "rows": [{"model": NAME, ...}, ...]}``, the form of
    ``benchmarks/quantize_qat.out.json``); None when it has no row for ``name``."""
    row = next((r for r in results.get("rows", []) if r.get("model") == name), None)
    return (row, results.get("command", "")) if row else None


def card_text(ckpt_path: str | Path, test_root: str | Path, notes: str = "",
              deployment: tuple[dict, str] | None = None) -> tuple[str, dict]:
    """The Markdown card and the evaluation results (per test set) of one checkpoint.

    ``deployment``: ``(row, command)`` of the deployment benchmark (:func:`deployment_row`), put on
    the card as its deployment section (:func:`deployment_lines`); None: the card has none.
    """
    torch.set_num_threads(1)
    model, ckpt = load_model(ckpt_path)
    exact, paper = count_params(model)
    meta = ckpt.meta
    train = meta.get("train", {})
    results = {}
    for folder in expand_data_dirs([test_root]):
        r = evaluate(model, folder)
        results[folder.name] = {k: r[k] for k in ("count", "psnr", "ssim", "input_psnr", "input_ssim")}
    name = Path(ckpt.path).stem
    lines = [
        f"# {name}",
        "",
        what_it_is(ckpt.architecture, meta.get("preset", "?"), exact, meta.get("wall_time_s", 0) / 60, results),
        "",
        f"- **architecture**: `{ckpt.architecture}`, preset `{meta.get('preset', '?')}` "
        f"(config: `{json.dumps(ckpt.config)}`)",
        f"- **parameters**: {exact:,} exact; {paper:,} under the papers' thop convention "
        "(see `models/counting.py`)",
        f"- **file**: {Path(ckpt.path).stat().st_size / 1e6:.2f} MB, sha256 `{ckpt.sha256[:16]}…`",
        f"- **training data**: {', '.join(repo_relative(d) for d in train.get('data', []))}"
        + f" ({_data_kind(train)})",
        f"- **training**: {meta.get('epochs_done')} epochs × {train.get('iters_per_epoch')} iterations, batch "
        f"{train.get('batch_size')} of {train.get('crop')}×{train.get('crop')} crops with flips, loss 1−SSIM"
        + (f" + {train.get('l1_weight')}·L1" if train.get("l1_weight") else "")
        + (f" + {train.get('psnr_weight')}·log10(MSE)" if train.get("psnr_weight") else "")
        + (", output conv zeroed at start (identity start)" if train.get("identity_start") else "")
        + f", Adam lr {train.get('lr')} cosine to {train.get('lr_min')}, seed {train.get('seed')}, "
        f"{train.get('threads')} CPU thread(s)",
        f"- **wall time**: {meta.get('wall_time_s', 0) / 60:.1f} min of training on a shared 2-core CPU (AMD EPYC)",
        f"- **command**: `{meta.get('command', '')}`",
        "",
        "## Evaluation",
        "",
        "PSNR/SSIM on the Y channel (BT.601 as MATLAB `rgb2ycbcr`, [0, 255]), whole images, no border",
        "crop, SSIM over valid 11×11 Gaussian windows; means over images. Reproduce with",
        f"`neurodeploy evaluate {name} --data <set> --json`.",
        "",
        "| test set | images | PSNR (dB) | SSIM | rainy input PSNR (dB) | rainy input SSIM | gain (dB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for set_name, r in results.items():
        lines.append(
            f"| {set_name} | {r['count']} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['input_psnr']:.2f} | "
            f"{r['input_ssim']:.4f} | {r['psnr'] - r['input_psnr']:+.2f} |"
        )
    hist = meta.get("history", [])
    if hist:
        lines += ["", "## Training loss per epoch", "", "| epoch | mean loss | lr at end | wall (s) |", "|---|---|---|---|"]
        lines += [f"| {h['epoch']} | {h['loss']:.4f} | {h['lr']:.2e} | {h['wall_time_s']:.0f} |" for h in hist]
    if meta.get("qat"):
        q = meta["qat"]
        lines += ["", "## Quantization-aware fine-tuning", "", f"- **method**: {q['method']}",
                  f"- **steps**: {q['iters']} batches of {q['crop']}×{q['crop']} crops from {', '.join(q['data'])}",
                  f"- **command**: `{q['command']}`"]
    if deployment:
        lines += [""] + deployment_lines(*deployment)
    if notes:
        lines += ["", "## Notes", "", notes.strip()]
    return "\n".join(lines) + "\n", results


def main() -> None:
    ap = argparse.ArgumentParser(description="Write a model card for a checkpoint.")
    ap.add_argument("checkpoint")
    ap.add_argument("--test-root", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--notes", type=Path, help="Markdown file appended as a Notes section.")
    ap.add_argument("--deployment", type=Path, metavar="JSON",
                    help="the deployment benchmark's results (benchmarks/quantize_qat.out.json): this "
                         "checkpoint's row becomes the card's deployment section")
    args = ap.parse_args()
    deployment = None
    if args.deployment:
        name = resolve(args.checkpoint).stem  # the card's name, as card_text names it
        deployment = deployment_row(json.loads(args.deployment.read_text()), name)
        if deployment is None:
            raise SystemExit(f"{args.deployment} has no row for {name}")
    text, results = card_text(args.checkpoint, args.test_root, args.notes.read_text() if args.notes else "",
                              deployment)
    args.out.write_text(text)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
