"""Graphs from other NIR writers (snntorch, norse) into neurodeploy's form.

(Since issue 16, ``.nir`` files with every NIR 1.0 primitive, from any writer, are read by
:func:`neurodeploy.ir.read_graph` -- :mod:`neurodeploy.ir.nirread`, semantics in
:mod:`neurodeploy.ir.primitives` -- and run on input sequences by
``targets/nir_primitives.py`` and ``targets/loihi/nir_lava.py``. This module keeps the
older path: conv + LIF image networks wrapped in our encoder/decoder, run as our exports.)

**Foreign graphs in.** :func:`from_foreign_nir` takes a NIR graph written by
``snntorch.export_nir.export_to_nir`` or ``norse.torch.to_nir`` and returns a graph with
our :class:`~neurodeploy.ir.GraphInfo` attached, in the form of our own exports (an
explicit encoder and decoder around the writer's per-step nodes), so that
``targets/loihi/lower.py`` + the Lava executor and the NIR torch executor
(``targets/nir_torch.py``) run it as they run our exports. It fills in what those writers
leave out (layer shapes, per-neuron parameter arrays, the time step) and refuses, with one
line naming the node, what Lava's LIF cannot compute.

What the writers put into ``nir.LIF`` (read from the snntorch 1.0.0 / norse 1.1.0
sources), and the discrete step each library runs (``v`` membrane, ``x`` input, ``S`` spike):

- **snntorch** ``Leaky(beta, threshold)`` -> ``tau = dt/(1-beta)``, ``r = tau/dt``,
  ``v_leak = v_reset = 0``, with ``dt = 1e-4`` s hard-coded in export and import; the
  reset mechanism is *not* written. Step: ``H = beta v + x``; ``S = H > thr`` (the
  surrogate's forward is ``x > 0``); reset "zero": ``v = H (1 - S)`` (``reset_delay``
  True or False give the same spikes); reset "subtract" (snntorch's default!):
  ``v = beta v + x - S_prev thr`` (the previous step's spike subtracted after the decay,
  one step late), which Lava's LIF cannot compute; ``read_graph(writer="snntorch",
  reset="subtract")`` runs it (:mod:`neurodeploy.ir.rules`, Lava ``RuleLIF``). Spikes are float32 whatever the
  module dtype, so snntorch nets run in float32.
- **norse** ``LIFBoxCell(tau_mem_inv, v_th)`` -> ``tau = dt/tau_mem_inv`` (wrong by a
  factor dt^2: the time constant is ``1/tau_mem_inv``; norse/norse#411), ``r = 1``,
  ``dt = to_nir(dt=1e-3)``; ``v_reset`` not written (NIR default 0 = norse default).
  Step: ``v += dt tau_mem_inv (v_leak - v + x)``; ``S = v > v_th``; ``v = v_reset`` where
  S (``reset_value``; ``reset_subtract`` is not written either).
- **Lava** LIF (``targets/loihi/lower.py``): ``v = v (1-dv) + u + bias``, ``S = v > vth``,
  ``v = 0`` where S.
- **ours** (``neurodeploy.nir_export.lif_to_nir``): ``tau = tau_steps dt``, ``r = tau_steps``;
  step ``H = V - V/tau_steps + X``, ``S = H >= th``, hard reset to 0.

So both libraries' LIF is Lava's LIF with ``dv = dt/tau`` and input gain ``dt r / tau``
(snntorch: 1; norse: ``dt/tau``), firing strictly above threshold like Lava. Neither writes
the time step it assumed, so :func:`from_foreign_nir` takes it from ``source`` (or
``dt_s``). ``nir.CubaLIF`` (snntorch ``Synaptic``, norse ``LIFCell``) is refused for now:
Lava's LIF has the synaptic state (``du = dt/tau_syn``) but ``lower.map_neurons`` fixes ``du = 1``,
and the writers disagree on its input gain (snntorch writes ``w_in = tau_syn/dt`` as NIR's
Euler step needs; norse adds the input with gain 1 but writes ``w_in = 1``), so each
source needs its own rule -- not built or measured yet.
"""
from __future__ import annotations

import nir
import numpy as np
import torch

