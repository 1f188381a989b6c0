"""The fixed_pt lowering: the float lowering's processes fed with the quantized bundle's integers (pure data).

:func:`lower_fixed` takes the network :func:`~.lower.lower` made (same processes, same
latencies and delay lines: the timing does not depend on the number format) and rewrites
it for ``Loihi2SimCfg(select_tag="fixed_pt")`` with the integers of ``params.npz`` and the
PTQ annotations (``info.quant``), so that it computes what the integer emulator
(:mod:`neurodeploy.targets.emulator`) computes:

- ``conv``: Lava's ``Conv`` with ``weight_mant`` (flipped and permuted like the float
  weights); ``lif``: ``LIFReset`` with ``du``, ``dv``, ``vth_mant``, ``bias_mant`` (per
  neuron) and ``bias_exp``. Both are Lava's own processes; the run picks Lava's
  bit-accurate models or the project's faster conv model.
- Every value crossing into a chip node is converted as the emulator's ``_input`` does:
  from a chip node, ``(x · M) >> k`` when the consumer's input scale differs (a relay
  synapse), else unchanged; from the host, ``round_half_even(x / in_scale)`` clipped to the
  payload. Relays, concatenations and upsamplings (``int`` function processes) convert
  their own inputs; a conv or a neuron gets an ``adapter`` in front of it (a zero-latency
  integer relay) when one of its inputs needs converting.
- ``product``: its operands converted one by one (each to its own scale, PTQ's ``in_scales``),
  then ``(a · b) >> shift`` (rounding down, as Lava's ``ProdNeuron`` fixed_pt model does with its ``exp``).
- ``readout`` (the decoder's mean over T on the chip): Lava's integer sum over the window, scale
  ``in_scale / T`` (PTQ), read by the host after the window's last step.
- ``max`` and ``relu``: their input converted, then the max (over pixels or channels) or ``max(x, 0)``:
  exact on integers, the scale unchanged.
- ``CONV+bias`` relays add ``bias_acc`` (accumulator units; zero when PTQ put no bias there).
- Every chip value a host island reads crosses a ``to_host`` adapter: ``x · scale`` in
  float64 (model units), as the emulator hands chip values to the islands.

Units: integers are mantissas in the consumer's LSBs (see :mod:`neurodeploy.quantize.ptq`);
``to_host`` outputs and island values are floats in model units. Time: logical steps
become Lava steps exactly as in the float lowering (adapters add no step).

**A new neuron kind plugs in** by registering a :class:`FixedKind` under its lowering kind
(``FIXED_KINDS["nilif"] = FixedKind(params=..., neuron=True)``): ``params`` turns the node's
float parameters into integers from its ``info.quant`` entry and ``params.npz`` arrays, and
the network builder (:mod:`.fixed_network`) needs a process for it
(:data:`~.fixed_network.FIXED_BUILDERS`). Its inputs get adapters like a LIF's.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from neurodeploy.errors import LoweringError
from neurodeploy.quantize.ptq import A_IN_MAX, ACT_BITS, input_scale, split_weights
from neurodeploy.targets.loihi.layout import interp_matrix, max_xyc, patch_to_time_xyc
from neurodeploy.targets.loihi.lower import LavaEdge, LavaNode, LoweredNetwork, lava_weights, to_lava

# One conversion of one input port, as plain data (a Lava process model applies it with numpy):
#   ("int",)                  an integer passed on unchanged
#   ("rescale", M, k)         (x · M) >> k  (k < 0: << -k); rounds down like Lava's Dense with a negative weight_exp
#   ("quantize", scale, lim)  clip(round_half_even(x / scale), -lim, lim): a host value onto the chip
Conversion = tuple


@dataclass
class FixedKind:
    """How one lowering kind becomes fixed point.

    Attributes:
        params: ``params(node, quant_entry, arrays)`` rewrites ``node.params`` in integers.
        neuron: a neuron layer (spikes recorded; inputs through an adapter like Lava's LIF).
        own_inputs: the process converts its inputs itself (function processes).
    """

    params: Callable[[LavaNode, dict, dict], None] | None = None
    neuron: bool = False
    own_inputs: bool = False


def _conv_params(node: LavaNode, q: dict, arrays: dict) -> None:
    # Lava's Conv computes a true convolution in (X, Y, C) layout: flipped and permuted as the float weights
    node.params["weight"] = lava_weights("conv", np.asarray(arrays["weight_mant"], dtype=np.int64))


def _lif_params(node: LavaNode, q: dict, arrays: dict) -> None:
    c = node.shape[-1]
    b = np.asarray(arrays.get("bias_mant", np.zeros(c, dtype=np.int64)), dtype=np.int64)
    node.params.update(du=int(q["du"]), dv=int(q["dv"]), vth=int(q["vth_mant"]), bias_exp=int(q["bias_exp"]),
                       bias=np.broadcast_to(b, node.shape).copy())


def _nilif_params(node: LavaNode, q: dict, arrays: dict) -> None:
    # the integer form PTQ gave it (quantize.ptq): rounding points between levels, v LSBs per level, leak
    node.params["fixed"] = {"thresholds": [int(t) for t in q["thresholds"]], "level_lsbs": int(q["level_lsbs"]),
                            "dv": int(q["dv"])}


FIXED_KINDS: dict[str, FixedKind] = {
    "input": FixedKind(),
    "island": FixedKind(),
    "conv": FixedKind(params=_conv_params),
    "lif": FixedKind(params=_lif_params, neuron=True),
    "relay": FixedKind(own_inputs=True),
    "concat": FixedKind(own_inputs=True),
    "upsample": FixedKind(own_inputs=True),
    "nilif": FixedKind(params=_nilif_params, neuron=True),
    "patch_to_time": FixedKind(own_inputs=True),
    "product": FixedKind(own_inputs=True),
    "max": FixedKind(own_inputs=True),
    "readout": FixedKind(params=lambda node, q, arrays: node.params.update(weights=list(q["weight_mants"]))),
    "relu": FixedKind(own_inputs=True),
}
FLOAT_SOURCES = ("input", "island")  # processes that send floats (model units)


def input_conversion(quant: dict, consumer: str, pred: str, chip_kind: str | None = None) -> Conversion:
    """The conversion of ``pred``'s value into chip node ``consumer`` (the emulator's ``_input``)."""
    q = quant[consumer]
    if pred in quant:
        r = q.get("rescale", {}).get(pred)
        return ("rescale", int(r[0]), int(r[1])) if r else ("int",)
    lif_like = FIXED_KINDS.get(chip_kind or q["kind"], FixedKind()).neuron  # a neuron's a_in: int16 (LOIHI2.a_in)
    lim = A_IN_MAX if lif_like else (1 << (ACT_BITS - 1)) - 1
    return ("quantize", input_scale(q, pred), int(lim))


def _interp_int(n_in: int, scale: int, mode: str, multiplier: int) -> np.ndarray:
    """``(n_in · scale, n_in)`` 1-D interpolation weights (torch's ``F.interpolate``, align_corners=False)
    times ``sqrt(multiplier)``, as exact integers: nearest copies (1), bilinear x2 weighs 0.25/0.75 (x4)."""
    m = interp_matrix(n_in, scale, mode, align_corners=False)
    m *= {1: 1, 16: 4}.get(multiplier, 0)
    r = np.round(m)
    if multiplier not in (1, 16) or not np.array_equal(m, r):
        raise LoweringError(f"upsample x{scale} {mode} has no exact integer form (multiplier {multiplier})")
    return r.astype(np.int64)


@dataclass
class FixedNetwork(LoweredNetwork):
    """A :class:`LoweredNetwork` in integers. ``neurons``: the neuron layers (recorded);
    ``float_edges``: (src, dst) pairs whose values are floats (delay lines keep them as floats)."""

    neurons: list[str] = field(default_factory=list)
    float_edges: set = field(default_factory=set)


def _nir_source(low: LoweredNetwork, e: LavaEdge) -> str:
    src = low.nodes[e.src]
    if src.kind == "island":
        return src.params["outputs"][e.src_port]
    return e.src[:-len("+bias")] if e.src.endswith("+bias") else e.src


def _src_shape(low: LoweredNetwork, e: LavaEdge) -> tuple[int, ...]:
    src = low.nodes[e.src]
    return tuple(src.out_shapes[e.src_port]) if src.kind == "island" else tuple(src.shape)


def lower_fixed(low: LoweredNetwork, quant: dict, params: dict[str, dict[str, np.ndarray]]) -> FixedNetwork:
    """Rewrite the float lowering ``low`` in integers (see module docstring); ``low`` is not changed.

    A sequence graph's network takes its quantizer's integers (:func:`sequence_fixed`).

    Raises LoweringError (one line) when a process has no fixed_pt form or the annotations do
    not cover a chip node.
    """
    if low.takes_sequences:
        return sequence_fixed(low, quant, params)
    nodes: dict[str, LavaNode] = {}
    for name, node in low.nodes.items():
        kind = FIXED_KINDS.get(node.kind)
        if kind is None:
            raise LoweringError(f"process '{name}' ({node.kind}) has no fixed_pt form; register a FixedKind for it")
        node = copy.deepcopy(node)
        nir_name = name[:-len("+bias")] if name.endswith("+bias") else name
        if node.kind not in FLOAT_SOURCES and nir_name not in quant:
            raise LoweringError(f"chip node '{nir_name}' has no integer parameters; export with --quantize int")
        if kind.params is not None:
            kind.params(node, quant[nir_name], params.get(nir_name, {}))
        if name.endswith("+bias"):
            b = params.get(nir_name, {}).get("bias_acc")
            node.params = {"op": "bias", "bias": np.broadcast_to(
                np.zeros(node.shape[-1], np.int64) if b is None else np.asarray(b, np.int64), node.shape).copy()}
        elif node.kind == "conv" and "bias_acc" in params.get(name, {}) and f"{name}+bias" not in low.nodes:
            raise LoweringError(f"conv '{name}' has an accumulator bias in params.npz but no bias relay in the lowering; "
                                "params.npz does not match the graph, re-export")
        nodes[name] = node
    edges: list[LavaEdge] = []
    float_edges: set = set()
    new_nodes: dict[str, LavaNode] = {}
    for name, node in nodes.items():
        kind = FIXED_KINDS[node.kind]
        ins = [e for e in low.edges if e.dst == name]
        if node.kind in FLOAT_SOURCES and node.kind != "island":
            continue
        if node.kind == "island":
            for e in ins:
                pred = _nir_source(low, e)
                if low.nodes[e.src].kind in FLOAT_SOURCES:
                    edges.append(copy.copy(e))
                    float_edges.add((e.src, e.dst))
                    continue
                adapter = f"{name}:in{e.dst_port}"
                new_nodes[adapter] = LavaNode(adapter, "to_host", node.in_shapes[e.dst_port], latency=node.latency,
                                              params={"op": "to_host", "scale": float(quant[pred]["scale"])},
                                              in_shapes=[node.in_shapes[e.dst_port]])
                edges.append(LavaEdge(e.src, adapter, e.kind, e.delay, src_port=e.src_port, dst_port=0))
                edges.append(LavaEdge(adapter, name, "real", 0, src_port=0, dst_port=e.dst_port))
                float_edges.add((adapter, name))
            continue
        nir_name = name[:-len("+bias")] if name.endswith("+bias") else name
        if name.endswith("+bias"):
            convs = [("int",) for _ in ins]
        else:
            convs = [input_conversion(quant, nir_name, _nir_source(low, e)) for e in ins]
        if kind.own_inputs:
            # one port per edge: Lava's InPort would sum the edges of a port before this process could
            # convert them one by one (a concat's operands keep their ports, one edge each)
            if node.kind in ("concat", "product"):
                if len({e.dst_port for e in ins}) != len(ins):
                    raise LoweringError(f"{node.kind} '{name}' has two edges into one operand; cannot convert them apart")
                ins = sorted(ins, key=lambda e: e.dst_port)
                convs = [input_conversion(quant, nir_name, _nir_source(low, e)) for e in ins]
            node.params["convs"] = convs
            node.in_shapes = [_src_shape(low, e) for e in ins]
            if node.kind == "upsample":
                q = quant[nir_name]
                x_in, y_in, _ = node.in_shapes[0]
                node.params.update(op="upsample", mx=_interp_int(x_in, node.params["scale"], node.params["mode"],
                                                                  q["multiplier"]),
                                   my=_interp_int(y_in, node.params["scale"], node.params["mode"], q["multiplier"]))
            elif node.kind == "relay" and "op" not in node.params:
                node.params = {"op": "sum", "convs": node.params["convs"]}
            elif node.kind == "concat":
                node.params["op"] = "concat"
            elif node.kind == "product":
                node.params.update(op="product", shift=int(quant[nir_name]["shift"]))
            elif node.kind == "patch_to_time":
                node.params["op"] = "patch_to_time"
            elif node.kind in ("max", "relu"):
                node.params["op"] = node.kind
            for i, e in enumerate(ins):
                edges.append(LavaEdge(e.src, e.dst, e.kind, e.delay, src_port=e.src_port, dst_port=i))
                if low.nodes[e.src].kind in FLOAT_SOURCES:
                    float_edges.add((e.src, e.dst))
            continue
        # Lava's own processes (conv, neurons): one input port; an adapter converts when needed
        if all(c == ("int",) for c in convs) and not any(low.nodes[e.src].kind in FLOAT_SOURCES for e in ins):
            edges.extend(copy.copy(e) for e in ins)
            continue
        adapter = f"{name}:in"
        in_shapes = [_src_shape(low, e) for e in ins]
        shape = tuple(node.params["input_shape"]) if node.kind == "conv" else node.shape
        new_nodes[adapter] = LavaNode(adapter, "adapter", shape, latency=node.latency,
                                      params={"op": "sum", "convs": convs}, in_shapes=in_shapes)
        for i, e in enumerate(ins):
            edges.append(LavaEdge(e.src, adapter, e.kind, e.delay, src_port=e.src_port, dst_port=i))
            if low.nodes[e.src].kind in FLOAT_SOURCES:
                float_edges.add((e.src, adapter))
        edges.append(LavaEdge(adapter, name, "graded", 0))
    order: dict[str, LavaNode] = {}
    for name, node in nodes.items():  # adapters just before their node, to_host adapters just before the island
        for a, an in new_nodes.items():
            if a.rsplit(":", 1)[0] == name and a not in order:
                order[a] = an
        order[name] = node
    neurons = [n for n, node in order.items() if FIXED_KINDS.get(node.kind, FixedKind()).neuron]
    return FixedNetwork(low.t_steps, order, edges, low.balanced, neurons=neurons, float_edges=float_edges)


def apply_conversion(x: np.ndarray, conv: Conversion) -> np.ndarray:
    """Apply one :data:`Conversion` (numpy, int64 out)."""
    kind = conv[0]
    if kind == "quantize":
        _, scale, lim = conv
        return np.clip(np.round(np.asarray(x, dtype=np.float64) / scale), -lim, lim).astype(np.int64)
    y = np.asarray(x).astype(np.int64)
    if kind == "rescale":
        _, m, k = conv
        y = y * m
        return y >> k if k >= 0 else y << -k
    return y


def fixed_function(params: dict[str, Any]) -> Callable[[list[np.ndarray]], np.ndarray]:
    """The numpy function of a fixed function process (adapter, relay, concat, upsample, patch-to-time, to_host):
    inputs converted one by one, then combined; integers in, integers out (``to_host``: floats out)."""
    op, convs = params.get("op", "sum"), params.get("convs")
    if op == "to_host":
        scale = float(params["scale"])
        return lambda xs: np.asarray(sum(xs)).astype(np.int64).astype(np.float64) * scale

    def inputs(xs):
        return [apply_conversion(x, c) for x, c in zip(xs, convs or [("int",)] * len(xs))]

    if op == "concat":
        return lambda xs: np.concatenate(inputs(xs), axis=2)
    if op == "product":  # a product neuron: (a * b) >> shift, rounding down as Lava's ProdNeuron
        shift = int(params["shift"])

        def product(xs):
            a, b = inputs(xs)
            return (a * b) >> shift
        return product
    if op == "bias":
        bias = np.asarray(params["bias"], dtype=np.int64)
        return lambda xs: sum(inputs(xs)) + bias
    if op == "max":  # a max tree: exact on integers
        return lambda xs: max_xyc(sum(inputs(xs)), params["over"])
    if op == "relu":
        return lambda xs: np.maximum(sum(inputs(xs)), 0)
    if op == "patch_to_time":  # routing: the integers re-laid, as the float process does
        r = int(params["r"])
        return lambda xs: patch_to_time_xyc(sum(inputs(xs)), r)
    if op == "upsample":
        mx, my = params["mx"], params["my"]
        return lambda xs: np.einsum("ax,by,xyc->abc", mx, my, sum(inputs(xs)))
    return lambda xs: sum(inputs(xs))



def sequence_fixed(low: LoweredNetwork, quant: dict, arrays: dict[str, dict[str, np.ndarray]]) -> FixedNetwork:
    """A sequence graph's float lowering with the integers of its quantizer
    (:func:`neurodeploy.quantize.ptq.quantize_sequence`: per process, mantissas in NIR layout, one
    input LSB per neuron shared by all its synapses, so no conversion between them), re-laid as the
    float weights are (:func:`~.lower.lava_weights`):

    - the input: its payloads ``clip(round_half_even(x / scale), ±lim)`` (``params["quantize"]``);
    - ``dense``: ``2 · weight_mant`` and ``weight_exp - 1``: Lava's Dense drops the LSB of mixed-sign
      8-bit weights (``weightutils.py:236-239``), and ``(2 S) >> (k + 1) = S >> k`` is the same rounding;
      mantissas wider than 8 bits (``synapse_groups`` 2, ``--weight-bits``): ``lo`` as the node's Dense
      (``2 · lo``, ``-1``) and ``weight_hi`` = ``2 · hi`` with ``split_exp - 1`` for a second Dense
      (:func:`~neurodeploy.quantize.ptq.split_weights`; built by :mod:`.fixed_network`);
    - ``conv``: ``weight_mant``; split like a Dense's (``weight_hi``, ``hi_shift``); a delay line passes
      payloads on;
    - neurons: ``du``, ``dv``, ``vth_mant``, the constant input ``const_mant``, and the writer's rules
      where they need ``RuleLIF`` (``quant[...]["model"]``; Lava's LIF otherwise).
    """
    from neurodeploy.ir.rules import NIR_RULES
    from neurodeploy.targets.emulator import fixed_rules

    nodes: dict[str, LavaNode] = {}
    for name, node in low.nodes.items():
        node = copy.deepcopy(node)
        q, a = quant.get(name, {}), arrays.get(name, {})
        if node.kind == "input":
            node.params["quantize"] = ("quantize", float(q["scale"]), int(q["lim"]))
        elif node.kind == "dense":
            w = lava_weights("dense", np.asarray(a["weight_mant"], dtype=np.int64), node.params.get("columns"))
            if q.get("synapse_groups", 1) == 2:  # lo as the node's Dense, hi a second one (fixed_network)
                hi, w = split_weights(w)
                node.params.update(weight_hi=2 * hi, weight_exp_hi=int(q["split_exp"]) - 1)
            node.params.update(weight=2 * w, weight_exp=int(q.get("weight_exp", 0)) - 1)
        elif node.kind == "conv":
            _conv_params(node, q, a)
            if q.get("synapse_groups", 1) == 2:  # lo as the node's Conv, hi a second one shifted after it
                hi, lo = split_weights(node.params["weight"])
                node.params.update(weight=lo, weight_hi=hi, hi_shift=int(q["split_exp"]))
        elif node.kind == "sigma_delta":  # netx's integers: Lava's SigmaDelta scales vth by 2**(spike_exp + state_exp)
            node.params["fixed"] = {k: int(q[k]) for k in ("vth_mant", "spike_exp", "state_exp")}
        elif node.kind == "lif":
            rules = fixed_rules(q) if q.get("model") == "RuleLIF" else NIR_RULES
            const, bias = a.get("const_mant"), a.get("bias_mant")  # bias_mant: per neuron, NIR layout (netx files)
            node.params.update(du=int(q["du"]), dv=int(q["dv"]), vth=int(q["vth_mant"]), rules=rules,
                               v_min=None if rules.v_min is None else int(rules.v_min),
                               bias=np.zeros(node.shape, dtype=np.int64) if bias is None else
                               to_lava(np.asarray(bias, dtype=np.int64), node.params["nir_shape"]),
                               bias_exp=int(q.get("bias_exp", 0)),
                               const=None if const is None else to_lava(np.asarray(const), node.params["nir_shape"]))
        nodes[name] = node
    return FixedNetwork(low.t_steps, nodes, [copy.copy(e) for e in low.edges], low.balanced,
                        sample_gap=low.sample_gap, layers=list(low.layers), output_layer=low.output_layer,
                        neurons=list(low.layers), float_edges=set())
