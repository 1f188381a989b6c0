"""Export: torch module -> ``nir.NIRGraph``, one node per layer, named by module path.

The model is traced with ``torch.fx`` (leaf modules: convs, BatchNorm, neurons, the
encoder and decoder). The resulting NIR graph describes **one logical time step**:

- ``DirectEncode`` becomes the ``Input`` node (it carries the real-valued image every step);
- ``MeanDecode`` becomes the ``Output`` node (its per-step value; the image is the mean
  over the T steps, recorded as ``decode: mean_over_time`` in the graph metadata);
- ``a + b`` becomes two edges into the consumer (NIR sums all inputs of a node);
- BatchNorm is folded into the conv before it (a separate pass, :func:`fold_batchnorm`);
- ``LIF`` becomes ``nir.LIF`` under the time-step convention of :func:`lif_to_nir`.

What NIR cannot say -- edge kinds (binary spikes / graded spikes / real values), the
papers' spike condition (``>=``), T, encoding and decoding -- is stored beside the graph in
``graph.metadata["neurodeploy"]`` as JSON keyed by node name (see :mod:`neurodeploy.graph`).
nirtorch's tracer is not used: it names nodes after fx nodes, not module paths, and
rejects every function but addition, where the derainers need more.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import nir
import numpy as np
import torch
from torch import nn

from neurodeploy.errors import ExportError
from neurodeploy.graph import EDGE_BINARY, EDGE_REAL, GraphInfo, attach_info
from neurodeploy.models.layers import DirectEncode, MeanDecode
from neurodeploy.models.neurons import LIF

DEFAULT_DT_S = 1e-3  # seconds per time step in the NIR graph (tau = tau_steps * dt)
_LEAF_TYPES = (nn.Conv2d, nn.BatchNorm2d, LIF, DirectEncode, MeanDecode)
_ADD_FUNCTIONS = (operator.add, torch.add, operator.iadd)


@dataclass
class _Op:
    """A layer of the model on its way to NIR: name = module path, inputs are summed."""

    name: str
    kind: str  # "input" | "conv" | "bn" | "lif" | "output"
    module: nn.Module | None
    inputs: list[str] = field(default_factory=list)
    shape: tuple[int, ...] = ()  # per-step output shape (C, H, W)


class _LeafTracer(torch.fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, _LEAF_TYPES) or super().is_leaf_module(m, qualname)


def _kind_of(module: nn.Module) -> str:
    if isinstance(module, DirectEncode):
        return "input"
    if isinstance(module, MeanDecode):
        return "output"
    if isinstance(module, nn.Conv2d):
        return "conv"
    if isinstance(module, nn.BatchNorm2d):
        return "bn"
    return "lif"


def trace_ops(model: nn.Module) -> dict[str, _Op]:
    """Trace ``model`` into ops in execution order; additions become multiple inputs."""
    try:
        graph = _LeafTracer().trace(model)
    except Exception as exc:  # fx raises many types for untraceable Python
        raise ExportError(f"torch.fx cannot trace {type(model).__name__}: {exc}") from None
    ops: dict[str, _Op] = {}
    sources: dict[torch.fx.Node, list[str]] = {}  # fx node -> op names whose sum it is
    for node in graph.nodes:
        if node.op == "placeholder":
            sources[node] = []  # the raw image: only DirectEncode may consume it
        elif node.op == "call_module":
            module = model.get_submodule(node.target)
            if not isinstance(module, _LEAF_TYPES):
                raise ExportError(f"module '{node.target}' ({type(module).__name__}) has no NIR mapping")
            if node.target in ops:
                raise ExportError(f"module '{node.target}' is called twice; NIR nodes are named by module path")
            inputs = [s for arg in node.all_input_nodes for s in sources[arg]]
            kind = _kind_of(module)
            if kind != "input" and not inputs:
                raise ExportError(f"module '{node.target}' takes the raw image; only the encoder may")
            ops[node.target] = _Op(node.target, kind, module, inputs)
            sources[node] = [node.target]
        elif (node.op == "call_function" and node.target in _ADD_FUNCTIONS) or (
            node.op == "call_method" and node.target in ("add", "__add__")
        ):
            if any(not isinstance(a, torch.fx.Node) for a in node.args):
                raise ExportError(f"'{node.name}': adding a constant has no NIR mapping; use a conv bias")
            summed = [s for arg in node.args for s in sources[arg]]
            if len(set(summed)) != len(summed):
                raise ExportError(f"'{node.name}': the same layer is added twice; scale it instead")
            sources[node] = summed
        elif node.op == "output":
            continue
        else:
            what = getattr(node.target, "__name__", node.target)
            raise ExportError(f"operation '{what}' ({node.op}) has no NIR mapping yet; supported: conv, "
                              "batchnorm, LIF, addition, DirectEncode, MeanDecode")
    kinds = [op.kind for op in ops.values()]
    if kinds.count("input") != 1 or kinds.count("output") != 1:
        raise ExportError("the model needs exactly one DirectEncode (input) and one MeanDecode (output)")
    return ops


def infer_shapes(model: nn.Module, ops: dict[str, _Op], input_shape: tuple[int, int, int]) -> None:
    """Record each op's per-step output shape by running the model once on zeros."""
    handles = []

    def hook(name):
        def _record(module, args, out):
            # Sequence outputs are (T, N, C, H, W); the decoder's output is (N, C, H, W).
            ops[name].shape = tuple(out.shape[1:] if name == out_name else out.shape[2:])
        return _record

    out_name = next(op.name for op in ops.values() if op.kind == "output")
    for name in ops:
        handles.append(model.get_submodule(name).register_forward_hook(hook(name)))
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        for h in handles:
            h.remove()


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
        folded_conv = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                                conv.padding, conv.dilation, conv.groups, bias=True, dtype=torch.float64)
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


