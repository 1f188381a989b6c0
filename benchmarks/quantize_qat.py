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
Run: ``.venv/bin/python benchmarks/quantize_qat.py --write --cards`` (``--check``: does the .md equal its record?).
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


def _same_weights(a: str, b: str) -> bool:
    """True when two checkpoints hold equal tensors (the fine-tune kept the unchanged model)."""
    import torch

    from neurodeploy.checkpoint import load_checkpoint

    sa, sb = load_checkpoint(a).state_dict, load_checkpoint(b).state_dict
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _mean_sd(xs: list[float]) -> tuple[float, float]:
    m = sum(xs) / len(xs)
    return m, (sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) ** 0.5 if len(xs) > 1 else 0.0


def summarise(row: dict) -> dict:
    """``row`` with ``qat`` = the mean over its seeds (the keys the model cards read) and the verdict."""
    seeds = row["qat_seeds"]
    qat = {k: _mean_sd([s[k] for s in seeds])[0] for k in ("psnr", "ssim", "cost_db", "float_psnr", "float_ssim", "wall_s")}
    qat["sd"] = {k: _mean_sd([s[k] for s in seeds])[1] for k in ("psnr", "cost_db", "float_psnr")}
    qat["minus_ptq_db"] = _mean_sd([s["psnr"] - row["ptq_psnr"] for s in seeds])
    qat["seeds"] = [s["seed"] for s in seeds]
    qat["command"] = seeds[0]["command"]
    qat["kept_unchanged"] = sum(s["best_iter"] == 0 for s in seeds)
    # a QAT that kept the unchanged model on every seed is PTQ under another name: it does not earn its place
    qat["earns_its_place"] = (qat["psnr"] >= row["ptq_psnr"] and qat["cost_db"] <= 0.1
                              and qat["kept_unchanged"] < len(seeds))
    return {**row, "qat": qat}


def render(record: dict) -> str:
    """``quantize_qat.md`` from its recorded output file (nothing else)."""
    from _record import provenance, table

    s = record["settings"]
    lines = ["# Deployment cost: float / PTQ / QAT through the integer emulator, over seeds", "",
             provenance(record["meta"]), ""]
    for part in record.get("parts", []):  # models measured by separate processes, joined by --merge
        lines += [f"- measured by {provenance(part)[len('Written by '):]}"]
    lines += [""] if record.get("parts") else []
    lines += [
             f"Whole images of `{s['test']}`, PSNR/SSIM on Y. PTQ and QAT bundles: `export --quantize int --calib "
             f"{s['calib']} --size 64 64`, evaluated with `--executor emulator`. Cost = float PSNR of the shipped model "
             "minus the deployed PSNR. QAT = `neurodeploy finetune NAME --qat --seed SEED` with "
             f"--iters {s['iters']} --batch-size {s['batch_size']} --lr {s['lr']} --distill {s['distill']} "
             f"--holdout {s['holdout']} (cosine schedule; the state kept is the best on the held-out training pairs, "
             "the unchanged model included). Float and PTQ do not depend on a seed (one run each). "
             "A seed whose kept state is the unchanged model (\"kept batch\" 0) has the shipped model's weights: "
             "its float and integer figures are the shipped model's float and PTQ figures, not re-run.", "",
             "Mean ± sd over the seeds (sd with n − 1):", ""]
    rows = []
    for r in record["rows"]:
        q = r["qat"]
        rows.append([r["model"], f"{r['float_psnr']:.3f}", f"{r['ptq_psnr']:.3f}", f"{r['ptq_cost_db']:+.3f}",
                     f"{q['float_psnr']:.3f} ± {q['sd']['float_psnr']:.3f}", f"{q['psnr']:.3f} ± {q['sd']['psnr']:.3f}",
                     f"{q['cost_db']:+.3f} ± {q['sd']['cost_db']:.3f}",
                     f"{q['minus_ptq_db'][0]:+.3f} ± {q['minus_ptq_db'][1]:.3f}", str(len(q["seeds"])),
                     str(q["kept_unchanged"]), "QAT" if q["earns_its_place"] else "use PTQ"])
    lines += table(["model", "float PSNR", "PTQ PSNR", "PTQ cost (dB)", "QAT float PSNR", "QAT PSNR (emulator)",
                    "QAT cost (dB)", "QAT − PTQ (dB)", "seeds", "seeds that kept the unchanged model", "verdict"],
                   rows, "lrrrrrrrrrl")
    lines += ["", "Verdict: QAT where its mean integer PSNR is at least PTQ's, its mean cost at most 0.1 dB and at "
                  "least one seed's kept state is fine-tuned (otherwise QAT returned the PTQ model); else use PTQ.", "",
              "Per seed (held-out PSNR: the fake-quantized model on 48 fixed crops of the held-out training pairs, "
              "before fine-tuning and after every 10 batches):", ""]
    rows = [[r["model"], str(x["seed"]), f"{x['float_psnr']:.3f}", f"{x['psnr']:.3f}", f"{x['cost_db']:+.3f}",
             f"{x['psnr'] - r['ptq_psnr']:+.3f}", str(x["best_iter"]),
             ", ".join(f"{h['holdout_psnr_db']:.2f}" for h in x["holdout_history"]), f"{x['wall_s']:.0f}"]
            for r in record["rows"] for x in r["qat_seeds"]]
    lines += table(["model", "seed", "QAT float PSNR", "QAT PSNR (emulator)", "QAT cost (dB)", "QAT − PTQ (dB)",
                    "kept batch", "held-out PSNR at each score (dB)", "fine-tuning (s)"], rows, "lrrrrrrll")
    return "\n".join(lines + [""])


