"""PTQ sweep of esdnet-tiny (issue 27): 2 calibration set sizes x 2 ranges on 2 Ray workers.

Evaluated on the first two DDN-SIRR-subset pairs (whole 481x321 images, integer emulator; two, to fit
this shared machine's time). Writes ``benchmarks/sweep_esdnet.out.json`` (the sweep's ``summary.json``
plus ``meta``: command, commit, dates, load before and after) and ``benchmarks/sweep_esdnet.md``,
rendered from that file alone. Run from the repository:

    .venv/bin/python benchmarks/sweep_esdnet.py            # measure (about 9 minutes here), write both
    .venv/bin/python benchmarks/sweep_esdnet.py --check    # exit 1 when the .md differs from its rendering
    .venv/bin/python benchmarks/sweep_esdnet.py --render   # write the .md again from the record
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TEST = ROOT.parent / "shared/data/test/DDN-SIRR-subset"
PAIRS = ("input01", "input09")
SWEEP = ["sweep", "esdnet-tiny", "--size", "64", "64", "--data", "DATA", "--calib", "../shared/data/train/Rain13K-samples",
         "--calib-images", "4", "16", "--range", "max", "percentile:99.99", "--out", "OUT", "--workers", "2"]


def measure() -> dict:
    """The sweep's summary.json, its command with DATA/OUT as placeholders."""
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / "data", Path(tmp) / "sweep"
        for side in ("rainy", "clean"):
            (data / side).mkdir(parents=True)
            for name in PAIRS:
                shutil.copy(TEST / side / f"{name}.png", data / side)
        cmd = [str(ROOT / ".venv/bin/neurodeploy")] + [str(data) if a == "DATA" else str(out) if a == "OUT" else a
                                                     for a in SWEEP]
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        summary = json.loads((out / "summary.json").read_text())
    return {**summary, "sweep_command": "neurodeploy " + " ".join(SWEEP), "pairs": list(PAIRS)}


def render(record: dict) -> str:
    from _record import provenance, table

    flt = record["float"]
    rows = []
    for s in record["settings"]:
        label = s["label"] + (" (export's default)" if s.get("default") else "") + (" **best**" if s["label"] == record["best"] else "")
        rng = s["range"] if s["percentile"] is None else f"{s['range']} {s['percentile']:g}"
        rows.append([label, str(s["calib_images"]), rng, f"{s['psnr']:.2f}", f"{s['ssim']:.4f}",
                     f"{s['psnr_cost_db']:+.3f}", f"{s['ssim_cost']:+.4f}"])
    so = record.get("scale_out") or {}
    lines = [
        "# PTQ sweep of esdnet-tiny (`benchmarks/sweep_esdnet.py`)", "",
        provenance(record.get("meta"), {"command": ".venv/bin/python benchmarks/sweep_esdnet.py"}),
        "Raw summary (every setting's scores and costs): `sweep_esdnet.out.json`.", "",
        "The sweep (DATA: the first two DDN-SIRR-subset pairs, "
        + ", ".join(record.get("pairs", PAIRS)) + ", whole 481x321 images; OUT: a scratch folder):", "",
        "```", record.get("sweep_command", "neurodeploy " + " ".join(SWEEP)), "```", "",
        f"Float model ({flt['executor']}): PSNR {flt['psnr']:.2f} dB, SSIM {flt['ssim']:.4f} (Y channel). "
        "Cost = float minus integer (emulator); negative = the integer model scored higher.", "",
        *table(["setting", "calib images", "range", "PSNR dB", "SSIM", "PSNR cost dB", "SSIM cost"], rows, "lllrrrr"),
        "",
    ]
    if so:
        lines += [f"Scale-out: {so['units']} units on {so['nodes']} node(s), {so['done']} done, {so['retried']} retried, "
                  f"{so['failed']} failed; {so['wall_s']:.0f} s wall, Ray start {so['ray_start_s']:.1f} s, "
                  f"{so['unit_s_mean']:.0f} s per unit on average.", ""]
    return "\n".join(lines)


def main() -> int:
    import _record

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when sweep_esdnet.md differs from its rendering of the record")
    ap.add_argument("--render", action="store_true", help="only write sweep_esdnet.md again from sweep_esdnet.out.json")
    args = ap.parse_args()
    md, out = HERE / "sweep_esdnet.md", HERE / "sweep_esdnet.out.json"
    if args.check or args.render:
        return _record.check_or_write(md, out, render, write=args.render)
    meta = _record.started()
    summary = measure()
    _record.write_json(out, {"meta": _record.finished(meta), **summary})
    return _record.check_or_write(md, out, render, write=True)


if __name__ == "__main__":
    sys.exit(main())