def lif_to_nir(lif: LIF, shape: tuple[int, ...], dt_s: float) -> nir.LIF:
    """The papers' discrete LIF as ``nir.LIF``, under a forward-Euler step of ``dt_s`` seconds.

    NIR: ``tau dv/dt = (v_leak - v) + r I``. One Euler step of ``dt``:
    ``v <- (1 - dt/tau) v + (dt/tau) r I``. With ``tau = tau_steps * dt``, ``r = tau_steps``
    and ``v_leak = 0`` this is the papers' ``H = (1 - 1/tau_steps) V + X`` exactly.
    NIR fires on ``v > v_threshold``; the papers fire on ``>=`` -- recorded per node in the
    metadata (``spike_condition``).
    """
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


def export_graph(model: nn.Module, input_size: tuple[int, int], dt_s: float = DEFAULT_DT_S) -> nir.NIRGraph:
    """Export a model (image in, image out) to a per-time-step NIR graph with metadata.

    Args:
        model: a registered architecture, in eval mode.
        input_size: image (H, W) in pixels; the graph's shapes are fixed to it.
        dt_s: seconds per time step written into the NIR neuron time constants.
    """
    model = model.eval()
    input_shape = (3, int(input_size[0]), int(input_size[1]))
    ops = trace_ops(model)
    infer_shapes(model, ops, input_shape)
    folded = fold_batchnorm(ops)

    nodes: dict[str, nir.NIRNode] = {}
    info = GraphInfo(t_steps=int(getattr(model, "t_steps")), dt_s=dt_s, input_shape=input_shape,
                     folded_batchnorm=folded)
    for op in ops.values():
        if op.kind == "input":
            name = "input"
            nodes[name] = nir.Input(input_type={"input": np.array(op.shape)})
        elif op.kind == "output":
            name = "output"
            nodes[name] = nir.Output(output_type={"output": np.array(op.shape)})
        elif op.kind == "conv":
            name = op.name
            in_shape = ops[op.inputs[0]].shape
            nodes[name] = _conv_to_nir(op.module, in_shape[1:])
        else:
            name = op.name
            nodes[name] = lif_to_nir(op.module, op.shape, dt_s)
            info.spike_condition[name] = ">="
        info.node_kinds[name] = op.kind
        info.modules[name] = op.name
    rename = {op.name: ("input" if op.kind == "input" else "output" if op.kind == "output" else op.name)
              for op in ops.values()}
    edges = []
    for op in ops.values():
        for src in op.inputs:
            edge = (rename[src], rename[op.name])
            edges.append(edge)
            info.edge_kinds[f"{edge[0]}->{edge[1]}"] = EDGE_BINARY if ops[src].kind == "lif" else EDGE_REAL
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata={}, type_check=False)
    attach_info(graph, info)
    return graph
