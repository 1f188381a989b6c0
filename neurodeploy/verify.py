"""Verify: compare two Traces of the same graph, layer by layer, step by step.

Neither argument's executor matters. Agreement is the share of (step, neuron) entries
that are equal, in percent. The *first divergence* is the earliest logical time step at
which any layer differs; among the layers differing at that step, the first in graph
order; within it, the lowest flat neuron index (``(C, H, W)`` order).

Beyond the verdict's original keys (``passed``, ``layers``, ``first_divergence``,
``output_psnr_db``, ...) a :class:`Verdict` carries: agreement per layer and logical step
(``layers_per_step``, %), firing rates of both runs and their difference (spikes per neuron
per step), the error on real-valued outputs (layers whose values are not 0/1 spikes, and the
output image: max and RMS absolute difference, model units), the output SSIM (Y channel,
the papers' convention) between the two runs, image quality against ground truth when
given, and one line per image.

**Silence is not agreement.** Two runs in which a layer never spikes agree on every entry
and have proved nothing about it. For every layer of events (0/1 spikes, or graded levels:
non-negative integers) the verdict counts the events of both runs (``spike_counts``: a
graded spike of level k counts k, as k spikes in one step would) and their ratio beside
the per-element agreement; a layer where neither run had an event is *silent*
(``silent_layers``): its agreement does not count towards passing, and a validation in which
every event layer is silent fails. ``min_activity`` (events per neuron per step) makes a layer
whose busier run stays below it a failure too (``inactive_layers``). Where both Traces carry
membrane potentials (``Trace.membranes``, model units), ``membrane_error`` gives their largest
and RMS difference per layer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from neurodeploy.errors import NeurodeployError
from neurodeploy.metrics import psnr, psnr_y, ssim_y
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
    per_step: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # layer -> per step (equal, all)
    rates: dict[str, tuple[float, float]] = field(default_factory=dict)  # layer -> (reference, other) firing rate
    real_error: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (max abs, sum of squares/n)
    output_ssim: float | None = None
    events: dict[str, tuple[float, float]] = field(default_factory=dict)  # event layer -> (reference, other) count
    membrane_error: dict[str, tuple[float, float]] = field(default_factory=dict)  # layer -> (max abs, squares/n)


def _is_spikes(a: np.ndarray) -> bool:
    return bool(np.isin(a, (0.0, 1.0)).all())


def _is_events(a: np.ndarray) -> bool:
    """Spikes or graded spike levels: non-negative whole numbers (a membrane state is not)."""
    return bool(a.size == 0 or (np.all(a >= 0) and np.all(a == np.round(a))))


def _ssim(a: np.ndarray, b: np.ndarray) -> float | None:
    if a.ndim != 3 or a.shape[0] != 3 or min(a.shape[1:]) < 11:
        return None
    return ssim_y(np.clip(a, 0, 1), np.clip(b, 0, 1))


def compare(reference: Trace, other: Trace, image: str = "") -> Comparison:
    """Compare ``other`` against ``reference`` (layers must match in names and shapes)."""
    missing = [n for n in reference.layers if n not in other.layers]
    if missing:
        raise NeurodeployError(f"trace of {other.executor} lacks layers {missing}; both must run the same graph")
    counts, first = {}, None
    per_step, rates, real_error, events, membrane_error = {}, {}, {}, {}, {}
    for name, ref in reference.layers.items():
        got = other.layers[name]
        if got.shape != ref.shape:
            raise NeurodeployError(f"layer {name}: shapes {ref.shape} ({reference.executor}) and "
                                   f"{got.shape} ({other.executor}) differ")
        equal = ref == got
        counts[name] = (int(equal.sum()), int(equal.size))
        flat_eq = equal.reshape(equal.shape[0], -1)
        per_step[name] = [(int(row.sum()), int(row.size)) for row in flat_eq]
        steps_neurons = max(ref.size, 1)
        rates[name] = (float(np.count_nonzero(ref)) / steps_neurons, float(np.count_nonzero(got)) / steps_neurons)
        if _is_events(ref) and _is_events(got):
            events[name] = (float(ref.sum()), float(got.sum()))
        if not (_is_spikes(ref) and _is_spikes(got)):
            diff = np.abs(got - ref)
            real_error[name] = (float(diff.max()) if diff.size else 0.0, float(np.mean(diff ** 2)) if diff.size else 0.0)
        if not equal.all():
            step = int(np.argmax(~equal.reshape(equal.shape[0], -1).all(axis=1)))
            if first is None or step < first.step:
                flat = int(np.argmax(~equal[step].reshape(-1)))
                idx = [int(v) for v in np.unravel_index(flat, ref.shape[1:])]
                first = Divergence(name, step, flat, idx, float(ref[step].flat[flat]), float(got[step].flat[flat]), image)
    for name, ref_v in reference.membranes.items():
        got_v = other.membranes.get(name)
        if got_v is not None and got_v.shape == ref_v.shape and ref_v.size:
            diff = np.abs(got_v - ref_v)
            membrane_error[name] = (float(diff.max()), float(np.mean(diff ** 2)))
    out_diff = np.abs(other.output - reference.output)
    real_error["output"] = (float(out_diff.max()), float(np.mean(out_diff ** 2)))
    return Comparison(counts, first, min(psnr(other.output, reference.output), PSNR_CAP_DB),
                      float(np.max(out_diff)), per_step, rates, real_error, _ssim(other.output, reference.output),
                      events, membrane_error)


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
    # added keys (the ones above are the original contract)
    layers_per_step: dict[str, list[float]] = field(default_factory=dict)  # layer -> % per logical step
    firing_rate: dict[str, dict[str, float]] = field(default_factory=dict)  # layer -> reference/executor/difference
    real_valued_error: dict[str, dict[str, float]] = field(default_factory=dict)  # name -> max_abs, rms
    output_ssim: float | None = None  # worst image, Y channel; None below 11x11 pixels
    min_ssim: float | None = None
    truth: dict | None = None  # executor/reference -> psnr_y_db, ssim_y (mean over images) vs ground truth
    per_image: list[dict] = field(default_factory=list)
    spike_counts: dict[str, dict[str, float | None]] = field(default_factory=dict)  # event layer -> counts, ratio
    silent_layers: list[str] = field(default_factory=list)  # event layers where neither run had an event
    min_activity: float | None = None  # events per neuron per step the busier run of each layer must reach
    inactive_layers: list[str] = field(default_factory=list)  # below min_activity (silent ones included)
    membrane_error: dict[str, dict[str, float]] = field(default_factory=dict)  # layer -> max_abs, rms (model units)
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(d.pop("extra"))
        return d


def truth_scores(traces: list[Trace], clean: np.ndarray) -> dict[str, float]:
    """Mean PSNR (dB) and SSIM of the traces' outputs against clean images ``(N, 3, H, W)`` (Y channel)."""
    p = [psnr_y(np.clip(t.output, 0, 1), c) for t, c in zip(traces, clean)]
    s = [ssim_y(np.clip(t.output, 0, 1), c) for t, c in zip(traces, clean)] if min(clean.shape[-2:]) >= 11 else []
    return {"psnr_y_db": float(np.mean(p)), "ssim_y": float(np.mean(s)) if s else None}


