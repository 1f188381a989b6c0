"""Partition: which nodes Loihi 2 runs (chip) and which the host runs, and the cut between.

A pass over the exported graph. A node goes on the **chip** when Loihi 2 can run it
natively between the encoder and the decoder (domain ``seq``): convolutions (synapses),
LIF neurons, fixed interpolation (a fixed transposed convolution), channel concatenation
and sums (routing). Everything else goes on the **host**: the image before encoding and
after decoding, the encoder (the host sends the image every step) and the decoder,
blocks kept whole for their sigmoid gates / products of activations / global pooling,
and any conv that runs on a decoded image. Every edge between the two sides is a *cut
edge*, listed with its shape, its kind (binary/graded/real) and its direction.

The chip part is written as ``chip.nir`` (NIR; boundaries become ``Input``/``Output``
nodes named after the node on the other side), the host part as ``host.onnx``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import nir
import numpy as np

from neurodeploy import nodes as nd
from neurodeploy.graph import GraphInfo, attach_info, node_shape, topological_order

CHIP_KINDS = ("conv", "lif", "upsample", "concat", "sum", "gain")

# Where a host block could be rewritten to stay on chip, and why not otherwise.
REWRITE_HINTS = {
    "decode_mean": "stays on chip as readout neurons that accumulate over T (the host reads one value per image)",
    "TemporalFusion": "softmax(w) is constant after training: a readout with fixed per-step weights stays on chip",
    "conv@image": "by linearity conv(mean_t f) = mean_t conv(f): run it per step on chip before the decoder",
    "MultiDimensionalAttention": "no: sigmoid gates computed from the activations multiply the features",
    "MDSA": "no: sigmoid gates computed from the activations multiply the features",
    "FeatureRefinementBlock": "no: global pooling, sigmoid gates and products of activations",
    "ARFE": "no: global pooling, sigmoid gates and products of activations",
    "VLIF": "partly: patch-to-time is routing and NI-LIF is a graded neuron; the temporal gate is a sigmoid",
    "product": "no: a product of two activations (x_h * x in VLIF-Net's SDEM)",
    "VLIFC": "partly: patch-to-time is routing, NI-LIF a graded neuron, the 1x1 compression a synapse; the temporal gate is a sigmoid",
    "VLIFT": "partly: patch-to-time is routing, NI-LIF a graded neuron, the (r^2,1,1) compression a synapse; the temporal gate is a sigmoid",
    "encode": "the image is sent from the host every step (real-valued graded spikes)",
}


@dataclass
class CutEdge:
    """An edge between chip and host. ``values_per_step``: elements it carries per step."""

    src: str
    dst: str
    direction: str  # "chip->host" | "host->chip"
    shape: list[int]
    kind: str
    values_per_step: int


@dataclass
class Partition:
    chip: list[str]
    host: list[str]
    cut: list[CutEdge]
    reasons: dict[str, str] = field(default_factory=dict)

    def side(self, name: str) -> str:
        return "chip" if name in self.chip else "host"

    @property
    def crossings_per_step(self) -> int:
        """Tensors crossing the chip/host boundary at every time step (one per cut edge)."""
        return len(self.cut)


def partition(graph: nir.NIRGraph, info: GraphInfo) -> Partition:
    """Label every node chip or host (see module docstring) and list the cut edges."""
    chip, host, reasons = [], [], {}
    for name in topological_order(graph):
        kind = info.node_kinds.get(name, "")
        if kind in CHIP_KINDS and info.domain(name) == "seq":
            chip.append(name)
            continue
        host.append(name)
        node = graph.nodes[name]
        key = node.block if isinstance(node, nd.HostBlock) else f"{kind}@image" if kind in CHIP_KINDS else kind
        if key in REWRITE_HINTS:
            reasons[name] = REWRITE_HINTS[key]
    chip_set = set(chip)
    cut = []
    for src, dst in graph.edges:
        if (src in chip_set) != (dst in chip_set):
            shape = node_shape(graph, src, info)
            cut.append(CutEdge(src, dst, "chip->host" if src in chip_set else "host->chip", list(shape),
                               info.edge_kinds.get(f"{src}->{dst}", "real"), int(np.prod(shape))))
    return Partition(chip, host, cut, reasons)


def _conv_macs(graph: nir.NIRGraph, name: str) -> int:
    node = graph.nodes[name]
    out = node_shape(graph, name)
    w = np.asarray(node.weight)
    return int(np.prod(out) * w.shape[1] * w.shape[2] * w.shape[3])


def _host_flops(graph: nir.NIRGraph, name: str, info: GraphInfo) -> int:
    """FLOPs of one forward of a host block (torch's FlopCounterMode: convs and matmuls only)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from neurodeploy.targets.nir_torch import host_block_module

    node = graph.nodes[name]
    preds = [s for s, d in graph.edges if d == name]
    in_shape = node_shape(graph, preds[0], info)
    # Counted on the meta device: shapes decide FLOPs, nothing needs computing.
    x = torch.zeros((info.t_steps, 1, *in_shape) if node.domain_in == "seq" else (1, *in_shape), device="meta")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        host_block_module(node, torch.float32).to("meta")(x)
    return int(counter.get_total_flops())


def summarize(graph: nir.NIRGraph, info: GraphInfo, part: Partition) -> dict[str, Any]:
    """Per side: layers, neurons, synapses (weights), operations per image; the cut edges.

    Definitions: *neurons* = LIF outputs; *synapses* = weights of convolutions (each
    shared weight counted once); *MACs per image* = multiply-accumulates of the convs
    over T steps (chip convs) or once (host convs on decoded images); *host FLOPs* =
    torch FlopCounterMode count of conv/matmul FLOPs inside host blocks (2 per MAC;
    elementwise gates not counted).
    """
    sides = {s: {"layers": 0, "neurons": 0, "synapses": 0, "macs_per_image": 0, "host_block_flops_per_image": 0}
             for s in ("chip", "host")}
    t = info.t_steps
    for name in graph.nodes:
        side = sides[part.side(name)]
        node = graph.nodes[name]
        if isinstance(node, (nir.Input, nir.Output)):
            continue
        side["layers"] += 1
        if isinstance(node, nir.LIF):
            side["neurons"] += int(np.prod(node_shape(graph, name, info)))
        elif isinstance(node, nir.Conv2d):
            side["synapses"] += int(np.asarray(node.weight).size)
            side["macs_per_image"] += _conv_macs(graph, name) * (t if info.domain(name) == "seq" else 1)
        elif isinstance(node, nd.HostBlock):
            side["synapses"] += int(sum(np.asarray(v).size for v in node.params.values()))
            side["host_block_flops_per_image"] += _host_flops(graph, name, info)
    return {
        "chip": sides["chip"],
        "host": sides["host"],
        "crossings_per_step": part.crossings_per_step,
        "values_crossing_per_step": int(sum(c.values_per_step for c in part.cut)),
        "cut_edges": [asdict(c) for c in part.cut],
        "host_nodes": {n: part.reasons.get(n, "") for n in part.host},
        "definitions": summarize.__doc__.split("Definitions:")[1].strip().replace("\n   ", ""),
    }


def chip_graph(graph: nir.NIRGraph, info: GraphInfo, part: Partition) -> nir.NIRGraph:
    """The chip part as its own graph: host sources become ``Input`` nodes and host
    consumers ``Output`` nodes, named ``<host node>`` (so each boundary keeps its name)."""
    chip = set(part.chip)
    nodes = {n: graph.nodes[n] for n in part.chip}
    edges = [(s, d) for s, d in graph.edges if s in chip and d in chip]
    sub = GraphInfo(t_steps=info.t_steps, dt_s=info.dt_s, input_shape=info.input_shape, lif_params=info.lif_params)
    for n in part.chip:
        sub.node_kinds[n] = info.node_kinds[n]
        sub.domains[n] = "seq"
        if n in info.shapes:
            sub.shapes[n] = info.shapes[n]
        if n in info.spike_condition:
            sub.spike_condition[n] = info.spike_condition[n]
        if n in info.modules:
            sub.modules[n] = info.modules[n]
    # A boundary node is named after the host node it stands for (Concat and Product orders
    # name their inputs); a host node that also receives from the chip gets a second one,
    # "<name>.in", for what it receives.
    sends = {c.src for c in part.cut if c.direction == "host->chip"}
    receives = {c.dst for c in part.cut if c.direction == "chip->host"}
    for c in part.cut:
        host = c.src if c.direction == "host->chip" else c.dst
        both = host in sends and host in receives
        if c.direction == "host->chip":
            boundary = host
            edge = (boundary, c.dst)
        else:
            boundary = f"{host}.in" if both else host
            edge = (c.src, boundary)
        if boundary not in nodes:
            if c.direction == "host->chip":
                nodes[boundary] = nir.Input(input_type={"input": np.array(c.shape)})
                sub.node_kinds[boundary] = "input"
            else:
                nodes[boundary] = nir.Output(output_type={"output": np.array(c.shape)})
                sub.node_kinds[boundary] = "output"
            sub.domains[boundary] = "seq"
            sub.shapes[boundary] = list(c.shape)
        edges.append(edge)
        sub.edge_kinds[f"{edge[0]}->{edge[1]}"] = c.kind
    for s, d in edges:
        sub.edge_kinds.setdefault(f"{s}->{d}", info.edge_kinds.get(f"{s}->{d}", "real"))
    out = nir.NIRGraph(nodes=nodes, edges=edges, metadata={}, type_check=False)
    attach_info(out, sub)
    return out
