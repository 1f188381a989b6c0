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

A graph read from another writer's file (a *sequence graph*, ``GraphInfo.takes_sequences``)
goes through the same loop: its kinds have entries in :data:`_SEQUENCE_PROCESS` and the
NIR-specific re-laying (Scale and the neurons' gains folded into the synapse weights, a
synapse's bias carried to the neuron it feeds as a constant input, Flatten as a reshaped
port with the Dense columns permuted, pooling as a fixed-weight Conv, NIR's Delay as a delay
line process) is :class:`_Folds`. Its input is a ``RingBuffer`` of the sequence, its Output no
process (the executor reads the layer the Output reads), and samples are ``T + sample_gap``
Lava steps apart (:attr:`LoweredNetwork.sample_gap`: a NIR Delay holds logical time, so a
sample must be out of the delay lines before the next one starts).

**Neurons of a sequence graph -> Lava's ``LIF``** (the table is the neuron form pass's,
:func:`neurodeploy.passes.neuron_form.nir_neuron_form`): Lava's state is the shifted membrane
``v' = v - v_reset``, so that Lava's reset to 0 is NIR's reset to ``v_reset``; ``g`` (the
pass's ``gain``) is folded into the incoming synapses' weights and ``c`` (the pass's ``const``
plus ``g`` times the synapses' biases) enters ``a_in`` from a constant source on the sample's
T logical steps (Lava's ``bias`` would integrate from Lava step 0, before the layer's first
input arrives, and between samples). A writer's rules (``>=``, subtractive or late reset,
:mod:`neurodeploy.ir.rules`) make the neuron the project's ``RuleLIF``. Non-spiking neurons
(I, LI, CubaLI) may feed only the Output: their ``v`` is read by a ``Monitor``.

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
from neurodeploy.ir import DeployGraph, GraphInfo, as_deploy_graph
from neurodeploy.ir import primitives as pr
from neurodeploy.limits import LOIHI2


@dataclass
class LavaNode:
    """One process of the lowered network.

    Attributes:
        name: NIR node name (an island: the island's name; a conv's bias relay: ``CONV+bias``).
        kind: ``input`` | ``conv`` | ``lif`` | ``relay`` | ``concat`` | ``upsample`` | ``island``
            (a sequence graph's too: ``dense``, ``delay``).
        shape: output shape in Lava layout (X, Y, C) (:func:`lava_shape` for other ranks);
            an island: its first output's.
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
    reshape: tuple[int, ...] | None = None  # the source port reshaped to this (a NIR Flatten before a Dense)


@dataclass
class LoweredNetwork:
    """A Lava-ready network: nodes in topological order, edges with delays.

    ``t_steps`` logical steps per image (0 for a sequence graph: the input's length decides);
    samples stream back to back, one every ``window(T)`` = ``T + sample_gap`` Lava steps;
    ``steps_for(n)`` Lava steps complete n samples. ``layers``: the neuron layers a Trace
    records (a sequence graph's; a model's come from its GraphInfo); ``output_layer``: the
    layer a sequence graph's Output reads (None: the last host island sends the output images).
    """

    t_steps: int
    nodes: dict[str, LavaNode]
    edges: list[LavaEdge]
    balanced: bool
    sample_gap: int = 0
    layers: list[str] = field(default_factory=list)
    output_layer: str | None = None

    @property
    def output_latency(self) -> int:
        """Lava steps after which the last node has seen the first image's T steps begin."""
        return max(n.params["input_latency"] if n.kind == "island" else n.latency for n in self.nodes.values())

    @property
    def takes_sequences(self) -> bool:
        """A sequence graph's network: its output is a neuron layer, not a host island's images."""
        return self.output_layer is not None

    def window(self, t_steps: int | None = None) -> int:
        """Lava steps from one sample's first step to the next one's (``t_steps``: a sequence's length)."""
        return (t_steps or self.t_steps) + self.sample_gap

    def steps_for(self, n_images: int, t_steps: int | None = None) -> int:
        t = t_steps or self.t_steps
        return (n_images - 1) * self.window(t) + t + self.output_latency

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
                 "nilif": "NILIF", "patch_to_time": "PatchToTime", "slice": "Slice (a block's input window)",
                 "assemble": "Assemble (a split layer's blocks)"}
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


