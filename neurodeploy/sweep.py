"""Quantization sweeps: one PTQ setting per unit -- export with it, evaluate it on the emulator.

The grid is what the quantizer offers (:mod:`neurodeploy.quantize.ptq`, ranges from
:func:`neurodeploy.targets.emulator.calibrate`): how many calibration images (the first N by
name, at most :data:`neurodeploy.quantized.CALIB_LIMIT`) and how a range is taken from them
(``max``, today's default, or ``percentile:Q``, the Q-th percentile of |x|). Scales are per
layer (one weight scale per conv: Lava's Conv has one ``weight_exp`` per layer and ignores
even that, lava-nc#803), so there is no per-channel setting to sweep.

One more unit runs the float model (the bundle's ``torch`` executor) on the same data: each
setting's cost is the float PSNR/SSIM minus its own (Y channel, dB; lower is better). Every
setting's bundle is kept under ``OUT/bundles/LABEL``; the best (lowest PSNR cost, then SSIM
cost) is copied to ``OUT/best``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

from neurodeploy.errors import NeurodeployError
from neurodeploy.scaleout_units import label

DEFAULT_SETTING = {"calib_images": 16, "range": "max", "percentile": None}  # export --quantize int's


def parse_ranges(ranges: list[str]) -> list[tuple[str, float | None]]:
    """``max`` or ``percentile:Q`` (0 < Q <= 100) -> (kind, Q); one line on anything else."""
    out = []
    for r in ranges:
        if r == "max":
            out.append(("max", None))
            continue
        kind, _, q = r.partition(":")
        try:
            value = float(q)
        except ValueError:
            value = -1.0
        if kind != "percentile" or not 0 < value <= 100:
            raise NeurodeployError(f"--range takes max or percentile:Q with 0 < Q <= 100 (e.g. percentile:99.99), "
                                   f"not {r!r}")
        out.append(("percentile", value))
    return out


def grid(calib_images: list[int], ranges: list[str]) -> list[dict[str, Any]]:
    from neurodeploy.quantized import CALIB_LIMIT

    for n in calib_images:
        if not 1 <= n <= CALIB_LIMIT:
            raise NeurodeployError(f"--calib-images takes 1 to {CALIB_LIMIT} images, not {n}")
    settings = [{"calib_images": n, "range": kind, "percentile": q}
                for n in dict.fromkeys(calib_images) for kind, q in dict.fromkeys(parse_ranges(ranges))]
    return settings


def run_sweep(source: "str | Path", data: Path, calib: Path, calib_images: list[int], ranges: list[str], out: Path,
              plan, size: tuple[int, int] | None = None,
              units_progress: Callable | None = None) -> dict[str, Any]:
    """The sweep over ``calib_images`` x ``ranges``; writes ``out`` (bundles, best, summary.json)
    and returns the summary (``settings``: one row per setting, ``best``, ``float``)."""
    from neurodeploy.bundle_format import write_json_atomic
    from neurodeploy.checkpoint import load_checkpoint, resolve
    from neurodeploy.images import calibration_images
    from neurodeploy.models.data import find_pairs
    from neurodeploy.models import get_architecture
    from neurodeploy.scaleout import Unit, Work, run_units

    source = Path(source) if Path(source).is_dir() else source
    if isinstance(source, Path) and source.is_dir():
        from neurodeploy.bundle import Bundle

        bundle = Bundle.open(source)
        bundle.require_images()
        checkpoint, size = source / "model.pt", tuple(size or bundle.input_size)
    else:
        checkpoint = resolve(source)
        size = tuple(size or get_architecture(load_checkpoint(checkpoint).architecture).default_input_size)
    settings_grid = grid(calib_images, ranges)
    _, calib_names = calibration_images(calib, size, max(calib_images))  # refused here, in one line
    calib_dir = calib / "rainy" if (calib / "rainy").is_dir() else calib
    calib_files = [calib_dir / n for n in calib_names]
    pairs = find_pairs(data)
    files = {f"calib:{i}": p for i, p in enumerate(calib_files)}
    for i, pair in enumerate(pairs):
        files[f"data/rainy:{i}"], files[f"data/clean:{i}"] = pair.rainy, pair.clean
    units = [Unit(label(s), files, {"setting": s}) for s in [{"float": True}, *settings_grid]]
    out = Path(out)

    def keep(unit, result: dict) -> dict:
        bundle_files = result.pop("files")
        if bundle_files:
            _write_folder(out / "bundles" / result["label"], bundle_files)
        return result

    work = Work("sweep", checkpoint, {"size": list(size)})
    results, stats = run_units(work, units, plan, units_progress, "emulator", keep=keep)
    float_row = results["float"]
    rows = []
    for s in settings_grid:
        r = results[label(s)]
        rows.append({"label": r["label"], **s, "psnr": r["psnr"], "ssim": r["ssim"],
                     "psnr_cost_db": float_row["psnr"] - r["psnr"], "ssim_cost": float_row["ssim"] - r["ssim"],
                     "default": s == DEFAULT_SETTING, "bundle": str(out / "bundles" / r["label"])})
    best = min(rows, key=lambda r: (r["psnr_cost_db"], r["ssim_cost"]))
    best_dir = out / "best"
    staged = out / ".best.partial"
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(best["bundle"], staged)
    shutil.rmtree(best_dir, ignore_errors=True)
    staged.rename(best_dir)
    summary = {"source": str(source), "checkpoint": str(checkpoint), "size": list(size), "data": str(data),
               "calib": str(calib), "float": {"psnr": float_row["psnr"], "ssim": float_row["ssim"],
                                              "executor": "torch"},
               "settings": rows, "best": best["label"], "best_bundle": str(best_dir),
               "default": next((r["label"] for r in rows if r["default"]), None), "scale_out": stats.to_dict()}
    write_json_atomic(out / "summary.json", summary)
    return summary


def _write_folder(folder: Path, files: dict[str, bytes]) -> None:
    """A bundle's files written into a staged sibling and renamed: the folder appears whole."""
    staged = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(staged, ignore_errors=True)
    for name, data in files.items():
        (staged / name).parent.mkdir(parents=True, exist_ok=True)
        (staged / name).write_bytes(data)
    shutil.rmtree(folder, ignore_errors=True)
    staged.rename(folder)
