"""NIR primitives from any writer -> Lava processes: the mapping, as pure data (no lava import).

The NIR semantics are in :mod:`neurodeploy.ir.primitives`; this module states how each
primitive becomes a stock Lava process, exactly (float). :mod:`.nir_lava` instantiates it.

**Who decides what.** The passes (:mod:`neurodeploy.passes`, the same flow as a model's,
run by :func:`build_map` when the graph has not been through them) decide the neuron forms
(``neuron_form``: the table below, ``GraphInfo.neuron_form`` and the ``gain``/``const``
arrays), the latency of every node and the delay lines that balance every join
(``latency``: ``GraphInfo.latency``, ``GraphInfo.delays``) and that every node but the
Input and Output is the chip's (``partition``). This module lays the processes out and
folds the gains into the weights.

**Neurons -> Lava's ``LIF``** (``lava.proc.lif``, per step: ``u = u (1 - du) + a_in``;
``v = v (1 - dv) + u + bias``; spike ``v > vth``, then ``v = 0``). Lava's state is the
shifted membrane ``v' = v - v_reset`` (so that Lava's reset to 0 is NIR's reset to
``v_reset``, and Lava's initial ``v = 0`` is neurodeploy's assumed initial ``v = v_reset``).
With ``g`` the factor folded into the incoming synapses' weights and ``c`` a constant input:

======== ========== =========== ======================== =================================
NIR      du         dv          g (on the weights)       vth; constant input c
======== ========== =========== ======================== =================================
LIF      1          dt/tau      dt r / tau               v_th - v_reset; dv (v_leak - v_reset)
IF       1          0           dt r                     v_th - v_reset; 0
I        1          0           dt r                     +inf (never fires; state read); 0
LI       1          dt/tau      dt r / tau               +inf; dv v_leak
CubaLIF  dt/tau_syn dt/tau_mem  (dt r/tau_mem)           v_th - v_reset; needs v_leak = v_reset
                                (dt w_in/tau_syn)
CubaLI   dt/tau_syn dt/tau_mem  as CubaLIF               +inf; needs v_leak = 0
Threshold 1         1           1                        threshold; 0
======== ========== =========== ======================== =================================

(CubaLIF: Lava's ``u`` is NIR's current times ``dt r / tau_mem``, and Lava updates ``u``
before ``v`` as neurodeploy's reading of NIR does.) A synapse's bias ``b`` is part of the
neuron's input, so it enters as ``g b`` on the same path. Both ``c`` and ``g b`` are fed
to the neuron's ``a_in`` by a constant source (a RingBuffer) that starts at the layer's
first logical step: Lava's ``bias`` would start integrating at Lava step 0, before the
layer's first input arrives. With ``du = 1`` a constant on ``a_in`` is the same as a
bias on ``v``; with ``du < 1`` it is a constant current, which is what ``g b`` is.
Loihi holds ``du``, ``dv`` and ``vth`` once per layer: a layer whose neurons differ in
them is refused by name.

**Writers' neuron rules** (:mod:`neurodeploy.ir.rules`, recorded on the node by
``--writer``): a spiking neuron with NIR's rules is Lava's ``LIFReset``; any other rule
makes it the project's ``RuleLIF`` (``targets/loihi/processes``), the same ``u``/``v``
update with the same ``du``, ``dv``, ``vth``, gain and constant input as the table, and:

===================== =========================== ======================================
rule (node metadata)   RuleLIF parameter           Lava state (``v' = v - v_reset``)
===================== =========================== ======================================
spike ``>=``           ``fire_at_equality=True``   ``v' >= vth``
reset ``subtract``     ``subtract=True``           ``v' -= vth`` (= ``v -= v_th - v_reset``)
reset_delay ``1``      ``reset_delay=1``           the reset lands on the next step,
                                                   after its update, before its spike test
===================== =========================== ======================================

The fixed-point path (:mod:`.nir_fixed`) runs these rules on ``RuleLIF``'s fixed_pt model
(or on Lava's own LIF where that is exact); :func:`refuse_writer_rules` is for a path that cannot.

**Synapses**: ``Affine``/``Linear`` -> ``Dense`` (bias to the neuron as above),
``Conv2d``/``Conv1d`` -> ``Conv`` (Conv1d as a conv over ``(C, 1, N)``), ``SumPool2d`` ->
``Conv`` with fixed weights 1 (depthwise), ``AvgPool2d`` -> the same with ``1/area``
(padding counted, :mod:`~neurodeploy.ir.primitives`). ``Scale`` folds into the weights of
the synapse before it, ``Flatten`` is a reshape of the port with the ``Dense`` columns
permuted to Lava's ``(X, Y, C)`` order. ``Delay`` (one delay per layer) -> the project's
``DelayLine``. Each synapse adds one Lava step (Lava's latency); traces are realigned.
Where paths of different depth join in a neuron, a ``DelayLine`` on each shorter path
(a process ``balance:SYNAPSE->NEURON``, ``params["balance"]``) holds its values until the
longest path's arrive, so the neuron sums one logical step (residual/skip graphs).
Synapses carry real values (``num_message_bits`` > 0): identical for 0/1 spikes. A
``Delay`` is logical time, not pipeline latency: it adds none.
Non-spiking neurons (I, LI, CubaLI) must feed only the Output: their state is read by a
Lava ``Monitor`` of ``v`` (plus ``v_reset`` = 0).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import nir
import numpy as np

from neurodeploy.errors import LoweringError
from neurodeploy.ir import primitives as pr
from neurodeploy.ir import rules as nr
from neurodeploy.ir import DeployGraph, as_deploy_graph, topological_order

SYNAPSES = pr.SYNAPSE_TYPES
GRADED_BITS = 24


def lava_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """NIR per-step shape -> Lava's: (C, H, W) -> (W, H, C); (C, N) -> (N, 1, C); (N,) -> (N,)."""
    if len(shape) == 3:
        return (shape[2], shape[1], shape[0])
    if len(shape) == 2:
        return (shape[1], 1, shape[0])
    return tuple(shape)


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


