"""Lower an annotated deployment graph to a Lava-ready network description (pure data; no lava import).

Every decision is made before this module runs, by the passes
(:mod:`neurodeploy.passes`): which nodes run on the chip (partition), the neuron form
(``du``, ``dv``, ``vth``, input gains, biases moved out of synapses) and the latencies and
delay lines (latency). The lowering only:

1. picks each node's Lava process from its kind and side: chip convs -> ``Conv`` (and,
   when a conv's output must carry its bias, a ``relay`` after it), chip LIFs ->
   ``LIFReset``, sums and gains -> ``relay``, concatenation -> ``concat`` (routing), fixed
   interpolation -> ``upsample``, a product of two activations (residency ``products``) ->
   ``product`` (a product neuron, one input port per operand); the island holding the graph's input and the encoder ->
   ``RingBuffer`` sources; every other host island -> one ``island`` process that runs the
   island's ONNX file inside the Lava run (:mod:`.processes.functions`);
2. re-lays arrays in Lava's layout: shapes ``(C, H, W)`` -> ``(X, Y, C)`` = ``(W, H, C)``;
   conv kernels times their synapse gain, flipped (Lava's Conv computes a true
   convolution, PyTorch a cross-correlation) and permuted to ``(C_out, kx, ky, C_in)``;
   per-channel biases broadcast over ``(X, Y, C)``;
3. takes the neuron form pass's ``vth_float`` (the model's ``>=`` as Lava float's ``v > vth``:
   one float64 ulp lower) and its bias decisions (a relay where a conv's output keeps its bias).

A graph read from another writer's file (a *sequence graph*, ``GraphInfo.takes_sequences``)
goes through the same loop; :func:`_sequence_node` re-lays what the synapse form pass decided
(:mod:`neurodeploy.passes.synapse_form`: Scale and the neurons' gains folded into the synapse
weights, a synapse's bias in the constant input of the neuron it feeds): a Flatten as a
reshaped port with the Dense columns permuted, pooling as a fixed-weight Conv, NIR's Delay as
a delay line process. Its input is a ``RingBuffer`` of the sequence, its Output no process (the executor reads the layer the Output reads), and samples are ``T + sample_gap``
Lava steps apart (:attr:`LoweredNetwork.sample_gap`: a NIR Delay holds logical time, so a
sample must be out of the delay lines before the next one starts).

**Neurons of a sequence graph -> Lava's ``LIF``** (the table is the neuron form pass's,
:func:`neurodeploy.passes.neuron_form.nir_neuron_form`): Lava's state is the shifted membrane
``v' = v - v_reset``, so that Lava's reset to 0 is NIR's reset to ``v_reset``; ``g`` (the
pass's ``gain``) is folded into the incoming synapses' weights and ``c`` (the pass's ``const``
plus ``g`` times the synapses' biases, the pass's ``input_const``) enters ``a_in`` from a constant source on the sample's
T logical steps (Lava's ``bias`` would integrate from Lava step 0, before the layer's first
input arrives, and between samples). A writer's rules (``>=``, subtractive or late reset,
:mod:`neurodeploy.ir.rules`) make the neuron the project's ``RuleLIF``. Non-spiking neurons
(I, LI, CubaLI) may feed only the Output: their ``v`` is read by a ``Monitor``.

Units: weights, biases, thresholds and membrane values stay in the model's float units
(this is the float lowering; quantization to Loihi integers comes later).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import nir
import numpy as np

from neurodeploy.errors import LoweringError
from neurodeploy.ir import DeployGraph, GraphInfo, as_deploy_graph
from neurodeploy.ir import primitives as pr
from neurodeploy.ir import nodes as nd
from neurodeploy.limits import LOIHI2
from neurodeploy.passes import synapse_form as sf


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
    # a recurrent loop's delayed edge (neuron -> its recurrent synapse, ir.order): the neuron's latency, so
    # that the network mutes the loop on the step before each sample (processes.LoopGate); None: no gate
    gate: int | None = None


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
            "recurrent": [{"src": e.src, "dst": e.dst} for e in self.edges if e.gate is not None],
            "lava_steps_per_image": self.steps_for(1),
            "processes": {n.name: PROCESS_NAMES.get(n.kind, n.kind) for n in self.nodes.values()},
            "graded_message_bits": GRADED_MESSAGE_BITS,
        }


PROCESS_NAMES = {"input": "RingBuffer (source)", "conv": "Conv", "lif": "LIFReset", "relay": "Relay",
                 "concat": "Concat", "upsample": "Upsample", "island": "HostIsland (onnxruntime)",
                 "nilif": "NILIF", "patch_to_time": "PatchToTime", "slice": "Slice (a block's input window)",
                 "assemble": "Assemble (a split layer's blocks)", "dense": "Dense", "delay": "DelayLine",
                 "sigma_delta": "SigmaDelta", "product": "Product (a product neuron: two graded inputs multiplied)",
                 "max": "Max (a tree of graded ReLU neurons)", "relu": "ReLU (a graded ReLU neuron)",
                 "readout": "Readout (the mean over T, read once per image)"}
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
                 "upsample": "upsample", "nilif": "nilif", "patch_to_time": "patch_to_time", "product": "product",
                 "max": "max", "relu": "relu", "decode_mean": "readout", "encode": "readout"}


def flatten_columns(in_shape) -> np.ndarray | None:
    """The columns of a Dense after a NIR Flatten of ``in_shape``, in the order of its Lava input
    port (the Flatten's input flattened in Lava's layout); None when the orders agree (1-D)."""
    in_shape = tuple(int(v) for v in in_shape)
    if len(in_shape) <= 1:
        return None
    return to_lava(np.arange(int(np.prod(in_shape))).reshape(in_shape), in_shape).reshape(-1)


def lava_weights(kind: str, weight: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
    """Weights in NIR layout (floats, or integer mantissas: the re-laying is the same) -> Lava's.

    ``dense``: ``(out, in)``, the columns permuted to the Lava port's order (``columns``:
    :func:`flatten_columns`); ``conv``: ``(C_out, C_in/g, kh, kw)`` -> ``(C_out, kx, ky, C_in/g)``,
    the kernel flipped (Lava's Conv convolves where torch and NIR correlate)."""
    weight = np.asarray(weight)
    if kind == "dense":
        return weight if columns is None else np.ascontiguousarray(weight[:, columns])
    return np.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(0, 3, 2, 1))


