"""Validate a bundle: run any executor and a reference on the same images, and compare.

``validation.json`` in the bundle keeps one entry per executor under ``executors``
(keyed by executor name; each is that executor's latest verdict) and, at the top level,
the keys of the latest run (the file's original layout, so older readers keep working).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from neurodeploy.bundle import Bundle
from neurodeploy.errors import InputImageError
from neurodeploy.images import expand_images, load_inputs
from neurodeploy.targets import make_executor, most_faithful
from neurodeploy.trace import Trace
from neurodeploy.verify import verdict
from neurodeploy.writable import write_json_kept

DEFAULT_REFERENCE = "torch-float64"
#: Executors that stream many images through one run (one run for all images is much faster).
STREAMING = ("lava-float", "lava-fixed", "lava-fixed-stock", "loihi")

Progress = Callable[[str, int, int], None]  # (executor, images done, images in all)


def run_images(name: str, bundle: Bundle, inputs: np.ndarray, progress: Progress | None = None) -> list[Trace]:
    """Run executor ``name`` on ``inputs`` ``(N, C, H, W)``, image by image (reporting progress),
    or all at once for executors that stream images through one run."""
    runner = make_executor(name, bundle)
    n = inputs.shape[0]
    if name in STREAMING or n == 1:
        traces = runner.run_batch(inputs)
        if progress:
            progress(name, n, n)
        return traces
    traces = []
    for i in range(n):
        traces.extend(runner.run_batch(inputs[i:i + 1]))
        if progress:
            progress(name, i + 1, n)
    return traces


def _previous_entries(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    entries = dict(data.get("executors") or {})
    if "executor" in data and data["executor"] not in entries:  # a file written before entries existed
        entries[data["executor"]] = {k: v for k, v in data.items() if k != "executors"}
    return entries


def validate_bundle(path: "str | Path | Bundle", images: list[Path] | None = None, executor: str | None = None,
                    reference: str = DEFAULT_REFERENCE, min_agreement_pct: float = 100.0,
                    min_psnr_db: float = 60.0, min_ssim: float | None = None, truth: list[Path] | None = None,
                    progress: Progress | None = None, warn: Callable[[str], None] | None = None) -> dict:
    """Run ``executor`` and ``reference`` on the images; write and return the verdict (``validation.json``).

    Args:
        executor: default: the most faithful one the bundle supports (``lava-float`` where the
            chip part is lowered, else ``split``).
        reference: the executor compared against (default ``torch-float64``).
        images: files or folders (default: the shipped rainy photo), centre-cropped to the bundle's input.
        min_agreement_pct: spike agreement (%) every layer must reach; min_psnr_db: output PSNR (dB);
            min_ssim: output SSIM (Y channel), checked only when given.
        truth: clean images paired with ``images`` by order (files or folders), scored by PSNR/SSIM.
        progress: called as ``progress(executor, done, total)`` while images run.
        warn: told in one line when ``validation.json`` cannot be written (a read-only or full
            bundle); the verdict is returned all the same (default: a Python warning).
    """
    bundle = path if isinstance(path, Bundle) else Bundle.open(path)  # the CLI passes it opened
    executor = executor or most_faithful(bundle)
    inputs, names = load_inputs(images, bundle.input_size)
    clean = None
    if truth:
        clean_paths = expand_images(truth)
        if len(clean_paths) != len(names):
            raise InputImageError(f"--truth gives {len(clean_paths)} clean image(s) for {len(names)} input(s); "
                                  "pass one clean image per --image, in the same order")
        clean, _ = load_inputs(clean_paths, bundle.input_size)
    run_traces = run_images(executor, bundle, inputs, progress)  # first: an executor that cannot run fails fast
    ref_traces = run_images(reference, bundle, inputs, progress)
    result = verdict(ref_traces, run_traces, names, min_agreement_pct, min_psnr_db, min_ssim, clean).to_dict()
    result["run_s"] = {reference: sum(t.meta.get("run_s", 0.0) for t in ref_traces),
                       executor: sum(t.meta.get("run_s", 0.0) for t in run_traces)}
    target = bundle.path / "validation.json"
    entries = _previous_entries(target)
    entries[executor] = result
    write_json_kept(target, {**result, "executors": entries}, warn)
    return result
