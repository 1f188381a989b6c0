"""lava-dl netx HDF5 networks (``slayer``'s ``export_hdf5``, read by ``lava.lib.dl.netx.hdf5.Network``)
as the sequence graph a ``.nir`` file becomes.

A netx file is a list of layers (``layer/0``, ``layer/1`` ...), each a synapse and a neuron block
holding Loihi integers already: 8-bit weights (even numbers in [-256, 254] as SLAYER's quantizer
writes them), and per layer the CUBA neuron's ``iDecay``, ``vDecay`` (12-bit decays, 4096 = 1)
and ``vThMant`` (the threshold mantissa, compared as ``v > vThMant << 6``). netx 0.6 builds from
them, per layer (``hdf5.Network.get_neuron_params``): a Lava ``Dense`` (or ``Conv``, kernel
flipped to Lava's XY layout) and a Lava ``LIF`` with ``du = iDecay - 1`` (Lava adds 1 back),
``dv = vDecay``, ``vth = vThMant``, ``bias_mant`` = the file's ``bias`` and ``bias_exp = 6``.

This reader makes the same network a NIR graph of the pipeline's sequence kind (nothing after it
knows the file was netx): ``Input`` (the input layer's shape, or the first dense layer's fan-in)
→ per layer a ``Linear`` or ``Conv2d`` with the file's integer weights → a ``CubaLIF`` → ...
→ ``Output``; a ``dense_rec`` layer (netx's ``RecurrentDense``) adds a second ``Linear`` with its
``weight_rec`` from the neuron back to its input (``layerI.dense_rec``: a recurrent loop, whose
neuron feeds it the previous step's spikes, as the Lava ``Dense`` netx builds delays them one step,
:mod:`neurodeploy.ir.order`); a ``flatten`` layer is a ``Flatten`` (C, H, W order, as netx transposes Lava's
(X, Y, C) before flattening); a dense layer's synaptic delays (slayer's ``delay=True``: one per output
neuron; netx's ``DelayDense``) become one ``Linear`` per delay value, each but the delay-0 one behind a
NIR ``Delay`` of that many steps, summed at the neuron. The ``CubaLIF``'s float parameters are the integer neuron's exact
float equivalent in input-LSB units, at the nominal :data:`NETX_DT_S` per step (a netx file has no
time step): ``tau_syn = dt · 4096 / iDecay``, ``tau_mem = dt · 4096 / vDecay``, ``w_in = 4096 /
iDecay``, ``r = 4096 / vDecay`` (so the current takes each input whole and the membrane each
current whole, as Lava's LIF), ``v_threshold = vThMant``, ``v_reset = 0`` and ``v_leak = bias · 4096 /
vDecay`` (netx's ``bias_mant << 6`` on ``v`` each step is ``bias`` input LSBs: NIR's ``dv · v_leak``). The file's
integers ride on the nodes' metadata (:data:`NETX_KEY`) and become the bundle's quantized
parameters as they are (:func:`neurodeploy.quantize.netx.netx_integers`): the bundle is integer
from the start.

An SDNN (sigma-delta) layer becomes :class:`neurodeploy.ir.nodes.SigmaDelta` in message units:
netx builds Lava's ``SigmaDelta(vth=vThMant, spike_exp=6, state_exp=6)`` with ReLU, which compares
``sigma`` (input units) with ``vThMant << 12`` and sends ``s >> 6``; in message units that is
``vth = vThMant << 6`` on an input divided by ``2**6``. Its messages carry 12 fraction bits
(``spike_exp + state_exp``): a SLAYER-trained net takes its input as such payloads.

Refused in one line naming the layer and the type (:class:`~neurodeploy.errors.GraphError`):
layer types netx 0.6 does not load either (pool, convT, unpool, average, concat), complex dense
layers, neuron types other than CUBA and SDNN (RF, RF-IZ ...), an SDNN activation
other than ReLU (netx runs ReLU whatever the file says), sigma output layers, graded CUBA spikes,
SDNN biases, synaptic delays on conv layers (netx builds ``DelayDense`` for dense layers only), a dense
layer without neuron dynamics, a decay of 0 (no NIR
CubaLIF form), and a conv network with no input layer (netx cannot infer its input shape either).
An input layer with a neuron is read as the input's shape (netx feeds that neuron only through its
bias: its input port is not connected; netx's ``skip_layers=1`` reads the file the same way).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import nir
import numpy as np

from neurodeploy.errors import GraphError
from neurodeploy.ir import nodes as nd

NETX_DT_S = 1e-3  # seconds per step the float equivalent is written at (netx files store none)
NETX_KEY = "neurodeploy.netx"  # node metadata: the netx layer and its integers (graph metadata: the file's facts)
WRITER = "netx"
DECAY_UNIT = 4096  # Loihi's 12-bit decays: 4096 is a decay of 1 (everything lost per step)
# layer types netx 0.6's Network raises NotImplementedError for, or that neurodeploy does not read yet
NOT_LOADED_BY_NETX = ("pool", "convT", "unpool", "average", "concat")
NEURON_TYPES = ("CUBA", "LOIHI")  # netx reads both as Lava's LIF
SDNN_SPIKE_EXP = SDNN_STATE_EXP = 6  # netx 0.6's hdf5.Network defaults (spike_exp=6; state_exp=6 fixed)
SDNN_MESSAGE_BITS = 16  # netx's default for SDNN layers without messageBits

Warn = Callable[[str], None]


def _where(layer: dict) -> str:
    return f"netx layer {layer['index']} ({layer.get('type', '?')})"


def _int_array(layer: dict, key: str) -> np.ndarray:
    """A weight array as the integers netx uses (``astype(int)``, as ``NetDict`` copies them); a
    fraction is refused (netx would truncate it silently)."""
    raw = np.asarray(layer[key], dtype=np.float64)
    if not np.all(np.isfinite(raw)) or np.any(raw != np.round(raw)):
        raise GraphError(f"{_where(layer)}: '{key}' holds non-integer values; netx takes Loihi integers "
                         "(export with slayer's quantized weights)")
    return raw.astype(np.int64)


def _pair(layer: dict, key: str, default: int) -> tuple[int, int]:
    """A conv parameter as (H, W): slayer writes ``synapse.stride[:-1]`` (H, W) or a scalar."""
    if key not in layer:
        return default, default
    v = np.asarray(layer[key]).reshape(-1)
    if v.size == 1:
        return int(v[0]), int(v[0])
    if v.size != 2:
        raise GraphError(f"{_where(layer)}: '{key}' {v.tolist()} is not one or two numbers")
    return int(v[0]), int(v[1])


def _neuron(layer: dict) -> dict[str, int]:
    """The CUBA neuron's integers; anything else refused by name."""
    keys = {k.split("/", 1)[1]: v for k, v in layer.items() if k.startswith("neuron/")}
    if not keys:
        raise GraphError(f"{_where(layer)} has no neuron (slayer's dynamics=False: netx gives it a non-leaky "
                         "integrator with du = -1, which neurodeploy does not read); export the layer with its neuron")
    kind = str(keys.get("type", "?"))
    if kind == "SDNN":
        return _sdnn(layer, keys)
    if kind not in NEURON_TYPES:
        what = "resonate-and-fire" if "RF" in kind else "unknown"
        raise GraphError(f"{_where(layer)} has neuron type '{kind}' ({what}), which neurodeploy does not read yet; "
                         f"it reads {', '.join(NEURON_TYPES)} and SDNN neurons")
    if bool(keys.get("gradedSpike", False)) or int(keys.get("messageBits", 0) or 0) > 0:
        raise GraphError(f"{_where(layer)}: graded CUBA spikes (gradedSpike/messageBits) are not read yet; export "
                         "binary spikes")
    out = {}
    for key in ("iDecay", "vDecay", "vThMant"):
        if key not in keys:
            raise GraphError(f"{_where(layer)}: its CUBA neuron has no '{key}'; re-export with export_hdf5")
        out[key] = int(np.asarray(keys[key]).reshape(-1)[0])
    for key in ("iDecay", "vDecay"):
        if not 0 < out[key] <= DECAY_UNIT:
            raise GraphError(f"{_where(layer)}: {key} = {out[key]} is outside 1..{DECAY_UNIT}; a decay of 0 (a "
                             "current or voltage that never decays) has no NIR CubaLIF form")
    if out["vThMant"] < 0:
        raise GraphError(f"{_where(layer)}: vThMant = {out['vThMant']} is negative")
    out["refDelay"] = int(np.asarray(keys.get("refDelay", 1)).reshape(-1)[0])
    # a threshold beyond Loihi's 17 bits never fires (v saturates at 2**23 - 1 < vThMant << 6): slayer's
    # Affine readout writes (1 << 18) - 1 so; it is a state layer (CubaLI), read by its v
    out["spiking"] = out["vThMant"] < (1 << 17)
    return {"neuron": "CUBA", **out}


