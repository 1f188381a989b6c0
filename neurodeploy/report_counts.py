"""Per-layer counts of a run, for both bundle kinds: what :mod:`neurodeploy.reporting` tabulates.

Definitions are in :mod:`neurodeploy.reporting`'s docstring (a model's bundle) and here (a
``.nir`` file's bundle, whose graph holds NIR primitives; an "image" is one sample of T steps):

Counts, per sample (mean over samples):

- ``spikes``: non-zero outputs of a spiking neuron layer (IF, LIF, CubaLIF, Threshold) over
  the T steps; non-spiking layers (I, LI, CubaLI: their state is recorded, and they feed
  only the Output) emit none.
- ``synops``: every spike times the synapses it reaches (its fan-out), through Flatten,
  Scale and Delay to the next Affine/Linear (output features), Conv1d/Conv2d and
  SumPool2d/AvgPool2d (kernel taps inside the output map, exact at borders; NeuroBench
  effective operations, :mod:`neurodeploy.ops`). Delayed spikes count once, as emitted.
  ``macs``: where that synapse feeds another one (SumPool2d -> Linear), the non-zero graded
  values it passes on times *their* fan-out, attributed to the layer whose spikes caused them.
- ``input_ops``: the same for the input's non-zero entries: synops when the input is
  binary (0/1 events), else effective MACs (values arrive on Loihi as graded spikes).
- energy (pJ constants of :mod:`neurodeploy.energy`, ``/work/shared/LOIHI.md``): per sample,
  the input's operations included, neuron updates = neurons · T; ``fps`` = samples per
  second, by default 1 / (T · dt_s) -- the graph run in real time, so ``per_second_uj``
  is its power in µW. The papers' convention has no thop count of a .nir file: its FLOPs
  term is 0 and its SOPs are all the effective operations.
"""

from __future__ import annotations

from typing import Any

import nir
import numpy as np
import torch

from neurodeploy.energy import MODELS, OpCounts
from neurodeploy.ir import GraphInfo
from neurodeploy.ir import primitives as pr
from neurodeploy.ir.nirread import kinds as node_kinds
from neurodeploy.limits import LOIHI2
from neurodeploy.ops import DEFINITIONS, conv_macs, effective_ops, split_by_kind
from neurodeploy.trace import Trace

PASS_THROUGH = (nir.Flatten, nir.Scale, nir.Delay)  # carry a spike to the synapse after them, count unchanged
SYNAPSES = pr.SYNAPSE_TYPES


def fan_out_synops(spikes: np.ndarray, conv: nir.Conv2d) -> float:
    """Effective operations caused by ``spikes`` ``(T, C, H, W)`` through ``conv`` (see :mod:`neurodeploy.ops`)."""
    return effective_ops(spikes, np.asarray(conv.weight).shape, conv.stride, conv.padding, conv.dilation, conv.groups)


def cores_for(neurons: int) -> int:
    """Loihi cores ``neurons`` need at least, by compartments alone (a Loihi 1 figure, limits.py)."""
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
            "cores": cores_for(neurons),
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


