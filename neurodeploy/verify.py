"""Verify: compare two Traces of the same graph, layer by layer, step by step.

Neither argument's executor matters. Agreement is the share of (step, neuron) entries
that are equal, in percent. The *first divergence* is the earliest logical time step at
which any layer differs; among the layers differing at that step, the first in graph
order; within it, the lowest flat neuron index (``(C, H, W)`` order).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from neurodeploy.errors import NeurodeployError
from neurodeploy.metrics import psnr
from neurodeploy.trace import Trace

# PSNR of identical images is infinite; JSON has no infinity. Report this cap instead.
PSNR_CAP_DB = 200.0


@dataclass
class Divergence:
    """Where two traces first part: layer, logical step, neuron (flat and (c, y, x))."""

    layer: str
    step: int
    neuron: int
    index: list[int]
    reference_value: float
    executor_value: float
    image: str = ""


@dataclass
class Comparison:
    """Agreement of one image's traces. ``layers``: name -> (equal entries, all entries)."""

    layers: dict[str, tuple[int, int]]
    first_divergence: Divergence | None
    output_psnr_db: float
    output_max_abs_diff: float


def compare(reference: Trace, other: Trace, image: str = "") -> Comparison:
    """Compare ``other`` against ``reference`` (layers must match in names and shapes)."""
    missing = [n for n in reference.layers if n not in other.layers]
    if missing:
        raise NeurodeployError(f"trace of {other.executor} lacks layers {missing}; both must run the same graph")
    counts, first = {}, None
    for name, ref in reference.layers.items():
        got = other.layers[name]
        if got.shape != ref.shape:
            raise NeurodeployError(f"layer {name}: shapes {ref.shape} ({reference.executor}) and "
                                   f"{got.shape} ({other.executor}) differ")
        equal = ref == got
        counts[name] = (int(equal.sum()), int(equal.size))
        if not equal.all():
            step = int(np.argmax(~equal.reshape(equal.shape[0], -1).all(axis=1)))
            if first is None or step < first.step:
                flat = int(np.argmax(~equal[step].reshape(-1)))
                idx = [int(v) for v in np.unravel_index(flat, ref.shape[1:])]
                first = Divergence(name, step, flat, idx, float(ref[step].flat[flat]), float(got[step].flat[flat]), image)
    return Comparison(counts, first, min(psnr(other.output, reference.output), PSNR_CAP_DB),
                      float(np.max(np.abs(other.output - reference.output))))


@dataclass
class Verdict:
    """The outcome of a validation over one or more images (JSON via :meth:`to_dict`)."""

    reference: str
    executor: str
    images: list[str]
    layers: dict[str, float]  # layer -> spike agreement in % over all images
    first_divergence: Divergence | None
    output_psnr_db: float  # worst image; capped at PSNR_CAP_DB
    output_max_abs_diff: float
    min_agreement_pct: float
    min_psnr_db: float
    passed: bool
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(d.pop("extra"))
        return d


def verdict(references: list[Trace], others: list[Trace], images: list[str],
            min_agreement_pct: float = 100.0, min_psnr_db: float = 60.0) -> Verdict:
    """Compare per image and decide: every layer >= ``min_agreement_pct`` and output PSNR >= ``min_psnr_db``."""
    comparisons = [compare(r, o, name) for r, o, name in zip(references, others, images)]
    totals: dict[str, list[int]] = {}
    for c in comparisons:
        for name, (eq, n) in c.layers.items():
            t = totals.setdefault(name, [0, 0])
            t[0] += eq
            t[1] += n
    layers = {name: 100.0 * eq / n for name, (eq, n) in totals.items()}
    first = next((c.first_divergence for c in comparisons if c.first_divergence), None)
    worst_psnr = min(c.output_psnr_db for c in comparisons)
    passed = bool(all(v >= min_agreement_pct for v in layers.values()) and worst_psnr >= min_psnr_db)
    return Verdict(references[0].executor, others[0].executor, list(images), layers, first, worst_psnr,
                   max(c.output_max_abs_diff for c in comparisons), min_agreement_pct, min_psnr_db, passed)