def _sdnn(layer: dict, keys: dict) -> dict[str, Any]:
    """A sigma-delta neuron's integers, as netx 0.6 builds it (``SigmaDelta(vth=vThMant, spike_exp=6,
    state_exp=6)``, ReLU whatever the file says, 16 message bits unless ``messageBits``)."""
    if "sigma_output" in keys:
        raise GraphError(f"{_where(layer)}: a sigma output layer (netx's Sigma process) is not read yet; export the "
                         "last layer as a sigma-delta layer")
    act = str(keys.get("activation", "relu"))
    if act != "relu":
        raise GraphError(f"{_where(layer)}: SDNN activation '{act}' is not read; netx 0.6 runs every SDNN layer with "
                         "ReLU whatever the file says, so the trained network would not be the one deployed")
    if "vThMant" not in keys:
        raise GraphError(f"{_where(layer)}: its SDNN neuron has no 'vThMant'; re-export with export_hdf5")
    vth = int(np.asarray(keys["vThMant"]).reshape(-1)[0])
    if vth < 0:
        raise GraphError(f"{_where(layer)}: vThMant = {vth} is negative")
    bits = int(np.asarray(keys.get("messageBits", SDNN_MESSAGE_BITS)).reshape(-1)[0])
    return {"neuron": "SDNN", "vThMant": vth, "messageBits": bits, "spikeExp": SDNN_SPIKE_EXP,
            "stateExp": SDNN_STATE_EXP}