def _head(record: dict) -> str:
    m = record["meta"]
    return (f"`benchmarks/quantize_qat.md`, `{m['command']}` at {m['commit']}, {m['started']} to {m['finished']}, load "
            f"average {m['load_before'][0]:.1f} before and {m['load_after'][0]:.1f} after")


def readme_ptq(record: dict) -> str:
    """The README's PTQ figures (its "integer model" section), from the record alone."""
    rows = record["rows"]
    return (f"Measured ({_head(record)}; {rows[0]['images']} whole images of `{record['settings']['test']}`): PTQ costs "
            + ", ".join(f"{r['ptq_cost_db']:+.2f} dB ({r['model']})" for r in rows)
            + " against the float models; the emulator takes "
            + " / ".join(f"{r['emulator_s_per_image']:.0f}" for r in rows) + " s per image ("
            + " / ".join(r["model"] for r in rows) + ") on this shared 2-core machine.")


def readme_qat(record: dict) -> str:
    """The README's QAT figures and verdicts (its QAT section), from the record alone."""
    s, rows = record["settings"], record["rows"]
    lines = [f"Measured ({_head(record)}; {len(s['seeds'])} seeds per model, {s['iters']} batches of {s['batch_size']} "
             f"crops each, distillation {s['distill']}, {s['holdout']:.0%} of the pairs held out; "
             f"{rows[0]['images']} whole images through the emulator), cost against the shipped float model, mean ± sd "
             "over the seeds:", ""]
    for r in rows:
        q = r["qat"]
        verdict = "**QAT**" if q["earns_its_place"] else "**use PTQ**"
        why = ""
        if not q["earns_its_place"]:
            if q["kept_unchanged"] == len(q["seeds"]):
                why = (f": on every seed the held-out PSNR never rose above the unchanged model's, so QAT returned "
                       "the PTQ model itself")
            elif q["psnr"] < r["ptq_psnr"]:
                why = f": QAT ends {-q['minus_ptq_db'][0]:.3f} dB below PTQ on the mean"
            else:
                why = f": QAT's mean cost {q['cost_db']:+.3f} dB exceeds 0.1 dB"
        lines.append(f"- {r['model']}: PTQ {r['ptq_cost_db']:+.3f} dB, QAT {q['cost_db']:+.3f} ± {q['sd']['cost_db']:.3f} dB "
                     f"(QAT − PTQ {q['minus_ptq_db'][0]:+.3f} ± {q['minus_ptq_db'][1]:.3f} dB; the unchanged model kept on "
                     f"{q['kept_unchanged']} of {len(q['seeds'])} seeds): {verdict}{why}.")
    return "\n".join(lines)


README_BLOCKS = {"quantize_qat.py (PTQ)": readme_ptq, "quantize_qat.py (QAT)": readme_qat}


