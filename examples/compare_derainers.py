"""Evaluate a folder with any executor and compare energy across the three derainers.

    python examples/compare_derainers.py IMAGES... [--truth CLEAN...] [--executor split]
                                         [--size 64 64] [--fps 30] [--out build/compare] [--models ...]

For each shipped tiny derainer (esdnet-tiny, vlifnet-tiny, spikerain-tiny): export a bundle
at ``--size``, validate ``--executor`` against torch (float64) on the images (files or
folders, centre-cropped), write its report, and print one table: agreement, spikes,
synops, MACs, energy under the three models (papers' convention, 45 nm, Loihi per-op with
Loihi 1 figures) and Loihi cores. The numbers are per image, mean over the images.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import neurodeploy

DERAINERS = ("esdnet-tiny", "vlifnet-tiny", "spikerain-tiny")
HERE = Path(__file__).resolve().parent


def compare(images: list[Path], out: Path, executor: str = "split", size: tuple[int, int] = (64, 64),
            fps: float = 30.0, truth: list[Path] | None = None, models=DERAINERS) -> list[dict]:
    rows = []
    for name in models:
        bundle = out / name
        neurodeploy.export(name, bundle, size=size, force=True)
        v = neurodeploy.validate(bundle, images=images, executor=executor, truth=truth)
        r = neurodeploy.report(bundle, images=images, executor=executor, fps=fps)
        e, t = r.energy_uj, r.totals
        rows.append({"model": name, "passed": v.passed, "min_agreement_pct": min(v.layers.values()),
                     "psnr_vs_truth_db": (v.data.get("truth") or {}).get("executor", {}).get("psnr_y_db"),
                     "spikes": t["spikes"], "synops": t["synops"],
                     "macs_graded": t["macs"], "macs_real_inputs": t["real_input_macs"],
                     "host_macs": t["host_macs"], "cores": t["cores"],
                     "energy_papers_uj": e["papers"], "energy_45nm_uj": e["horowitz45nm"],
                     "energy_loihi_uj": e["loihi"], "report": str(bundle / "report.html")})
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| model | agreement | spikes | synops | MACs (graded / real in / host) | E papers (µJ) | "
             "E 45 nm (µJ) | E Loihi (µJ) | cores |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['min_agreement_pct']:.2f} % | {r['spikes']:,.0f} | {r['synops']:,.0f} | "
                     f"{r['macs_graded']:,.0f} / {r['macs_real_inputs']:,.0f} / {r['host_macs']:,.0f} | "
                     f"{r['energy_papers_uj']:.4g} | {r['energy_45nm_uj']:.4g} | {r['energy_loihi_uj']:.4g} | "
                     f"{r['cores']:,} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("images", type=Path, nargs="*", default=[HERE / "images/real-010.png"])
    p.add_argument("--truth", type=Path, nargs="*", default=None)
    p.add_argument("--executor", default="split")
    p.add_argument("--size", type=int, nargs=2, default=[64, 64], metavar=("H", "W"))
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--out", type=Path, default=Path("build/compare"))
    p.add_argument("--models", nargs="+", default=list(DERAINERS), help="checkpoints to compare (default: the three)")
    args = p.parse_args(argv)
    rows = compare(args.images, args.out, args.executor, tuple(args.size), args.fps, args.truth, args.models)
    print(markdown(rows))
    return rows


if __name__ == "__main__":
    main()