@dataclass
class Proc:
    """One Lava process. kind: source | dense | conv | lif | delay; ``shape`` Lava layout."""

    name: str
    kind: str
    shape: tuple[int, ...]
    params: dict[str, Any] = field(default_factory=dict)
    latency: int = 0  # Lava steps from a logical step's input to this process's output for it


@dataclass
class Link:
    src: str
    dst: str
    reshape: tuple[int, ...] | None = None  # the source port reshaped to this (Flatten)
    delay: int = 0


@dataclass
class LavaMap:
    procs: dict[str, Proc]
    links: list[Link]
    layers: list[str]  # neuron nodes a Trace records
    spiking: dict[str, bool]
    shapes: dict[str, tuple[int, ...]]  # NIR per-step shapes of the layers
    input: str
    output_layer: str

    @property
    def gap(self) -> int:
        """Lava steps between samples: the pipeline latency plus every NIR Delay's steps
        (what a sample still holds in flight after its last input step; a balancing delay
        line's steps are pipeline latency, already in its ``latency``)."""
        return max(p.latency for p in self.procs.values()) + sum(
            p.params["delay"] for p in self.procs.values() if p.kind == "delay" and not p.params.get("balance"))


def refuse_writer_rules(name: str, rules: nr.NeuronRules, path: str = "fixed_pt") -> None:
    """One line naming the neuron, when its writer's rules (:mod:`neurodeploy.ir.rules`)
    need ``RuleLIF``, which has no model on ``path`` (Lava's stock LIF: ``>``, reset to 0 at once)."""
    if not rules.is_nir:
        raise LoweringError(f"neuron '{name}': its writer's rule ({rules.describe()}) has no {path} model (Lava's "
                            "LIF fires on v > th and resets to zero at once); run it on lava-float (RuleLIF)")


