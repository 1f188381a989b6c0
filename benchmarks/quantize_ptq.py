"""PSNR cost of post-training quantization (PTQ) to Loihi 2 integers, and the integer emulator's speed.

For each shipped tiny derainer, through the CLI as a user runs it:

1. ``neurodeploy export NAME --target loihi --quantize int --calib CALIB --size 64 64``
   (calibration: centre crops of the first 16 images of CALIB, sorted by name);
2. ``neurodeploy evaluate NAME --data TEST`` (the float model, whole images);
3. ``neurodeploy evaluate BUNDLE --executor emulator --data TEST`` (the integer model,
   whole images at their own size through the emulator).

Writes ``benchmarks/quantize_ptq.md`` and ``benchmarks/quantize_ptq.out.json``.
Run: ``.venv/bin/python benchmarks/quantize_ptq.py --write``.
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
TEST = "/work/shared/data/test/DDN-SIRR-subset"


def run(args: list[str]) -> tuple[dict, float]:
    start = time.perf_counter()
    done = subprocess.run(CLI + args, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    return json.loads(done.stdout), seconds


MD, OUT = ROOT / "benchmarks" / "quantize_ptq.md", ROOT / "benchmarks" / "quantize_ptq.out.json"


def main() -> None:
    import _record

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--build", default="build/quantize_ptq")
    ap.add_argument("--write", action="store_true", help="write the .md and .out.json next to this script")
    ap.add_argument("--check", action="store_true", help="re-render the .md from the .out.json; exit 1 if it differs")
    args = ap.parse_args()
    if args.check:
        raise SystemExit(_record.check_or_write(MD, OUT, render, write=False))
    meta = _record.started()
    rows = []
    for name in args.models:
        bundle = str(Path(args.build) / name)
        manifest, export_s = run(["export", name, "--target", "loihi", "--out", bundle, "--size", "64", "64",
                                  "--quantize", "int", "--calib", CALIB, "--force", "--json"])
        flt, float_s = run(["evaluate", name, "--data", TEST, "--json"])
        emu, emu_s = run(["evaluate", bundle, "--executor", "emulator", "--data", TEST, "--json"])
        q = manifest["quantization"]
        row = {"model": name, "float_psnr": flt["psnr"], "ptq_psnr": emu["psnr"], "cost_db": flt["psnr"] - emu["psnr"],
               "float_ssim": flt["ssim"], "ptq_ssim": emu["ssim"], "rainy_psnr": flt["input_psnr"],
               "images": emu["count"], "image_size": emu["images"][0]["size"],
               "emulator_s_per_image": emu["run_s_per_image"], "emulator_wall_s": emu_s, "float_wall_s": float_s,
               "export_wall_s": export_s, "calib_images": q["calibration_images"],
               "calib_spike_agreement_min": q["spike_agreement_pct_min"],
               "calib_spike_agreement_mean": q["spike_agreement_pct_mean"],
               "calib_output_psnr_vs_float": q["output_psnr_vs_float_db_mean"],
               "saturated_values": q["saturated_values"]}
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.write:
        out = {"command": meta["command"], "python": platform.python_version(), "meta": _record.finished(meta),
               "calib": CALIB, "test": TEST, "rows": rows}
        _record.write_json(OUT, out)
        _record.write_md(MD, render(out))


def render(out: dict) -> str:
    """quantize_ptq.md from its recorded output file alone."""
    from _record import provenance, table

    rows = out["rows"]
    lines = [
        "# PTQ to Loihi 2 integers: PSNR cost and integer-emulator speed",
        "",
        provenance(out.get("meta"), out),
        *(["", "Figures of a later run of the same PTQ (same test set, calibration and emulator) are in "
               "`quantize_qat.md`; where they differ, this record is the older."] if "meta" not in out else []),
        "",
        "Torch 1 thread. Export at 64×64 with `--quantize int --calib "
        f"{out['calib']}` (centre crops of its first 16 rainy images); PSNR/SSIM on the Y channel (BT.601) "
        f"over the {rows[0]['images']} whole {rows[0]['image_size'][0]}×{rows[0]['image_size'][1]} images of "
        f"`{out['test']}`: float = `neurodeploy evaluate NAME`, PTQ = `neurodeploy evaluate BUNDLE --executor emulator` "
        "(chip part in integers, host islands in onnxruntime float32). Target: cost ≤ 0.3 dB.",
        "",
    ]
    lines += table(["model", "float PSNR", "PTQ PSNR", "cost (dB)", "float SSIM", "PTQ SSIM", "emulator s/image",
                    "calib spike agreement min / mean (%)", "saturated values (calib)"],
                   [[r["model"], f"{r['float_psnr']:.2f}", f"{r['ptq_psnr']:.2f}", f"{r['cost_db']:+.2f}",
                     f"{r['float_ssim']:.4f}", f"{r['ptq_ssim']:.4f}", f"{r['emulator_s_per_image']:.1f}",
                     f"{r['calib_spike_agreement_min']:.2f} / {r['calib_spike_agreement_mean']:.2f}",
                     str(r["saturated_values"])] for r in rows])
    lines += ["", "Spike agreement: equal (step, neuron) entries of the emulator and the float graph "
              "(nir-torch, float64) on the calibration crops, per chip LIF layer (min and mean over layers).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