def mean_over_samples(tables: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per-layer rows of several images (or samples), averaged: counts and rates per image."""
    layers = []
    for i, row in enumerate(tables[0]):
        merged = dict(row)
        for key in ("spikes", "firing_rate", "synops", "macs"):
            merged[key] = float(np.mean([tab[i][key] for tab in tables]))
        if "messages" in row:  # a graded layer's: messages per sample (mean), payload bits over all samples (max)
            merged["messages"] = float(np.mean([tab[i]["messages"] for tab in tables]))
            merged["payload_bits"] = int(max(tab[i]["payload_bits"] for tab in tables))
            merged["payload_max_abs"] = float(max(tab[i]["payload_max_abs"] for tab in tables))
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
            "cores": int(chip.get("cores_min", cores_for(sum(r["neurons"] for r in layers if r["side"] == "chip")))),
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


def synapse_ops(node: nir.NIRNode, name: str, active: np.ndarray) -> float:
    """Effective operations of ``active`` ``(T, *in_shape)`` (non-zero entries count) through one
    synapse node: Affine/Linear -> non-zero inputs × output features; convs and pooling -> kernel
    taps inside the output map (:func:`neurodeploy.ops.effective_ops`); else 0."""
    x = np.asarray(active)
    if isinstance(node, (nir.Affine, nir.Linear)):
        return float(np.count_nonzero(x)) * int(np.asarray(node.weight).shape[0])
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        p = pr.conv_params(name, node, tuple(x.shape[1:]))
        shape = p["weight"].shape
        if isinstance(node, nir.Conv1d):  # as a Conv2d over (C, 1, N), like the Lava mapping
            return effective_ops(x[:, :, None, :], (shape[0], shape[1], 1, shape[2]), (1, p["stride"][0]),
                                 (0, p["padding"][0]), (1, p["dilation"][0]), p["groups"])
        return effective_ops(x, shape, p["stride"], p["padding"], p["dilation"], p["groups"])
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        p = pr.pool_params(name, node)
        c = x.shape[1]
        return effective_ops(x, (c, 1, *p["kernel"]), p["stride"], p["padding"], (1, 1), c)
    return 0.0


def fan_out_ops(graph: nir.NIRGraph, source: str, values: np.ndarray, kind: str,
                dt_s: float, groups: dict[str, int] | None = None) -> tuple[float, float]:
    """``(synops, macs)`` the non-zero ``values`` ``(T, *shape)`` of node ``source`` (edge kind
    ``kind``) cause in every synapse they reach through Flatten/Scale/Delay; a synapse that
    feeds another synapse (e.g. SumPool -> Linear, chained on Lava) sends it graded values,
    whose effective operations are MACs. Neurons and the Output end a path. ``groups``: synapse ->
    its synapse groups (2 under ``export --weight-bits``: each event reads both, twice the operations)."""
    from neurodeploy.targets.nir_primitives import eval_primitive

    synops = macs = 0.0
    frontier = [(source, np.asarray(values, dtype=np.float64), kind)]
    while frontier:
        node_name, vals, how = frontier.pop()
        for src, dst in graph.edges:
            if src != node_name:
                continue
            node = graph.nodes[dst]
            if isinstance(node, PASS_THROUGH):
                frontier.append((dst, vals, how))
                continue
            in_shape = tuple(int(v) for v in graph.nodes[src].output_type["output"])
            x = vals.reshape(vals.shape[0], *in_shape)
            ac, mac = split_by_kind(synapse_ops(node, dst, x), how)
            k = (groups or {}).get(dst, 1)
            synops, macs = synops + k * ac, macs + k * mac
            if isinstance(node, SYNAPSES):
                out = eval_primitive(dst, node, torch.as_tensor(x[:, None]), dt_s)[:, 0].numpy()
                frontier.append((dst, out, "graded"))
    return synops, macs


def sequence_layer_table(trace: Trace, graph: nir.NIRGraph, dt_s: float,
                         groups: dict[str, int] | None = None) -> list[dict[str, Any]]:
    """The rows of :func:`layer_table` for a graph read from a .nir file (NIR primitives); ``groups``:
    :func:`fan_out_ops`'s."""
    kinds = node_kinds(graph)
    rows = []
    for name, values in trace.layers.items():
        spiking = kinds[name] in pr.SPIKING_KINDS
        graded = kinds[name] in pr.GRADED_KINDS  # a sigma-delta layer: its events are graded messages
        active = values if spiking or graded else np.zeros_like(values)  # a state is not a spike
        neurons = int(np.prod(values.shape[1:]))
        per_step = [float(np.count_nonzero(active[t])) for t in range(values.shape[0])]
        count = float(sum(per_step))
        kind = "binary" if spiking else "graded" if graded else "real"
        synops, macs = fan_out_ops(graph, name, active, kind, dt_s, groups)
        row = {"layer": name, "neurons": neurons, "spikes": count, "spikes_per_step": per_step,
               "firing_rate": count / (neurons * trace.t_steps), "synops": synops, "macs": macs,
               "edge_kind": kind, "side": "chip", "cores": cores_for(neurons),
               "type": type(graph.nodes[name]).__name__, "spiking": spiking}
        if graded:  # messages sent and the payload bits they need (signed; netx sends up to 16 or 24)
            peak = float(np.max(np.abs(active), initial=0.0))
            row.update(messages=count, payload_bits=int(np.ceil(np.log2(peak + 1))) + 1 if peak else 0,
                       payload_max_abs=peak)
        rows.append(row)
    return rows


def input_ops(graph: nir.NIRGraph, x: np.ndarray, dt_s: float, groups: dict[str, int] | None = None) -> dict[str, Any]:
    """What the input ``(T, N, *input_shape)`` costs per sample (mean over samples; ``groups``: :func:`fan_out_ops`'s)."""
    name = next(n for n, v in graph.nodes.items() if isinstance(v, nir.Input))
    kind = "binary" if np.all((x == 0) | (x == 1)) else "real"
    synops, macs = (float(v) for v in np.mean([fan_out_ops(graph, name, x[:, i], kind, dt_s, groups)
                                               for i in range(x.shape[1])], axis=0))
    return {"node": name, "events": float(np.count_nonzero(x)) / x.shape[1], "edge_kind": kind,
            "synops": synops, "macs": macs}
