"""Pass: partition -- the one place that decides what Loihi 2 runs (chip) and what the host runs.

Reads: node kinds, domains, shapes; the host-block declarations in
:mod:`neurodeploy.models.host_blocks`. Writes: ``info.side`` (every node: ``chip`` or
``host``), ``info.island`` (every host node: the name of its host island) and
``info.window`` (every host node: ``step`` or ``all_steps``). Returns a
:class:`Partition` with the cut edges and the islands.

A node goes on the **chip** when Loihi 2 can run it natively between the encoder and the
decoder (domain ``seq``): convolutions (synapses), LIF and NI-LIF neurons, patch-to-time
routing, fixed interpolation,
channel concatenation, sums and gains (routing and folded weights), and -- when the graph's
residency is ``products`` (the export default since issue 31) -- products of two activations
(product neurons). Everything else goes
on the **host**: the image before encoding and after decoding, the encoder and the
decoder, the blocks kept whole (their declarations say why), products of activations under
residency ``host``, and any conv on a decoded image. Every edge between the two sides is a *cut edge*.

**Host islands** are the host nodes grouped so that each can run as one unit: host nodes
joined by host-to-host edges, split wherever a value goes to the chip and comes back
(the island *level* counts chip-to-host crossings on the way from the input), so that
no island waits for the chip on a value it computes itself. Each island has a
**temporal window**: ``step`` when every node in it computes each time step from the same
step, ``all_steps`` when some node needs all T steps first (pooling over time, decoding).
Each island is written as ``host/ISLAND.onnx``; the chip part as ``chip.nir``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import nir
import numpy as np

from neurodeploy.ir import nodes as nd
from neurodeploy.ir.graph import DeployGraph
from neurodeploy.limits import LOIHI2
from neurodeploy.models.host_blocks import HOST_OP_HINTS, spec
from neurodeploy.ops import conv_macs

from neurodeploy.passes.residency import keep_on_chip
from neurodeploy.passes.sides import CHIP_KINDS, RESIDENT_KINDS, SEQUENCE_CHIP_KINDS, side_of  # noqa: F401


@dataclass
class CutEdge:
    """An edge between chip and host. ``values_per_step``: elements it carries per step; an edge
    that crosses ``once_per_image`` (the image into the chip's hold, a chip readout's value) carries
    its elements once per T steps and counts their share of one step, rounded up."""

    src: str
    dst: str
    direction: str  # "chip->host" | "host->chip"
    shape: list[int]
    kind: str
    values_per_step: int
    once_per_image: bool = False


@dataclass
class Island:
    """A host island: its nodes (graph order), the values it receives and sends, its window.

    ``inputs``: the graph's image input when the island holds it, then the nodes outside
    the island whose values it reads; ``outputs``: its nodes whose values leave it (to the
    chip or another island), then the graph output when it holds it.
    """

    name: str
    nodes: list[str]
    inputs: list[str]
    outputs: list[str]
    window: str
    level: int


@dataclass
class Partition:
    chip: list[str]
    host: list[str]
    cut: list[CutEdge]
    reasons: dict[str, str] = field(default_factory=dict)
    islands: list[Island] = field(default_factory=list)

    def side(self, name: str) -> str:
        return "chip" if name in self.chip else "host"

    @property
    def crossings_per_step(self) -> int:
        """Tensors crossing the chip/host boundary at every time step (one per cut edge)."""
        return len(self.cut)


def _reason(g: DeployGraph, name: str) -> str:
    node = g.node(name)
    if isinstance(node, nd.HostBlock):
        return spec(node.block).hint
    kind = g.kind(name)
    return HOST_OP_HINTS.get(f"{kind}@image" if kind in CHIP_KINDS else kind, "")


_WIDER = {"step": 0, "causal": 1, "all_steps": 2}


def _widest(windows) -> str:
    return max(windows, key=_WIDER.__getitem__, default="step")


def _window(g: DeployGraph, name: str, windows: dict[str, str]) -> str:
    """The node's own window (a block's declaration; the decoder needs all steps), widened
    by the windows of the host nodes it reads."""
    node = g.node(name)
    own = spec(node.block).window if isinstance(node, nd.HostBlock) else \
        "all_steps" if g.kind(name) == "decode_mean" else "step"
    # a chip readout's value (one per image) is whole after the image's last step
    readout = ["all_steps" for p in g.predecessors(name) if p not in windows and g.domain(p) == "image"]
    return _widest([own, *readout, *(windows[p] for p in g.predecessors(name) if p in windows)])


def island_io(g: DeployGraph, nodes: list[str]) -> tuple[list[str], list[str]]:
    """An island's inputs -- the graph's image input when it holds it, then the nodes outside
    it that it reads (graph order) -- and outputs -- its nodes read outside it (never the
    graph's input image, which every executor has), then the graph output when it holds it."""
    inside = set(nodes)
    graph_inputs = [n for n in nodes if isinstance(g.node(n), nir.Input)]
    external = [p for p in g.order if p not in inside and any(p in g.predecessors(n) for n in nodes)]
    sends = [n for n in nodes if any(d not in inside for d in g.successors(n)) and n not in graph_inputs]
    graph_outputs = [n for n in nodes if isinstance(g.node(n), nir.Output)]
    return graph_inputs + external, sends + graph_outputs


def partition(g: DeployGraph) -> Partition:
    """Label every node chip or host, group host nodes into islands, list the cut edges.

    Writes ``g.info.side``, ``g.info.island`` and ``g.info.window`` (see module docstring).
    First, for a graph of residency ``products``, adds the chip sums and fan-out relays that keep
    values on the chip (:func:`neurodeploy.passes.residency.keep_on_chip`; none on a re-run).
    """
    keep_on_chip(g)
    side = {n: side_of(g, n) for n in g.order}
    # level: chip-to-host crossings on the longest path from the input
    level: dict[str, int] = {}
    for n in g.order:
        # a recurrent loop's back edge (ir.order) brings a later node's values: not a path from the input
        level[n] = max((level[p] + (side[p] == "chip" and side[n] == "host") for p in g.forward_predecessors(n)),
                       default=0)
    host = [n for n in g.order if side[n] == "host"]
    windows: dict[str, str] = {}
    for n in host:
        windows[n] = _window(g, n, windows)
    # islands: connected components of host nodes of one level over host-to-host edges
    parent = {n: n for n in host}

    def root(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for s, d in g.edges:
        if side[s] == side[d] == "host" and level[s] == level[d]:
            parent[root(d)] = root(s)
    members: dict[str, list[str]] = {}
    for n in host:
        members.setdefault(root(n), []).append(n)
    islands = []
    for i, nodes in enumerate(sorted(members.values(), key=lambda ns: g.order.index(ns[0]))):
        inputs, outputs = island_io(g, nodes)
        islands.append(Island(f"island{i}", nodes, inputs, outputs, _widest(windows[n] for n in nodes),
                              level[nodes[0]]))
    g.info.side = side
    g.info.island = {n: isl.name for isl in islands for n in isl.nodes}
    g.info.window = windows
    cut = []
    for src, dst in g.edges:
        if side[src] != side[dst]:
            shape = g.shape(src)
            once = g.domain(src) == "image"  # the image into a hold, or a readout: once per image
            values = int(np.prod(shape))
            cut.append(CutEdge(src, dst, f"{side[src]}->{side[dst]}", list(shape), g.edge_kind(src, dst),
                               -(-values // g.t_steps) if once else values, once))
    chip = [n for n in g.order if side[n] == "chip"]
    reasons = {n: r for n in host if (r := _reason(g, n))}
    return Partition(chip, host, cut, reasons, islands)


def _host_flops(g: DeployGraph, name: str) -> int:
    """FLOPs of one forward of a host block (torch's FlopCounterMode: convs and matmuls only)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    node = g.node(name)
    in_shape = g.shape(g.predecessors(name)[0])
    # Counted on the meta device: shapes decide FLOPs, nothing needs computing.
    x = torch.zeros((g.t_steps, 1, *in_shape) if node.domain_in == "seq" else (1, *in_shape), device="meta")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        nd.host_module(node, torch.float32).to("meta")(x)
    return int(counter.get_total_flops())


def summarize(g: DeployGraph, part: Partition) -> dict[str, Any]:
    """Per side: layers, neurons, synapses (weights), operations per image; the cut edges.

    Definitions: *neurons* = LIF and NI-LIF outputs (a NI-LIF scanning r² positions counts
    one compartment per position); *synapses* = weights of convolutions (each
    shared weight counted once); *MACs per image* = multiply-accumulates of the convs
    over T steps (chip convs) or once (host convs on decoded images); *host FLOPs* =
    torch FlopCounterMode count of conv/matmul FLOPs inside host blocks (2 per MAC;
    elementwise gates not counted).
    """
    sides = {s: {"layers": 0, "neurons": 0, "synapses": 0, "macs_per_image": 0, "host_block_flops_per_image": 0}
             for s in ("chip", "host")}
    t = g.t_steps
    for name in g.order:
        side = sides[part.side(name)]
        node = g.node(name)
        if isinstance(node, (nir.Input, nir.Output)):
            continue
        side["layers"] += 1
        if isinstance(node, (nir.LIF, nd.NILIF)):
            side["neurons"] += int(np.prod(g.shape(name)))
        elif isinstance(node, nir.Conv2d):
            side["synapses"] += int(np.asarray(node.weight).size)
            side["macs_per_image"] += conv_macs(np.asarray(node.weight).shape, g.shape(name)) * (t if g.domain(name) == "seq" else 1)
        elif isinstance(node, nd.HostBlock):
            side["synapses"] += int(sum(np.asarray(v).size for v in node.params.values()))
            side["host_block_flops_per_image"] += _host_flops(g, name)
    # Cores the chip part needs at least, by neuron count alone (no tiling or core mapping yet).
    per_core = LOIHI2.compartments_per_core
    sides["chip"]["cores_min"] = -(-sides["chip"]["neurons"] // per_core)
    sides["chip"]["cores_basis"] = (f"neurons / {int(per_core)} compartments per core "
                                    f"({per_core.source.ref}{', a Loihi 1 figure' if per_core.source.loihi1_only else ''})")
    return {
        "chip": sides["chip"],
        "host": sides["host"],
        "residency": g.info.residency,
        "delta_threshold": g.info.delta_threshold,
        "delta_thresholds": dict(g.info.delta_thresholds),
        "crossings_per_step": part.crossings_per_step,
        "values_crossing_per_step": int(sum(c.values_per_step for c in part.cut)),
        "cut_edges": [asdict(c) for c in part.cut],
        "host_nodes": {n: part.reasons.get(n, "") for n in part.host},
        "graph_output": next(n for n in g.order if isinstance(g.node(n), nir.Output)),
        "islands": [{"name": i.name, "nodes": i.nodes, "inputs": i.inputs, "outputs": i.outputs, "window": i.window}
                    for i in part.islands],
        "definitions": summarize.__doc__.split("Definitions:")[1].strip().replace("\n   ", ""),
    }


def chip_graph(g: DeployGraph, part: Partition) -> DeployGraph:
    """The chip part as its own graph: host sources become ``Input`` nodes and host
    consumers ``Output`` nodes, named after the host node (so each boundary keeps its
    name; Concat and Product orders name their inputs). A host node that also receives
    from the chip gets a second boundary, ``<name>.in``, for what it receives.
    Every annotation of the chip nodes is kept (:meth:`DeployGraph.subgraph`)."""
    sends = {c.src for c in part.cut if c.direction == "host->chip"}
    receives = {c.dst for c in part.cut if c.direction == "chip->host"}
    extra_nodes: dict[str, nir.NIRNode] = {}
    extra_edges: list[tuple[str, str]] = []
    extra = {"node_kinds": {}, "domains": {}, "shapes": {}, "edge_kinds": {}, "side": {}}
    for c in part.cut:
        host = c.src if c.direction == "host->chip" else c.dst
        if c.direction == "host->chip":
            boundary, edge = host, (host, c.dst)
        else:
            boundary = f"{host}.in" if host in sends and host in receives else host
            edge = (c.src, boundary)
        if boundary not in extra_nodes:
            if c.direction == "host->chip":
                extra_nodes[boundary] = nir.Input(input_type={"input": np.array(c.shape)})
                extra["node_kinds"][boundary] = "input"
            else:
                extra_nodes[boundary] = nir.Output(output_type={"output": np.array(c.shape)})
                extra["node_kinds"][boundary] = "output"
            extra["domains"][boundary] = "image" if c.once_per_image else "seq"  # a readout gives one image
            extra["shapes"][boundary] = list(c.shape)
            extra["side"][boundary] = "host"
        extra_edges.append(edge)
        extra["edge_kinds"][f"{edge[0]}->{edge[1]}"] = c.kind
    sub = g.subgraph(part.chip, extra_nodes, extra_edges, extra)
    sub.info.island, sub.info.window = {}, {}
    return sub