def verdict(references: list[Trace], others: list[Trace], images: list[str],
            min_agreement_pct: float = 100.0, min_psnr_db: float = 60.0, min_ssim: float | None = None,
            clean: np.ndarray | None = None, min_activity: float | None = None) -> Verdict:
    """Compare per image and decide: every layer that is not silent >= ``min_agreement_pct``, not every
    event layer silent, output PSNR >= ``min_psnr_db`` (dB) and, when given, output SSIM >= ``min_ssim``
    and every event layer's busier run at ``min_activity`` events per neuron per step or more.
    ``clean``: ground truth ``(N, 3, H, W)``, scored only."""
    comparisons = [compare(r, o, name) for r, o, name in zip(references, others, images)]
    truth = None
    if clean is not None:
        truth = {"reference": truth_scores(references, clean), "executor": truth_scores(others, clean)}
    return combine(comparisons, references[0].executor, others[0].executor, images, min_agreement_pct, min_psnr_db,
                   min_ssim, truth, min_activity)


def comparison_to_json(c: Comparison) -> dict:
    """A :class:`Comparison` as JSON (a scaled-out unit's result; :func:`comparison_from_json` reads it back)."""
    return asdict(c)


def comparison_from_json(d: dict) -> Comparison:
    """The :class:`Comparison` :func:`comparison_to_json` wrote (floats round-trip exactly through JSON)."""
    first = Divergence(**d["first_divergence"]) if d.get("first_divergence") else None
    return Comparison({k: tuple(v) for k, v in d["layers"].items()}, first, d["output_psnr_db"],
                      d["output_max_abs_diff"], {k: [tuple(x) for x in v] for k, v in d["per_step"].items()},
                      {k: tuple(v) for k, v in d["rates"].items()}, {k: tuple(v) for k, v in d["real_error"].items()},
                      d.get("output_ssim"), {k: tuple(v) for k, v in (d.get("events") or {}).items()},
                      {k: tuple(v) for k, v in (d.get("membrane_error") or {}).items()})


