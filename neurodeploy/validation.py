"""Validate a bundle of either kind: run any executor and a reference on the same inputs, and compare.

``validation.json`` in the bundle keeps one entry per executor under ``executors``
(keyed by executor name; each is that executor's latest verdict) and, at the top level,
the keys of the latest run (the file's original layout, so older readers keep working).
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from neurodeploy.scaleout import Plan, Stats


from neurodeploy.bundle import Bundle, BundleInputs
from neurodeploy.errors import InputImageError
from neurodeploy.images import expand_images, load_inputs
from neurodeploy.targets import make_executor, most_faithful
from neurodeploy.trace import Trace
from neurodeploy.verify import verdict
from neurodeploy.bundle_format import write_json_atomic
from neurodeploy.writable import write_json_kept

#: Executors that stream many images through one run (one run for all images is much faster).
STREAMING = ("lava-float", "lava-fixed", "lava-fixed-stock", "loihi")

Progress = Callable[[str, int, int], None]  # (executor, images done, images in all)


def run_inputs(name: str, runner, inputs: BundleInputs, progress: Progress | None = None) -> list[Trace]:
    """Run executor ``runner`` (named ``name``) on a bundle's :class:`BundleInputs` of either kind:
    one image at a time (reporting progress), or all at once for executors that stream them
    through one run and for a ``.nir`` file's samples (one batch of sequences)."""
    n = len(inputs)
    if name in STREAMING or n == 1 or inputs.sequences:
        traces = runner.run(inputs.array)
        if progress:
            progress(name, n, n)
        return traces
    traces = []
    for i in range(n):
        traces.extend(runner.run(inputs.take(i, i + 1)))
        if progress:
            progress(name, i + 1, n)
    return traces


def write_traces(folder: Path, runs: dict[str, list[Trace]]) -> Path:
    """Each run's spikes and membrane potentials per layer as ``.npy``: ``FOLDER/EXECUTOR/LAYER.spikes.npy``
    and ``LAYER.v.npy`` (model units, where the executor records them), shape ``(N, T, *shape)`` for N
    inputs; written next to their place and renamed, so a reader never sees half a file."""
    import numpy as np

    for name, traces in runs.items():
        out = folder / name
        out.mkdir(parents=True, exist_ok=True)
        for layer in traces[0].layers:
            _save_npy(out / f"{_file_name(layer)}.spikes.npy", np.stack([t.layers[layer] for t in traces]))
        for layer in traces[0].membranes:
            if all(layer in t.membranes for t in traces):
                _save_npy(out / f"{_file_name(layer)}.v.npy", np.stack([t.membranes[layer] for t in traces]))
    return folder.resolve()


def _file_name(layer: str) -> str:
    """A layer name as a file name (a writer's names may hold path separators)."""
    return layer.replace("/", "_").replace("\\", "_")


def _save_npy(path: Path, array) -> None:
    import numpy as np

    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, array)
    tmp.replace(path)


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
                    reference: str | None = None, min_agreement_pct: float = 100.0,
                    min_psnr_db: float = 60.0, min_ssim: float | None = None, truth: list[Path] | None = None,
                    progress: Progress | None = None, input_file: Path | None = None,
                    warn: Callable[[str], None] | None = None, plan: "Plan | None" = None,
                    units_progress: "Callable[[Stats], None] | None" = None, min_activity: float | None = None,
                    save_traces: Path | None = None) -> dict:
    """Run ``executor`` and ``reference`` on the inputs; write and return the verdict (``validation.json``).

    Args:
        executor: default: the most faithful one the bundle supports (``lava-float`` where the
            chip part is lowered, else ``split``).
        reference: the executor compared against (default: ``torch-float64``; for a ``.nir``
            file's bundle ``nir-torch``, :attr:`Bundle.default_reference`).
        images: a model's bundle: files or folders (default: the shipped rainy photo),
            centre-cropped to the bundle's input.
        input_file: a ``.nir`` file's bundle: its input ``.npy``, ``(T, ...)`` or ``(T, N, ...)``
            (default: 100 steps of seeded random spikes at 10 %).
        min_agreement_pct: spike agreement (%) every layer must reach; min_psnr_db: output PSNR (dB);
            min_ssim: output SSIM (Y channel), checked only when given.
        truth: clean images paired with ``images`` by order (files or folders), scored by PSNR/SSIM.
        progress: called as ``progress(executor, done, total)`` while images run.
        warn: told in one line when ``validation.json`` cannot be written (a read-only or full
            bundle); the verdict is returned all the same (default: a Python warning).
        plan: run each image as a unit (:mod:`neurodeploy.scaleout`: on Ray, into ``units.jsonl``,
            resumable); the verdict is the in-process one, with ``scale_out`` stats added;
            units_progress: told the stats as units finish.
        min_activity: spikes per neuron per step every spiking layer must reach in one of the runs
            (:func:`neurodeploy.verify.verdict`); a run where every spiking layer is silent fails anyway.
        save_traces: a folder to write both runs' spikes and membranes to (:func:`write_traces`).
    """
    if plan is not None and plan.wanted:
        bundle = path if isinstance(path, Bundle) else Bundle.open(path)
        result = _validate_units(bundle, images, executor or most_faithful(bundle),
                                 reference or bundle.default_reference, truth, plan, units_progress,
                                 (min_agreement_pct, min_psnr_db, min_ssim, min_activity))
        _keep(bundle, result, warn)
        if plan.out is not None:
            write_json_atomic(plan.out / "summary.json", result)
        return result
    bundle = path if isinstance(path, Bundle) else Bundle.open(path)  # the CLI passes it opened
    executor = executor or most_faithful(bundle)
    reference = reference or bundle.default_reference
    inputs = bundle.inputs(images, input_file, truth)
    clean = None
    if truth:
        clean_paths = expand_images(truth)
        if len(clean_paths) != len(inputs):
            raise InputImageError(f"--truth gives {len(clean_paths)} clean image(s) for {len(inputs)} input(s); "
                                  "pass one clean image per --image, in the same order")
        clean, _ = load_inputs(clean_paths, bundle.input_size)
    # both built before either runs: an executor that cannot run on this bundle fails fast, in one line
    runners = {name: make_executor(name, bundle) for name in dict.fromkeys((executor, reference))}
    run_traces = run_inputs(executor, runners[executor], inputs, progress)
    ref_traces = (run_traces if reference == executor
                  else run_inputs(reference, runners[reference], inputs, progress))
    result = verdict(ref_traces, run_traces, inputs.names, min_agreement_pct, min_psnr_db, min_ssim, clean,
                     min_activity).to_dict()
    if save_traces is not None:
        result["saved_traces"] = str(write_traces(Path(save_traces), {executor: run_traces, reference: ref_traces}))
    result["run_s"] = {reference: sum(t.meta.get("run_s", 0.0) for t in ref_traces),
                       executor: sum(t.meta.get("run_s", 0.0) for t in run_traces)}
    result.update(bundle.run_facts(inputs))
    if result.get("first_divergence") is not None:
        result["first_divergence"] = dict(result["first_divergence"])
    _keep(bundle, result, warn)
    return result