def _neuron_node(ints: dict[str, Any], shape: tuple[int, ...], dt: float) -> nir.NIRNode:
    if ints["neuron"] == "SDNN":
        # netx: threshold vThMant << (spike_exp + state_exp) on sigma in input units; messages sigma >> state_exp.
        # In message units (ir.nodes.SigmaDelta): vth = vThMant << spike_exp, input / 2**state_exp
        return nd.SigmaDelta(shape=np.array(shape, dtype=np.int64), vth=float(ints["vThMant"] << ints["spikeExp"]),
                             state_exp=int(ints["stateExp"]))
    return _cuba(ints, shape, dt)


def _cuba(ints: dict[str, int], shape: tuple[int, ...], dt: float) -> nir.NIRNode:
    """The exact float equivalent of netx's integer LIF (module docstring), in input-LSB units."""
    i_decay, v_decay = ints["iDecay"], ints["vDecay"]
    full = lambda v: np.full(shape, float(v))  # noqa: E731
    # a bias b on v every step (netx: bias_mant << 6, in v's 1/64 units: b input LSBs) is NIR's leak target
    # v_leak = b / dv: the Euler step adds dv * v_leak = b
    bias = ints.get("bias")
    v_leak = full(0.0) if bias is None else np.asarray(bias, dtype=np.float64) * DECAY_UNIT / v_decay
    if not ints["spiking"]:  # never fires: the state layer CubaLI, the same decays and gains
        return nir.CubaLI(tau_syn=full(dt * DECAY_UNIT / i_decay), tau_mem=full(dt * DECAY_UNIT / v_decay),
                          r=full(DECAY_UNIT / v_decay), v_leak=v_leak, w_in=full(DECAY_UNIT / i_decay))
    return nir.CubaLIF(tau_syn=full(dt * DECAY_UNIT / i_decay), tau_mem=full(dt * DECAY_UNIT / v_decay),
                       r=full(DECAY_UNIT / v_decay), v_leak=v_leak, v_threshold=full(ints["vThMant"]),
                       v_reset=full(0.0), w_in=full(DECAY_UNIT / i_decay))


