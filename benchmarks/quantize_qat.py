"""PSNR cost of deploying to Loihi 2 integers: float / PTQ / QAT for the three tiny derainers.

For each shipped tiny derainer, through the CLI as a user runs it:

1. float: ``neurodeploy evaluate NAME --data TEST``;
2. PTQ: ``neurodeploy export NAME --quantize int --calib CALIB --size 64 64``, then
   ``neurodeploy evaluate BUNDLE --executor emulator --data TEST`` (whole images);
3. QAT: ``neurodeploy finetune NAME --qat --data TRAIN --out NAME-qat.pt --iters ITERS ...``
   (short: this is a shared 2-core CPU), then the same export and emulator evaluation of the
   fine-tuned checkpoint, and its float evaluation.

Writes ``benchmarks/quantize_qat.md`` and ``.out.json`` and, with ``--cards``, the deployment
section of each shipped model card (``models/checkpoints/NAME.md``, :func:`neurodeploy.models.cards.with_deployment`).
Run: ``.venv/bin/python benchmarks/quantize_qat.py --write --cards``.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "neurodeploy"]
MODELS = ("esdnet-tiny", "vlifnet-tiny", "spikerain-tiny")
CALIB = "/work/shared/data/train/Rain13K-samples"
TRAIN = "/work/shared/data/train"
TEST = "/work/shared/data/test/DDN-SIRR-subset"


def run(args: list[str], as_json: bool = True) -> tuple[dict | str, float]:
    start = time.perf_counter()
    done = subprocess.run(CLI + args, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    return (json.loads(done.stdout) if as_json else done.stdout), seconds


def deploy(ckpt: str, bundle: str) -> tuple[dict, dict]:
    manifest, _ = run(["export", ckpt, "--target", "loihi", "--out", bundle, "--size", "64", "64",
                       "--quantize", "int", "--calib", CALIB, "--force", "--json"])
    emu, _ = run(["evaluate", bundle, "--executor", "emulator", "--data", TEST, "--json"])
    return manifest, emu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--build", default="build/quantize_qat")
    ap.add_argument("--iters", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--write", action="store_true", help="write the .md and .out.json next to this script")
    ap.add_argument("--cards", action="store_true", help="also put the table on each model card")
    args = ap.parse_args()
    command = (f".venv/bin/python benchmarks/quantize_qat.py --iters {args.iters} --batch-size {args.batch_size} "
               f"--lr {args.lr}" + (" --write" if args.write else "") + (" --cards" if args.cards else ""))
    rows = []
    for name in args.models:
        build = Path(args.build)
        flt, _ = run(["evaluate", name, "--data", TEST, "--json"])
        _, ptq = deploy(name, str(build / name))
        qat_ckpt = str(build / f"{name}-qat.pt")
        ft_args = ["finetune", name, "--qat", "--data", TRAIN, "--out", qat_ckpt, "--iters", str(args.iters),
                   "--batch-size", str(args.batch_size), "--lr", str(args.lr), "--threads", "2"]
        _, ft_s = run(ft_args, as_json=False)
        qflt, _ = run(["evaluate", qat_ckpt, "--data", TEST, "--json"])
        _, qemu = deploy(qat_ckpt, str(build / f"{name}-qat"))
        row = {"model": name, "test": TEST, "calib": CALIB, "images": flt["count"],
               "float_psnr": flt["psnr"], "float_ssim": flt["ssim"], "ptq_psnr": ptq["psnr"], "ptq_ssim": ptq["ssim"],
               "ptq_cost_db": flt["psnr"] - ptq["psnr"],
               "qat": {"psnr": qemu["psnr"], "ssim": qemu["ssim"], "cost_db": flt["psnr"] - qemu["psnr"],
                       "float_psnr": qflt["psnr"], "float_ssim": qflt["ssim"], "wall_s": ft_s,
                       "command": "neurodeploy " + " ".join(ft_args)},
               "emulator_s_per_image": ptq["run_s_per_image"]}
        rows.append(row)
        print(json.dumps(row), flush=True)
    if not args.write:
        return
    out = {"command": command, "python": platform.python_version(), "rows": rows}
    (ROOT / "benchmarks" / "quantize_qat.out.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = ["# Deployment cost: float / PTQ / QAT through the integer emulator", "",
             f"Produced by `{command}` (python {out['python']}; a 2-core machine shared with other jobs). "
             f"Whole images of `{TEST}`, PSNR/SSIM on Y. PTQ and QAT bundles: `export --quantize int --calib {CALIB} "
             "--size 64 64`, evaluated with `--executor emulator`. Cost = float PSNR of the shipped model minus the "
             "deployed PSNR. QAT = `neurodeploy finetune NAME --qat` (see the command per row in the .out.json).", "",
             "| model | float PSNR | PTQ PSNR | PTQ cost (dB) | QAT float PSNR | QAT PSNR (emulator) | QAT cost (dB) | "
             "fine-tuning (s) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        q = r["qat"]
        lines.append(f"| {r['model']} | {r['float_psnr']:.2f} | {r['ptq_psnr']:.2f} | {r['ptq_cost_db']:+.2f} | "
                     f"{q['float_psnr']:.2f} | {q['psnr']:.2f} | {q['cost_db']:+.2f} | {q['wall_s']:.0f} |")
    (ROOT / "benchmarks" / "quantize_qat.md").write_text("\n".join(lines + [""]))
    if args.cards:
        from neurodeploy.models.cards import deployment_lines, with_deployment

        for r in rows:
            card = ROOT / "models" / "checkpoints" / f"{r['model']}.md"
            card.write_text(with_deployment(card.read_text(), deployment_lines(r, command)))


if __name__ == "__main__":
    main()
