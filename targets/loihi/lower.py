"""Lower an annotated deployment graph to a Lava-ready network description (pure data; no lava import).

Every decision is made before this module runs, by the passes
(:mod:`neurodeploy.passes`): which nodes run on the chip (partition), the neuron form
(``du``, ``dv``, ``vth``, input gains, biases moved out of synapses) and the latencies and
delay lines (latency). The lowering only:

1. picks each node's Lava process from its kind and side: chip convs -> ``Conv`` (and,
   when a conv's output must carry its bias, a ``relay`` after it), chip LIFs ->
   ``LIFReset``, sums and gains -> ``relay``, concatenation -> ``concat`` (routing), fixed
   interpolation -> ``upsample``; the island holding the graph's input and the encoder ->
   ``RingBuffer`` sources; every other host island -> one ``island`` process that runs the
   island's ONNX file inside the Lava run (:mod:`.processes.functions`);
2. re-lays arrays in Lava's layout: shapes ``(C, H, W)`` -> ``(X, Y, C)`` = ``(W, H, C)``;
   conv kernels times their synapse gain, flipped (Lava's Conv computes a true
   convolution, PyTorch a cross-correlation) and permuted to ``(C_out, kx, ky, C_in)``;
   per-channel biases broadcast over ``(X, Y, C)``;
3. takes the neuron form pass's ``vth_float`` (the model's ``>=`` as Lava float's ``v > vth``:
   one float64 ulp lower) and its bias decisions (a relay where a conv's output keeps its bias).

Units: weights, biases, thresholds and membrane values stay in the model's float units
(this is the float lowering; quantization to Loihi integers comes later).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import nir
import numpy as np

from neurodeploy.errors import LoweringError
from neurodeploy.ir import DeployGraph, GraphInfo
from neurodeploy.limits import LOIHI2


@dataclass
class LavaNode:
    """One process of the lowered network.

    Attributes:
        name: NIR node name (an island: the island's name; a conv's bias relay: ``CONV+bias``).
        kind: ``input`` | ``conv`` | ``lif`` | ``relay`` | ``concat`` | ``upsample`` | ``island``.
        shape: output shape in Lava layout (X, Y, C); an island: its first output's.
        params: Lava parameters (weights in Lava layout, ``bias`` per output element, ...).
        latency: Lava steps between a logical step's input and this node's output for it.
        in_shapes: per input port, the shape it receives (multi-port kinds: concat, island).
        out_shapes: per output port, the shape it sends (islands).
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    params: dict[str, Any] = field(default_factory=dict)
    latency: int = 0
    in_shapes: list[tuple[int, ...]] = field(default_factory=list)
    out_shapes: list[tuple[int, ...]] = field(default_factory=list)


@dataclass
class LavaEdge:
    src: str
    dst: str
    kind: str  # binary | graded | real
    delay: int = 0  # time steps of delay line inserted on this edge
    src_port: int = 0  # which output of ``src`` (islands have several)
    dst_port: int = 0  # which input of ``dst`` (concat operands, island inputs)


@dataclass
class LoweredNetwork:
    """A Lava-ready network: nodes in topological order, edges with delays.

    ``t_steps`` logical steps per image; images stream back to back, one every
    ``t_steps`` Lava steps; ``steps_for(n)`` Lava steps complete n images.
    """

    t_steps: int
    nodes: dict[str, LavaNode]
    edges: list[LavaEdge]
    balanced: bool

    @property
    def output_latency(self) -> int:
        """Lava steps after which the last node has seen the first image's T steps begin."""
        return max(n.params["input_latency"] if n.kind == "island" else n.latency for n in self.nodes.values())

    def steps_for(self, n_images: int) -> int:
        return n_images * self.t_steps + self.output_latency

    def node(self, name: str) -> LavaNode:
        return self.nodes[name]

    def inputs_of(self, name: str) -> list[LavaEdge]:
        return [e for e in self.edges if e.dst == name]

    def summary(self) -> dict[str, Any]:
        """JSON-able facts for the manifest: latencies, inserted delays, steps per image."""
        return {
            "t_steps": self.t_steps,
            "balanced": self.balanced,
            "latency_steps": {n.name: n.latency for n in self.nodes.values()},
            "delays": [{"src": e.src, "dst": e.dst, "steps": e.delay} for e in self.edges if e.delay],
            "lava_steps_per_image": self.steps_for(1),
            "processes": {n.name: PROCESS_NAMES[n.kind] for n in self.nodes.values()},
            "graded_message_bits": GRADED_MESSAGE_BITS,
        }