def _bias(layer: dict, shape: tuple[int, ...]) -> np.ndarray:
    """The layer's bias in NIR layout ``shape``: netx gives Lava's LIF ``bias_mant`` = the file's integers per
    neuron, or per channel (the last axis of Lava's (X, Y, C): our first), with ``bias_exp = 6``."""
    bias = _int_array(layer, "bias").reshape(-1)
    n = int(np.prod(shape))
    if bias.size == n:
        return bias.reshape(shape) if len(shape) == 1 else np.transpose(bias.reshape(shape[::-1]), (2, 1, 0))
    if len(shape) == 3 and bias.size == shape[0]:
        return np.broadcast_to(bias.reshape(-1, 1, 1), shape).copy()
    raise GraphError(f"{_where(layer)}: bias of {bias.size} values fits neither its {n} neurons nor its channels")


def _shape(layer: dict) -> tuple[int, ...]:
    if "shape" not in layer:
        raise GraphError(f"{_where(layer)} has no 'shape'; re-export with export_hdf5")
    return tuple(int(v) for v in np.asarray(layer["shape"]).reshape(-1))


def _conv_out(in_shape, weight, stride, padding, dilation) -> tuple[int, int, int]:
    h, w = in_shape[1:]
    kh, kw = weight.shape[2:]
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    return int(weight.shape[0]), int(oh), int(ow)


