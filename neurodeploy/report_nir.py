"""Reports of bundles of ``.nir`` files (issue 16): the model report's format on event inputs.

A graph from another writer runs on a sequence of events or values (``--input FILE.npy``
or the default random spikes, :func:`neurodeploy.nir_bundle.load_input`), not on images,
and has no torch model, partition or host part. Its report has every key of a model
bundle's report (:mod:`neurodeploy.report`; an "image" is one sample of T time steps) and
these besides: ``kind`` ("nir"), ``writer``, ``dt_s`` (seconds per time step),
``sample_duration_s`` (T · dt_s), ``input`` (the input's record, as in ``validation.json``),
``input_ops`` (what the input events cost), ``totals.input_synops``/``input_macs``, and per
layer ``type`` (the NIR node type) and ``spiking``.

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

from pathlib import Path
from typing import Any

import nir
import numpy as np
import torch

from neurodeploy.energy import OpCounts, energy_section
from neurodeploy.errors import NeurodeployError
from neurodeploy.ir import primitives as pr
from neurodeploy.ir.nirread import kinds as node_kinds
from neurodeploy.ops import effective_ops, split_by_kind
from neurodeploy.report import (DEFINITIONS_REPORT, _cores, _write_text_atomic, add_layer_energy,
                                mean_over_samples, read_validation, to_markdown, totals_section)
from neurodeploy.trace import Trace

REFERENCE = "nir-torch"
PASS_THROUGH = (nir.Flatten, nir.Scale, nir.Delay)  # carry a spike to the synapse after them, count unchanged
SYNAPSES = (nir.Affine, nir.Linear, nir.Conv1d, nir.Conv2d, nir.SumPool2d, nir.AvgPool2d)


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
                dt_s: float) -> tuple[float, float]:
    """``(synops, macs)`` the non-zero ``values`` ``(T, *shape)`` of node ``source`` (edge kind
    ``kind``) cause in every synapse they reach through Flatten/Scale/Delay; a synapse that
    feeds another synapse (e.g. SumPool -> Linear, chained on Lava) sends it graded values,
    whose effective operations are MACs. Neurons and the Output end a path."""
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
            synops, macs = synops + ac, macs + mac
            if isinstance(node, SYNAPSES):
                out = eval_primitive(dst, node, torch.as_tensor(x[:, None]), dt_s)[:, 0].numpy()
                frontier.append((dst, out, "graded"))
    return synops, macs


def layer_table(trace: Trace, graph: nir.NIRGraph, dt_s: float) -> list[dict[str, Any]]:
    """The rows of :func:`neurodeploy.report.layer_table` for a graph read from a .nir file."""
    kinds = node_kinds(graph)
    rows = []
    for name, values in trace.layers.items():
        spiking = kinds[name] in pr.SPIKING_KINDS
        active = values if spiking else np.zeros_like(values)  # a state is not a spike
        neurons = int(np.prod(values.shape[1:]))
        per_step = [float(np.count_nonzero(active[t])) for t in range(values.shape[0])]
        count = float(sum(per_step))
        kind = "binary" if spiking else "real"
        synops, macs = fan_out_ops(graph, name, active, kind, dt_s)
        rows.append({"layer": name, "neurons": neurons, "spikes": count, "spikes_per_step": per_step,
                     "firing_rate": count / (neurons * trace.t_steps), "synops": synops, "macs": macs,
                     "edge_kind": kind, "side": "chip", "cores": _cores(neurons),
                     "type": type(graph.nodes[name]).__name__, "spiking": spiking})
    return rows


def input_ops(graph: nir.NIRGraph, x: np.ndarray, dt_s: float) -> dict[str, Any]:
    """What the input ``(T, N, *input_shape)`` costs per sample (mean over samples)."""
    name = next(n for n, v in graph.nodes.items() if isinstance(v, nir.Input))
    kind = "binary" if np.all((x == 0) | (x == 1)) else "real"
    synops, macs = (float(v) for v in np.mean([fan_out_ops(graph, name, x[:, i], kind, dt_s)
                                               for i in range(x.shape[1])], axis=0))
    return {"node": name, "events": float(np.count_nonzero(x)) / x.shape[1], "edge_kind": kind,
            "synops": synops, "macs": macs}


def build_report(traces: list[Trace], x: np.ndarray, record: dict[str, Any], manifest: dict[str, Any],
                 graph: nir.NIRGraph, bundle_path: Path, fps: float | None = None) -> dict[str, Any]:
    """The report of a .nir file's bundle as JSON-ready data (module docstring; ``fps`` in samples per second)."""
    t_steps = traces[0].t_steps
    dt = float(manifest["dt_s"])
    fps = fps if fps is not None else 1.0 / (t_steps * dt)
    layers = mean_over_samples([layer_table(t, graph, dt) for t in traces])
    inp = input_ops(graph, x, dt)
    neurons = sum(r["neurons"] for r in layers)
    synops = sum(r["synops"] for r in layers) + inp["synops"]
    macs = sum(r["macs"] for r in layers) + inp["macs"]
    counts = OpCounts(synops=synops, effective_macs=macs, spikes=sum(r["spikes"] for r in layers),
                      neuron_updates=float(neurons * t_steps), synops_paper=synops + macs)
    energy = energy_section(counts, fps)
    energy["per"] = "sample"
    energy["models"]["papers"]["note"] = ("a .nir file has no torch model for thop: FLOPs term 0, SOPs = all "
                                          "effective operations (the papers' convention is for the derainers)")
    add_layer_energy(layers, t_steps)
    totals = totals_section(layers, [], t_steps, 0.0, {})
    totals.update(input_synops=inp["synops"], input_macs=inp["macs"])
    source = Path(manifest.get("source", {}).get("nir_file", "graph.nir")).name
    definitions = dict(DEFINITIONS_REPORT)
    definitions.update(
        spikes="spikes a spiking neuron layer emits over T steps, per sample (mean over samples); "
               "I/LI/CubaLI emit none",
        synops="every binary spike times the synapses it reaches: Affine/Linear its output features, convs and "
               "pooling the kernel taps inside the output map (NeuroBench effective operations)",
        input_synops="the input's non-zero entries times their fan-out (MACs instead when the input is not 0/1)",
        cores=definitions["cores"] + "; total: all neurons together",
        energy="per sample of T steps; fps = samples per second (default 1 / (T dt), real time)")
    return {
        "bundle": str(bundle_path),
        "architecture": f"{source} (NIR file, writer {manifest['writer']})",
        "kind": "nir",
        "executor": traces[0].executor,
        "images": [f"sample {i}" for i in range(len(traces))],
        "t_steps": t_steps,
        "input_shape": list(manifest["input_shape"]),
        "dt_s": dt,
        "sample_duration_s": t_steps * dt,
        "writer": manifest["writer"],
        "input": record,
        "input_ops": inp,
        "layers": layers,
        "real_inputs": [],
        "totals": totals,
        "energy": energy,
        "lava_steps_per_image": traces[0].meta.get("lava_steps_per_image"),
        "definitions": definitions,
    }


