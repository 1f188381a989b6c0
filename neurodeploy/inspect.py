"""``neurodeploy inspect``: what a model, a graph file or a bundle contains, node by node."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nir
import numpy as np

from neurodeploy.ir import nodes as nd
from neurodeploy.errors import NeurodeployError
from neurodeploy.ir import GraphInfo, graph_info, read_graph, topological_order
from neurodeploy.ir import node_shape
from neurodeploy.ir import DeployGraph, as_deploy_graph
from neurodeploy.ir.nirfile import FOREIGN_DT_KEY
from neurodeploy.nir_hdf5 import is_hdf5
from neurodeploy.ir.netxread import is_netx_graph, netx_layer
from neurodeploy.ir.nirread import kinds as kinds_of
from neurodeploy.ir.primitives import GRADED_KINDS, SPIKING_KINDS
from neurodeploy.passes.partition import partition, summarize


def _param_count(node: nir.NIRNode) -> int:
    if isinstance(node, nir.Conv2d):
        return int(np.asarray(node.weight).size + np.asarray(node.bias).size)
    if isinstance(node, nd.HostBlock):
        return int(sum(np.asarray(v).size for v in node.params.values()))
    if isinstance(node, (nir.Affine, nir.Linear, nir.Conv1d)):  # NIR's other synapses (issue 16)
        return int(np.asarray(node.weight).size + np.asarray(getattr(node, "bias", np.zeros(0))).size)
    return 0


def _type_name(node: nir.NIRNode) -> str:
    if isinstance(node, nd.HostBlock):
        return f"HostBlock({node.block})"
    return type(node).__name__


def load_graph_for(target: str, size: tuple[int, int] | None = None, dt_s: float | None = None,
                   writer: str | None = None, warn=None, reset: str | None = None, rules=None
                   ) -> tuple[nir.NIRGraph, str]:
    """A bundle folder, a ``.nir`` file, or a checkpoint (path or shipped name) -> graph.

    ``dt_s``, ``writer``, ``warn``, ``reset``: how a ``.nir`` file from another writer is read
    (:func:`neurodeploy.ir.read_graph`)."""
    path = Path(target)
    if path.is_dir():
        from neurodeploy.bundle import Bundle

        return Bundle.open(path).graph, "bundle"  # either kind; checks the manifest and every file's SHA-256
    if path.suffix == ".nir" or (path.is_file() and is_hdf5(path)):  # a .nir graph, or a netx file by content
        graph = read_graph(path, dt_s=dt_s, writer=writer, warn=warn, reset=reset, rules=rules)
        return graph, "netx" if is_netx_graph(graph) else "nir"
    from neurodeploy.checkpoint import build_model, load_checkpoint
    from neurodeploy.nir_export import export_graph
    from neurodeploy.models import get_architecture

    ckpt = load_checkpoint(target)
    model = build_model(ckpt)
    size = size or get_architecture(ckpt.architecture).default_input_size
    return export_graph(model, size, architecture=ckpt.architecture, config=ckpt.config), "model"


def inspect_graph(graph: nir.NIRGraph, info: GraphInfo | None) -> dict[str, Any]:
    """One row per node (type, shape, out-edge kind, side, parameters) plus the partition."""
    g = DeployGraph(graph, info) if info is not None else None
    part = partition(g) if g is not None else None
    rows = []
    foreign_kinds = kinds_of(graph) if info is None else {}
    for name in topological_order(graph):
        node = graph.nodes[name]
        outs = [d for s, d in graph.edges if s == name]
        kinds = sorted({info.edge_kinds.get(f"{name}->{d}", "?") for d in outs}) if info and outs else []
        if info is None and outs and name in foreign_kinds:  # another writer's file: spikes leave spiking neurons
            kinds = ["binary" if foreign_kinds[name] in SPIKING_KINDS else
                     "graded" if foreign_kinds[name] in GRADED_KINDS else "real"]
        rows.append({
            "node": name,
            "type": _type_name(node),
            "shape": list(node_shape(graph, name, info)) if not isinstance(node, nir.NIRGraph) else [],
            "domain": info.domain(name) if info else "",
            "edge_kind": "/".join(kinds),
            "side": part.side(name) if part else "",
            "params": _param_count(node),
        })
    out = {"nodes": rows, "edges": [list(e) for e in graph.edges]}
    if part is not None:
        out["partition"] = summarize(g, part)
        out["t_steps"] = info.t_steps
    return out


def inspect_target(target: str, size: tuple[int, int] | None = None, dt_s: float | None = None,
                   writer: str | None = None, warn=None, reset: str | None = None, rules=None) -> dict[str, Any]:
    """Inspect a bundle, a ``.nir`` file or a checkpoint (exported at ``size`` = (H, W) pixels);
    a ``.nir`` file from another writer is read at ``dt_s`` seconds per step with ``writer``'s quirks."""
    graph, source = load_graph_for(target, size, dt_s=dt_s, writer=writer, warn=warn, reset=reset, rules=rules)
    try:
        info = graph_info(graph)
    except NeurodeployError:
        info = None  # a NIR file from another tool: no neurodeploy annotations
    result = inspect_graph(graph, info)
    result["source"] = source
    result["target"] = target
    if FOREIGN_DT_KEY in (graph.metadata or {}):
        result["dt_s"] = float(graph.metadata[FOREIGN_DT_KEY])
        result["writer"] = "netx" if is_netx_graph(graph) else writer or "nir"
        seq_info = as_deploy_graph(graph).info  # a sequence graph's annotations: the writer's rules
        rules = {n: seq_info.rules(n) for n in graph.nodes}
        result["neuron_rules"] = {n: r.describe() for n, r in rules.items() if not r.is_nir}
    if is_netx_graph(graph):  # the file's integers per layer, as netx runs them (added key)
        result["netx"] = {n: netx_layer(v) for n, v in graph.nodes.items() if netx_layer(v)}
    return result