def lava_shape(shape) -> tuple[int, ...]:
    """NIR per-step shape -> Lava's: (C, H, W) -> (W, H, C); (C, N) -> (N, 1, C); (N,) -> (N,)."""
    shape = tuple(int(v) for v in shape)
    if len(shape) == 3:
        return (shape[2], shape[1], shape[0])
    if len(shape) == 2:
        return (shape[1], 1, shape[0])
    return shape


def to_lava(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Values of NIR shape ``shape`` in the trailing axes of ``x`` -> Lava layout."""
    if len(shape) == 3:
        return np.moveaxis(x, (-3, -2, -1), (-1, -2, -3))
    if len(shape) == 2:
        return np.swapaxes(x, -1, -2)[..., :, None, :]
    return x


def from_lava(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`to_lava` (trailing axes)."""
    if len(shape) == 3:
        return np.moveaxis(x, (-1, -2, -3), (-3, -2, -1))
    if len(shape) == 2:
        return np.swapaxes(x[..., :, 0, :], -1, -2)
    return x


_CHIP_PROCESS = {"conv": "conv", "lif": "lif", "sum": "relay", "gain": "relay", "concat": "concat",
                 "upsample": "upsample", "nilif": "nilif", "patch_to_time": "patch_to_time"}
# A sequence graph's kinds: synapses (pooling is a Conv of fixed weights), NIR's Delay, NIR's
# neurons; Flatten and Scale become no process (_Folds: a reshaped port, weights scaled).
_SEQUENCE_PROCESS = {"affine": "dense", "linear": "dense", "conv": "conv", "conv1d": "conv", "sumpool": "conv",
                     "avgpool": "conv", "delay": "delay", **{k: "lif" for k in pr.NIR_NEURON_KINDS}}
_SEQUENCE_SYNAPSES = (nir.Affine, nir.Linear, nir.Conv1d, nir.Conv2d, nir.SumPool2d, nir.AvgPool2d)


class _Folds:
    """Where each node of a sequence graph is on Lava, and what folds into its synapses.

    NIR's Scale and the neurons' gains multiply synapse weights (``row_scale``, NIR layout of
    the synapse's output); a synapse's bias is part of the input of the neuron it feeds
    (``bias_in``); a Flatten is its source's port reshaped. ``port[node]``: the Lava node a
    node's values come out of and the reshape of that port.
    """

    def __init__(self, g: DeployGraph):
        self.g = g
        self.port: dict[str, tuple[str, tuple[int, ...] | None]] = {}
        self.syn_of: dict[str, str] = {}  # a synapse-like node -> the synapse process it folds into
        self.bias_in: dict[str, np.ndarray] = {}  # synapse process -> its bias (NIR layout of its output)
        self.row_scale: dict[str, np.ndarray | float] = {}

    def flatten(self, name: str) -> None:
        g = self.g
        ps = g.predecessors(name)
        if len(ps) != 1 or not all(isinstance(g.node(d), (nir.Affine, nir.Linear)) for d in g.successors(name)):
            raise LoweringError(f"flatten '{name}': on Lava a Flatten must feed Affine/Linear layers only "
                                "(it becomes their reshaped input port)")
        self.port[name] = (self.port[ps[0]][0], (int(np.prod(g.shape(name))),))

    def scale(self, name: str) -> None:
        g = self.g
        ps = g.predecessors(name)
        src = self.syn_of.get(ps[0]) if len(ps) == 1 else None
        if src is None or len(g.successors(ps[0])) != 1:
            raise LoweringError(f"scale '{name}': on Lava a Scale folds into the one synapse before it; "
                                f"'{ps[0]}' is not such a synapse")
        s = np.broadcast_to(np.asarray(g.node(name).scale, dtype=np.float64), g.shape(name))
        self.row_scale[src] = self.row_scale.get(src, 1.0) * s
        self.bias_in[src] = self.bias_in.get(src, 0.0) * s
        self.port[name], self.syn_of[name] = self.port[ps[0]], src

    def synapse(self, name: str, nodes: dict[str, LavaNode]) -> LavaNode:
        g = self.g
        ps = g.predecessors(name)
        if len(ps) != 1:
            raise LoweringError(f"node '{name}' sums {len(ps)} inputs; on Lava a synapse takes one (sum after it)")
        if np.any(np.asarray(self.bias_in.get(self.syn_of.get(ps[0], ""), 0.0)) != 0):
            raise LoweringError(f"node '{name}' follows '{ps[0]}', whose bias would have to pass through it; on "
                                "Lava a synapse's bias moves into the neuron it feeds directly")
        node = g.node(name)
        reshape = self.port[ps[0]][1]
        kind = "dense" if isinstance(node, (nir.Affine, nir.Linear)) else "conv"
        lava = LavaNode(name, kind, lava_shape(g.shape(name)), latency=int(g.info.latency[name]))
        bias = _sequence_synapse_params(name, node, g.shape(ps[0]), g.shape(name), lava, reshape,
                                        g.node(ps[0]) if reshape is not None else None)
        self.bias_in[name] = bias
        self.port[name], self.syn_of[name] = (name, None), name
        return lava

    def delay(self, name: str, nodes: dict[str, LavaNode]) -> LavaNode | None:
        g = self.g
        ps = g.predecessors(name)
        if len(ps) != 1:
            raise LoweringError(f"node '{name}' sums {len(ps)} inputs; on Lava a synapse takes one (sum after it)")
        steps = np.unique(pr.delay_steps(name, g.node(name), g.info.dt_s))
        if steps.size != 1:
            raise LoweringError(f"delay '{name}': delays differ across neurons; Lava's DelayLine takes one")
        src, reshape = self.port[ps[0]]
        if reshape is not None:
            raise LoweringError(f"delay '{name}' after a Flatten is not mapped; delay before the Flatten")
        if ps[0] in self.syn_of:  # a delayed synaptic output: the neuron after it still folds into the synapse
            self.syn_of[name] = self.syn_of[ps[0]]
        if int(steps[0]) == 0:
            self.port[name] = self.port[ps[0]]
            return None
        # a NIR Delay is logical time, not pipeline latency: its output for logical step t leaves at
        # the same Lava step as its input's for t (which is the input of t - delay)
        self.port[name] = (name, None)
        return LavaNode(name, "delay", nodes[src].shape, {"delay": int(steps[0])}, latency=int(g.info.latency[name]))

    def neuron(self, name: str, nodes: dict[str, LavaNode]) -> LavaNode:
        """A NIR neuron: every input a synapse whose weights take the neuron form pass's gain."""
        g = self.g
        form, gain = g.info.neuron_form[name], g.arrays[name]["gain"]
        shape = g.shape(name)
        const = np.asarray(g.arrays[name]["const"], dtype=np.float64).copy()
        for p in g.predecessors(name):
            syn = self.syn_of.get(p)
            if syn is None or syn not in nodes or nodes[syn].kind not in ("dense", "conv"):
                raise LoweringError(f"neuron '{name}' is fed by '{p}' ({type(g.node(p)).__name__}) without a "
                                    "synapse; on Lava every neuron input comes through Affine/Linear/Conv/pooling")
            if len(g.successors(p)) != 1 or len(g.successors(syn)) != 1:
                raise LoweringError(f"'{p}' feeds several nodes; on Lava its weights can take only one neuron's gain")
            self.row_scale[syn] = self.row_scale.get(syn, 1.0) * gain
            const = const + gain * np.broadcast_to(self.bias_in.get(syn, 0.0), shape)
        if not form["spiking"] and any(g.kind(d) != "output" for d in g.successors(name)):
            raise LoweringError(f"neuron '{name}' ({type(g.node(name)).__name__}) does not spike; on Lava it may "
                                "feed only the Output (its state is read by a Monitor)")
        lava_sh = lava_shape(shape)
        self.port[name] = (name, None)
        return LavaNode(name, "lif", lava_sh, {
            "du": form["du"], "dv": form["dv"], "vth": form["vth"], "rules": g.info.rules(name),
            "spiking": form["spiking"], "nir_shape": tuple(int(v) for v in shape), "bias": np.zeros(lava_sh),
            "const": to_lava(np.broadcast_to(const, shape), shape)}, latency=int(g.info.latency[name]))

    def finish(self, nodes: dict[str, LavaNode]) -> None:
        """The synapses' final weights (Lava layout), every gain and Scale applied."""
        for name, node in nodes.items():
            if node.kind in ("dense", "conv") and "nir_weight" in node.params:
                node.params["weight"] = _scaled_weights(node, self.row_scale.get(name, 1.0))
                del node.params["nir_weight"]


def _sequence_synapse_params(name: str, node, in_shape, out_shape, lava: LavaNode, reshape, flat_src_node
                             ) -> np.ndarray:
    """A sequence graph's synapse in Lava's terms (weights in NIR layout until :meth:`_Folds.finish`);
    returns its bias (NIR layout of its output), which moves into the neuron it feeds."""
    lava.params["message_bits"] = GRADED_MESSAGE_BITS  # real values: sources, pooled sums, delayed spikes
    if isinstance(node, (nir.Affine, nir.Linear)):
        weight = np.asarray(node.weight, dtype=np.float64)
        if reshape is not None:
            flat_src = tuple(int(v) for v in flat_src_node.input_type["input"])
            if len(flat_src) > 1:
                # the Lava port is the flattened Lava layout of the Flatten's input: permute the columns
                idx = to_lava(np.arange(int(np.prod(flat_src))).reshape(flat_src), flat_src).reshape(-1)
                weight = weight[:, idx]
        lava.params["nir_weight"] = weight
        return np.asarray(getattr(node, "bias", 0.0), dtype=np.float64)
    c_in = in_shape[0]
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        p = pr.pool_params(name, node)
        kh, kw = p["kernel"]
        value = 1.0 if isinstance(node, nir.SumPool2d) else 1.0 / (kh * kw)
        weight = np.full((c_in, 1, kh, kw), value)
        conv = {"stride": p["stride"], "padding": p["padding"], "dilation": (1, 1), "groups": c_in,
                "bias": np.zeros(c_in)}
    else:
        conv = pr.conv_params(name, node, in_shape)
        weight = conv.pop("weight")
        if weight.ndim == 3:  # Conv1d over (C, N) as Conv2d over (C, 1, N)
            weight = weight[:, :, None, :]
            conv.update(stride=(1, conv["stride"][0]), padding=(0, conv["padding"][0]),
                        dilation=(1, conv["dilation"][0]))
            in_shape = (in_shape[0], 1, in_shape[1])
    xy = lambda v: (int(v[1]), int(v[0]))  # noqa: E731 -- (H, W) -> Lava (X, Y)
    lava.params.update(nir_weight=weight, input_shape=lava_shape(in_shape), stride=xy(conv["stride"]),
                       padding=xy(conv["padding"]), dilation=xy(conv["dilation"]), groups=int(conv["groups"]))
    return np.asarray(conv["bias"], dtype=np.float64).reshape(-1, *([1] * (len(out_shape) - 1)))  # per channel


def _scaled_weights(node: LavaNode, scale) -> np.ndarray:
    """A sequence synapse's weights in Lava's layout, ``scale`` (NIR layout of its output: the neurons'
    gains and any Scale) applied; a Conv's kernel flipped (Lava convolves, torch correlates)."""
    weight = node.params["nir_weight"]
    scale = np.asarray(scale, dtype=np.float64)
    if node.kind == "dense":
        return weight * np.broadcast_to(scale, (weight.shape[0],))[:, None]
    c_out = weight.shape[0]
    per_out = np.broadcast_to(scale, (c_out, *scale.shape[1:])) if scale.ndim else np.full((c_out,), float(scale))
    per_ch = per_out.reshape(c_out, -1)
    if not np.all(per_ch == per_ch[:, :1]):
        raise LoweringError(f"conv '{node.name}': its neurons' gains vary within a channel; Lava's Conv has one "
                            "weight set per output channel")
    weight = weight * per_ch[:, 0][:, None, None, None]
    return np.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(0, 3, 2, 1))


