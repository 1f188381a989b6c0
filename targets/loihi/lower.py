"""Lower an annotated deployment graph to a Lava-ready network description (pure data; no lava import).

Every decision is made before this module runs, by the passes
(:mod:`neurodeploy.passes`): which nodes run on the chip (partition), the neuron form
(``du``, ``dv``, ``vth``, input gains, biases moved out of synapses) and the latencies and
delay lines (latency). The lowering only:

1. picks each node's Lava process from its kind and side: chip convs -> ``Conv``, chip LIFs
   -> ``LIFReset``, the host's encoder -> a ``RingBuffer`` source, the host's decoder fed
   by chip synapses -> a :class:`~.processes.Readout`; any other host node between chip
   layers is refused (host islands inside a Lava run are not lowered yet);
2. re-lays arrays in Lava's layout: shapes ``(C, H, W)`` -> ``(X, Y, C)`` = ``(W, H, C)``;
   conv kernels times their synapse gain, flipped (Lava's Conv computes a true
   convolution, PyTorch a cross-correlation) and permuted to ``(C_out, kx, ky, C_in)``;
   per-channel biases broadcast over ``(X, Y, C)``;
3. maps the model's spike condition to Lava float's ``v > vth``: ``>=`` becomes
   ``vth = nextafter(v_th, -inf)``, exact for float64 ``v``.

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


@dataclass
class LavaNode:
    """One node of the lowered network.

    Attributes:
        name: NIR node name.
        kind: ``input`` | ``conv`` | ``lif`` | ``output``.
        shape: output shape in Lava layout (X, Y, C).
        params: Lava parameters (weights in Lava layout, ``bias`` per output element, ...).
        latency: Lava steps between a logical step's input and this node's output for it.
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    params: dict[str, Any] = field(default_factory=dict)
    latency: int = 0


@dataclass
class LavaEdge:
    src: str
    dst: str
    kind: str  # binary | graded | real
    delay: int = 0  # time steps of delay line inserted on this edge


@dataclass
class LoweredNetwork:
    """A Lava-ready network: nodes in topological order, edges with delays.

    ``t_steps`` logical steps per image; images stream back to back, one every
    ``t_steps`` Lava steps; one image needs ``t_steps + output latency`` Lava steps.
    """

    t_steps: int
    nodes: dict[str, LavaNode]
    edges: list[LavaEdge]
    balanced: bool

    @property
    def output_latency(self) -> int:
        return max(n.latency for n in self.nodes.values() if n.kind == "output")

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
            "processes": {n.name: _process_name(n.kind) for n in self.nodes.values()},
        }


def _process_name(kind: str) -> str:
    return {"input": "RingBuffer (source)", "conv": "Conv", "lif": "LIFReset", "output": "Readout"}[kind]


def _xyc(shape) -> tuple[int, ...]:
    c, h, w = (int(v) for v in shape)
    return (w, h, c)


def _pair_xy(value) -> tuple[int, int]:
    """NIR/torch (H, W) pairs -> Lava (X, Y) = (W, H)."""
    a, b = (value, value) if np.isscalar(value) else tuple(value)
    return (int(b), int(a))


def _lava_kind(g: DeployGraph, name: str) -> str | None:
    """The Lava role of a node, from its side and kind (None: not part of the Lava run)."""
    kind = g.kind(name)
    if not kind:
        raise LoweringError(f"node '{name}' has no kind in the graph metadata; re-export the graph")
    if g.side(name) == "chip":
        role = {"conv": "conv", "lif": "lif"}.get(kind)
        if role is None:
            raise LoweringError(f"chip node '{name}' ({kind}) has no Lava process yet; only convs and LIFs lower "
                                "today (see the partition in `neurodeploy inspect`)")
        return role
    if kind in ("input", "output") and g.domain(name) == "image":
        return None  # the image before encoding / after decoding never enters the Lava run
    role = {"encode": "input", "input": "input", "decode_mean": "output", "output": "output"}.get(kind)
    if role is None:
        raise LoweringError(f"node '{name}' ({kind}) runs on the host between chip layers; host islands inside a "
                            "Lava run are not lowered yet (use --executor split)")
    return role


def to_lava_layout(g: DeployGraph) -> dict[str, LavaNode]:
    """One LavaNode per node of the Lava run, arrays in Lava's layout (see module docstring)."""
    nodes = {}
    for name in g.order:
        role = _lava_kind(g, name)
        if role is None:
            continue
        node = LavaNode(name, role, _xyc(g.shape(name)), latency=int(g.info.latency.get(name, 0)))
        if role == "conv":
            nir_node = g.node(name)
            weight = np.asarray(nir_node.weight, dtype=np.float64) * g.info.synapse_gain.get(name, 1.0)
            node.params.update(
                weight=np.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(0, 3, 2, 1)),
                input_shape=_xyc((weight.shape[1] * int(nir_node.groups), *nir_node.input_shape)),
                padding=_pair_xy(nir_node.padding),
                stride=_pair_xy(nir_node.stride),
                dilation=_pair_xy(nir_node.dilation),
                groups=int(nir_node.groups),
            )
        elif role in ("lif", "output"):
            bias = g.arrays.get(name, {}).get("bias", np.zeros(g.shape(name)[0]))
            node.params["bias"] = np.broadcast_to(np.asarray(bias, dtype=np.float64), node.shape).copy()
            if role == "lif":
                form = g.info.neuron_form[name]
                vth = float(form["vth"])
                if form["fires_at_equality"]:
                    vth = float(np.nextafter(vth, -np.inf))
                node.params.update(du=form["du"], dv=form["dv"], vth=vth, input_gain=form["input_gain"])
        nodes[name] = node
    return nodes


def lava_edges(g: DeployGraph, nodes: dict[str, LavaNode]) -> list[LavaEdge]:
    """The edges between lowered nodes, with the delay lines the latency pass asks for."""
    return [LavaEdge(s, d, g.edge_kind(s, d), int(g.info.delays.get(f"{s}->{d}", 0)))
            for d in nodes for s in g.predecessors(d) if s in nodes]


def lower_graph(g: DeployGraph, balance: bool = True) -> LoweredNetwork:
    """Lower a graph the passes have annotated (partition, neuron form, latency)."""
    nodes = to_lava_layout(g)
    for name, node in nodes.items():
        if node.kind == "conv":
            for dst in g.successors(name):
                if dst in nodes and nodes[dst].kind not in ("lif", "output"):
                    raise LoweringError(f"conv '{name}' feeds '{dst}' ({nodes[dst].kind}); a synapse must feed "
                                        "neurons or the readout in this lowering")
    return LoweredNetwork(t_steps=g.t_steps, nodes=nodes, edges=lava_edges(g, nodes), balanced=balance)


def lower(graph: nir.NIRGraph, info: GraphInfo, balance: bool = True) -> LoweredNetwork:
    """Run the passes the lowering needs on a copy of the annotations, then lower.

    ``balance=False`` skips delay balancing (tests show the verifier catches it).
    """
    from neurodeploy.passes import lowering_flow, run_passes

    g = DeployGraph(graph, copy.deepcopy(info))
    run_passes(g, lowering_flow(balance))
    return lower_graph(g, balance)
