"""Validate a bundle: run it on a simulator and on the torch reference, and compare."""

from __future__ import annotations

from pathlib import Path

from neurodeploy.bundle import Bundle, write_json_atomic
from neurodeploy.images import load_inputs
from neurodeploy.targets import make_executor, most_faithful
from neurodeploy.verify import verdict

DEFAULT_REFERENCE = "torch-float64"


def validate_bundle(path: str | Path, images: list[Path] | None = None, executor: str | None = None,
                    reference: str = DEFAULT_REFERENCE, min_agreement_pct: float = 100.0,
                    min_psnr_db: float = 60.0) -> dict:
    """Run ``executor`` and ``reference`` on the images; write and return ``validation.json``.

    ``executor`` defaults to the most faithful one the bundle supports (``lava-float`` where
    the chip part is lowered, else ``split``). Images (default: the shipped rainy photo) are
    centre-cropped to the bundle's input size.
    """
    bundle = Bundle.open(path)
    executor = executor or most_faithful(bundle)
    inputs, names = load_inputs(images, bundle.input_size)
    ref_traces = make_executor(reference, bundle).run_batch(inputs)
    run_traces = make_executor(executor, bundle).run_batch(inputs)
    result = verdict(ref_traces, run_traces, names, min_agreement_pct, min_psnr_db).to_dict()
    result["run_s"] = {reference: sum(t.meta["run_s"] for t in ref_traces),
                       executor: sum(t.meta["run_s"] for t in run_traces)}
    write_json_atomic(bundle.path / "validation.json", result)
    return result