def _only_output(g: DeployGraph, members: list[str]) -> bool:
    """A host island holding only a sequence graph's Output: no process (the executor reads the layer it reads)."""
    return g.info.takes_sequences and all(isinstance(g.node(n), nir.Output) for n in members)


def to_lava_layout(g: DeployGraph, folds: "_Folds | None" = None) -> dict[str, LavaNode]:
    """One LavaNode per process of the Lava run, arrays in Lava's layout (see module docstring)."""
    from neurodeploy.passes.latency import is_source_island, island_steps, streams
    from neurodeploy.passes.partition import island_io

    folds = folds if folds is not None else _Folds(g)
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
                    nodes[name] = LavaNode(name, "input", lava_shape(g.shape(name)), latency=0,
                                           params={"nir_shape": tuple(g.shape(name))} if g.info.takes_sequences
                                           else {})
                    folds.port[name] = (name, None)
                continue
            if island in done_islands or _only_output(g, members):
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
        if g.info.takes_sequences:
            kind = g.kind(name)
            if kind == "flatten":
                folds.flatten(name)
            elif kind == "scale":
                folds.scale(name)
            elif _SEQUENCE_PROCESS.get(kind) == "delay":
                node = folds.delay(name, nodes)
                if node is not None:
                    nodes[name] = node
            elif _SEQUENCE_PROCESS.get(kind) == "lif":
                nodes[name] = folds.neuron(name, nodes)
            elif isinstance(g.node(name), _SEQUENCE_SYNAPSES):
                nodes[name] = folds.synapse(name, nodes)
            else:
                raise LoweringError(f"chip node '{name}' ({kind}) has no Lava process yet")
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
    folds.finish(nodes)
    return nodes


