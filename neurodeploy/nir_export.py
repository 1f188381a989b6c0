"""Export: torch module -> ``nir.NIRGraph``, one node per layer, named by module path.

The model is traced with ``torch.fx``; leaf modules (convs, BatchNorm, neurons,
interpolation, the encoder/decoder and the attention blocks kept whole) become nodes.
Values flow as sequences ``(T, N, C, H, W)`` (domain ``seq``) from the encoder to the
decoder and as images ``(N, C, H, W)`` (domain ``image``) outside it. Node shapes are
per step and per image, ``(C, H, W)``.

- the image is the ``input`` node; ``DirectEncode`` becomes a :class:`~neurodeploy.ir.nodes.DirectEncode`
  node (image -> T steps); ``MeanDecode`` a :class:`~neurodeploy.ir.nodes.TemporalMean`;
- ``a + b`` becomes two edges into the consumer (NIR sums all inputs of a node);
  ``torch.cat`` along channels a :class:`~neurodeploy.ir.nodes.Concat` with its operand order;
- BatchNorm is folded into the conv before it (a separate pass, :func:`fold_batchnorm`);
- ``LIF`` becomes ``nir.LIF`` under the time-step convention of :func:`lif_to_nir`;
- attention blocks (sigmoid gates, products, global pooling) become
  :class:`~neurodeploy.ir.nodes.HostBlock` nodes that carry their parameters;
- ``PadToMultiple``/``CropLike`` must be identities at the export size (choose a size
  that is a multiple of the model's stride).

What NIR cannot say -- edge kinds (binary spikes / graded spikes / real values), the
papers' spike condition (``>=``), domains, T -- is stored beside the graph in
``graph.metadata["neurodeploy"]`` (see :mod:`neurodeploy.ir.info`). nirtorch's tracer is
not used: it names nodes after fx nodes, not module paths, and rejects every function
but addition.
"""

from __future__ import annotations

import copy
import json
import operator
from dataclasses import dataclass, field
from typing import Any

import nir
import numpy as np
import torch
from torch import nn

from neurodeploy.ir import nodes as nd
from neurodeploy.errors import ExportError, GraphError
from neurodeploy.ir import EDGE_BINARY, EDGE_GRADED, EDGE_REAL, GraphInfo, attach_info
from neurodeploy.ir.info import DEFAULT_RESIDENCY, RESIDENCIES
from neurodeploy.models import host_blocks, layers
from neurodeploy.models.neurons import LIF

DEFAULT_DT_S = 1e-3  # seconds per time step in the NIR graph (tau = tau_steps * dt)
# Above this many LIF neurons per image, LIF parameters are written per channel (C, 1, 1)
# instead of per neuron: ESDNet's paper preset at 256x256 would otherwise carry ~4 GB of
# identical float64 values (see GraphInfo.lif_params).
PER_NEURON_PARAMS_MAX_NEURONS = 1_000_000
_ADD_FUNCTIONS = (operator.add, torch.add, operator.iadd)
_CAT_FUNCTIONS = (torch.cat, torch.concat)
_SUB_FUNCTIONS = (operator.sub, torch.sub)
_MUL_FUNCTIONS = (operator.mul, torch.mul)
_IDENTITY_TYPES = (layers.PadToMultiple, layers.CropLike)
_EDGE_OF_KIND = {"lif": EDGE_BINARY, "nilif": EDGE_GRADED}
_SIMPLE_TYPES = (nn.Conv2d, nn.BatchNorm2d, nn.Upsample, LIF, layers.DirectEncode, layers.MeanDecode)
# Blocks kept whole as HostBlock nodes (each declares its shape rule and temporal window
# in neurodeploy.models.host_blocks).
HOST_BLOCKS = host_blocks.HOST_BLOCKS


@dataclass
class _Op:
    """A layer of the model on its way to NIR; its inputs are summed (except concat's)."""

    name: str
    kind: str  # input | encode | conv | bn | lif | nilif | patch_to_time | upsample | sum | gain | product | max | relu | pool | concat | host | decode_mean | output
    module: nn.Module | None
    inputs: list[str] = field(default_factory=list)
    shape: tuple[int, ...] = ()  # per-step, per-image output shape (C, H, W)
    domain: str = "seq"
    block: str = ""  # host ops that are a view of a module (VLIFGate): the declared block name
    path: str = ""  # and the module path the block is rebuilt from (default: the op's name)