PROCESS_NAMES = {"input": "RingBuffer (source)", "conv": "Conv", "lif": "LIFReset", "relay": "Relay",
                 "concat": "Concat", "upsample": "Upsample", "island": "HostIsland (onnxruntime)",
                 "nilif": "NILIF", "patch_to_time": "PatchToTime"}
# Graded spikes carry real values (residual streams, images, gated features) as Loihi 2
# graded payloads of this many bits; Lava's float models carry them as float64.
GRADED_MESSAGE_BITS = int(LOIHI2.graded_payload_bits)


def _xyc(shape) -> tuple[int, ...]:
    c, h, w = (int(v) for v in shape)
    return (w, h, c)


def _pair_xy(value) -> tuple[int, int]:
    """NIR/torch (H, W) pairs -> Lava (X, Y) = (W, H)."""
    a, b = (value, value) if np.isscalar(value) else tuple(value)
    return (int(b), int(a))


_CHIP_PROCESS = {"conv": "conv", "lif": "lif", "sum": "relay", "gain": "relay", "concat": "concat",
                 "upsample": "upsample", "nilif": "nilif", "patch_to_time": "patch_to_time"}


def to_lava_layout(g: DeployGraph) -> dict[str, LavaNode]:
    """One LavaNode per process of the Lava run, arrays in Lava's layout (see module docstring)."""
    from neurodeploy.passes.latency import is_source_island, island_steps, streams
    from neurodeploy.passes.partition import island_io

    nodes: dict[str, LavaNode] = {}
    islands = g.islands()
    done_islands: set[str] = set()
    for name in g.order:
        island = g.info.island.get(name)
        if g.side(name) == "host" or island is not None:
            if island is None:
                raise LoweringError(f"host node '{name}' belongs to no island; re-run the partition")
            members = islands[island]
            if is_source_island(g, members):
                if any(d not in members for d in g.successors(name)):  # what the chip or an island reads
                    nodes[name] = LavaNode(name, "input", _xyc(g.shape(name)), latency=0)
                continue
            if island in done_islands:
                continue
            done_islands.add(island)
            inputs, outputs = island_io(g, members)
            lat = int(g.info.latency[members[0]])
            nodes[island] = LavaNode(
                island, "island", _xyc(g.shape(outputs[0])), latency=lat,
                in_shapes=[_xyc(g.shape(n)) for n in inputs], out_shapes=[_xyc(g.shape(n)) for n in outputs],
                params={"inputs": inputs, "outputs": outputs, "input_latency": lat - island_steps(g, members),
                        "streams": streams(g, members),
                        "in_domains": [g.domain(n) for n in inputs],
                        "image_outputs": [isinstance(g.node(n), nir.Output) for n in outputs]})
            continue
        kind = _CHIP_PROCESS.get(g.kind(name))
        if kind is None:
            raise LoweringError(f"chip node '{name}' ({g.kind(name)}) has no Lava process yet")
        node = LavaNode(name, kind, _xyc(g.shape(name)), latency=int(g.info.latency.get(name, 0)))
        nir_node = g.node(name)
        if kind == "conv":
            weight = np.asarray(nir_node.weight, dtype=np.float64) * g.info.synapse_gain.get(name, 1.0)
            node.params.update(
                weight=np.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(0, 3, 2, 1)),
                input_shape=_xyc((weight.shape[1] * int(nir_node.groups), *nir_node.input_shape)),
                padding=_pair_xy(nir_node.padding),
                stride=_pair_xy(nir_node.stride),
                dilation=_pair_xy(nir_node.dilation),
                groups=int(nir_node.groups),
            )
            if "out_bias" in g.arrays.get(name, {}):
                relay = f"{name}+bias"
                nodes[name] = node
                nodes[relay] = LavaNode(relay, "relay", node.shape, latency=node.latency, params={
                    "factor": 1.0, "bias": np.broadcast_to(g.arrays[name]["out_bias"], node.shape).copy()})
                continue
        elif kind == "lif":
            bias = g.arrays.get(name, {}).get("bias", np.zeros(g.shape(name)[0]))
            node.params["bias"] = np.broadcast_to(np.asarray(bias, dtype=np.float64), node.shape).copy()
            form = g.info.neuron_form[name]  # the threshold for Lava float's v > vth: the pass's decision
            node.params.update(du=form["du"], dv=form["dv"], vth=float(form["vth_float"]),
                               input_gain=form["input_gain"])
        elif kind == "nilif":
            node.params.update(positions=int(nir_node.positions), levels=int(nir_node.levels), beta=float(nir_node.beta))
            q = g.info.quant.get(name) if g.info.quant else None
            if q:  # the integer form the fixed_pt model runs (quantize.ptq)
                node.params["fixed"] = {k: q[k] for k in ("thresholds", "level_lsbs", "dv")}
        elif kind == "patch_to_time":
            node.in_shapes = [_xyc(g.shape(g.predecessors(name)[0]))]
            node.params.update(r=int(nir_node.r))
        elif kind == "relay":
            node.params.update(factor=float(getattr(nir_node, "factor", 1.0)), bias=np.zeros(node.shape))
        elif kind == "concat":
            node.in_shapes = [_xyc(g.shape(n)) for n in nir_node.inputs]
        elif kind == "upsample":
            node.in_shapes = [_xyc(g.shape(g.predecessors(name)[0]))]
            node.params.update(scale=int(nir_node.scale_factor), mode=str(nir_node.mode),
                               align_corners=bool(nir_node.align_corners))
        nodes[name] = node
    return nodes