def build_map(graph: "nir.NIRGraph | DeployGraph", dt: float | None = None) -> LavaMap:
    """The Lava processes of a flat, normalised graph (:func:`neurodeploy.ir.read_deploy_graph`);
    ``dt`` seconds per step (default: its annotations').

    Raises:
        LoweringError: one line naming the node the mapping cannot express.
    """
    g = as_deploy_graph(graph, dt)
    if not g.info.latency:  # the passes decide (neuron forms, latency, delay balancing); on a copy
        from neurodeploy.passes import run_passes

        g = DeployGraph(g.nir, copy.deepcopy(g.info), {n: dict(a) for n, a in g.arrays.items()}, list(g.order))
        run_passes(g)
    graph, dt, kinds = g.nir, g.info.dt_s, g.info.node_kinds
    order = topological_order(graph)
    preds = {n: [s for s, d in graph.edges if d == n] for n in graph.nodes}
    succs = {n: [d for s, d in graph.edges if s == n] for n in graph.nodes}
    shape = {n: tuple(int(v) for v in graph.nodes[n].output_type["output"]) for n in graph.nodes}
    inputs = [n for n in order if kinds[n] == "input"]
    outputs = [n for n in order if kinds[n] == "output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise LoweringError(f"the graph has {len(inputs)} Input and {len(outputs)} Output nodes; the Lava mapping "
                            "takes one of each")
    procs: dict[str, Proc] = {}
    links: list[Link] = []
    # where a node's value comes from in Lava: (process, reshape of its port, weight factor per output)
    port: dict[str, tuple[str, tuple[int, ...] | None]] = {}
    syn_of: dict[str, str] = {}  # synapse-like node -> its process (Scale folds there)
    bias_in: dict[str, np.ndarray] = {}  # synapse process -> bias (NIR layout, its output shape)
    inp = inputs[0]
    procs[inp] = Proc(inp, "source", lava_shape(shape[inp]))
    port[inp] = (inp, None)
    layers, spiking = [], {}
    for name in order:
        node, kind = graph.nodes[name], kinds[name]
        if name == inp or kind == "output":
            continue
        ps = preds[name]
        if kind == "flatten":
            src, _ = port[ps[0]]
            if len(ps) != 1 or not all(isinstance(graph.nodes[d], (nir.Affine, nir.Linear)) for d in succs[name]):
                raise LoweringError(f"flatten '{name}': on Lava a Flatten must feed Affine/Linear layers only "
                                    "(it becomes their reshaped input port)")
            port[name] = (src, (int(np.prod(shape[name])),))
            continue
        if kind == "scale":
            src = syn_of.get(ps[0]) if len(ps) == 1 else None
            if src is None or len(succs[ps[0]]) != 1:
                raise LoweringError(f"scale '{name}': on Lava a Scale folds into the one synapse before it; "
                                    f"'{ps[0]}' is not such a synapse")
            s = np.broadcast_to(np.asarray(node.scale, dtype=np.float64), shape[name])
            procs[src].params["row_scale"] = procs[src].params.get("row_scale", 1.0) * s
            bias_in[src] = bias_in.get(src, 0.0) * s
            port[name], syn_of[name] = port[ps[0]], src
            continue
        if len(ps) != 1 and isinstance(node, SYNAPSES + (nir.Delay,)):
            raise LoweringError(f"node '{name}' sums {len(ps)} inputs; on Lava a synapse takes one (sum after it)")
        if isinstance(node, SYNAPSES):
            src_proc, reshape = port[ps[0]]
            if np.any(np.asarray(bias_in.get(syn_of.get(ps[0], ""), 0.0)) != 0):
                raise LoweringError(f"node '{name}' follows '{ps[0]}', whose bias would have to pass through it; on "
                                    "Lava a synapse's bias moves into the neuron it feeds directly")
            in_shape = shape[ps[0]]
            proc = Proc(name, "dense" if isinstance(node, (nir.Affine, nir.Linear)) else "conv",
                        lava_shape(shape[name]), latency=int(g.info.latency[name]))
            _synapse_params(name, node, in_shape, shape[name], proc, reshape, graph, ps[0])
            bias_in[name] = proc.params.pop("bias")
            procs[name] = proc
            links.append(Link(src_proc, name, reshape))
            port[name], syn_of[name] = (name, None), name
            continue
        if isinstance(node, nir.Delay):
            steps = np.unique(pr.delay_steps(name, node, dt))
            if steps.size != 1:
                raise LoweringError(f"delay '{name}': delays differ across neurons; Lava's DelayLine takes one")
            src_proc, reshape = port[ps[0]]
            if reshape is not None:
                raise LoweringError(f"delay '{name}' after a Flatten is not mapped; delay before the Flatten")
            # a NIR Delay is logical time, not pipeline latency: its output for logical step t
            # leaves at the same Lava step as its input's for t (which is the input of t - delay)
            proc = Proc(name, "delay", procs[src_proc].shape, {"delay": int(steps[0])},
                        latency=int(g.info.latency[name]))
            if ps[0] in syn_of:  # a delayed synaptic output: the neuron after it still folds into the synapse
                syn_of[name] = syn_of[ps[0]]
            if int(steps[0]) == 0:
                port[name] = port[ps[0]]
                continue
            procs[name] = proc
            links.append(Link(src_proc, name))
            port[name] = (name, None)
            continue
        # a neuron layer: every input must be a synapse whose weights take the gain
        form, gain = g.info.neuron_form[name], g.arrays[name]["gain"]  # the neuron form pass's
        const = np.asarray(g.arrays[name]["const"], dtype=np.float64).copy()
        feeds = []
        for p in ps:
            syn = syn_of.get(p)
            if syn is None or procs[syn].kind not in ("dense", "conv"):
                raise LoweringError(f"neuron '{name}' is fed by '{p}' ({type(graph.nodes[p]).__name__}) without a "
                                    "synapse; on Lava every neuron input comes through Affine/Linear/Conv/pooling")
            if len(succs[p]) != 1 or len(succs[syn]) != 1:
                raise LoweringError(f"'{p}' feeds several nodes; on Lava its weights can take only one neuron's gain")
            procs[syn].params["row_scale"] = procs[syn].params.get("row_scale", 1.0) * gain
            const = const + gain * np.broadcast_to(bias_in.get(syn, 0.0), shape[name])
            feeds.append((p, port[p][0]))  # the synapse, or the delay line after it
        latency = int(g.info.latency[name])  # the latency pass's, and its delays balance the join
        for p, feed in feeds:
            links.append(Link(_balanced(procs, links, feed, name, latency, int(g.info.delays.get(f"{p}->{name}", 0))),
                              name))
        procs[name] = Proc(name, "lif", lava_shape(shape[name]), {
            "du": form["du"], "dv": form["dv"], "vth": form["vth"], "rules": g.info.rules(name),
            "const": to_lava(np.broadcast_to(const, shape[name]), shape[name])}, latency=latency)
        if not form["spiking"] and any(kinds[d] != "output" for d in succs[name]):
            raise LoweringError(f"neuron '{name}' ({type(node).__name__}) does not spike; on Lava it may feed only "
                                "the Output (its state is read by a Monitor)")
        port[name], layers, spiking[name] = (name, None), layers + [name], form["spiking"]
    out_src = preds[outputs[0]]
    if len(out_src) != 1 or out_src[0] not in layers:
        raise LoweringError(f"the Output reads {out_src}; on Lava it must read one neuron layer")
    return LavaMap(procs, links, layers, spiking, {n: shape[n] for n in layers}, inp, out_src[0])


