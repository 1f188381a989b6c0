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
- ``shapes``: node -> per-step output shape (C, H, W);
- ``lif_params``: ``per_neuron`` (every LIF parameter array has the layer's shape: strict
  NIR readers type-check it) or ``per_channel`` (arrays of shape (C, 1, 1) that broadcast
  over H, W: large graphs, where per-neuron arrays would take gigabytes);
- ``t_steps``, ``dt_s`` (seconds per step), ``input_shape`` (C, H, W), encoding/decoding.
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
# Node kinds whose outputs are spikes (binary for LIF, graded 0..D for NI-LIF): the layers a Trace records.
NEURON_KINDS = ("lif", "nilif")
# Annotation tables keyed by edge ("src->dst"); every other dict field is keyed by node name.
EDGE_TABLES = ("edge_kinds", "delays")


@dataclass
class GraphInfo:
    """neurodeploy's annotations of one NIR graph (see module docstring for units)."""

    t_steps: int
    dt_s: float
    input_shape: tuple[int, int, int]
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
