"""Report: per-layer neurons, spikes, operations, cores and energy of one run.

Reads Traces and the graph (plus the partition summary the partition pass wrote), never
an executor's internals. Definitions (per image, averaged over the images given; operation
definitions in :mod:`neurodeploy.ops`, energy models in :mod:`neurodeploy.energy`):

- ``neurons``: neurons in the layer (C·H·W of its output).
- ``spikes``: spikes the layer emits over the T logical steps (a graded spike counts once);
  ``spikes_per_step``: the same per logical step (a list of T numbers).
- ``firing_rate``: spikes / (neurons · T), in spikes per neuron per time step.
- ``synops``: NeuroBench effective synaptic operations the layer's *binary* spikes cause
  through its outgoing convs: each spike times the synapses it reaches, exact at borders.
- ``macs``: the same effective operations where the layer's output is *graded* (NI-LIF
  levels): multiply-accumulates, counted apart.
- ``cores``: Loihi cores the layer needs at least, by neurons alone
  (``neurodeploy.limits.LOIHI2.compartments_per_core``, a Loihi 1 figure).
- ``real_inputs``: convs fed by real values (the image, residual streams, host outputs):
  dense MACs per image (T evaluations for per-step convs), counted apart from synops.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nir
import numpy as np

from neurodeploy.bundle import Bundle, write_json_atomic
from neurodeploy.energy import MODELS, OpCounts, energy_section
from neurodeploy.images import load_inputs
from neurodeploy.ir import GraphInfo
from neurodeploy.limits import LOIHI2
from neurodeploy.ops import DEFINITIONS, conv_macs, effective_ops, split_by_kind
from neurodeploy.targets import make_executor, most_faithful
from neurodeploy.trace import Trace

DEFAULT_FPS = 30.0
REFERENCE = "torch-float64"


def fan_out_synops(spikes: np.ndarray, conv: nir.Conv2d) -> float:
    """Effective operations caused by ``spikes`` ``(T, C, H, W)`` through ``conv`` (see :mod:`neurodeploy.ops`)."""
    return effective_ops(spikes, np.asarray(conv.weight).shape, conv.stride, conv.padding, conv.dilation, conv.groups)


def _cores(neurons: int) -> int:
    return -(-int(neurons) // int(LOIHI2.compartments_per_core))


def layer_table(trace: Trace, graph: nir.NIRGraph, info: GraphInfo) -> list[dict[str, Any]]:
    rows = []
    for name, spikes in trace.layers.items():
        neurons = int(np.prod(spikes.shape[1:]))
        per_step = [float(np.count_nonzero(spikes[t])) for t in range(spikes.shape[0])]
        count = float(sum(per_step))
        convs = [graph.nodes[d] for s, d in graph.edges if s == name and isinstance(graph.nodes[d], nir.Conv2d)]
        outs = [d for s, d in graph.edges if s == name]
        kind = info.edge_kind(name, outs[0]) if outs else ""
        synops, macs = split_by_kind(sum(fan_out_synops(spikes, c) for c in convs), kind)
        rows.append({
            "layer": name,
            "neurons": neurons,
            "spikes": count,
            "spikes_per_step": per_step,
            "firing_rate": count / (neurons * trace.t_steps),
            "synops": synops,
            "macs": macs,
            "edge_kind": kind,
            "side": info.side.get(name, "chip"),
            "cores": _cores(neurons),
        })
    return rows


def real_input_table(graph: nir.NIRGraph, info: GraphInfo) -> list[dict[str, Any]]:
    """Convs whose input is real-valued, with their dense MACs per image (counted apart from synops)."""
    rows = []
    for src, dst in graph.edges:
        node = graph.nodes[dst]
        if not isinstance(node, nir.Conv2d) or info.edge_kinds.get(f"{src}->{dst}") != "real":
            continue
        evaluations = info.t_steps if info.domain(dst) == "seq" else 1
        rows.append({"layer": dst, "from": src, "side": info.side.get(dst, "chip"), "edge_kind": "real",
                     "macs": float(conv_macs(np.asarray(node.weight).shape, info.shapes[dst]) * evaluations)})
    return rows


def _paper_counts(bundle: Bundle) -> tuple[float, float]:
    """thop's FLOPs and SOPs of the bundle's model at its input size (the papers' convention)."""
    from neurodeploy.models.counting import count

    h, w = bundle.input_size
    c = count(bundle.model(), h, w)
    return float(c.flops_paper), float(c.synops_paper)


def mean_over_samples(tables: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per-layer rows of several images (or samples), averaged: counts and rates per image."""
    layers = []
    for i, row in enumerate(tables[0]):
        merged = dict(row)
        for key in ("spikes", "firing_rate", "synops", "macs"):
            merged[key] = float(np.mean([tab[i][key] for tab in tables]))
        merged["spikes_per_step"] = [float(v) for v in np.mean([tab[i]["spikes_per_step"] for tab in tables], axis=0)]
        layers.append(merged)
    return layers


def add_layer_energy(layers: list[dict[str, Any]], t_steps: int) -> None:
    """Each row's ``energy_uj`` (µJ per image): what the layer's own operations cost (its spikes'
    synops/MACs, its neuron updates on the chip, its spikes); the papers' convention has no per-layer split."""
    horowitz, loihi = MODELS["horowitz45nm"], MODELS["loihi"]
    for r in layers:
        mine = OpCounts(synops=r["synops"], effective_macs=r["macs"], spikes=r["spikes"],
                        neuron_updates=float(r["neurons"] * t_steps) if r["side"] == "chip" else 0.0)
        r["energy_uj"] = {"horowitz45nm": horowitz.energy_uj(mine), "loihi": loihi.energy_uj(mine)}


def totals_section(layers: list[dict[str, Any]], real: list[dict[str, Any]], t_steps: int, host_macs: float,
                   chip: dict[str, Any]) -> dict[str, Any]:
    """The ``totals`` of a report (per image; ``chip``: the partition's chip summary, for its core count)."""
    neurons = sum(r["neurons"] for r in layers)
    spikes = sum(r["spikes"] for r in layers)
    return {"neurons": neurons, "spikes": spikes,
            "spikes_per_step": [float(v) for v in np.sum([r["spikes_per_step"] for r in layers], axis=0)]
            if layers else [],
            "firing_rate": spikes / (neurons * t_steps) if neurons else 0.0,
            "synops": sum(r["synops"] for r in layers),
            "macs": sum(r["macs"] for r in layers),
            "real_input_macs": sum(r["macs"] for r in real),
            "host_macs": host_macs,
            "cores": int(chip.get("cores_min", _cores(sum(r["neurons"] for r in layers if r["side"] == "chip")))),
            "cores_basis": chip.get("cores_basis", f"neurons / {int(LOIHI2.compartments_per_core)} "
                                                   "compartments per core (a Loihi 1 figure)")}


DEFINITIONS_REPORT = {
    "spikes": "spikes emitted over T logical steps, per image (mean over images); spikes_per_step: per step",
    "firing_rate": "spikes / (neurons * T)",
    "synops": DEFINITIONS["synops"] + "; " + DEFINITIONS["effective_ops"],
    "macs": DEFINITIONS["effective_macs"],
    "real_input_macs": DEFINITIONS["macs"] + ", for convs fed by real values",
    "host_macs": "host convs' MACs + host blocks' FLOPs / 2 (partition summary)",
    "cores": "neurons / compartments per core (LOIHI2.compartments_per_core, a Loihi 1 figure), rounded up",
}


def build_report(traces: list[Trace], images: list[str], bundle: Bundle, fps: float = DEFAULT_FPS,
                 paper_counts: tuple[float, float] | None = None) -> dict[str, Any]:
    """The report as JSON-ready data (see the module docstring for every key)."""
    layers = mean_over_samples([layer_table(t, bundle.graph, bundle.info) for t in traces])
    t_steps = bundle.info.t_steps
    spikes = sum(r["spikes"] for r in layers)
    real = real_input_table(bundle.graph, bundle.info)
    part = bundle.manifest.get("partition", {})
    host = part.get("host", {})
    chip = part.get("chip", {})
    host_macs = float(host.get("macs_per_image", 0)) + float(host.get("host_block_flops_per_image", 0)) / 2
    chip_real_macs = sum(r["macs"] for r in real if r["side"] == "chip")
    flops_paper, synops_paper = paper_counts if paper_counts is not None else _paper_counts(bundle)
    counts = OpCounts(
        synops=sum(r["synops"] for r in layers if r["side"] == "chip"),
        effective_macs=sum(r["macs"] for r in layers if r["side"] == "chip") + chip_real_macs,
        host_macs=host_macs, spikes=spikes,
        neuron_updates=float(sum(r["neurons"] for r in layers if r["side"] == "chip") * t_steps),
        flops_paper=flops_paper, synops_paper=synops_paper)
    energy = energy_section(counts, fps)
    add_layer_energy(layers, t_steps)
    return {
        "bundle": str(bundle.path),
        "architecture": bundle.manifest["architecture"],
        "executor": traces[0].executor,
        "images": images,
        "t_steps": t_steps,
        "input_shape": list(bundle.info.input_shape),
        "layers": layers,
        "real_inputs": real,
        "totals": totals_section(layers, real, t_steps, host_macs, chip),
        "energy": energy,
        # from the Trace (Lava executors record it), never from the manifest: null elsewhere
        "lava_steps_per_image": traces[0].meta.get("lava_steps_per_image"),
        "definitions": dict(DEFINITIONS_REPORT),
    }


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def to_markdown(report: dict[str, Any], validation: dict | None = None) -> str:
    """``report.md``; a .nir file's report (``kind`` "nir") counts per sample instead of per image."""
    nir_kind = report.get("kind") == "nir"
    unit = "sample" if nir_kind else "image"
    lines = [
        f"# Spike report: {report['architecture']}",
        "",
        f"Executor `{report['executor']}`, T = {report['t_steps']}, input {tuple(report['input_shape'])}, "
        f"images: {', '.join(report['images'])}. Per image, mean over images." if not nir_kind else
        f"Executor `{report['executor']}`, T = {report['t_steps']} steps of dt = {report['dt_s']:g} s, input "
        f"{tuple(report['input_shape'])} per step ({_input_words(report['input'])}), {len(report['images'])} "
        "sample(s). Per sample, mean over samples.",
        "",
    ]
    if validation:
        fd = validation.get("first_divergence")
        verdict = "PASSED" if validation.get("passed") else "FAILED"
        lines += [f"**Validation: {verdict}** — `{validation.get('executor')}` against `{validation.get('reference')}`: "
                  f"lowest layer agreement {min(validation.get('layers', {0: 100.0}).values()):.4f} %, output PSNR "
                  f"{validation.get('output_psnr_db', float('nan')):.2f} dB"
                  + (f"; first divergence at layer `{fd['layer']}`, step {fd['step']}, neuron "
                     f"(c, y, x) = {tuple(fd['index'])}" if fd else "") + ".", ""]
    lines += [
        "| layer | side | neurons | cores | spikes | spikes per step | firing rate | synops | MACs (graded) | out edge |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for r in report["layers"]:
        steps = " / ".join(f"{v:,.0f}" for v in r["spikes_per_step"])
        lines.append(f"| {r['layer']} | {r['side']} | {r['neurons']:,} | {r['cores']} | {r['spikes']:,.0f} | {steps} | "
                     f"{r['firing_rate']:.4f} | {r['synops']:,.0f} | {r['macs']:,.0f} | {r['edge_kind']} |")
    t = report["totals"]
    lines.append(f"| **total** | | {t['neurons']:,} | {t['cores']} | {t['spikes']:,.0f} | | {t['firing_rate']:.4f} | "
                 f"{t['synops']:,.0f} | {t['macs']:,.0f} | |")
    if nir_kind:
        i = report["input_ops"]
        lines += ["", f"Input `{i['node']}`: {i['events']:,.0f} non-zero entries per sample ({i['edge_kind']}), "
                      f"{i['synops']:,.0f} synops, {i['macs']:,.0f} MACs. Cores: {t['cores']} ({t['cores_basis']}).", ""]
    else:
        lines += ["", f"Real-valued inputs: {len(report['real_inputs'])} convs, {t['real_input_macs']:,.0f} MACs per "
                      f"image; host part: {t['host_macs']:,.0f} MACs per image. Cores: {t['cores']} ({t['cores_basis']}).",
                  ""]
    e = report["energy"]
    fps = e.get("fps")
    rate = f"{fps:g} samples/s" if nir_kind else f"{fps:g} fps"
    lines += [f"## Energy per {unit}", "",
              f"| model | per {unit} (µJ) | " + (f"per second at {rate} (µJ)" if fps else "per second")
              + " | terms (µJ) |",
              "|---|---:|---:|---|"]
    for m in e["models"].values():
        terms = ", ".join(f"{k} {_fmt(v)}" for k, v in m["terms_uj"].items())
        per_s = _fmt(m["per_second_uj"]) if m["per_second_uj"] is not None else "-"
        lines.append(f"| {m['title']} | {_fmt(m['per_image_uj'])} | {per_s} | {terms} |")
    lines += ["", e["why_they_differ"], ""] + [f"- {m['title']}: {m['note']}. Sources: {'; '.join(m['sources'])}."
                                               for m in e["models"].values()]
    lines += ["", "Definitions:"] + [f"- {k}: {v}" for k, v in report["definitions"].items()] + [""]
    return "\n".join(lines)


def _input_words(record: dict[str, Any]) -> str:
    if record.get("kind") == "random_spikes":
        return f"seeded random spikes at {100 * record['rate']:g} %, seed {record['seed']}"
    return f"from {Path(record.get('path', '?')).name}"


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def read_validation(bundle_path: Path, executor: str | None = None) -> dict | None:
    """``executor``'s entry in ``validation.json`` when it has one, else the latest run (the
    file's top-level keys); None without a file."""
    import json

    path = Path(bundle_path) / "validation.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except ValueError:
        return None
    if not isinstance(data, dict) or "passed" not in data:
        return None
    entry = (data.get("executors") or {}).get(executor) if executor else None
    return entry if isinstance(entry, dict) and "passed" in entry else {k: v for k, v in data.items() if k != "executors"}


def report_bundle(path: "str | Path | Bundle", images: list[Path] | None = None, executor: str | None = None,
                  fps: float = DEFAULT_FPS, html: bool = True, truth: list[Path] | None = None) -> dict[str, Any]:
    """Run ``executor`` (default: the most faithful one the bundle supports) on the images and
    write ``report.json``, ``report.md`` and (``html``) ``report.html`` into the bundle.

    Args:
        fps: frame rate (frames per second) for the per-second energy totals.
        truth: clean images matching ``images`` (centre-cropped alike), shown and scored in the HTML.
    """
    bundle = path if isinstance(path, Bundle) else Bundle.open(path)  # the CLI passes it opened
    executor = executor or most_faithful(bundle)
    inputs, names = load_inputs(images, bundle.input_size)
    traces = make_executor(executor, bundle).run_batch(inputs)
    report = build_report(traces, names, bundle, fps=fps)
    validation = read_validation(bundle.path, executor)
    write_json_atomic(bundle.path / "report.json", report)
    _write_text_atomic(bundle.path / "report.md", to_markdown(report, validation))
    if html:
        from neurodeploy.report_html import to_html

        # The picture to show: the first image, or the one where a failed validation of this
        # executor first diverged, against that validation's reference.
        shown, reference_name = 0, REFERENCE
        if validation and validation.get("executor") == executor:
            reference_name = validation.get("reference", REFERENCE)
            fd = validation.get("first_divergence") or {}
            shown = names.index(fd["image"]) if fd.get("image") in names else 0
        reference = (traces[shown] if executor == reference_name
                     else make_executor(reference_name, bundle).run_batch(inputs[shown:shown + 1])[0])
        clean = None
        if truth:
            clean, _ = load_inputs(truth[:1], bundle.input_size)
            clean = clean[0] if shown == 0 else None
        _write_text_atomic(bundle.path / "report.html",
                           to_html(report, inputs[shown], traces[shown], reference, validation, clean))
    return report