def report_nir_bundle(path: str | Path, input_file: Path | None = None, executor: str | None = None,
                      fps: float | None = None, html: bool = True) -> dict[str, Any]:
    """Run ``executor`` (default lava-float) on the input, write ``report.json``, ``report.md`` and
    (``html``) ``report.html`` into the bundle -- all computed first, so an error writes nothing."""
    from neurodeploy.bundle import write_json_atomic
    from neurodeploy.nir_bundle import EXECUTORS, load_input, open_nir_bundle, run_executor

    path = Path(path)
    manifest, graph = open_nir_bundle(path)
    executor = executor or "lava-float"
    if executor not in EXECUTORS:
        raise NeurodeployError(f"executor '{executor}' does not run a bundle of a .nir file; use one of "
                               f"{', '.join(EXECUTORS)}")
    x, record = load_input(input_file, manifest["input_shape"])
    traces = run_executor(executor, path, manifest, graph, x)
    report = build_report(traces, x, record, manifest, graph, path, fps)
    validation = read_validation(path, executor)
    page = None
    if html:
        from neurodeploy.report_html import to_html

        shown, reference_name = 0, REFERENCE
        if validation and validation.get("executor") == executor:
            reference_name = validation.get("reference", REFERENCE)
            fd = validation.get("first_divergence") or {}
            shown = report["images"].index(fd["image"]) if fd.get("image") in report["images"] else 0
        reference = (traces[shown] if executor == reference_name
                     else run_executor(reference_name, path, manifest, graph, x[:, shown:shown + 1])[0])
        page = to_html(report, x[:, shown], traces[shown], reference, validation)
    write_json_atomic(path / "report.json", report)
    _write_text_atomic(path / "report.md", to_markdown(report, validation))
    if page is not None:
        _write_text_atomic(path / "report.html", page)
    return report
