"""Lower a NIR graph to a Lava-ready network description (pure data; no lava import).

A :class:`LoweredNetwork` says everything the Lava builder needs and decides nothing
more: per node, its Lava parameters in Lava's layout, and its *latency* (the Lava time
step at which its output for logical step 0 appears); per edge, the delay inserted to
balance joins. The passes, in order:

1. :func:`to_lava_layout` -- shapes ``(C, H, W)`` -> Lava's ``(X, Y, C)`` = ``(W, H, C)``;
   conv kernels flipped (Lava's Conv computes a true convolution, PyTorch a
   cross-correlation) and permuted to ``(C_out, kx, ky, C_in)``.
2. :func:`map_neurons` -- ``nir.LIF`` -> Lava ``LIFReset`` parameters (``du``, ``dv``,
   ``vth``), conv biases moved into the consuming neuron's (or readout's) bias.
3. :func:`balance_delays` -- every synaptic hop delays by one step; at each join the
   shorter paths get a delay line so that all inputs carry the same logical step.

Units: weights, biases, thresholds and membrane values stay in the model's float units
(this is the float lowering; quantization to Loihi integers comes later).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import nir
import numpy as np

from neurodeploy.errors import LoweringError
from neurodeploy.ir import GraphInfo, node_shape, predecessors, topological_order

SYNAPSE_KINDS = ("conv",)


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


def _lava_kind(name: str, kind: str | None, info: GraphInfo) -> str | None:
    """Our graph's node kind -> the Lava role (None: stays on the host side of the boundary)."""
    if kind is None:
        raise LoweringError(f"node '{name}' has no kind in the graph metadata; re-export the graph")
    if kind in ("input", "output") and info.domain(name) == "image":
        return None  # the image before encoding / after decoding lives on the host
    role = {"encode": "input", "input": "input", "conv": "conv", "lif": "lif",
            "decode_mean": "output", "output": "output"}.get(kind)
    if role is None:
        raise LoweringError(f"node '{name}' ({kind}) has no Lava lowering yet; only conv + LIF graphs between "
                            "the encoder and the decoder lower today (see the partition in `neurodeploy inspect`)")
    return role


def _lowered_predecessors(graph: nir.NIRGraph, name: str, nodes: dict[str, LavaNode]) -> list[str]:
    return [p for p in predecessors(graph, name) if p in nodes]


def to_lava_layout(graph: nir.NIRGraph, info: GraphInfo) -> dict[str, LavaNode]:
    """Pass 1: one LavaNode per chip node, shapes and conv kernels in Lava's layout."""
    nodes = {}
    for name in topological_order(graph):
        nir_node = graph.nodes[name]
        kind = _lava_kind(name, info.node_kinds.get(name), info)
        if kind is None:
            continue
        node = LavaNode(name, kind, _xyc(node_shape(graph, name, info)))
        if kind == "conv":
            weight = np.asarray(nir_node.weight, dtype=np.float64)  # (C_out, C_in/groups, kH, kW)
            node.params.update(
                weight=np.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(0, 3, 2, 1)),
                conv_bias=np.asarray(nir_node.bias, dtype=np.float64),
                input_shape=_xyc((weight.shape[1] * int(nir_node.groups), *nir_node.input_shape)),
                padding=_pair_xy(nir_node.padding),
                stride=_pair_xy(nir_node.stride),
                dilation=_pair_xy(nir_node.dilation),
                groups=int(nir_node.groups),
            )
        nodes[name] = node
    return nodes


def _uniform(name: str, what: str, values: np.ndarray) -> float:
    values = np.asarray(values, dtype=np.float64)
    if not np.all(values == values.flat[0]):
        raise LoweringError(f"neuron '{name}': {what} varies across neurons; Lava's LIF takes one value per layer")
    return float(values.flat[0])


