"""What one unit of each scaled-out command computes (:mod:`neurodeploy.scaleout` runs them).

Each runner is ``factory(work, source) -> run(unit) -> result`` (JSON-able): the factory opens
the source once per worker process and job, ``run`` does one image with the same functions as
the command's in-process path, so a unit's result is the in-process result for that image.

- ``evaluate``: one pair (``rainy``, ``clean`` files) -> its row of scores;
- ``validate``: one image (``image``, optional ``truth``) -> its comparison of the two executors;
- ``derain``: one photo (``image``) -> the derained file's bytes (written by the caller);
- ``derain_tile``: one tile's window of a large photo (``window``, a ``.npy`` (3, h, w) in [0, 1])
  -> its derained window as ``.npy`` bytes (the caller blends the tiles into the photo);
- ``sweep``: one PTQ setting -> its export's evaluation (:mod:`neurodeploy.sweep`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any


def bundle_executor(bundle, executor: str | None) -> str:
    """``executor`` for deraining with a bundle: the integer emulator for a quantized bundle, else torch."""
    bundle.require_images()
    return executor or ("emulator" if bundle.manifest.get("quantization", {}).get("status") == "int" else "torch")


def executor_module(bundle, executor: str | None):
    """An opened bundle's executor as a torch module ``(N, 3, H, W) -> (N, 3, H, W)`` (so that
    deraining tiles it like a model), and the executor's name."""
    import numpy as np
    import torch

    from neurodeploy.targets import make_executor

    executor = bundle_executor(bundle, executor)
    runner = make_executor(executor, bundle)

    class ExecutorModule(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            traces = runner.run(x.detach().double().numpy())
            return torch.as_tensor(np.stack([t.output for t in traces]), dtype=torch.float32)

    return ExecutorModule(), executor


def derain_model(source: Path, executor: str | None):
    """The model a derain or evaluate of ``source`` runs: a bundle's executor as a module, or a
    checkpoint's model; and the executor's name (``torch`` for a checkpoint)."""
    if source.is_dir():
        from neurodeploy.bundle import Bundle

        return executor_module(Bundle.open(source), executor)
    from neurodeploy.checkpoint import load_model

    return load_model(source)[0], "torch"


def _evaluate(work, source: Path):
    s = work.settings
    if source.is_dir():
        from neurodeploy.bundle import Bundle
        from neurodeploy.quantized import pair_scorer

        score = pair_scorer(Bundle.open(source), s["executor"])
        return lambda unit: score(unit.params["name"], unit.files["rainy"], unit.files["clean"])
    from neurodeploy.models.data import load_image
    from neurodeploy.models.evaluate import derain, score_row

    model, _ = derain_model(source, None)

    def run(unit) -> dict[str, Any]:
        rainy, clean = load_image(unit.files["rainy"]), load_image(unit.files["clean"])
        return score_row(unit.params["name"], derain(model, rainy, s["tile"], None, tiling=s["tiling"], passes=s.get("passes")), rainy, clean)

    return run


def _validate(work, source: Path):
    from neurodeploy.bundle import Bundle
    from neurodeploy.images import load_inputs
    from neurodeploy.targets import make_executor
    from neurodeploy.verify import compare, comparison_to_json, truth_scores

    s = work.settings
    bundle = Bundle.open(source)
    names = list(dict.fromkeys((s["executor"], s["reference"])))
    runners = {name: make_executor(name, bundle) for name in names}

    def run(unit) -> dict[str, Any]:
        inputs = bundle.inputs([unit.files["image"]])
        traces = {name: runners[name].run(inputs.array)[0] for name in names}
        result = {"comparison": comparison_to_json(compare(traces[s["reference"]], traces[s["executor"]],
                                                           unit.params["name"])),
                  "run_s": {name: float(traces[name].meta.get("run_s", 0.0)) for name in names}, "truth": None}
        if "truth" in unit.files:
            clean, _ = load_inputs([unit.files["truth"]], bundle.input_size)
            result["truth"] = {who: truth_scores([traces[s[who]]], clean) for who in ("executor", "reference")}
        return result

    return run


def _derain(work, source: Path):
    from neurodeploy.models.data import load_image_info, save_image
    from neurodeploy.models.evaluate import derain

    s = work.settings
    model, _ = derain_model(source, s.get("executor"))

    def run(unit) -> dict[str, Any]:
        image, info = load_image_info(unit.files["image"])
        out = derain(model, image, s["tile"], None, tiling=s["tiling"], passes=s.get("passes"))
        with tempfile.TemporaryDirectory(prefix="neurodeploy-derain-") as tmp:
            written = save_image(out, Path(tmp) / unit.files["image"].name, like=info)
            data = written.read_bytes()
        return {"name": unit.files["image"].name, "notes": list(info.notes), "bytes": data}

    return run


def _derain_tile(work, source: Path):
    import io

    import numpy as np
    import torch

    from neurodeploy.models.evaluate import derain_window

    model, _ = derain_model(source, work.settings.get("executor"))

    def run(unit) -> dict[str, Any]:
        window = torch.from_numpy(np.load(unit.files["window"], allow_pickle=False))
        with torch.no_grad():
            piece = derain_window(model, window)
        buf = io.BytesIO()
        np.save(buf, piece.numpy(), allow_pickle=False)
        return {"tile": int(unit.params["tile"]), "bytes": buf.getvalue()}

    return run


def label(setting: dict[str, Any]) -> str:
    """A setting's name: ``calib16-max``, ``calib4-p99.99``, or ``float``."""
    if setting.get("float"):
        return "float"
    how = "max" if setting["range"] == "max" else f"p{setting['percentile']:g}"
    return f"calib{setting['calib_images']}-{how}"


def sweep_unit(checkpoint: Path, settings: dict[str, Any], setting: dict[str, Any], calib: Path | None,
               data: Path) -> dict[str, Any]:
    """One setting (or the float model): export into a temporary folder, evaluate on ``data``;
    the scores and the bundle's files (bytes, for the caller to keep)."""
    from neurodeploy.bundle import Bundle, export_model_bundle
    from neurodeploy.quantized import evaluate_bundle

    with tempfile.TemporaryDirectory(prefix="neurodeploy-sweep-") as tmp:
        out = Path(tmp) / "bundle"
        size = tuple(settings["size"])
        if setting.get("float"):
            export_model_bundle(checkpoint, out, size=size)
            executor = "torch"
        else:
            export_model_bundle(checkpoint, out, size=size, quantize="int", calib=calib,
                                calib_images=setting["calib_images"], calib_percentile=setting["percentile"])
            executor = "emulator"
        result = evaluate_bundle(Bundle.open(out), executor, data)
        files = {} if setting.get("float") else {str(p.relative_to(out)): p.read_bytes()
                                                 for p in sorted(out.rglob("*")) if p.is_file()}
    return {"setting": setting, "label": label(setting), "executor": executor, "psnr": result["psnr"],
            "ssim": result["ssim"], "count": result["count"], "images": result["images"], "files": files}


def _sweep(work, source: Path):
    def run(unit) -> dict[str, Any]:
        # the calibration images share one folder, the pairs one data folder (rainy/, clean/)
        calib = unit.files["calib:0"].parent
        data = unit.files["data/rainy:0"].parent.parent
        return sweep_unit(source, work.settings, unit.params["setting"], calib, data)

    return run


RUNNERS = {"evaluate": _evaluate, "validate": _validate, "derain": _derain, "derain_tile": _derain_tile,
           "sweep": _sweep}