def lava_edges(g: DeployGraph, nodes: dict[str, LavaNode], folds: "_Folds | None" = None) -> list[LavaEdge]:
    """The edges between processes (ports chosen, duplicates merged), with the delay lines
    the latency pass asks for (a sequence graph's through its Flatten and Scale nodes)."""
    port = folds.port if folds is not None else {}

    def source(n: str) -> tuple[str, int, tuple[int, ...] | None] | None:
        if n in port:
            return port[n][0], 0, port[n][1]
        island = g.info.island.get(n)
        if island in nodes:
            return island, nodes[island].params["outputs"].index(n), None
        if f"{n}+bias" in nodes:
            return f"{n}+bias", 0, None
        return (n, 0, None) if n in nodes else None

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
        if src is None or dst is None or (src[:2], dst) in seen:
            continue
        seen.add((src[:2], dst))
        edges.append(LavaEdge(src[0], dst[0], g.edge_kind(s, d), int(g.info.delays.get(f"{s}->{d}", 0)),
                              src_port=src[1], dst_port=dst[1], reshape=src[2]))
    # the conv's own edge into its bias relay
    for name, node in nodes.items():
        if name.endswith("+bias"):
            edges.append(LavaEdge(name[:-len("+bias")], name, "real"))
    return edges


def _sequence_ends(g: DeployGraph, nodes: dict[str, LavaNode]) -> tuple[list[str], str, int]:
    """A sequence graph's recorded layers, the layer its Output reads and the Lava steps between samples."""
    inputs = [n for n in g.order if g.kind(n) == "input"]
    outputs = [n for n in g.order if g.kind(n) == "output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise LoweringError(f"the graph has {len(inputs)} Input and {len(outputs)} Output nodes; the Lava mapping "
                            "takes one of each")
    layers = [n for n, node in nodes.items() if node.kind == "lif"]
    out_src = g.predecessors(outputs[0])
    if len(out_src) != 1 or out_src[0] not in layers:
        raise LoweringError(f"the Output reads {out_src}; on Lava it must read one neuron layer")
    # what a sample still holds in flight after its last input step: the pipeline latency plus
    # every NIR Delay's steps (a balancing delay line's steps are latency, already counted)
    gap = max(node.latency for node in nodes.values()) + sum(
        node.params["delay"] for node in nodes.values() if node.kind == "delay")
    return layers, out_src[0], gap


