"""Quantized bundles: PTQ at export (calibrate, quantize, measure), and evaluating a bundle on a data set.

Export with ``--quantize int --calib DIR`` runs, on the centre crops of the calibration
images at the export size: the float graph (ranges, :func:`neurodeploy.targets.emulator.calibrate`),
the PTQ pass (:func:`neurodeploy.quantize.ptq.quantize_graph`), then the integer emulator
against the float graph (``nir-torch``) to add per-layer spike agreement and saturation
counts to the report. :func:`evaluate_bundle` runs any executor over a paired folder's
whole images and scores PSNR/SSIM (Y channel, the papers' convention).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from neurodeploy import progress
from neurodeploy.images import calibration_images
from neurodeploy.ir.graph import DeployGraph
from neurodeploy.quantize.ptq import CalibrationRanges, quantize_graph, summary
from neurodeploy.trace import Trace

QUANTIZE_MODES = ("none", "int")
CALIB_LIMIT = 16  # calibration images used at most (sorted by name)


def check_calibration(calib: str | Path | None, size: tuple[int, int], limit: int = CALIB_LIMIT) -> np.ndarray:
    """The calibration crops ``(N, 3, H, W)``; refuses a missing, empty or too-small folder in one line."""
    from neurodeploy.errors import NeurodeployError

    if calib is None:
        raise NeurodeployError("--quantize int needs --calib DIR (a folder of images, or a paired folder's rainy/)")
    crops, _ = calibration_images(calib, size, limit)
    return crops


def quantize_deploy_graph(g: DeployGraph, crops: np.ndarray, percentile: float | None = None,
                          ) -> tuple[CalibrationRanges, dict[str, dict[str, Any]]]:
    """Calibrate the float graph on ``crops`` and quantize ``g`` in place; the static per-layer report.
    ``percentile``: ranges from that percentile of |x| instead of the maximum (:func:`calibrate`)."""
    from neurodeploy.targets.emulator import calibrate

    ranges = calibrate(g, crops, percentile=percentile)
    return ranges, quantize_graph(g, ranges)


def measure(bundle_dir: Path, partition: dict, g: DeployGraph, crops: np.ndarray,
            report: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Run the emulator (from the files in ``bundle_dir``) and the float graph on ``crops``; add
    each layer's spike agreement (%) and saturation counts to ``report``; return totals."""
    from neurodeploy.targets.emulator import IntegerEmulator
    from neurodeploy.targets.nir_torch import NirTorchExecutor

    emu = IntegerEmulator(bundle_dir, partition)
    ref = NirTorchExecutor(g.nir, g.info)
    same: dict[str, float] = {}
    total: dict[str, float] = {}
    saturated: dict[str, dict[str, int]] = {}
    psnrs = []
    for i in range(len(crops)):
        progress.step("measuring the integers against float", i, len(crops))
        a, b = emu.run(crops[i:i + 1])[0], ref.run(crops[i:i + 1])[0]
        for layer in a.layers:
            same[layer] = same.get(layer, 0) + float(np.sum(a.layers[layer] == b.layers[layer]))
            total[layer] = total.get(layer, 0) + a.layers[layer].size
        for node, c in a.meta["saturated"].items():
            for k, v in c.items():
                saturated.setdefault(node, {})[k] = saturated.setdefault(node, {}).get(k, 0) + v
        mse = float(np.mean((np.clip(a.output, 0, 1) - np.clip(b.output, 0, 1)) ** 2))
        psnrs.append(200.0 if mse == 0 else min(200.0, 10 * np.log10(1.0 / mse)))
    for layer in same:
        report.setdefault(layer, {})["spike_agreement_pct"] = 100.0 * same[layer] / total[layer]
    for node, c in saturated.items():
        report.setdefault(node, {})["saturated"] = c
    agree = [report[n]["spike_agreement_pct"] for n in same]
    return {"spike_agreement_pct_min": min(agree, default=100.0),
            "spike_agreement_pct_mean": float(np.mean(agree)) if agree else 100.0,
            "output_psnr_vs_float_db_mean": float(np.mean(psnrs)) if psnrs else None,
            "saturated_values": int(sum(v for c in saturated.values() for v in c.values()))}


def manifest_summary(g: DeployGraph, ranges: CalibrationRanges, report: dict, totals: dict,
                     percentile: float | None = None) -> dict[str, Any]:
    out = summary(g, ranges, report)
    out.update(totals)
    out["calibration"] = {"images": ranges.images, "range": "max" if percentile is None else "percentile",
                          "percentile": percentile}
    if percentile is not None:
        out["method"] = f"post-training quantization (per-layer scales from the {percentile:g}th percentile of |x|)"
    out["params"] = "params.npz"
    return out


def evaluate_bundle(bundle, executor: str, data: str | Path,
                    progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """PSNR/SSIM (Y, BT.601) of ``executor``'s output on every pair of the paired folder
    ``data``, each image whole at its own size; also the rainy input's. Means over images.
    ``bundle``: an opened :class:`neurodeploy.bundle.Bundle`."""
    from neurodeploy.models.data import find_pairs

    pairs = find_pairs(data)
    runner = pair_scorer(bundle, executor)
    rows = []
    for i, pair in enumerate(pairs):
        rows.append(runner(pair.name, pair.rainy, pair.clean))
        if progress:
            progress(i + 1, len(pairs))
    return evaluation_summary(bundle.path, executor, data, rows)


def pair_scorer(bundle, executor: str) -> Callable[[str, Path, Path], dict[str, Any]]:
    """``score(name, rainy file, clean file) -> row``: ``executor`` on the whole rainy image, scored
    against the clean one (``psnr``, ``ssim``, ``input_psnr``, ``input_ssim``, ``size`` [H, W]
    in pixels, ``run_s`` seconds)."""
    import torch

    from neurodeploy.models.data import load_image
    from neurodeploy.models.evaluate import score_row
    from neurodeploy.targets import make_executor

    runner = make_executor(executor, bundle)
    if hasattr(runner, "record_layers"):
        runner.record_layers = False  # scores need the output only

    def score(name: str, rainy_file: Path, clean_file: Path) -> dict[str, Any]:
        rainy, clean = load_image(rainy_file), load_image(clean_file)
        trace: Trace = runner.run(rainy.numpy()[None].astype(np.float64))[0]
        out = torch.as_tensor(np.clip(trace.output, 0, 1), dtype=torch.float32)
        return {**score_row(name, out, rainy, clean), "size": list(rainy.shape[1:]),
                "run_s": float(trace.meta.get("run_s", 0.0))}

    return score


def evaluation_summary(bundle_path: Path, executor: str, data: str | Path, rows: list[dict]) -> dict[str, Any]:
    """``evaluate``'s result from its rows, in the pairs' order (means over images)."""
    from neurodeploy.models.evaluate import summarise_rows

    summary = summarise_rows(rows)
    return {"bundle": str(bundle_path), "executor": executor, "data": str(data), "count": summary["count"],
            **{k: summary[k] for k in ("psnr", "ssim", "input_psnr", "input_ssim")},
            "run_s_per_image": sum(r["run_s"] for r in rows) / len(rows), "images": rows}