def map_neurons(graph: nir.NIRGraph, info: GraphInfo, nodes: dict[str, LavaNode]) -> None:
    """Pass 2: LIF parameters for Lava's ``LIFReset``; conv biases into their consumers.

    Lava float LIF per step: ``u = u (1 - du) + a_in``; ``v = v (1 - dv) + u + bias``;
    spike if ``v > vth``; then ``v = 0``. The NIR LIF under forward Euler (step ``dt``):
    ``v = (1 - dt/tau) v + (dt/tau) r I``. So ``du = 1`` (current passes straight through),
    ``dv = dt/tau``, and the input gain ``dt r / tau`` scales incoming weights and biases.
    A ``>=`` spike condition becomes ``vth = nextafter(v_threshold, -inf)``: for float64
    ``v``, ``v > nextafter(th, -inf)`` holds exactly when ``v >= th``.
    """
    dt = info.dt_s
    for name, node in nodes.items():
        if node.kind in SYNAPSE_KINDS:
            for dst in [d for s, d in graph.edges if s == name and d in nodes]:
                if nodes[dst].kind not in ("lif", "output"):
                    raise LoweringError(f"conv '{name}' feeds '{dst}' ({nodes[dst].kind}); a synapse must feed "
                                        "neurons or the output on Loihi")
    for name, node in nodes.items():
        if node.kind not in ("lif", "output"):
            continue
        gain = 1.0
        if node.kind == "lif":
            lif = graph.nodes[name]
            tau = _uniform(name, "tau", lif.tau)
            if not np.all(np.asarray(lif.v_leak) == 0) or not np.all(np.asarray(lif.v_reset) == 0):
                raise LoweringError(f"neuron '{name}': v_leak and v_reset must be 0 for Lava's LIF")
            gain = dt * _uniform(name, "r", lif.r) / tau
            vth = _uniform(name, "v_threshold", lif.v_threshold)
            if info.spike_condition.get(name, ">") == ">=":
                vth = float(np.nextafter(vth, -np.inf))
            node.params.update(du=1.0, dv=dt / tau, vth=vth, input_gain=gain)
        bias = np.zeros(node.shape)
        for src in _lowered_predecessors(graph, name, nodes):
            src_node = nodes[src]
            if src_node.kind == "conv":
                src_node.params["weight"] = src_node.params["weight"] * gain
                bias = bias + src_node.params["conv_bias"] * gain  # broadcasts over the C axis
            elif gain != 1.0:
                raise LoweringError(f"'{src}' feeds neuron '{name}' directly with input gain {gain}; "
                                    "put a synapse between them")
        node.params["bias"] = bias


def balance_delays(graph: nir.NIRGraph, info: GraphInfo, nodes: dict[str, LavaNode],
                   balance: bool = True) -> list[LavaEdge]:
    """Pass 3: latencies, and delay lines on the shorter inputs of every join.

    A synapse adds one step of latency; neurons, the readout and delay lines add none.
    With ``balance=False`` no delays are inserted: joins then mix logical steps (kept
    for tests that prove the verifier catches it).
    """
    edges = []
    for name, node in nodes.items():
        preds = _lowered_predecessors(graph, name, nodes)
        arrival = max((nodes[p].latency for p in preds), default=0)
        node.latency = arrival + (1 if node.kind in SYNAPSE_KINDS else 0)
        for p in preds:
            delay = arrival - nodes[p].latency if balance else 0
            edges.append(LavaEdge(p, name, info.edge_kind(p, name), delay))
    return edges


def lower(graph: nir.NIRGraph, info: GraphInfo, balance: bool = True) -> LoweredNetwork:
    """Run the three passes; the result is what :mod:`.network` instantiates."""
    nodes = to_lava_layout(graph, info)
    map_neurons(graph, info, nodes)
    edges = balance_delays(graph, info, nodes, balance)
    return LoweredNetwork(t_steps=info.t_steps, nodes=nodes, edges=edges, balanced=balance)