from neurodeploy.errors import GraphError, LoweringError
from neurodeploy.ir import EDGE_BINARY, EDGE_REAL, GraphInfo, attach_info, predecessors, topological_order
from neurodeploy.ir import nodes as nd
from neurodeploy.ir.nirread import WRITER_DT_S

# The writers this older image path reads; the seconds per step each assumes but does not
# record in the graph (snntorch's export_nir.py and import_nir.py hard-code ``dt = 1e-4``,
# norse's to_nir and from_nir default to ``dt=0.001``) come from the one table of the
# ``.nir`` reader, WRITER_DT_S, which also knows sinabs and rockpool (not read here).
SOURCES = ("snntorch", "norse")
SUPPORTED = "Input, Conv2d, LIF, Output"


def _array(value) -> np.ndarray:
    """A NIR parameter (numpy array, torch tensor or number) as a float64 numpy array."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().double().numpy()
    return np.asarray(value, dtype=np.float64)


def _pair(value, what: str, name: str) -> tuple[int, int]:
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    values = np.atleast_1d(np.asarray(value)).astype(int).tolist()
    if len(values) == 1:
        values = values * 2
    if len(values) != 2:
        raise GraphError(f"conv '{name}': {what} {value!r} is not one or two integers")
    return int(values[0]), int(values[1])


def _input_shape(graph: nir.NIRGraph, name: str, override) -> tuple[int, int, int]:
    if override is not None:
        shape = tuple(int(v) for v in override)
    else:
        raw = graph.nodes[name].input_type.get("input")
        shape = tuple(int(v) for v in np.asarray(raw).reshape(-1)) if raw is not None else ()
        # nirtorch writes the sample's batch dimension into the Input node (see NIR issue
        # neuromorphs/NIR#69); a leading 1 in front of (C, H, W) is that batch.
        if len(shape) == 4 and shape[0] == 1:
            shape = shape[1:]
    if len(shape) != 3:
        raise GraphError(f"input '{name}' has shape {shape}; neurodeploy needs (C, H, W) images "
                         "(pass input_shape=(C, H, W))")
    return shape  # type: ignore[return-value]


def _conv(name: str, node: nir.Conv2d, in_shape: tuple[int, ...]) -> nir.Conv2d:
    weight = _array(node.weight)
    if weight.ndim != 4:
        raise GraphError(f"conv '{name}': weight has {weight.ndim} dims, expected (C_out, C_in/groups, kH, kW)")
    groups = int(node.groups)
    if len(in_shape) != 3 or weight.shape[1] * groups != in_shape[0]:
        raise GraphError(f"conv '{name}': weight {weight.shape} (groups={groups}) does not fit its input {in_shape}")
    kernel = weight.shape[2:]
    stride = _pair(node.stride, "stride", name)
    dilation = _pair(node.dilation, "dilation", name)
    if isinstance(node.padding, str):
        if node.padding == "valid":
            padding = (0, 0)
        elif node.padding == "same" and stride == (1, 1) and all(k % 2 for k in kernel):
            padding = tuple(dilation[i] * (kernel[i] - 1) // 2 for i in range(2))
        else:
            raise LoweringError(f"conv '{name}': padding {node.padding!r} with stride {stride} and kernel "
                                f"{kernel} has no symmetric zero padding; use integer padding")
    else:
        padding = _pair(node.padding, "padding", name)
    bias = _array(node.bias) if getattr(node, "bias", None) is not None else np.zeros(weight.shape[0])
    bias = np.broadcast_to(bias, (weight.shape[0],)).copy()
    if not (np.all(np.isfinite(weight)) and np.all(np.isfinite(bias))):
        raise GraphError(f"conv '{name}': weight or bias holds NaN or infinity")
    return nir.Conv2d(input_shape=tuple(int(v) for v in in_shape[1:]), weight=weight, stride=stride,
                      padding=padding, dilation=dilation, groups=groups, bias=bias)


def _lif(name: str, node: nir.LIF, shape: tuple[int, ...]) -> nir.LIF:
    params = {}
    for key in ("tau", "r", "v_leak", "v_threshold", "v_reset"):
        raw = getattr(node, key, None)
        value = np.zeros(()) if raw is None and key == "v_reset" else _array(raw)
        try:
            value = np.broadcast_to(value, shape).copy()
        except ValueError:
            raise GraphError(f"neuron '{name}': {key} has shape {value.shape}, the layer {shape}") from None
        if not np.all(np.isfinite(value)):
            raise GraphError(f"neuron '{name}': {key} holds NaN or infinity")
        params[key] = value
    if np.any(params["tau"] <= 0):
        raise GraphError(f"neuron '{name}': tau must be > 0 s")
    if np.any(params["v_leak"] != 0) or np.any(params["v_reset"] != 0):
        raise LoweringError(f"neuron '{name}': v_leak and v_reset must be 0 (Lava's LIF leaks to and resets to 0)")
    return nir.LIF(**params)


def from_foreign_nir(graph: nir.NIRGraph, t_steps: int, source: str, *, dt_s: float | None = None,
                     reset: str = "zero", input_shape: tuple[int, int, int] | None = None,
                     norse_tau_bug: bool = True) -> nir.NIRGraph:
    """Annotate a snntorch/norse NIR graph so that the Lava lowering can run it.

    Args:
        graph: as returned by ``export_to_nir`` / ``norse.torch.to_nir`` (or ``nir.read``).
            Shapes may be missing (both writers leave neuron shapes empty): they are
            inferred from the Input node. Not modified.
        t_steps: T, time steps per input (the input is presented on every step).
        source: ``"snntorch"``, ``"norse"`` or ``"nir"`` (then ``dt_s`` is required).
        dt_s: seconds per step the writer assumed; default: the writer's (snntorch 1e-4 s,
            norse 1e-3 s). It sets ``dv = dt/tau`` and the input gain ``dt r / tau``.
        reset: the reset the source network used; NIR does not record it. Only ``"zero"``
            (snntorch ``reset_mechanism="zero"``, norse ``reset_value``) maps to this path's
            Lava LIF; snntorch's "subtract" runs through :func:`neurodeploy.ir.read_graph`
            (``writer="snntorch", reset="subtract"``; :mod:`neurodeploy.ir.rules`).
        input_shape: (C, H, W) when the Input node does not carry it.
        norse_tau_bug: source "norse" only: the graph was written by a norse whose
            ``to_nir`` stores ``tau = dt / tau_mem_inv`` (norse <= 1.1.0, norse/norse#411);
            the true time constant ``1/tau_mem_inv`` is read back as ``tau / dt``. Set
            False for graphs written by a fixed norse.

    Returns:
        A new graph in the form of our exports: Input (image) -> ``encode``
        (``neurodeploy.DirectEncode``, T steps) -> the writer's nodes, renamed never,
        with float64 parameters and full per-neuron arrays -> ``decode``
        (``neurodeploy.TemporalMean``) -> Output (image); read it back with
        :func:`neurodeploy.ir.read_graph` (``nir.read`` refuses our node types by
        design). GraphInfo: node kinds, domains, edge kinds, spike condition ``>`` (both
        libraries fire strictly above threshold, like Lava), ``decode`` = ``"spikes"``
        when the output reads a neuron layer (decoded: its firing rate), else
        ``"mean_over_time"``.

    Raises:
        GraphError: malformed graph (dangling edge, cycle, bad shapes, NaN parameters).
        LoweringError: a node Lava's LIF network cannot compute, named with what to do.
    """
    if source not in (*SOURCES, "nir"):
        raise GraphError(f"unknown NIR source {source!r}; use 'snntorch', 'norse' or 'nir'")
    if dt_s is None:
        if source == "nir":
            raise GraphError("source 'nir': pass dt_s, the seconds per time step the graph's taus assume")
        dt_s = WRITER_DT_S[source]
    if reset != "zero":
        raise LoweringError(f"reset {reset!r}: this image path lowers to Lava's LIF, which resets to zero; read the "
                            ".nir file with --writer snntorch --reset subtract (read_graph), or retrain with "
                            "reset_mechanism='zero'")
    if t_steps < 1:
        raise GraphError(f"t_steps must be >= 1, got {t_steps}")
    for name, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            raise LoweringError(f"node '{name}' is a nested NIR graph (recurrent layer such as snntorch RLeaky); "
                                "recurrent layers have no Lava mapping in neurodeploy yet")
    order = topological_order(graph)
    inputs = [n for n in order if isinstance(graph.nodes[n], nir.Input)]
    outputs = [n for n in order if isinstance(graph.nodes[n], nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise GraphError(f"the graph needs exactly one Input and one Output node, has {len(inputs)} and {len(outputs)}")

    nodes: dict[str, nir.NIRNode] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    info = GraphInfo(t_steps=int(t_steps), dt_s=float(dt_s), input_shape=_input_shape(graph, inputs[0], input_shape))
    for name in order:
        node = graph.nodes[name]
        preds = predecessors(graph, name)
        in_shapes = {shapes[p] for p in preds}
        if len(in_shapes) > 1:
            raise GraphError(f"node '{name}' sums inputs of different shapes {sorted(in_shapes)}")
        in_shape = next(iter(in_shapes), ())
        if isinstance(node, nir.Input):
            shapes[name] = info.input_shape
            nodes[name] = nir.Input(input_type={"input": np.array(info.input_shape)})
            kind = "input"
        elif not preds:
            raise GraphError(f"node '{name}' has no input edge")
        elif isinstance(node, nir.Conv2d):
            nodes[name] = _conv(name, node, in_shape)
            shapes[name] = tuple(int(v) for v in nodes[name].output_type["output"])
            kind = "conv"
        elif isinstance(node, nir.LIF):
            nodes[name] = _lif(name, node, in_shape)
            if source == "norse" and norse_tau_bug:
                nodes[name].tau = nodes[name].tau / dt_s  # undo norse's tau = dt/tau_mem_inv
            shapes[name] = in_shape
            info.spike_condition[name] = ">"
            kind = "lif"
        elif isinstance(node, nir.Output):
            shapes[name] = in_shape
            nodes[name] = nir.Output(output_type={"output": np.array(in_shape)})
            kind = "output"
        elif isinstance(node, nir.CubaLIF):
            raise LoweringError(f"node '{name}' is nir.CubaLIF (snntorch Synaptic / norse LIFCell): its synaptic "
                                "current is not mapped to Lava yet; use snntorch Leaky or norse LIFBoxCell")
        else:
            raise LoweringError(f"node '{name}' is nir.{type(node).__name__}, which has no Lava mapping in "
                                f"neurodeploy yet (supported: {SUPPORTED})")
        info.node_kinds[name] = kind
        info.modules[name] = name  # foreign nodes are named by the writer (nirtorch: module path)
    # The writers' graphs describe one time step with the input fed on every step. Our
    # exports make that explicit with an encoder and a decoder node (image <-> T steps);
    # the same two nodes here let every executor (Lava lowering, NIR torch executor) run
    # foreign graphs exactly like ours.
    inp, out = inputs[0], outputs[0]
    enc, dec = _fresh(nodes, "encode"), _fresh(nodes, "decode")
    out_src = predecessors(graph, out)
    nodes[enc] = nd.DirectEncode(np.array(info.input_shape), t_steps=int(t_steps))
    nodes[dec] = nd.TemporalMean(np.array(shapes[out]))
    edges = ([(inp, enc)] + [(enc if s == inp else s, dec if d == out else d) for s, d in graph.edges]
             + [(dec, out)])
    info.node_kinds.update({enc: "encode", dec: "decode_mean"})
    info.domains = {n: "seq" for n in nodes}
    info.domains.update({inp: "image", dec: "image", out: "image"})
    for src, dst in edges:
        info.edge_kinds[f"{src}->{dst}"] = EDGE_BINARY if info.node_kinds[src] == "lif" else EDGE_REAL
    # A classifier-style net ends in neurons: its decoded output is their firing rate.
    info.decode = "spikes" if all(info.node_kinds[p] == "lif" for p in out_src) else "mean_over_time"
    result = nir.NIRGraph(nodes=nodes, edges=edges, metadata={"source": source}, type_check=False)
    attach_info(result, info)
    return result


def _fresh(nodes: dict, base: str) -> str:
    name, i = base, 1
    while name in nodes:
        name, i = f"{base}_{i}", i + 1
    return name


# ---------------------------------------------------------------------------------------
# Our graphs into snntorch and norse.