def _balanced(procs: dict[str, Proc], links: list[Link], feed: str, neuron: str, latency: int, steps: int) -> str:
    """``feed``, or a delay line of ``steps`` (the latency pass's delay on this input of the join)
    after it that holds its values until ``latency``: the paths into a join differ in depth, and
    every synapse on a path adds a Lava step, so without it the neuron would sum values of
    different logical steps (DESIGN.md, delay balancing)."""
    if steps == 0:
        return feed
    name = f"balance:{feed}->{neuron}"
    procs[name] = Proc(name, "delay", procs[feed].shape, {"delay": steps, "balance": True}, latency=latency)
    links.append(Link(feed, name))
    return name


def _synapse_params(name: str, node, in_shape, out_shape, proc: Proc, reshape, graph, pred: str) -> None:
    """Weights in Lava's layout (kernels flipped: Lava's Conv convolves, torch correlates)."""
    if isinstance(node, (nir.Affine, nir.Linear)):
        weight = np.asarray(node.weight, dtype=np.float64)
        flat_src = in_shape if reshape is None else tuple(int(v) for v in graph.nodes[pred].input_type["input"])
        if reshape is not None and len(flat_src) > 1:
            # the Lava port is the flattened Lava layout of the Flatten's input: permute the columns
            idx = to_lava(np.arange(int(np.prod(flat_src))).reshape(flat_src), flat_src).reshape(-1)
            weight = weight[:, idx]
        proc.params.update(weight=weight, bias=np.asarray(getattr(node, "bias", 0.0), dtype=np.float64))
        return
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
    bias = np.asarray(conv["bias"], dtype=np.float64).reshape(-1, *([1] * (len(out_shape) - 1)))  # per channel
    proc.params.update(weight=weight, bias=bias,
                       input_shape=lava_shape(in_shape), stride=xy(conv["stride"]), padding=xy(conv["padding"]),
                       dilation=xy(conv["dilation"]), groups=int(conv["groups"]))


def lava_weights(proc: Proc) -> np.ndarray:
    """A synapse's final weights in Lava's layout, the neuron gains / Scale (``row_scale``,
    NIR layout of its output) applied."""
    weight = proc.params["weight"]
    scale = np.asarray(proc.params.get("row_scale", 1.0), dtype=np.float64)
    if proc.kind == "dense":
        return weight * np.broadcast_to(scale, (weight.shape[0],))[:, None]
    c_out = weight.shape[0]
    per_out = np.broadcast_to(scale, (c_out, *scale.shape[1:])) if scale.ndim else np.full((c_out,), float(scale))
    per_ch = per_out.reshape(c_out, -1)
    if not np.all(per_ch == per_ch[:, :1]):
        raise LoweringError(f"conv '{proc.name}': its neurons' gains vary within a channel; Lava's Conv has one "
                            "weight set per output channel")
    weight = weight * per_ch[:, 0][:, None, None, None]
    return np.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(0, 3, 2, 1))