class _LeafTracer(torch.fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return (isinstance(m, _SIMPLE_TYPES + _IDENTITY_TYPES) or type(m).__name__ in HOST_BLOCKS
                or super().is_leaf_module(m, qualname))


def _kind_of(module: nn.Module) -> str:
    if type(module).__name__ in HOST_BLOCKS:
        return "host"
    for cls, kind in ((layers.DirectEncode, "encode"), (layers.MeanDecode, "decode_mean"), (nn.Conv2d, "conv"),
                      (nn.BatchNorm2d, "bn"), (nn.Upsample, "upsample"), (LIF, "lif")):
        if isinstance(module, cls):
            return kind
    raise ExportError(f"module type {type(module).__name__} has no NIR mapping")


def _is_call(node: torch.fx.Node, functions, methods) -> bool:
    return (node.op == "call_function" and node.target in functions) or (node.op == "call_method" and node.target in methods)


def _attr(model: nn.Module, path: str) -> torch.Tensor:
    owner, _, leaf = path.rpartition(".")
    return getattr(model.get_submodule(owner) if owner else model, leaf).detach()


def _gain(ops: dict[str, _Op], name: str, inputs: list[str], factor: float) -> str:
    """A node multiplying the sum of ``inputs`` by a constant ``factor``."""
    ops[name] = _Op(name, "gain", float(factor), list(inputs))
    return name


def _single(ops: dict[str, _Op], sources: dict, arg: torch.fx.Node, name: str) -> str:
    """The one node carrying ``arg``'s value (a sum gets a Sum node of its own)."""
    if len(sources[arg]) != 1:
        ops[name] = _Op(name, "sum", None, list(sources[arg]))
        sources[arg] = [name]
    return sources[arg][0]


def _collapse_repeats(ops: dict[str, _Op], summed: list[str]) -> list[str]:
    """``a + a`` has no NIR form (edges are a set): a layer added k times becomes one gain of k."""
    out = []
    for src in dict.fromkeys(summed):
        k = summed.count(src)
        out.append(src if k == 1 else (f"{src}*{k}" if f"{src}*{k}" in ops else _gain(ops, f"{src}*{k}", [src], k)))
    return out


_VLIF_BLOCKS = ("VLIFC", "VLIFT")


def _compression_conv(block: nn.Module) -> nn.Conv2d:
    """A VLIF block's compression as a 1×1 conv on the r²·C channel groups.

    VLIF-C's ``mlp`` already is one (its input channel ``p·C + c`` is sub-step ``p`` of
    channel ``c``). VLIF-T's ``Conv3d`` with kernel = stride = (r², 1, 1) over time computes
    ``y[t, o] = sum_{c, p} W[o, c, p] s[t·r² + p, c]``: the same sum with the 1×1 weight
    ``W2[o, p·C + c] = W[o, c, p]``.
    """
    if type(block).__name__ == "VLIFC":
        return block.mlp
    w = block.compress.weight.detach()
    c_out, c_in, p = w.shape[:3]
    conv = torch.nn.utils.skip_init(nn.Conv2d, c_in * p, c_out, 1, bias=False, dtype=w.dtype)
    conv.weight.data = w[:, :, :, 0, 0].permute(0, 2, 1).reshape(c_out, p * c_in, 1, 1).clone()
    return conv


def _pixel_stats(ops: dict[str, _Op], stem: str, x: str) -> str:
    """Per step and channel, the mean (``STEM.pool``, a fixed average-pooling synapse) and the max
    (``STEM.pool_max``, a max tree) over the pixels of ``x``, joined as ``STEM.stats`` (2C channels:
    means first) -- what a split gate's host block reads. Returns ``STEM.stats``."""
    pool, pool_max, stats = f"{stem}.pool", f"{stem}.pool_max", f"{stem}.stats"
    ops[pool] = _Op(pool, "pool", None, [x])
    ops[pool_max] = _Op(pool_max, "max", "pixels", [x])
    ops[stats] = _Op(stats, "concat", 2, [pool, pool_max])
    return stats


def _expand_vlif(ops: dict[str, _Op], name: str, block: nn.Module, inputs: list[str], split_gate: bool = False) -> str:
    """A VLIF-C/VLIF-T block as chip and host ops: patch-to-time (routing) -> gain D ->
    NI-LIF over r² positions (chip neuron, graded spikes) -> temporal gate (host block) ->
    1×1 compression conv + BN (chip synapse). Returns the name of the op that gives the
    block's output. The r² sub-steps of each step travel as r² channel groups (see
    :class:`neurodeploy.ir.nodes.PatchToTime`), so every layer stays on T steps.

    ``split_gate`` (residency ``gates``, issue 31): the chip keeps the spikes and sends the temporal
    gate only what it pools -- per step and channel group the mean (an average-pooling synapse) and
    the max (a max tree) over pixels -> host block ``VLIFGates`` (all steps: one gate per sub-step)
    -> a product neuron multiplies each sub-step's gate into its channel group.
    """
    vlif = block.vlif
    r, levels = int(vlif.to_time.r), int(vlif.neuron.levels)
    to_time, scale, neuron, gate = (f"{name}.vlif.to_time", f"{name}.vlif.scale", f"{name}.vlif.neuron",
                                    f"{name}.vlif.temporal_gate")
    ops[to_time] = _Op(to_time, "patch_to_time", vlif.to_time, list(inputs))
    ops[scale] = _Op(scale, "gain", float(levels), [to_time])  # the model feeds NI-LIF with x * D
    ops[neuron] = _Op(neuron, "nilif", vlif.neuron, [scale])
    if split_gate:
        gates = f"{name}.vlif.temporal_gates"
        ops[gates] = _Op(gates, "host", vlif, [_pixel_stats(ops, f"{name}.vlif", neuron)], block="VLIFGates",
                         path=f"{name}.vlif")
        ops[gate] = _Op(gate, "product", None, [neuron, gates])
    else:
        ops[gate] = _Op(gate, "host", vlif, [neuron], block="VLIFGate", path=f"{name}.vlif")
    conv_name = f"{name}.mlp" if type(block).__name__ == "VLIFC" else f"{name}.compress"
    ops[conv_name] = _Op(conv_name, "conv", _compression_conv(block), [gate])
    ops[f"{name}.bn"] = _Op(f"{name}.bn", "bn", block.bn, [conv_name])
    return f"{name}.bn"


def _expand_mdsa(ops: dict[str, _Op], name: str, mdsa: nn.Module, inputs: list[str]) -> str:
    """SpikeRain's MDSA split so that the chip keeps the map (residency ``gates``, issue 31): the
    mean over pixels per channel (``pool``, a fixed average-pooling synapse) -> the temporal and
    channel gates ``s g_c`` (host block ``MDSAGates``, all steps) -> their product with the map
    (a product neuron; the map waits on the chip in delay lines) -> the channel mean per pixel
    (a fixed 1x1 synapse, weights 1/C) -> the spatial gate (host block ``MDSASpatial``, per step)
    -> its product with the gated map. Returns the name of the op that gives the block's output
    (the block's own name, so everything downstream reads it as before)."""
    x = inputs[0] if len(inputs) == 1 else None
    if x is None:
        x = f"{name}.in"
        ops[x] = _Op(x, "sum", None, list(inputs))
    channels = int(mdsa.channel_mlp[0].in_channels)
    mean_c = torch.nn.utils.skip_init(nn.Conv2d, channels, 1, 1, bias=False)
    mean_c.weight.data = torch.full((1, channels, 1, 1), 1.0 / channels)
    pool, gates, gated, cmean, spatial = (f"{name}.{k}" for k in ("pool", "gates", "gated", "channel_mean",
                                                                   "spatial_gate"))
    ops[pool] = _Op(pool, "pool", None, [x])
    ops[gates] = _Op(gates, "host", mdsa, [pool], block="MDSAGates", path=name)
    ops[gated] = _Op(gated, "product", None, [x, gates])
    ops[cmean] = _Op(cmean, "conv", mean_c, [gated])
    ops[spatial] = _Op(spatial, "host", mdsa, [cmean], block="MDSASpatial", path=name)
    ops[name] = _Op(name, "product", None, [gated, spatial])
    return name


def _expand_mda(ops: dict[str, _Op], name: str, mda: nn.Module, inputs: list[str]) -> str:
    """ESDNet's MAU / VLIF-Net's MDA (:class:`~neurodeploy.models.attention.MultiDimensionalAttention`)
    split so that the chip keeps the map (residency ``gates``, issue 31): per step and channel the
    mean (a fixed average-pooling synapse) and the max (a max tree) over pixels -> the temporal and
    channel gates ``a_t g_c`` (host block ``MDAGates``, all steps) -> their product with the map (a
    product neuron; the map waits in delay lines) -> per step and pixel the mean (a fixed 1x1
    synapse, weights 1/C) and the max (a max tree) over channels -> the spatial gate (host block
    ``MDASpatial``, all steps: it pools over time) -> its product with the gated map -> a ReLU
    (a graded ReLU neuron). Returns the block's own name (its output), so everything downstream
    reads it as before."""
    x = inputs[0] if len(inputs) == 1 else None
    if x is None:
        x = f"{name}.in"
        ops[x] = _Op(x, "sum", None, list(inputs))
    channels = int(mda.ca.mlp[0].in_channels)
    mean_c = torch.nn.utils.skip_init(nn.Conv2d, channels, 1, 1, bias=False)
    mean_c.weight.data = torch.full((1, channels, 1, 1), 1.0 / channels)
    k = {key: f"{name}.{key}" for key in ("gates", "gated", "channel_mean", "channel_max", "spatial_stats",
                                          "spatial_gate", "spatial_gated")}
    ops[k["gates"]] = _Op(k["gates"], "host", mda, [_pixel_stats(ops, name, x)], block="MDAGates", path=name)
    ops[k["gated"]] = _Op(k["gated"], "product", None, [x, k["gates"]])
    ops[k["channel_mean"]] = _Op(k["channel_mean"], "conv", mean_c, [k["gated"]])
    ops[k["channel_max"]] = _Op(k["channel_max"], "max", "channels", [k["gated"]])
    ops[k["spatial_stats"]] = _Op(k["spatial_stats"], "concat", 2, [k["channel_mean"], k["channel_max"]])
    ops[k["spatial_gate"]] = _Op(k["spatial_gate"], "host", mda, [k["spatial_stats"]], block="MDASpatial", path=name)
    ops[k["spatial_gated"]] = _Op(k["spatial_gated"], "product", None, [k["gated"], k["spatial_gate"]])
    ops[name] = _Op(name, "relu", None, [k["spatial_gated"]])
    return name


_GATE_SPLITS = {"MDSA": _expand_mdsa, "MultiDimensionalAttention": _expand_mda}


def trace_ops(model: nn.Module, split_gates: bool = False) -> dict[str, _Op]:
    """Trace ``model`` into ops in execution order; additions become multiple inputs.
    ``split_gates``: gate blocks that have a split (:data:`_GATE_SPLITS`) are split."""
    try:
        graph = _LeafTracer().trace(model)
    except Exception as exc:  # fx raises many types for untraceable Python
        raise ExportError(f"torch.fx cannot trace {type(model).__name__}: {exc}") from None
    ops: dict[str, _Op] = {}
    sources: dict[torch.fx.Node, list[str]] = {}  # fx node -> op names whose sum it is
    consts: dict[torch.fx.Node, tuple[float, str]] = {}  # fx node -> (scalar value, parameter path)
    modules = {name for name, _ in model.named_modules()}
    # The graph's input and output nodes are "input" and "output" unless a module has that path.
    io_name = {k: next(n for n in (k, f"{k}_", f"{k}__") if n not in modules) for k in ("input", "output")}
    for node in graph.nodes:
        if node.op == "placeholder":
            if any(op.kind == "input" for op in ops.values()):
                raise ExportError("the model takes more than one input; export supports one image input")
            ops[io_name["input"]] = _Op(io_name["input"], "input", None, domain="image")
            sources[node] = [io_name["input"]]
        elif node.op == "call_module":
            module = model.get_submodule(node.target)
            if isinstance(module, _IDENTITY_TYPES):
                sources[node] = sources[node.args[0]]  # checked to be an identity in infer_shapes
                continue
            if node.target in ops:
                raise ExportError(f"module '{node.target}' is called twice; NIR nodes are named by module path")
            inputs = [s for arg in node.all_input_nodes for s in sources[arg]]
            if type(module).__name__ in _VLIF_BLOCKS:
                sources[node] = [_expand_vlif(ops, node.target, module, inputs, split_gate=split_gates)]
                continue
            if split_gates and type(module).__name__ in _GATE_SPLITS:
                sources[node] = [_GATE_SPLITS[type(module).__name__](ops, node.target, module, inputs)]
                continue
            kind = _kind_of(module)
            if split_gates and type(module).__name__ == "TemporalFusion":
                kind = "decode_mean"  # softmax(w) is constant after training: a weighted readout on the chip
            ops[node.target] = _Op(node.target, kind, module, inputs)
            sources[node] = [node.target]
        elif node.op == "get_attr":
            value = _attr(model, node.target)
            if value.numel() != 1:
                raise ExportError(f"tensor '{node.target}' is used as a value; only scalar factors are supported")
            consts[node] = (float(value), node.target)
        elif _is_call(node, _ADD_FUNCTIONS, ("add", "__add__")) or _is_call(node, _SUB_FUNCTIONS, ("sub", "__sub__")):
            if any(not isinstance(a, torch.fx.Node) or a in consts for a in node.args[:2]):
                raise ExportError(f"'{node.name}': adding a constant has no NIR mapping; use a conv bias")
            a, b = node.args[:2]
            right = sources[b]
            if _is_call(node, _SUB_FUNCTIONS, ("sub", "__sub__")):  # a - b = a + (-1) b
                right = [_gain(ops, f"{node.name}.neg", right, -1.0)]
            sources[node] = _collapse_repeats(ops, sources[a] + right)
        elif _is_call(node, _MUL_FUNCTIONS, ("mul", "__mul__")):
            a, b = node.args[:2]
            factor = next(((consts[x] if x in consts else (float(x), None)) for x in (a, b)
                           if not isinstance(x, torch.fx.Node) or x in consts), None)
            if factor is not None:  # a constant times a value: a gain
                value = b if (not isinstance(a, torch.fx.Node) or a in consts) else a
                name = factor[1] if factor[1] and factor[1] not in ops else node.name
                sources[node] = [_gain(ops, name, sources[value], factor[0])]
            else:  # the product of two activations: a host op
                operands = [_single(ops, sources, x, f"{node.name}.in{i}") for i, x in enumerate((a, b))]
                ops[node.name] = _Op(node.name, "product", None, operands)
                sources[node] = [node.name]
        elif node.op == "call_function" and node.target in _CAT_FUNCTIONS:
            operands = [_single(ops, sources, arg, f"{node.name}.in{i}") for i, arg in enumerate(node.args[0])]
            ops[node.name] = _Op(node.name, "concat", None, operands)
            ops[node.name].module = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
            sources[node] = [node.name]
        elif node.op == "output":
            ops[io_name["output"]] = _Op(io_name["output"], "output", None, list(sources[node.args[0]]))
        else:
            what = getattr(node.target, "__name__", node.target)
            raise ExportError(f"operation '{what}' ({node.op}) has no NIR mapping yet; supported: conv, batchnorm, "
                              "LIF, upsample, addition, channel concatenation, and the blocks "
                              f"{', '.join(sorted(HOST_BLOCKS))}")
    kinds = [op.kind for op in ops.values()]
    if kinds.count("encode") != 1:
        raise ExportError("the model needs exactly one DirectEncode (the encoding of the image into T steps)")
    for op in ops.values():
        if op.kind not in ("input", "encode") and not op.inputs:
            raise ExportError(f"'{op.name}' has no input")
    return ops


def _conv_out(conv: nn.Conv2d, shape: tuple[int, ...]) -> tuple[int, ...]:
    hw = [(size + 2 * p - d * (k - 1) - 1) // s + 1
          for size, p, d, k, s in zip(shape[1:], conv.padding, conv.dilation, conv.kernel_size, conv.stride)]
    return (conv.out_channels, *hw)


def propagate_shapes(model: nn.Module, ops: dict[str, _Op], input_shape: tuple[int, int, int]) -> bool:
    """Shapes and domains by rule, op by op (ops are in execution order). Returns False
    when some op has no rule; :func:`infer_shapes` then runs the model instead."""
    for module in model.modules():
        if isinstance(module, layers.PadToMultiple) and any(v % module.multiple for v in input_shape[1:]):
            raise ExportError(f"PadToMultiple changes the image size at {input_shape[1]}x{input_shape[2]}; "
                              f"export at a size divisible by {module.multiple}")
    for op in ops.values():
        if op.kind == "input":
            op.shape, op.domain = tuple(input_shape), "image"
            continue
        if op.kind == "concat":
            first = ops[op.inputs[0]]
            op.domain = first.domain
            op.shape = (sum(ops[i].shape[0] for i in op.inputs), *first.shape[1:])
            continue
        if op.kind == "product":  # operands broadcast (a gate of shape (C, 1, 1) or (1, H, W) on a map)
            op.shape = tuple(int(v) for v in np.broadcast_shapes(*(ops[i].shape for i in op.inputs)))
            op.domain = ops[op.inputs[0]].domain
            continue
        if op.kind == "pool" or (op.kind == "max" and op.module == "pixels"):  # per channel, over pixels
            src = ops[op.inputs[0]]
            op.shape, op.domain = (src.shape[0], 1, 1), src.domain
            continue
        if op.kind == "max":  # per pixel, over channels
            src = ops[op.inputs[0]]
            op.shape, op.domain = (1, *src.shape[1:]), src.domain
            continue
        shapes = {ops[i].shape for i in op.inputs}
        if len(shapes) != 1:
            raise ExportError(f"'{op.name}' sums inputs of different shapes: {sorted(shapes)}")
        shape, domain = shapes.pop(), ops[op.inputs[0]].domain
        block = host_blocks.HOST_BLOCKS.get(op.block or type(op.module).__name__) if op.kind == "host" else None
        if op.kind in ("bn", "lif", "nilif", "sum", "gain", "product", "relu", "output") or (block and block.shape == "same"):
            op.shape, op.domain = shape, domain
        elif block and block.shape == "half_channels":
            op.shape, op.domain = (shape[0] // 2, *shape[1:]), domain
        elif op.kind == "encode":
            op.shape, op.domain = shape, "seq"
        elif op.kind == "decode_mean" or (block and block.shape == "to_image"):
            op.shape, op.domain = shape, "image"
        elif op.kind == "conv":
            op.shape, op.domain = _conv_out(op.module, shape), domain
        elif op.kind == "patch_to_time":
            r = op.module.r
            op.shape, op.domain = (shape[0] * r * r, shape[1] // r, shape[2] // r), domain
        elif op.kind == "upsample" and op.module.size is None and op.module.scale_factor is not None:
            f = float(op.module.scale_factor)
            op.shape, op.domain = (shape[0], int(shape[1] * f), int(shape[2] * f)), domain
        else:
            return False
    return True


def _meta_copy(model: nn.Module, source: dict[str, Any]) -> nn.Module:
    """The model on the meta device (shapes, no data): built there from its config when
    known (no weights copied), else a deep copy moved there."""
    if source.get("architecture"):
        from neurodeploy.models import get_architecture

        with torch.device("meta"):
            return get_architecture(source["architecture"]).build(source.get("config", {})).eval()
    return copy.deepcopy(model).to("meta")


def infer_shapes(model: nn.Module, ops: dict[str, _Op], input_shape: tuple[int, int, int],
                 source: dict[str, Any] | None = None) -> None:
    """Record each op's per-step shape and domain by running the model once on zeros."""
    handles = []

    def record(name):
        def _hook(module, args, out):
            seq = out.dim() == 5
            ops[name].shape = tuple(out.shape[2:] if seq else out.shape[1:])
            ops[name].domain = "seq" if seq else "image"
        return _hook

    def check_identity(module, args, out):
        if tuple(out.shape[-2:]) != tuple(args[0].shape[-2:]):
            raise ExportError(f"{type(module).__name__} changes the image size at {input_shape[1]}x{input_shape[2]}; "
                              f"export at a size divisible by {getattr(model, 'stride', 'the model stride')}")

    # Shapes only: a copy on the meta device computes nothing (a paper-size forward on
    # the CPU takes ~50 s at 256x256).
    model = _meta_copy(model, source or {})
    for name, module in model.named_modules():
        if name in ops:
            handles.append(module.register_forward_hook(record(name)))
        elif isinstance(module, _IDENTITY_TYPES):
            handles.append(module.register_forward_hook(check_identity))
    try:
        with torch.no_grad():
            out = model(torch.zeros(1, *input_shape, device="meta"))
    finally:
        for h in handles:
            h.remove()
    graph_in = next(op for op in ops.values() if op.kind == "input")
    graph_out = next(op for op in ops.values() if op.kind == "output")
    graph_in.shape = tuple(input_shape)
    graph_out.shape = tuple(out.shape[1:])
    graph_out.domain = "image" if out.dim() == 4 else "seq"
    for op in ops.values():
        if op.kind in ("sum", "gain", "product", "relu"):
            op.shape, op.domain = ops[op.inputs[0]].shape, ops[op.inputs[0]].domain
        elif op.kind == "concat":
            first = ops[op.inputs[0]]
            op.domain = first.domain
            op.shape = (sum(ops[i].shape[0] for i in op.inputs), *first.shape[1:])


def fold_batchnorm(ops: dict[str, _Op]) -> dict[str, str]:
    """Fold every BatchNorm into the conv that feeds it (and only it). Returns {conv: bn}.

    ``w' = w * g / sqrt(var + eps)``, ``b' = (b - mean) * g / sqrt(var + eps) + beta``,
    per output channel. The conv keeps its name; consumers of the BN now read the conv.
    """
    folded = {}
    consumers: dict[str, list[str]] = {n: [] for n in ops}
    for op in ops.values():
        for src in op.inputs:
            consumers[src].append(op.name)
    for bn in [op for op in ops.values() if op.kind == "bn"]:
        src = ops[bn.inputs[0]] if len(bn.inputs) == 1 else None
        if src is None or src.kind != "conv" or consumers[src.name] != [bn.name]:
            raise ExportError(f"BatchNorm '{bn.name}' does not follow a conv it alone consumes; cannot fold it")
        m: nn.BatchNorm2d = bn.module
        conv: nn.Conv2d = src.module
        scale = m.weight.detach().double() / torch.sqrt(m.running_var.double() + m.eps)
        weight = conv.weight.detach().double() * scale[:, None, None, None]
        bias = conv.bias.detach().double() if conv.bias is not None else torch.zeros_like(scale)
        bias = (bias - m.running_mean.double()) * scale + m.bias.detach().double()
        # Kept in float64: the float simulators run in float64, and a float32 rounding of
        # folded weights would move membranes by ~1e-7 and flip spikes that sit that close
        # to the threshold.
        folded_conv = torch.nn.utils.skip_init(nn.Conv2d, conv.in_channels, conv.out_channels, conv.kernel_size,
                                               conv.stride, conv.padding, conv.dilation, conv.groups, bias=True,
                                               dtype=torch.float64)
        folded_conv.weight.data = weight
        folded_conv.bias.data = bias
        src.module = folded_conv
        src.shape = bn.shape
        for c in consumers[bn.name]:
            ops[c].inputs = [src.name if i == bn.name else i for i in ops[c].inputs]
        consumers[src.name] = consumers[bn.name]
        del ops[bn.name]
        folded[src.name] = bn.name
    return folded


def lif_to_nir(lif: LIF, shape: tuple[int, ...], dt_s: float, per_channel: bool = False) -> nir.LIF:
    """The papers' discrete LIF as ``nir.LIF``, under a forward-Euler step of ``dt_s`` seconds.

    NIR: ``tau dv/dt = (v_leak - v) + r I``. One Euler step of ``dt``:
    ``v <- (1 - dt/tau) v + (dt/tau) r I``. With ``tau = tau_steps * dt``, ``r = tau_steps``
    and ``v_leak = 0`` this is the papers' ``H = (1 - 1/tau_steps) V + X`` exactly.
    NIR fires on ``v > v_threshold``; the papers fire on ``>=`` -- recorded per node in the
    metadata (``spike_condition``). With ``per_channel`` the arrays have shape (C, 1, 1).
    """
    if per_channel:
        shape = (shape[0],) + (1,) * (len(shape) - 1)
    full = lambda value: np.full(shape, value, dtype=np.float64)  # noqa: E731
    return nir.LIF(tau=full(lif.tau * dt_s), r=full(lif.tau), v_leak=full(0.0),
                   v_threshold=full(lif.v_threshold), v_reset=full(0.0))


def _conv_to_nir(conv: nn.Conv2d, input_hw: tuple[int, int]) -> nir.Conv2d:
    if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        raise ExportError(f"conv padding {conv.padding!r}/{conv.padding_mode} has no Loihi mapping; use integer zero padding")
    # float64 throughout (see fold_batchnorm); float32 parameters convert exactly.
    weight = conv.weight.detach().double().numpy().copy()
    bias = conv.bias.detach().double().numpy().copy() if conv.bias is not None else np.zeros(conv.out_channels)
    return nir.Conv2d(input_shape=tuple(int(v) for v in input_hw), weight=weight,
                      stride=tuple(conv.stride), padding=tuple(conv.padding), dilation=tuple(conv.dilation),
                      groups=conv.groups, bias=bias)


def _host_block(op: _Op, ops: dict[str, _Op], source: dict[str, Any]) -> nd.HostBlock:
    if not source.get("architecture"):
        raise ExportError(f"block '{op.name}' ({type(op.module).__name__}) is kept whole and needs the "
                          "architecture name and config; export from a checkpoint")
    # At least 1-d: HDF5 cannot compress scalar datasets; readers restore the module's shapes.
    params = {k: np.atleast_1d(v.detach().double().numpy()).copy() for k, v in op.module.state_dict().items()}
    domain_in = ops[op.inputs[0]].domain
    return nd.HostBlock(op.shape, block=op.block or type(op.module).__name__, architecture=source["architecture"],
                        config=json.dumps(source.get("config", {})), module=op.path or op.name, params=params,
                        domain_in=domain_in, domain_out=op.domain)


def _to_nir(op: _Op, ops: dict[str, _Op], t_steps: int, dt_s: float, source: dict[str, Any],
            per_channel: bool) -> nir.NIRNode:
    shape = np.array(op.shape)
    if op.kind == "input":
        return nir.Input(input_type={"input": shape})
    if op.kind == "output":
        return nir.Output(output_type={"output": shape})
    if op.kind == "encode":
        return nd.DirectEncode(shape, t_steps=t_steps)
    if op.kind == "decode_mean":
        if type(op.module).__name__ == "TemporalFusion":  # its weights as trained: softmax(w), float64
            weights = torch.softmax(op.module.weights.detach().double(), 0).tolist()
            return nd.TemporalMean(shape, weights=json.dumps(weights))
        return nd.TemporalMean(shape)
    if op.kind == "sum":
        return nd.Sum(shape)
    if op.kind == "gain":
        return nd.Gain(shape, factor=float(op.module))
    if op.kind == "product":
        return nd.Product(shape, order=json.dumps(op.inputs))
    if op.kind == "max":
        return nd.Max(shape, over=str(op.module), input_shape=np.array(ops[op.inputs[0]].shape))
    if op.kind == "relu":
        return nd.ReLU(shape)
    if op.kind == "conv":
        return _conv_to_nir(op.module, ops[op.inputs[0]].shape[1:])
    if op.kind == "pool":  # the mean over pixels per channel as a fixed depthwise synapse (weights 1 / (H W))
        c, h, w = ops[op.inputs[0]].shape
        return nir.Conv2d(input_shape=(h, w), weight=np.full((c, 1, h, w), 1.0 / (h * w)), stride=(1, 1),
                          padding=(0, 0), dilation=(1, 1), groups=c, bias=np.zeros(c))
    if op.kind == "lif":
        return lif_to_nir(op.module, op.shape, dt_s, per_channel)
    if op.kind == "patch_to_time":
        return nd.PatchToTime(shape, r=int(op.module.r))
    if op.kind == "nilif":
        return nd.NILIF(shape, levels=int(op.module.levels), beta=float(op.module.beta), positions=_positions(op, ops))
    if op.kind == "upsample":
        m: nn.Upsample = op.module
        if m.scale_factor is None or float(m.scale_factor) != int(m.scale_factor):
            raise ExportError(f"upsample '{op.name}' needs an integer scale factor")
        return nd.Upsample(shape, scale_factor=int(m.scale_factor), mode=m.mode, align_corners=int(bool(m.align_corners)))
    if op.kind == "concat":
        channel_dim = 2 if op.domain == "seq" else 1
        if op.module not in (channel_dim, channel_dim - (5 if op.domain == "seq" else 4)):
            raise ExportError(f"'{op.name}' concatenates along dim {op.module}; only channels are supported")
        return nd.Concat(shape, order=json.dumps(op.inputs))
    return _host_block(op, ops, source)


def _positions(op: _Op, ops: dict[str, _Op]) -> int:
    """Sub-steps per step of a NI-LIF: r² after a patch-to-time (through its gain), else 1."""
    src = ops[op.inputs[0]]
    while src.kind == "gain":
        src = ops[src.inputs[0]]
    return int(src.module.r) ** 2 if src.kind == "patch_to_time" else 1


def export_graph(model: nn.Module, input_size: tuple[int, int], dt_s: float = DEFAULT_DT_S,
                 architecture: str | None = None, config: dict[str, Any] | None = None,
                 residency: str = DEFAULT_RESIDENCY, delta_threshold: float | None = None) -> nir.NIRGraph:
    """Export a model (image in, image out) to a NIR graph with neurodeploy metadata.

    Args:
        model: a registered architecture, in eval mode.
        input_size: image (H, W) in pixels; the graph's shapes are fixed to it.
        dt_s: seconds per time step written into the NIR neuron time constants.
        architecture, config: the model's registry name and config (needed when the
            model has blocks that are kept whole, which executors rebuild from them).
        residency: what the partition may keep on the chip beyond its base kinds
            (:data:`neurodeploy.ir.info.RESIDENCIES`): ``products`` runs products of
            activations as product neurons, ``gates`` also splits SpikeRain's MDSA,
            ESDNet's/VLIF-Net's MDA (:data:`_GATE_SPLITS`) and VLIF's temporal gate, ``host`` keeps them on the host (as before issue 31).
        delta_threshold: sigma-delta messages across the chip/host cut (model units; 0 exact; None:
            every crossing value every step), :mod:`neurodeploy.delta_messages`.
    """
    if residency not in RESIDENCIES:
        raise ExportError(f"residency '{residency}' is not one of {', '.join(RESIDENCIES)}")
    model = model.eval()
    input_shape = (3, int(input_size[0]), int(input_size[1]))
    source = {"architecture": architecture, "config": config or {}}
    ops = trace_ops(model, split_gates=residency == "gates")
    if not propagate_shapes(model, ops, input_shape):
        infer_shapes(model, ops, input_shape, source)
    folded = fold_batchnorm(ops)
    t_steps = int(getattr(model, "t_steps"))

    neurons = sum(int(np.prod(op.shape)) for op in ops.values() if op.kind == "lif")
    per_channel = neurons > PER_NEURON_PARAMS_MAX_NEURONS
    info = GraphInfo(t_steps=t_steps, dt_s=dt_s, input_shape=input_shape, folded_batchnorm=folded,
                     lif_params="per_channel" if per_channel else "per_neuron", residency=residency,
                     delta_threshold=None if delta_threshold is None else float(delta_threshold))
    nodes: dict[str, nir.NIRNode] = {}
    edges = []
    for op in ops.values():
        nodes[op.name] = _to_nir(op, ops, t_steps, dt_s, source, per_channel)
        info.node_kinds[op.name] = "conv" if op.kind == "pool" else op.kind  # a pool is a fixed conv
        info.shapes[op.name] = [int(v) for v in op.shape]
        info.domains[op.name] = op.domain
        if isinstance(op.module, nn.Module):
            info.modules[op.name] = op.name
        if op.kind == "lif":
            info.spike_condition[op.name] = ">="
        for src in op.inputs:
            edges.append((src, op.name))
            info.edge_kinds[f"{src}->{op.name}"] = _EDGE_OF_KIND.get(ops[src].kind, EDGE_REAL)
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata={}, type_check=False)
    attach_info(graph, info)
    # What read_graph would refuse must not be written: check at export time.
    from neurodeploy.ir.check import check_graph

    try:
        check_graph(graph)
    except GraphError as exc:
        raise ExportError(f"the exported graph is malformed ({exc}); this is a neurodeploy bug, please report it") from None
    return graph