def lower_graph(g: DeployGraph, balance: bool = True) -> LoweredNetwork:
    """Lower a graph the passes have annotated (partition, neuron form, latency).

    Raises:
        LoweringError: one line naming the node Lava cannot express.
    """
    folds = _Folds(g)
    nodes = to_lava_layout(g, folds)
    edges = lava_edges(g, nodes, folds)
    if not g.info.takes_sequences:
        return LoweredNetwork(t_steps=g.t_steps, nodes=nodes, edges=edges, balanced=balance)
    layers, output_layer, gap = _sequence_ends(g, nodes)
    return LoweredNetwork(t_steps=g.t_steps, nodes=nodes, edges=edges, balanced=balance, sample_gap=gap,
                          layers=layers, output_layer=output_layer)


def lower(graph: "nir.NIRGraph | DeployGraph", info: GraphInfo | None = None, balance: bool = True) -> LoweredNetwork:
    """Run the passes the lowering needs on a copy of the annotations, then lower.

    ``graph``: a NIR graph with its ``info``, or a DeployGraph (a ``.nir`` file read by
    :func:`neurodeploy.ir.read_deploy_graph`). ``balance=False`` skips delay balancing (tests
    show the verifier catches it).
    """
    from neurodeploy.passes import lowering_flow, run_passes

    if info is None:
        src = as_deploy_graph(graph)
        g = DeployGraph(src.nir, copy.deepcopy(src.info), {n: dict(a) for n, a in src.arrays.items()},
                        list(src.order))
    else:
        g = DeployGraph(graph, copy.deepcopy(info))
    run_passes(g, lowering_flow(balance))
    return lower_graph(g, balance)
