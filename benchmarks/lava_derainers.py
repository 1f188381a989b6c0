"""Benchmark: whole derainers on the Lava float simulator against torch float64.

For each model: export (not timed) at SIZE x SIZE, then ``validate --executor lava-float``
on a centre crop of a real rainy photo; records spike agreement per layer (minimum),
output PSNR against the torch output, the Lava run time (compile, run, read-back and
stop: the executor's ``run_s``) and the wall time of the validate command.

    .venv/bin/python benchmarks/lava_derainers.py [--size 64] [--models esdnet-tiny ...]
    .venv/bin/python benchmarks/lava_derainers.py --check     # exit 1 when the .md differs from its rendering
    .venv/bin/python benchmarks/lava_derainers.py --render    # write the .md again from the record

A run writes ``benchmarks/lava_derainers.out.jsonl`` (a first line with the run's meta: command, commit,
dates, load before and after; then one line per model) and ``benchmarks/lava_derainers.md``, rendered from
that file alone.
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
HERE = ROOT / "benchmarks"
# issue 15's targets: spike agreement in every layer, output PSNR against torch, one Lava run (s)
MIN_AGREEMENT_PCT, MIN_PSNR_DB = 99.9, 60.0
MAX_RUN_S = {"esdnet-tiny": 60.0, "spikerain-tiny": 60.0, "vlifnet-tiny": 120.0}
REAL = ROOT.parent / "shared" / "data" / "real" / "real-001.png"


def _process_count(bundle_dir: Path, size: int) -> int:
    """Lava processes of the bundle's run (built, not run): nodes, fused groups, delay lines, sinks."""
    from neurodeploy.bundle import Bundle
    from neurodeploy.targets.loihi.lower import lower
    from neurodeploy.targets.loihi.network import LavaNetwork

    b = Bundle.open(bundle_dir)
    return LavaNetwork(lower(b.graph, b.info), np.zeros((1, 3, size, size)), bundle_dir / "host").process_count


def read(path: Path) -> dict:
    """``{"meta": ..., "rows": [...]}`` from the .out.jsonl (meta None: a file written before the meta line)."""
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    meta = lines[0]["meta"] if lines and "meta" in lines[0] else None
    return {"meta": meta, "rows": lines[1:] if meta is not None else lines}


def render(record: dict) -> str:
    """``lava_derainers.md`` from the record alone; the targets' verdicts computed from its rows."""
    from _record import provenance, table

    rows = record["rows"]
    size = rows[0]["size"]
    out, verdicts = [], []
    for r in rows:
        out.append([r["model"], f"{r['min_agreement_pct']:.4g} %", str(r["layers"]), f"{r['output_psnr_db']:.2f} dB",
                    f"{r['lava_run_s']:.1f} s", f"{r['validate_wall_s']:.1f} s", str(r["lava_steps_per_image"]),
                    str(r["processes"]), "yes" if r["passed"] else "**no**"])
        accuracy = r["min_agreement_pct"] >= MIN_AGREEMENT_PCT and r["output_psnr_db"] >= MIN_PSNR_DB
        limit = MAX_RUN_S.get(r["model"])
        timing = ("no time target" if limit is None else
                  f"Lava run {r['lava_run_s']:.1f} s against ≤ {limit:.0f} s: {'met' if r['lava_run_s'] <= limit else '**missed**'}")
        verdicts.append(f"- {r['model']}: agreement and PSNR {'met' if accuracy else '**missed**'}; {timing}.")
    return "\n".join([
        f"# Whole derainers on the Lava float simulator ({size}×{size})", "",
        provenance(record["meta"], {"command": ".venv/bin/python benchmarks/lava_derainers.py --size 64"}),
        "Raw results: `lava_derainers.out.jsonl`.", "",
        f"Input: the centre {size}×{size} crop of `../shared/data/real/real-001.png`; reference: the torch model in "
        "float64; Lava: `Loihi2SimCfg(select_tag=\"floating_pt\")` through `neurodeploy validate --executor lava-float`, "
        "host islands as Lava processes running their ONNX files inside the run. \"Lava run\" is the executor's "
        "compile + run + read-back + stop; \"validate wall\" the whole command; \"processes\" counts every Lava (OS) "
        "process of the run: nodes, fused groups, delay lines, record sinks. The times depend on what else the "
        "machine runs (the provenance line above).", "",
        *table(["model", "spike agreement (min over layers)", "layers", "output PSNR vs torch", "Lava run",
                "validate wall", "Lava steps / image", "processes", "validate passed"], out, "lrrrrrrrl"),
        "", f"Targets (issue 15): ≥ {MIN_AGREEMENT_PCT:g} % spike agreement in every layer and ≥ {MIN_PSNR_DB:g} dB "
        "output PSNR against torch; one Lava run within the time given per model.", "",
        *verdicts, ""])


def main() -> None:
    import _record

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--models", nargs="+", default=["esdnet-tiny", "spikerain-tiny", "vlifnet-tiny"])
    ap.add_argument("--check", action="store_true", help="exit 1 when lava_derainers.md differs from its rendering of the record")
    ap.add_argument("--render", action="store_true", help="only write lava_derainers.md again from lava_derainers.out.jsonl")
    args = ap.parse_args()
    md, record_path = HERE / "lava_derainers.md", HERE / "lava_derainers.out.jsonl"
    if args.check or args.render:
        rendered = render(read(record_path))
        if args.check:
            raise SystemExit(_record.check(md, rendered))
        _record.write_md(md, rendered)
        return
    meta = _record.started()
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
    tmp = record_path.with_name(record_path.name + ".tmp")
    tmp.write_text("".join(json.dumps(x) + "\n" for x in [{"meta": _record.finished(meta)}, *rows]))
    tmp.replace(record_path)
    _record.write_md(md, render(read(record_path)))


if __name__ == "__main__":
    main()