def netx_graph(raw: dict, warn: Warn | None = None, dt_s: float = NETX_DT_S) -> nir.NIRGraph:
    """The NIR graph (not yet normalised) of a netx file's layers (:func:`neurodeploy.nir_hdf5.read_netx_hdf5`)."""
    layers = raw.get("layers") or []
    if not layers:
        raise GraphError("a netx file with no layers; re-export with export_hdf5")
    nodes: dict[str, nir.NIRNode] = {}
    edges: list[tuple[str, str]] = []
    shape: tuple[int, ...] | None = None
    prev = "input"
    skip = 0  # layers netx is told to skip (an input layer with a neuron: netx feeds that neuron only via its bias)
    pending_flatten: str | None = None
    for pos, layer in enumerate(layers):
        kind = str(layer.get("type", "?"))
        where = _where(layer)
        if kind == "input":
            if pos != 0:
                raise GraphError(f"{where} is not the first layer; netx reads an input layer first only")
            shape = _shape(layer)
            if any(k.startswith("neuron/") for k in layer):
                # netx's Input block does not connect its InPort to its neuron (input only through the bias):
                # the network's input is the layer after it, as netx's own skip_layers=1 reads it
                skip = 1
                if warn is not None:
                    warn(f"{where} has a neuron, which netx 0.6 feeds only through its bias (its input port is not "
                         "connected); read as the network's input shape, its neuron not run (netx: skip_layers=1)")
            continue
        if kind == "flatten":
            if shape is None:
                raise GraphError(f"{where} comes before any layer with a shape")
            name = f"layer{layer['index']}.flatten"
            nodes[name] = nir.Flatten(input_type={"input": np.array(shape, dtype=np.int64)}, start_dim=0, end_dim=-1)
            edges.append((prev, name))
            prev, shape, pending_flatten = name, (int(np.prod(shape)),), name
            continue
        if kind in NOT_LOADED_BY_NETX:
            raise GraphError(f"{where}: layer type '{kind}' is not read (netx 0.6's Network does not load it either); "
                             "neurodeploy reads input, dense, conv and flatten layers")
        if kind not in ("dense", "dense_rec", "conv"):
            raise GraphError(f"{where}: layer type '{kind}' is not a netx layer neurodeploy reads (input, dense, "
                             "dense_rec, conv, flatten)")
        ints = _neuron(layer)  # the neuron type first: a refusal names what the layer is
        if kind == "dense_rec" and ints["neuron"] != "CUBA":
            # netx 0.6 sizes the recurrent synapse's messages by the layer's input, not by its neurons' own graded
            # messages (blocks/process.py RecurrentDense): no one meaning to read
            raise GraphError(f"{where}: a dense_rec layer of {ints['neuron']} neurons is not read; neurodeploy reads "
                             "recurrent CUBA layers")
        if "weight/real" in layer or "weight/imag" in layer:
            raise GraphError(f"{where}: complex weights (dense_comp) are not read; neurodeploy reads real weights")
        if "weight" not in layer:
            raise GraphError(f"{where} has no 'weight'; re-export with export_hdf5")
        if "bias" in layer and ints["neuron"] != "CUBA":
            raise GraphError(f"{where}: a bias on an SDNN layer is not read yet; export it without a bias (no norm)")
        if "delay" in layer and kind != "dense":
            raise GraphError(f"{where}: synaptic delays on a {kind} layer are not read (netx 0.6 builds DelayDense for "
                             "dense layers only)")
        out_shape = _shape(layer)
        weight = _int_array(layer, "weight")
        syn = f"layer{layer['index']}.{'dense' if kind == 'dense_rec' else kind}"
        if kind in ("dense", "dense_rec"):
            n_out = int(np.prod(out_shape))
            if weight.ndim == 1:
                weight = weight.reshape(n_out, -1)
            weight = weight.reshape(weight.shape[0], -1)
            if shape is None:
                shape = (int(weight.shape[1]),)
            fan_in = int(np.prod(shape))
            if weight.shape != (n_out, fan_in):
                raise GraphError(f"{where}: weight {list(weight.shape)} does not map its input {list(shape)} to its "
                                 f"shape {list(out_shape)}")
            if len(shape) > 1 and pending_flatten is None:
                raise GraphError(f"{where} takes {list(shape)} without a flatten layer before it")
            nodes[syn] = nir.Linear(weight=weight.astype(np.float64))
            out_shape = (n_out,)
        else:
            if weight.ndim == 5:  # slayer's trailing time axis of the kernel
                weight = weight[..., 0]
            if weight.ndim != 4:
                raise GraphError(f"{where}: weight of shape {list(weight.shape)} is not (out, in, kH, kW)")
            if shape is None:
                raise GraphError(f"{where} is the first layer and the file has no input layer, so its input's height "
                                 "and width are unknown (netx cannot infer them either); export with an input layer")
            if len(shape) != 3:
                raise GraphError(f"{where} takes {list(shape)}, not (C, H, W)")
            stride, padding = _pair(layer, "stride", 1), _pair(layer, "padding", 0)
            dilation, groups = _pair(layer, "dilation", 1), int(np.asarray(layer.get("groups", 1)).reshape(-1)[0])
            if weight.shape[1] * groups != shape[0]:
                raise GraphError(f"{where}: weight {list(weight.shape)} (groups {groups}) does not take {shape[0]} "
                                 "input channels")
            want = _conv_out(shape, weight, stride, padding, dilation)
            if tuple(out_shape) != want:
                raise GraphError(f"{where}: its shape {list(out_shape)} is not the conv's output {list(want)}")
            nodes[syn] = nir.Conv2d(input_shape=tuple(shape[1:]), weight=weight.astype(np.float64), stride=stride,
                                    padding=padding, dilation=dilation, groups=groups,
                                    bias=np.zeros(weight.shape[0]))
        neuron = f"layer{layer['index']}.{'sdnn' if ints['neuron'] == 'SDNN' else 'cuba'}"
        if "bias" in layer:
            ints["bias"] = _bias(layer, tuple(out_shape))
        node = _neuron_node(ints, tuple(out_shape), dt_s)
        ints.pop("bias", None)  # the integers ride on v_leak (exactly); node metadata keeps scalars only
        node.metadata = {NETX_KEY: {"layer": int(layer["index"]), "type": kind, **ints}}
        nodes[syn].metadata = {NETX_KEY: {"layer": int(layer["index"]), "type": kind}}
        nodes[neuron] = node
        delays = _delays(layer, np.asarray(nodes[syn].weight), where, warn) if "delay" in layer else None
        if delays is None:
            edges += [(prev, syn), (syn, neuron)]
        else:  # netx's DelayDense: one synapse per delay value, each behind a Delay of that many steps
            edges += _delayed_synapses(nodes, syn, neuron, prev, delays, dt_s, int(layer["index"]), kind)
        if kind == "dense_rec":  # netx's RecurrentDense: a second Dense from the neuron's spikes back to its input
            rec = f"layer{layer['index']}.dense_rec"
            nodes[rec] = nir.Linear(weight=_rec_weight(layer, where, int(np.prod(out_shape))).astype(np.float64))
            nodes[rec].metadata = {NETX_KEY: {"layer": int(layer["index"]), "type": kind, "recurrent": True}}
            edges += [(neuron, rec), (rec, neuron)]
        prev, shape, pending_flatten = neuron, tuple(out_shape), None
    if shape is None or prev == "input":
        raise GraphError("a netx file without a dense or conv layer; nothing to deploy")
    first = next(n for n in nodes)
    in_shape = _input_shape(layers, nodes, first)
    nodes = {"input": nir.Input(input_type={"input": np.array(in_shape, dtype=np.int64)}), **nodes,
             "output": nir.Output(output_type={"output": np.array(shape, dtype=np.int64)})}
    edges.append((prev, "output"))
    metadata = {NETX_KEY: {"skip_layers": skip, "layers": len(layers)}}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=False)