def combine(comparisons: list[Comparison], reference: str, executor: str, images: list[str],
            min_agreement_pct: float = 100.0, min_psnr_db: float = 60.0, min_ssim: float | None = None,
            truth: dict | None = None, min_activity: float | None = None) -> Verdict:
    """The verdict over images compared one by one (in this order, wherever each was compared):
    what :func:`verdict` decides. ``truth``: executor/reference -> mean scores against ground truth."""
    totals: dict[str, list[int]] = {}
    for c in comparisons:
        for name, (eq, n) in c.layers.items():
            t = totals.setdefault(name, [0, 0])
            t[0] += eq
            t[1] += n
    layers = {name: 100.0 * eq / n for name, (eq, n) in totals.items()}
    first = next((c.first_divergence for c in comparisons if c.first_divergence), None)
    worst_psnr = min(c.output_psnr_db for c in comparisons)
    ssims = [c.output_ssim for c in comparisons if c.output_ssim is not None]
    worst_ssim = min(ssims) if ssims else None
    event_layers = [n for n in layers if all(n in c.events for c in comparisons)]
    spike_counts: dict[str, dict[str, float | None]] = {}
    for name in event_layers:
        ref_n = sum(c.events[name][0] for c in comparisons)
        run_n = sum(c.events[name][1] for c in comparisons)
        spike_counts[name] = {"reference": ref_n, "executor": run_n, "ratio": run_n / ref_n if ref_n else None}
    silent = [n for n in event_layers if spike_counts[n]["reference"] == 0 and spike_counts[n]["executor"] == 0]
    passed = all(v >= min_agreement_pct for n, v in layers.items() if n not in silent) and worst_psnr >= min_psnr_db
    if event_layers and len(silent) == len(event_layers):  # nothing fired: the spikes compared prove nothing
        passed = False
    if min_ssim is not None:
        passed = passed and worst_ssim is not None and worst_ssim >= min_ssim
    per_step: dict[str, list[float]] = {}
    rates: dict[str, dict[str, float]] = {}
    for name in layers:
        steps = np.sum([c.per_step[name] for c in comparisons], axis=0)  # (T, 2)
        per_step[name] = [100.0 * float(eq) / float(n) for eq, n in steps]
        ref_rate = float(np.mean([c.rates[name][0] for c in comparisons]))
        run_rate = float(np.mean([c.rates[name][1] for c in comparisons]))
        rates[name] = {"reference": ref_rate, "executor": run_rate, "difference": run_rate - ref_rate}
    real: dict[str, dict[str, float]] = {}
    for name in comparisons[0].real_error:
        errs = [c.real_error[name] for c in comparisons if name in c.real_error]
        real[name] = {"max_abs": max(e[0] for e in errs), "rms": float(np.sqrt(np.mean([e[1] for e in errs])))}
    inactive = []
    if min_activity is not None:
        inactive = [n for n in event_layers if max(rates[n]["reference"], rates[n]["executor"]) < min_activity]
        passed = passed and not inactive
    membranes: dict[str, dict[str, float]] = {}
    for name in comparisons[0].membrane_error:
        errs = [c.membrane_error[name] for c in comparisons if name in c.membrane_error]
        membranes[name] = {"max_abs": max(e[0] for e in errs), "rms": float(np.sqrt(np.mean([e[1] for e in errs])))}
    per_image = [{"image": name, "output_psnr_db": c.output_psnr_db, "output_ssim": c.output_ssim,
                  "min_agreement_pct": min((100.0 * eq / n for eq, n in c.layers.values()), default=100.0),
                  "first_divergence": asdict(c.first_divergence) if c.first_divergence else None}
                 for name, c in zip(images, comparisons)]
    return Verdict(reference, executor, list(images), layers, first, float(worst_psnr),
                   max(c.output_max_abs_diff for c in comparisons), min_agreement_pct, min_psnr_db, bool(passed),
                   per_step, rates, real, worst_ssim, min_ssim, truth, per_image, spike_counts, silent, min_activity,
                   inactive, membranes)