def _keep(bundle: Bundle, result: dict, warn: Callable[[str], None] | None) -> None:
    """``validation.json``: this verdict at the top level and under its executor's entry (with the time)."""
    result["validated_utc"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    target = bundle.path / "validation.json"
    entries = _previous_entries(target)
    entries[result["executor"]] = result
    write_json_kept(target, {**result, "executors": entries}, warn)


def _validate_units(bundle: Bundle, images: list[Path] | None, executor: str, reference: str,
                    truth: list[Path] | None, plan: "Plan", units_progress, thresholds: tuple) -> dict:
    """:func:`validate_bundle` with one unit per image: each compared where it ran, the
    comparisons combined here in the images' order (:func:`neurodeploy.verify.combine`)."""
    import numpy as np

    from neurodeploy.errors import NeurodeployError
    from neurodeploy.images import DEFAULT_IMAGE
    from neurodeploy.scaleout import Unit, Work, run_units
    from neurodeploy.verify import combine, comparison_from_json

    if bundle.is_nir:
        raise NeurodeployError(f"{bundle.path} is a bundle of a .nir file: its samples run as one batch; validate "
                               "it without --workers/--cluster/--out")
    paths = expand_images(images) if images else [Path(DEFAULT_IMAGE)]
    bundle.inputs(paths)  # every image read and fitted here first: a bad one is refused before any unit runs
    clean_paths = expand_images(truth) if truth else None
    if clean_paths is not None and len(clean_paths) != len(paths):
        raise InputImageError(f"--truth gives {len(clean_paths)} clean image(s) for {len(paths)} input(s); "
                              "pass one clean image per --image, in the same order")
    for name in dict.fromkeys((executor, reference)):
        make_executor(name, bundle)  # one that cannot run here fails fast, in one line, before any unit
    units = [Unit(f"{i}:{p}", {"image": p, **({"truth": clean_paths[i]} if clean_paths else {})}, {"name": p.name})
             for i, p in enumerate(paths)]
    work = Work("validate", bundle.path, {"executor": executor, "reference": reference})
    results, stats = run_units(work, units, plan, units_progress, executor)
    rows = [results[u.key] for u in units]
    min_agreement_pct, min_psnr_db, min_ssim, min_activity = thresholds
    scores = None
    if clean_paths:
        scores = {}
        for who in ("reference", "executor"):
            ssims = [r["truth"][who]["ssim_y"] for r in rows if r["truth"][who]["ssim_y"] is not None]
            scores[who] = {"psnr_y_db": float(np.mean([r["truth"][who]["psnr_y_db"] for r in rows])),
                           "ssim_y": float(np.mean(ssims)) if ssims else None}
    result = combine([comparison_from_json(r["comparison"]) for r in rows], reference, executor,
                     [u.params["name"] for u in units], min_agreement_pct, min_psnr_db, min_ssim, scores,
                     min_activity).to_dict()
    result["run_s"] = {name: sum(r["run_s"][name] for r in rows) for name in (reference, executor)}
    result["scale_out"] = stats.to_dict()
    return result