def lava_edges(g: DeployGraph, nodes: dict[str, LavaNode]) -> list[LavaEdge]:
    """The edges between processes (ports chosen, duplicates merged), with the delay lines
    the latency pass asks for."""
    def source(n: str) -> tuple[str, int] | None:
        island = g.info.island.get(n)
        if island in nodes:
            return island, nodes[island].params["outputs"].index(n)
        if f"{n}+bias" in nodes:
            return f"{n}+bias", 0
        return (n, 0) if n in nodes else None

    def target(s: str, d: str) -> tuple[str, int] | None:
        island = g.info.island.get(d)
        if island in nodes:
            return island, nodes[island].params["inputs"].index(s)
        if d in nodes and nodes[d].kind == "concat":
            return d, g.node(d).inputs.index(s)
        return (d, 0) if d in nodes else None

    edges, seen = [], set()
    for s, d in g.edges:
        if g.info.island.get(s) is not None and g.info.island.get(s) == g.info.island.get(d):
            continue  # inside one island: its ONNX file computes it
        src, dst = source(s), target(s, d)
        if src is None or dst is None or (src, dst) in seen:
            continue
        seen.add((src, dst))
        edges.append(LavaEdge(src[0], dst[0], g.edge_kind(s, d), int(g.info.delays.get(f"{s}->{d}", 0)),
                              src_port=src[1], dst_port=dst[1]))
    # the conv's own edge into its bias relay
    for name, node in nodes.items():
        if name.endswith("+bias"):
            edges.append(LavaEdge(name[:-len("+bias")], name, "real"))
    return edges


def lower_graph(g: DeployGraph, balance: bool = True) -> LoweredNetwork:
    """Lower a graph the passes have annotated (partition, neuron form, latency)."""
    nodes = to_lava_layout(g)
    return LoweredNetwork(t_steps=g.t_steps, nodes=nodes, edges=lava_edges(g, nodes), balanced=balance)


def lower(graph: nir.NIRGraph, info: GraphInfo, balance: bool = True) -> LoweredNetwork:
    """Run the passes the lowering needs on a copy of the annotations, then lower.

    ``balance=False`` skips delay balancing (tests show the verifier catches it).
    """
    from neurodeploy.passes import lowering_flow, run_passes

    g = DeployGraph(graph, copy.deepcopy(info))
    run_passes(g, lowering_flow(balance))
    return lower_graph(g, balance)
