"""Report: per-layer neurons, spikes, firing rates and synaptic operations of one run.

Definitions (per image, averaged over the images given):

- ``neurons``: neurons in the layer (C·H·W of its output).
- ``spikes``: spikes the layer emits over the T logical steps (graded spikes count once).
- ``firing_rate``: spikes / (neurons · T), in spikes per neuron per time step.
- ``synops``: synaptic operations those spikes cause downstream: for every spike, the
  number of synapses it reaches through each outgoing conv (``C_out/groups`` times the
  kernel taps that land inside the output map) -- spikes × fan-out, the sinabs
  convention, counted exactly at the borders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nir
import numpy as np
import torch

from neurodeploy.bundle import Bundle, write_json_atomic
from neurodeploy.ir import GraphInfo
from neurodeploy.images import load_inputs
from neurodeploy.targets import make_executor, most_faithful
from neurodeploy.trace import Trace


def fan_out_synops(spikes: np.ndarray, conv: nir.Conv2d) -> float:
    """Synaptic operations caused by ``spikes`` ``(T, C, H, W)`` through ``conv``."""
    weight = np.asarray(conv.weight)
    active = torch.as_tensor((spikes != 0).astype(np.float32))
    # Count, per output neuron, the active inputs in its receptive field (an all-ones
    # kernel); each such pair is one synapse per output channel of the group.
    ones = torch.ones(1, weight.shape[1], *weight.shape[2:])
    groups = int(conv.groups)
    per_group_in = weight.shape[1]
    total = 0.0
    for g in range(groups):
        chunk = active[:, g * per_group_in:(g + 1) * per_group_in]
        reached = torch.nn.functional.conv2d(chunk, ones, stride=tuple(conv.stride), padding=tuple(conv.padding),
                                             dilation=tuple(conv.dilation))
        total += float(reached.sum()) * (weight.shape[0] // groups)
    return total


def layer_table(trace: Trace, graph: nir.NIRGraph, info: GraphInfo) -> list[dict[str, Any]]:
    rows = []
    for name, spikes in trace.layers.items():
        neurons = int(np.prod(spikes.shape[1:]))
        count = float(np.count_nonzero(spikes))
        convs = [graph.nodes[d] for s, d in graph.edges if s == name and isinstance(graph.nodes[d], nir.Conv2d)]
        outs = [d for s, d in graph.edges if s == name]
        rows.append({
            "layer": name,
            "neurons": neurons,
            "spikes": count,
            "firing_rate": count / (neurons * trace.t_steps),
            "synops": sum(fan_out_synops(spikes, c) for c in convs),
            "edge_kind": info.edge_kind(name, outs[0]) if outs else "",
        })
    return rows


def build_report(traces: list[Trace], images: list[str], bundle: Bundle) -> dict[str, Any]:
    tables = [layer_table(t, bundle.graph, bundle.info) for t in traces]
    layers = []
    for i, row in enumerate(tables[0]):
        merged = dict(row)
        for key in ("spikes", "firing_rate", "synops"):
            merged[key] = float(np.mean([tab[i][key] for tab in tables]))
        layers.append(merged)
    neurons = sum(r["neurons"] for r in layers)
    spikes = sum(r["spikes"] for r in layers)
    return {
        "bundle": str(bundle.path),
        "architecture": bundle.manifest["architecture"],
        "executor": traces[0].executor,
        "images": images,
        "t_steps": bundle.info.t_steps,
        "input_shape": list(bundle.info.input_shape),
        "layers": layers,
        "totals": {"neurons": neurons, "spikes": spikes,
                   "firing_rate": spikes / (neurons * bundle.info.t_steps) if neurons else 0.0,
                   "synops": sum(r["synops"] for r in layers)},
        # from the Trace (Lava executors record it), never from the manifest: null elsewhere
        "lava_steps_per_image": traces[0].meta.get("lava_steps_per_image"),
        "definitions": {
            "spikes": "spikes emitted over T logical steps, per image (mean over images)",
            "firing_rate": "spikes / (neurons * T)",
            "synops": "spikes x fan-out through outgoing convs, exact at borders (sinabs convention)",
        },
    }


def to_markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Spike report: {report['architecture']}",
        "",
        f"Executor `{report['executor']}`, T = {report['t_steps']}, input {tuple(report['input_shape'])}, "
        f"images: {', '.join(report['images'])}. Per image, mean over images.",
        "",
        "| layer | neurons | spikes | firing rate | synaptic ops | out edge |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in report["layers"]:
        lines.append(f"| {r['layer']} | {r['neurons']:,} | {r['spikes']:,.0f} | {r['firing_rate']:.4f} | "
                     f"{r['synops']:,.0f} | {r['edge_kind']} |")
    t = report["totals"]
    lines.append(f"| **total** | {t['neurons']:,} | {t['spikes']:,.0f} | {t['firing_rate']:.4f} | {t['synops']:,.0f} | |")
    lines += ["", "Definitions:"] + [f"- {k}: {v}" for k, v in report["definitions"].items()] + [""]
    return "\n".join(lines)


def report_bundle(path: str | Path, images: list[Path] | None = None, executor: str | None = None) -> dict[str, Any]:
    """Run ``executor`` (default: the most faithful one the bundle supports) on the images
    and write ``report.json`` and ``report.md`` into the bundle."""
    bundle = Bundle.open(path)
    executor = executor or most_faithful(bundle)
    inputs, names = load_inputs(images, bundle.input_size)
    traces = make_executor(executor, bundle).run_batch(inputs)
    report = build_report(traces, names, bundle)
    write_json_atomic(bundle.path / "report.json", report)
    md = bundle.path / "report.md"
    tmp = md.with_name(".report.md.tmp")
    tmp.write_text(to_markdown(report))
    tmp.replace(md)
    return report