def main() -> None:
    import _record

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--build", default="build/quantize_qat")
    ap.add_argument("--iters", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--distill", type=float, default=1.0)
    ap.add_argument("--holdout", type=float, default=0.2)
    ap.add_argument("--write", action="store_true", help="write the .out.json (after every model) and the .md")
    ap.add_argument("--cards", action="store_true", help="also put the table on each model card")
    ap.add_argument("--check", action="store_true", help="re-render the .md from the .out.json; exit 1 if it differs")
    ap.add_argument("--render", action="store_true", help="only write the .md from the .out.json (e.g. of a stopped run)")
    ap.add_argument("--record", type=Path, default=None,
                    help="write the record here instead (models run as separate processes; then --merge)")
    ap.add_argument("--merge", type=Path, nargs="+", default=None,
                    help="join the records of runs of other models (same settings) into the .out.json and write the .md")
    args = ap.parse_args()
    md, out_path = ROOT / "benchmarks" / "quantize_qat.md", ROOT / "benchmarks" / "quantize_qat.out.json"
    if args.merge:
        parts = [json.loads(Path(f).read_text()) for f in args.merge]
        if any(p_["settings"] != parts[0]["settings"] | {"seeds": p_["settings"]["seeds"]} for p_ in parts):
            raise SystemExit("--merge: the records were run with different settings")
        meta = _record.finished(_record.started())
        record = {"command": meta["command"], "python": platform.python_version(), "meta": meta,
                  "parts": [p_["meta"] for p_ in parts], "settings": parts[0]["settings"],
                  "rows": sorted((r for p_ in parts for r in p_["rows"]), key=lambda r: MODELS.index(r["model"]))}
        _record.write_json(out_path, record)
        _record.check_or_write(md, out_path, render, write=True, readme=README_BLOCKS)
        if args.cards:
            write_cards(record["rows"], meta["command"])
        return
    if args.record:
        out_path = args.record
    if args.check or args.render:
        raise SystemExit(_record.check_or_write(md, out_path, render, write=args.render, readme=README_BLOCKS))
    meta = _record.started()
    settings = {"test": TEST, "calib": CALIB, "iters": args.iters, "batch_size": args.batch_size, "lr": args.lr,
                "distill": args.distill, "holdout": args.holdout, "seeds": args.seeds}
    rows = []
    for name in args.models:
        build = Path(args.build)
        flt, _ = run(["evaluate", name, "--data", TEST, "--json"])
        _, ptq = deploy(name, str(build / name))
        row = {"model": name, "test": TEST, "calib": CALIB, "images": flt["count"],
               "float_psnr": flt["psnr"], "float_ssim": flt["ssim"], "ptq_psnr": ptq["psnr"], "ptq_ssim": ptq["ssim"],
               "ptq_cost_db": flt["psnr"] - ptq["psnr"], "emulator_s_per_image": ptq["run_s_per_image"], "qat_seeds": []}
        for seed in args.seeds:
            qat_ckpt = str(build / f"{name}-qat-s{seed}.pt")
            ft_args = ["finetune", name, "--qat", "--data", TRAIN, "--out", qat_ckpt, "--iters", str(args.iters),
                       "--batch-size", str(args.batch_size), "--lr", str(args.lr), "--distill", str(args.distill),
                       "--holdout", str(args.holdout), "--seed", str(seed), "--threads", "2"]
            _, ft_s = run(ft_args, as_json=False)
            from neurodeploy.checkpoint import load_checkpoint

            ft = load_checkpoint(qat_ckpt).meta["finetune"]
            if _same_weights(qat_ckpt, name):
                qflt, qemu = flt, ptq  # the shipped weights: the figures above are this checkpoint's
            else:
                qflt, _ = run(["evaluate", qat_ckpt, "--data", TEST, "--json"])
                _, qemu = deploy(qat_ckpt, str(build / f"{name}-qat-s{seed}"))
            row["qat_seeds"].append({"seed": seed, "psnr": qemu["psnr"], "ssim": qemu["ssim"],
                                     "cost_db": flt["psnr"] - qemu["psnr"], "float_psnr": qflt["psnr"],
                                     "float_ssim": qflt["ssim"], "wall_s": ft_s, "best_iter": ft["best_iter"],
                                     "holdout_history": ft["holdout_history"],
                                     "command": "neurodeploy " + " ".join(ft_args)})
            print(json.dumps({"model": name, **row["qat_seeds"][-1]}), flush=True)
        rows.append(summarise(row))
        if args.write:  # after every model, so a long run that is stopped keeps what it measured
            record = {"command": meta["command"], "python": platform.python_version(), "meta": _record.finished(meta),
                      "settings": settings, "rows": rows}
            _record.write_json(out_path, record)
    if not args.write or args.record:
        return
    _record.check_or_write(md, out_path, render, write=True,
                           readme=README_BLOCKS if set(args.models) == set(MODELS) else None)
    if args.cards:
        write_cards(rows, meta["command"])


def write_cards(rows: list[dict], command: str) -> None:
    """The deployment section of each model's card (models/checkpoints/NAME.md) from its row."""
    from neurodeploy.models.cards import deployment_lines, with_deployment

    for r in rows:
        card = ROOT / "models" / "checkpoints" / f"{r['model']}.md"
        card.write_text(with_deployment(card.read_text(), deployment_lines(r, command)))


if __name__ == "__main__":
    main()
