"""What neurodeploy adds beside a NIR graph: the annotations, stored in its metadata.

NIR's dataclasses stay untouched; our facts about the graph live in one JSON string in
``graph.metadata["neurodeploy"]`` (NIR's HDF5 writer keeps flat metadata values), keyed
by node name:

- ``edge_kinds``: ``"src->dst"`` -> ``binary`` (0/1 spikes), ``graded`` (integer spike
  payloads, e.g. NI-LIF levels) or ``real`` (real values: images, synaptic currents);
- ``node_kinds``: node -> ``input | encode | conv | lif | nilif | patch_to_time | upsample |
  concat | sum | gain | product | host | decode_mean | output`` (graphs from other tools: ``input | conv | lif | output``);
- ``domains``: node -> ``seq`` (one value per time step) or ``image`` (per image);
- ``spike_condition``: neuron node -> ``>=`` (the papers fire at equality; NIR says ``>``);
  with ``reset`` (node -> ``subtract``; absent: ``zero``) and ``reset_delay`` (node -> ``1``:
  the reset lands one step late; absent: 0) the neuron's rules (:meth:`GraphInfo.rules`,
  :mod:`neurodeploy.ir.rules`): the papers' ``>=`` and a writer's rules are one mechanism;
- ``shapes``: node -> per-step output shape (C, H, W);
- ``lif_params``: ``per_neuron`` (every LIF parameter array has the layer's shape: strict
  NIR readers type-check it) or ``per_channel`` (arrays of shape (C, 1, 1) that broadcast
  over H, W: large graphs, where per-neuron arrays would take gigabytes);
- ``t_steps``, ``dt_s`` (seconds per step), ``input_shape`` (C, H, W), encoding/decoding.

Two input domains: a model's graph takes an **image** (``input_shape`` (C, H, W), domain
``image``, encoded into T steps, ``t_steps`` > 0); a graph read from another writer's ``.nir``
file takes a **sequence** (domain ``seq``: a value of ``input_shape`` -- any rank -- per
time step; ``t_steps`` 0: the input's length decides), see :func:`sequence_info`.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field, fields

import nir

from neurodeploy.errors import GraphError

EDGE_BINARY = "binary"
EDGE_GRADED = "graded"
EDGE_REAL = "real"
METADATA_KEY = "neurodeploy"
# where read_graph keeps the dt (seconds per step) another writer's file was read with: that
# file's metadata is the writer's, so no GraphInfo is stored in it (sequence_info builds one)
FOREIGN_DT_KEY = "neurodeploy.dt_s"
# Node kinds whose outputs a Trace records: spiking neurons (binary for LIF, IF, CubaLIF, Threshold;
# graded 0..D for NI-LIF) and NIR's integrators (I, LI, CubaLI: their state). The one list.
NEURON_KINDS = ("lif", "nilif", "if", "cubalif", "threshold", "li", "cubali", "i")
# Annotation tables keyed by edge ("src->dst"); every other dict field is keyed by node name.
EDGE_TABLES = ("edge_kinds", "delays")


@dataclass
class GraphInfo:
    """neurodeploy's annotations of one NIR graph (see module docstring for units)."""

    t_steps: int
    dt_s: float
    input_shape: tuple[int, ...]  # an image (C, H, W), or a sequence's per-step value (any rank)
    encode: str = "direct"
    decode: str = "mean_over_time"
    edge_kinds: dict[str, str] = field(default_factory=dict)
    node_kinds: dict[str, str] = field(default_factory=dict)
    spike_condition: dict[str, str] = field(default_factory=dict)
    modules: dict[str, str] = field(default_factory=dict)
    folded_batchnorm: dict[str, str] = field(default_factory=dict)
    domains: dict[str, str] = field(default_factory=dict)
    shapes: dict[str, list[int]] = field(default_factory=dict)
    lif_params: str = "per_neuron"
    # Written by the partition pass (neurodeploy.passes.partition):
    side: dict[str, str] = field(default_factory=dict)  # node -> "chip" | "host"
    island: dict[str, str] = field(default_factory=dict)  # host node -> its island's name
    window: dict[str, str] = field(default_factory=dict)  # host node -> "step" | "causal" | "all_steps"
    # Written by the neuron form pass (neurodeploy.passes.neuron_form), model units:
    neuron_form: dict[str, dict] = field(default_factory=dict)  # chip neuron -> du, dv, vth, input_gain, ...
    synapse_gain: dict[str, float] = field(default_factory=dict)  # chip conv -> factor on its weights
    # Written by the latency pass (neurodeploy.passes.latency), in time steps:
    latency: dict[str, int] = field(default_factory=dict)  # node -> steps from input to its output
    delays: dict[str, int] = field(default_factory=dict)  # "src->dst" -> delay steps balancing a join
    # Written by post-training quantization (neurodeploy.quantize.ptq): chip node -> its integer
    # form (scale in model units per LSB, mantissas, exponents, rescales of its inputs).
    quant: dict[str, dict] = field(default_factory=dict)
    # The rest of a neuron's rules beside its spike condition (see module docstring):
    reset: dict[str, str] = field(default_factory=dict)  # neuron -> "subtract" (absent: "zero")
    reset_delay: dict[str, int] = field(default_factory=dict)  # neuron -> 1 (absent: 0), time steps

    def rules(self, name: str):
        """The neuron's spike and reset rules (:class:`neurodeploy.ir.rules.NeuronRules`; NIR's by default)."""
        from neurodeploy.ir.rules import NeuronRules

        return NeuronRules(self.spike_condition.get(name, ">"), self.reset.get(name, "zero"),
                           int(self.reset_delay.get(name, 0)))

    @property
    def takes_sequences(self) -> bool:
        """True for a graph fed a sequence per time step (another writer's file), False for an image."""
        return self.t_steps == 0

    def domain(self, name: str) -> str:
        """``seq`` (a value per time step) or ``image`` (one value per image) of a node's output."""
        return self.domains.get(name, "seq")

    def edge_kind(self, src: str, dst: str) -> str:
        return self.edge_kinds[f"{src}->{dst}"]

    def neuron_layers(self, graph: nir.NIRGraph) -> list[str]:
        """Neuron nodes in topological order: the layers a Trace records."""
        from neurodeploy.ir.order import topological_order

        return [n for n in topological_order(graph.nodes, graph.edges) if self.node_kinds.get(n) in NEURON_KINDS]

    def restrict(self, nodes: list[str], edges: list[tuple[str, str]]) -> "GraphInfo":
        """These annotations for a part of the graph: every per-node table kept for
        ``nodes``, every per-edge table for ``edges``, every scalar field as it is.

        Generic over the fields, so an annotation added to this class is never dropped
        by a subgraph (``chip.nir``, host islands).
        """
        keep_nodes, keep_edges = set(nodes), {f"{s}->{d}" for s, d in edges}
        values = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in EDGE_TABLES:
                value = {k: v for k, v in value.items() if k in keep_edges}
            elif isinstance(value, dict):
                value = {k: v for k, v in value.items() if k in keep_nodes}
            values[f.name] = copy.deepcopy(value)
        return GraphInfo(**values)


def attach_info(graph: nir.NIRGraph, info: GraphInfo) -> None:
    graph.metadata = dict(graph.metadata or {})
    graph.metadata[METADATA_KEY] = json.dumps(asdict(info))


def graph_info(graph: nir.NIRGraph) -> GraphInfo:
    raw = (graph.metadata or {}).get(METADATA_KEY) if isinstance(graph.metadata, dict) else None
    if raw is None:
        raise GraphError("the NIR graph has no neurodeploy metadata; export it with `neurodeploy export`")
    try:
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8")
        data = json.loads(str(raw))
        data["input_shape"] = tuple(data["input_shape"])
        return GraphInfo(**data)
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise GraphError(f"the graph's neurodeploy metadata is damaged ({type(exc).__name__}: {exc}); "
                         "re-export the graph") from None
