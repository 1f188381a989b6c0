"""Passes over a :class:`~neurodeploy.ir.DeployGraph`, each a small module, run in a named order.

A pass reads annotations and arrays of the graph, writes its own, and returns what its
callers need (e.g. the partition's cut edges and islands). The flow (hls4ml's idea) is
the list :data:`FLOW`; :func:`run_passes` runs it and returns each pass's result by name.

Before the flow, at export (on the torch side, :mod:`neurodeploy.nir_export`): BatchNorm is
folded into the conv before it, and shapes come from the model; when a graph is read,
:mod:`neurodeploy.ir.check` infers and checks every node's shape.

1. ``partition`` (:mod:`.partition`): each node's side, host islands, temporal windows.
2. ``neuron_form`` (:mod:`.neuron_form`): each chip neuron as a Loihi neuron, biases moved.
3. ``synapse_form`` (:mod:`.synapse_form`): a sequence graph's synapses with Scale and neuron
   gains folded into their weights, biases moved into the neurons' constant inputs.
4. ``latency`` (:mod:`.latency`): latency per node, delay lines that balance every join.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

from neurodeploy.ir.graph import DeployGraph
from neurodeploy.passes import latency as _latency
from neurodeploy.passes import neuron_form as _neuron_form
from neurodeploy.passes import partition as _partition
from neurodeploy.passes import synapse_form as _synapse_form

FLOW: list[tuple[str, Callable[[DeployGraph], Any]]] = [
    ("partition", _partition.partition),
    ("neuron_form", _neuron_form.neuron_form),
    ("synapse_form", _synapse_form.synapse_form),
    ("latency", _latency.latency),
]


def lowering_flow(balance: bool = True) -> list[tuple[str, Callable[[DeployGraph], Any]]]:
    """:data:`FLOW`, with delay balancing switched off when ``balance`` is False."""
    return [(name, run) if name != "latency" else (name, lambda g: _latency.latency(g, balance))
            for name, run in FLOW]


def run_passes(g: DeployGraph, flow: list[tuple[str, Callable[[DeployGraph], Any]]] | None = None) -> dict[str, Any]:
    """Run the passes of ``flow`` (default :data:`FLOW`) in order on ``g``; results by pass name."""
    return {name: run(g) for name, run in (flow or FLOW)}


def annotated(g: DeployGraph, balance: bool = True) -> DeployGraph:
    """A copy of ``g`` (the NIR graph shared; annotations and arrays copied, so ``g`` keeps what it
    had) with :func:`lowering_flow` run on it: what the lowering, the quantizer and the emulator read."""
    out = DeployGraph(g.nir, copy.deepcopy(g.info), {n: dict(a) for n, a in g.arrays.items()}, list(g.order))
    run_passes(out, lowering_flow(balance))
    return out