def _sequence_node(g: DeployGraph, name: str) -> LavaNode | None:
    """A sequence graph's node as a Lava process, from the passes' decisions (the synapse form's
    folded weights and constant inputs, the neuron form, the latency); None for a node that is
    no process of its own (Flatten, Scale, a 0-step Delay: :func:`~neurodeploy.passes.synapse_form.port`)."""
    if sf.port(g, name) != name:
        return None
    node, latency = g.node(name), int(g.info.latency[name])
    if isinstance(node, nir.Delay):
        # a NIR Delay is logical time, not pipeline latency: its output for logical step t leaves at
        # the same Lava step as its input's for t (which is the input of t - delay)
        src = sf.input_port(g, name)
        return LavaNode(name, "delay", lava_shape(g.shape(src)), {"delay": sf.delay_steps(g, name)}, latency=latency)
    if g.kind(name) == "sigma_delta":  # Lava's SigmaDelta (graded messages); float: message units, input gain folded
        form, shape = g.info.neuron_form[name], g.shape(name)
        return LavaNode(name, "sigma_delta", lava_shape(shape), {
            "vth": float(form["vth"]), "state_exp": int(form["state_exp"]), "spiking": True,
            "nir_shape": tuple(int(v) for v in shape)}, latency=latency)
    if g.kind(name) in pr.NIR_NEURON_KINDS:
        form, shape = g.info.neuron_form[name], g.shape(name)
        lava_sh = lava_shape(shape)
        rules = g.info.rules(name)
        return LavaNode(name, "lif", lava_sh, {
            "du": form["du"], "dv": form["dv"], "vth": form["vth"], "rules": rules,
            "spiking": form["spiking"], "nir_shape": tuple(int(v) for v in shape),
            "bias": to_lava(g.arrays[name].get("v_bias", np.zeros(shape)), shape),
            "const": to_lava(g.arrays[name]["input_const"], shape), "v_min": lava_v_min(g, name, rules)},
            latency=latency)
    if not isinstance(node, sf.SYNAPSES):
        raise LoweringError(f"chip node '{name}' ({g.kind(name)}) has no Lava process yet")
    weight = g.arrays[name]["weight"]
    # real values: sources, pooled sums, delayed spikes
    params: dict[str, Any] = {"message_bits": GRADED_MESSAGE_BITS}
    if isinstance(node, sf.DENSE):
        flat = sf.flattened(g, name)
        columns = None if flat is None else flatten_columns(g.shape(g.predecessors(flat)[0]))
        params.update(weight=lava_weights("dense", weight, columns), columns=columns)
        return LavaNode(name, "dense", lava_shape(g.shape(name)), params, latency=latency)
    geo = sf.conv_geometry(name, node, g.shape(g.predecessors(name)[0]))
    xy = lambda v: (int(v[1]), int(v[0]))  # noqa: E731 -- (H, W) -> Lava (X, Y)
    params.update(weight=lava_weights("conv", weight), input_shape=lava_shape(geo["input_shape"]),
                  stride=xy(geo["stride"]), padding=xy(geo["padding"]), dilation=xy(geo["dilation"]),
                  groups=int(geo["groups"]))
    return LavaNode(name, "conv", lava_shape(g.shape(name)), params, latency=latency)