MAX_DELAY = 62  # netx clamps larger delays to this (hdf5.Network.create_dense; Loihi 2 holds 6 bits)


def _delays(layer: dict, weight: np.ndarray, where: str, warn: Warn | None) -> np.ndarray:
    """A dense layer's synaptic delays per synapse ``(out, in)`` in steps, as netx 0.6 forms them
    (``hdf5.Network.create_dense``): a scalar for every synapse, one per output neuron (slayer's axonal
    delay: its row), or one per input; values above :data:`MAX_DELAY` clamped (with a warning, as netx)."""
    raw = np.asarray(layer["delay"], dtype=np.float64)
    if not np.all(np.isfinite(raw)) or np.any(raw < 0):
        raise GraphError(f"{where}: 'delay' holds negative or non-finite values; delays are steps >= 0")
    d = np.floor(raw).astype(np.int64)  # netx takes them as int
    if d.max(initial=0) > MAX_DELAY:
        if warn is not None:
            warn(f"{where}: delays up to {int(d.max())} steps clamped to {MAX_DELAY} (as netx 0.6 does)")
        d = np.minimum(d, MAX_DELAY)
    n_out, n_in = weight.shape
    if d.size == 1:
        return np.full((n_out, n_in), int(d.reshape(-1)[0]))
    if d.ndim == 1 and d.size == n_out:
        return np.repeat(d.reshape(-1, 1), n_in, axis=1)
    if d.ndim == 1 and d.size == n_in:
        return np.repeat(d.reshape(1, -1), n_out, axis=0)
    if d.shape == (n_out, n_in):
        return d
    raise GraphError(f"{where}: 'delay' of shape {list(d.shape)} fits neither its {n_out} outputs, its {n_in} inputs "
                     "nor its weights")


def _delayed_synapses(nodes: dict, syn: str, neuron: str, prev: str, delays: np.ndarray, dt_s: float,
                      index: int, kind: str) -> list[tuple[str, str]]:
    """Replace synapse ``syn`` by one Linear per delay value d its nonzero weights have (``syn`` keeps those of
    the smallest, ``syn.dD`` the others), each with a delay behind a NIR ``Delay`` of d steps
    (``layerI.delayD``): the sum at the neuron is netx's ``DelayDense`` (a weight of delay d arrives d steps
    after one of delay 0). Returns the edges."""
    weight = np.asarray(nodes[syn].weight)
    used = sorted({int(v) for v in np.unique(delays[weight != 0])}) or [0]
    edges: list[tuple[str, str]] = []
    meta = nodes[syn].metadata
    for d in used:
        name = syn if d == used[0] else f"{syn}.d{d}"  # syn keeps its place in the graph's node order
        nodes[name] = nir.Linear(weight=np.where(delays == d, weight, 0.0))
        nodes[name].metadata = {NETX_KEY: {**meta[NETX_KEY], "delay": d}}
        edges.append((prev, name))
        if d == 0:
            edges.append((name, neuron))
            continue
        line = f"layer{index}.delay{d}"
        nodes[line] = nir.Delay(delay=np.full(weight.shape[0], d * dt_s))
        nodes[line].metadata = {NETX_KEY: {"layer": index, "type": kind, "delay": d}}
        edges += [(name, line), (line, neuron)]
    return edges


def _rec_weight(layer: dict, where: str, n: int) -> np.ndarray:
    """A ``dense_rec`` layer's recurrent weights ``(n, n)`` (its neurons' spikes of the previous step to
    their input; netx's ``RecurrentDense``)."""
    if "weight_rec" not in layer:
        raise GraphError(f"{where} (dense_rec) has no 'weight_rec'; re-export with export_hdf5")
    w = _int_array(layer, "weight_rec")
    w = w.reshape(n, -1) if w.size == n * n else w
    if w.shape != (n, n):
        raise GraphError(f"{where}: weight_rec {list(w.shape)} does not map its {n} neurons back to themselves")
    return w


def _input_shape(layers: list[dict], nodes: dict, first: str) -> tuple[int, ...]:
    if layers[0].get("type") == "input":
        return _shape(layers[0])
    node = nodes[first]
    if isinstance(node, nir.Linear):
        return (int(node.weight.shape[1]),)
    raise GraphError("the netx file's first layer has no input shape")  # pragma: no cover - refused above


def normalized_netx_graph(raw: dict, warn: Warn | None = None) -> nir.NIRGraph:
    """A netx file's layers (:func:`neurodeploy.nir_hdf5.read_netx_hdf5`) as a normalised sequence graph
    (module docstring), its dt and source noted in the graph's metadata. The file itself is read by
    :func:`neurodeploy.ir.nirfile.read_graph` (the guarded reader, as for ``.nir`` files)."""
    from neurodeploy.ir.check import check_graph
    from neurodeploy.ir.info import FOREIGN_DT_KEY
    from neurodeploy.ir.nirread import normalize

    graph = netx_graph(raw, warn)
    meta = dict(graph.metadata)
    graph, _ = normalize(graph, NETX_DT_S)
    graph.metadata.update(meta)
    graph.metadata[FOREIGN_DT_KEY] = NETX_DT_S
    check_graph(graph)
    return graph


def netx_layer(node: nir.NIRNode) -> dict[str, Any] | None:
    """The netx facts a node carries (layer index, type, the neuron's integers), or None."""
    meta = getattr(node, "metadata", None)
    return meta.get(NETX_KEY) if isinstance(meta, dict) else None


def is_netx_graph(graph: nir.NIRGraph) -> bool:
    """Whether ``graph`` was read from a netx file (its metadata says so)."""
    return isinstance(graph.metadata, dict) and NETX_KEY in graph.metadata


__all__ = ["NETX_DT_S", "NETX_KEY", "WRITER", "netx_graph", "normalized_netx_graph", "netx_layer", "is_netx_graph"]