def lava_v_min(g: DeployGraph, name: str, rules) -> float | None:
    """A neuron's lower clamp of ``v`` (:mod:`neurodeploy.ir.rules`) in Lava's shifted state ``v - v_reset``
    (model units); None: no clamp.

    Raises:
        LoweringError: the layer's ``v_reset`` varies, so no one clamp holds it (Loihi: one per layer).
    """
    if rules.v_min is None:
        return None
    v_reset = np.asarray(g.arrays[name].get("v_reset", 0.0), dtype=np.float64)
    if v_reset.size and not np.all(v_reset == v_reset.flat[0]):
        raise LoweringError(f"neuron '{name}': its v clamp (v_min) needs one v_reset per layer; pass --rule "
                            "min-v-mem=off")
    return float(rules.v_min) - (float(v_reset.flat[0]) if v_reset.size else 0.0)


def _only_output(g: DeployGraph, members: list[str]) -> bool:
    """A host island holding only a sequence graph's Output: no process (the executor reads the layer it reads)."""
    return g.info.takes_sequences and all(isinstance(g.node(n), nir.Output) for n in members)


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
                    nodes[name] = LavaNode(name, "input", lava_shape(g.shape(name)), latency=0,
                                           params={"nir_shape": tuple(g.shape(name))} if g.info.takes_sequences
                                           else {})
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
            node = _sequence_node(g, name)
            if node is not None:
                nodes[name] = node
            continue
        kind = _CHIP_PROCESS.get(g.kind(name))
        if kind is None:
            raise LoweringError(f"chip node '{name}' ({g.kind(name)}) has no Lava process yet")
        node = LavaNode(name, kind, _xyc(g.shape(name)), latency=int(g.info.latency.get(name, 0)))
        nir_node = g.node(name)
        if kind == "conv":
            weight = np.asarray(nir_node.weight, dtype=np.float64) * g.info.synapse_gain.get(name, 1.0)
            node.params.update(
                weight=lava_weights("conv", weight),
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
        elif kind in ("concat", "product"):  # operands in order, one port each
            node.in_shapes = [_xyc(g.shape(n)) for n in nir_node.inputs]
        elif kind == "max":
            node.in_shapes = [_xyc(g.shape(g.predecessors(name)[0]))]
            node.params.update(over=str(nir_node.over))
        elif kind == "readout":  # the decoder (weights per step; the host reads it after the last step) or a hold
            node.params.update(weights=nd.readout_weights(nir_node, g.t_steps))
        elif kind == "upsample":
            node.in_shapes = [_xyc(g.shape(g.predecessors(name)[0]))]
            node.params.update(scale=int(nir_node.scale_factor), mode=str(nir_node.mode),
                               align_corners=bool(nir_node.align_corners))
        nodes[name] = node
    return nodes


def lava_edges(g: DeployGraph, nodes: dict[str, LavaNode]) -> list[LavaEdge]:
    """The edges between processes (ports chosen, duplicates merged), with the delay lines
    the latency pass asks for (a sequence graph's through its Flatten, Scale and 0-step Delay
    nodes: :func:`~neurodeploy.passes.synapse_form.port`)."""
    def source(n: str) -> tuple[str, int, tuple[int, ...] | None] | None:
        if g.info.takes_sequences and g.kind(n) != "output":
            reshape = (int(np.prod(g.shape(n))),) if sf.reshaped(g, n) else None
            n = sf.port(g, n)
            return (n, 0, reshape) if n in nodes else None
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
        if d in nodes and nodes[d].kind in ("concat", "product"):
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
        gate = int(g.info.latency[s]) if (s, d) in g.loops.delayed else None
        edges.append(LavaEdge(src[0], dst[0], g.edge_kind(s, d), int(g.info.delays.get(f"{s}->{d}", 0)),
                              src_port=src[1], dst_port=dst[1], reshape=src[2], gate=gate))
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
    layers = [n for n, node in nodes.items() if node.kind in ("lif", "sigma_delta")]
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
    nodes = to_lava_layout(g)
    edges = lava_edges(g, nodes)
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
    from neurodeploy.passes import annotated

    g = as_deploy_graph(graph) if info is None else DeployGraph(graph, info)
    return lower_graph(annotated(g, balance), balance)
