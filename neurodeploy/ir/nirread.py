"""Graphs from any NIR writer into neurodeploy's graph form: nested graphs flattened, shapes
inferred, parameters normalised, then the strict checks of :mod:`.check`.

NIR's semantics, and what neurodeploy assumes where NIR leaves things open, are in
:mod:`.primitives`. This module only reshapes a file into a form every executor can run:

1. **Nested graphs** (``nir.NIRGraph`` as a node; snntorch's RLeaky, nirtorch's
   submodules) are flattened into one graph; their nodes keep their names, prefixed
   ``SUB.`` (``layer1.lif``). An edge to ``SUB`` (or ``SUB.input``, nirtorch's spelling)
   enters the subgraph's Input node, an edge from ``SUB`` (``SUB.output``) leaves its
   Output; those inner Input/Output nodes are removed and their edges joined. An empty
   subgraph, or one without exactly one Input and one Output, is refused by name.
2. **Shapes** are inferred from the Input node forward (:func:`.primitives.out_shape`),
   ignoring the writers' declared types where they are missing; declared types that
   differ from the inferred ones only by singleton dimensions are accepted with one
   warning; a writer's leading batch 1 on the Input is dropped with the same warning.
3. **Normalised nodes**: float64 numpy parameters, neuron parameters broadcast to the
   layer's shape, Conv2d ``input_shape`` filled and padding made integer, every
   node's ``input_type``/``output_type`` set to the inferred shapes -- so that
   ``nir.read`` (with its type check) loads what neurodeploy writes back.
4. **Writer quirks**, only when asked (``writer=``): see :data:`WRITERS`; the neuron rules
   NIR cannot carry (spike on ``>=``, subtractive or late reset) are recorded on the nodes
   (:mod:`.rules`), ``reset=`` for the writers that do not write their reset mechanism.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
import nir
import numpy as np
import torch

from neurodeploy.errors import GraphError
from neurodeploy.ir import nodes as nd
from neurodeploy.ir import primitives as pr
from neurodeploy.ir import rules as nr
from neurodeploy.ir.order import recurrent_edges, topological_order

Warn = Callable[[str], None]
# What each writer means by what it writes, where that is not NIR's semantics at the dt it
# assumed (read from snntorch 1.0.0, norse 1.1.0, sinabs 3.1.3, rockpool 3.1.0 sources):
WRITERS = {
    "nir": "NIR's semantics (primitives.py) at --dt",
    "snntorch": "dt = 1e-4 s (hard-coded in its exporter); Synaptic (CubaLIF) and RLeaky/RSynaptic (a neuron on "
                "a recurrent loop) reset one step late; --reset subtract (its default, not written): subtracted one "
                "step late; files of snntorch 0.7.0 (tau = r = -1/(beta+1)) read as 0.7.0 wrote them (CONVENTIONS)",
    "norse": "dt = 1e-3 s; tau written as dt/tau_mem_inv (norse/norse#411): read back as tau/dt",
    "sinabs": "dt = 1 step: IF(r=1) means v += x per step; LIF taus in steps; fires at v >= th; its defaults "
              "(not written): several spikes per step, subtractive reset, IF v clamped at -v_threshold "
              "(--rule multi-spike|subtract-reset|min-v-mem=off); a LIF's input scaled by 1 - exp(-1/tau) as its "
              "module's norm_input=True (--rule norm-input=off: as its from_nir reads it)",
    "rockpool": "dt = the one its r = tau exp(-dt/tau)/dt encodes, else 1e-3 s (its default); Output types differ by singleton dimensions; fires at v >= th and "
                "subtracts th, up to 2**16 spikes per step (--rule multi-spike=off); LIF is LIFNeuronTorch's "
                "v = a v + x (--rule lif-step=off)",
}
WRITER_DT_S = {"snntorch": 1e-4, "norse": 1e-3, "sinabs": None, "rockpool": 1e-3}
#: Writer releases whose files mean different neurons by the same values (issue 28), newest last.
#: ``--writer NAME`` picks the convention under which the file is plausible and says which and why;
#: ``--writer NAME@CONVENTION`` forces one. A writer absent here wrote one convention in every release
#: that writes NIR (docs/nir-writer-conventions.md).
CONVENTIONS = {
    "snntorch": {
        "1.0.0": "Leaky as LIF with tau = 1e-4/(1-beta) s, r = tau/1e-4 (0.8.0 to 1.0.0 write alike): "
                 "v = beta v + x at dt = 1e-4 s",
        "0.7.0": "Leaky as LIF with tau = r = -1/(beta+1) (snntorch 0.7.0 export.py l.14-17, written with nir "
                 "0.0.6): beta = -1 - 1/tau, v = beta v + x, reset by subtraction one step late (its Leaky's "
                 "default, and nir 0.0.6's LIF reset)",
    },
    "norse": {
        "1.1.0": "tau written as dt/tau_mem_inv (norse#411; 1.1.0 is the only norse release on PyPI that "
                 "writes NIR): the time constant is tau/dt seconds",
        "master": "tau written as 1/tau_mem_inv, the time constant in seconds (norse PR #413 on GitHub "
                  "master, unreleased on PyPI; also files written by hand from norse's parameters)",
    },
}
#: Releases that write a convention named after another release (``--writer snntorch@0.9.4``).
CONVENTION_ALIASES = {"snntorch": {v: "1.0.0" for v in ("0.8.0", "0.8.1", "0.9.0", "0.9.1", "0.9.4")}}
#: snntorch >= 0.8.0 writes every time constant against this dt (export_nir.py, hard-coded).
SNNTORCH_DT_S = 1e-4
#: A time constant outside this range, in steps of dt, makes a convention implausible for a file: below
#: one step NIR's Euler step overshoots (dt/tau > 1); above 1e5 steps the neuron does not leak within
#: any sample this tool runs (validate's default inputs are at most 1,000 steps).
PLAUSIBLE_TAU_STEPS = (1.0, 1e5)
CONVENTION_KEY = "neurodeploy.writer_convention"  # graph metadata: {writer, convention, why}
# writers whose files do not say which reset their neurons use (neuromorphs/NIR#63): --reset
RESET_WRITERS = ("snntorch", "sinabs")


# the parameters of nir 0.0.x's neurons (nir/ir.py of 0.0.6), which it did not require to share one shape
_PRE_1_0_NEURONS = {"LIF": ("tau", "r", "v_leak", "v_threshold"), "LI": ("tau", "r", "v_leak"),
                    "CubaLIF": ("tau_mem", "tau_syn", "r", "v_leak", "v_threshold"), "IF": ("r", "v_threshold"),
                    "I": ("r",)}


def _kind(raw) -> str | None:
    kind = raw.get("type") if isinstance(raw, dict) else None
    return kind.decode(errors="replace") if isinstance(kind, bytes) else kind


def upgrade_pre_1_0(raw_nodes):
    """Node dicts of a file written with nir < 1.0 (nir 0.0.x, July 2023: snntorch 0.7.0 wrote with
    0.0.6) in nir 1.0's form; a file written with nir >= 1.0 is returned as it is.

    nir 0.0.x wrote nodes by index (``"0"``, ``"1"``, ... with integer edges, which the reader turns
    into names), an ``Output`` without a shape, and a neuron's parameters each with its own shape
    (snntorch 0.7.0: ``tau`` per neuron, ``v_threshold`` one number). Such an Output gets an empty
    shape (inferred from its input, as for writers that leave types out) and a neuron's one-number
    parameters are broadcast to its per-neuron ones (nir 1.0 refuses parameters of different shapes).
    """
    if not isinstance(raw_nodes, dict):
        return raw_nodes
    flat = [r for r in raw_nodes.values() if isinstance(r, dict)]
    if not any(_kind(r) == "Output" and "shape" not in r and "output_type" not in r for r in flat):
        return raw_nodes  # nir >= 1.0 writes every Output's shape
    out = {}
    for name, raw in raw_nodes.items():
        kind = _kind(raw)
        if kind == "NIRGraph":
            raw = dict(raw, nodes=upgrade_pre_1_0(raw.get("nodes")))
        elif kind == "Output" and "shape" not in raw and "output_type" not in raw:
            raw = dict(raw, shape=np.array([], dtype=np.int64))
        elif kind in _PRE_1_0_NEURONS:
            keys = [k for k in _PRE_1_0_NEURONS[kind] if k in raw]
            try:
                arrays = np.broadcast_arrays(*(np.asarray(raw[k], dtype=np.float64) for k in keys))
            except ValueError:  # shapes that do not broadcast: the node's own check names them
                arrays = None
            if arrays is not None:
                raw = dict(raw, **{k: np.array(a) for k, a in zip(keys, arrays)})
        out[name] = raw
    return out


def build_nested(raw_nodes: dict, build_one: Callable[[dict], dict]) -> dict[str, nir.NIRNode]:
    """Node dicts -> nodes; a ``NIRGraph`` dict becomes a graph (built without NIR's type
    check, which writers' subgraphs fail) whose own nodes are built the same way."""
    out: dict[str, nir.NIRNode] = {}
    plain = {}
    for name, raw in raw_nodes.items():
        kind = raw.get("type") if isinstance(raw, dict) else None
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind == "NIRGraph":
            inner = raw.get("nodes")
            if not isinstance(inner, dict) or not inner:
                raise GraphError(f"subgraph {pr._q(name)} is empty (no nodes); remove it or re-export the graph")
            edges = [tuple(e.decode() if isinstance(e, bytes) else str(e) for e in edge)
                     for edge in raw.get("edges", [])]
            out[str(name)] = nir.NIRGraph(nodes=build_nested(inner, build_one), edges=edges, type_check=False)
        else:
            plain[name] = raw
    out.update(build_one(plain))
    return {str(k): out[str(k)] for k in raw_nodes}


def flatten_subgraphs(graph: nir.NIRGraph) -> nir.NIRGraph:
    """One flat graph; nested graphs' nodes named ``SUB.inner`` (see module docstring)."""
    if not any(isinstance(n, nir.NIRGraph) for n in graph.nodes.values()):
        return graph
    nodes: dict[str, nir.NIRNode] = {}
    entry: dict[str, str] = {}  # subgraph name (and SUB.input) -> the first inner node(s)' stand-in
    exit_: dict[str, str] = {}
    inner_edges: list[tuple[str, str]] = []
    for name, node in graph.nodes.items():
        if not isinstance(node, nir.NIRGraph):
            nodes[name] = node
            continue
        sub = flatten_subgraphs(node)
        if not sub.nodes:
            raise GraphError(f"subgraph {pr._q(name)} is empty (no nodes); remove it or re-export the graph")
        ins = [n for n, v in sub.nodes.items() if isinstance(v, nir.Input)]
        outs = [n for n, v in sub.nodes.items() if isinstance(v, nir.Output)]
        if len(ins) != 1 or len(outs) != 1:
            raise GraphError(f"subgraph {pr._q(name)} has {len(ins)} Input and {len(outs)} Output nodes; neurodeploy "
                             "flattens subgraphs with exactly one of each")
        for inner, v in sub.nodes.items():
            if inner not in (ins[0], outs[0]):
                nodes[f"{name}.{inner}"] = v
        for a in (name, f"{name}.input", f"{name}.{ins[0]}"):
            entry[a] = f"{name}.{ins[0]}"
        for a in (name, f"{name}.output", f"{name}.{outs[0]}"):
            exit_[a] = f"{name}.{outs[0]}"
        for s, d in sub.edges:
            inner_edges.append((f"{name}.{s}", f"{name}.{d}"))
    edges = [(exit_.get(s, s), entry.get(d, d)) for s, d in graph.edges] + inner_edges
    # splice out the removed inner Input/Output nodes: join what enters them to what leaves
    removed = set(entry.values()) | set(exit_.values())
    for r in removed:
        preds = [s for s, d in edges if d == r]
        succs = [d for s, d in edges if s == r]
        if not preds or not succs:
            sub = r.split(".")[0]
            raise GraphError(f"subgraph {pr._q(sub)} is dangling: its {'input' if r in entry.values() else 'output'} "
                             f"{pr._q(r)} is not connected; connect the subgraph or remove it")
        edges = [e for e in edges if r not in e] + [(p, q) for p in preds for q in succs]
    for s, d in edges:
        for end in (s, d):
            if end not in nodes:
                raise GraphError(f"edge {pr._q(s)}->{pr._q(d)} names node {pr._q(end)}, which the flattened graph does not have")
    return nir.NIRGraph(nodes=nodes, edges=list(dict.fromkeys(edges)), metadata=dict(graph.metadata or {}),
                        type_check=False)


def _types(node: nir.NIRNode, in_shape, out_shape) -> None:
    node.input_type = {"input": np.array(in_shape, dtype=np.int64)}
    node.output_type = {"output": np.array(out_shape, dtype=np.int64)}


def normalize(graph: nir.NIRGraph, dt_s: float = pr.DEFAULT_DT_S, warn: Warn | None = None,
              ) -> tuple[nir.NIRGraph, dict[str, tuple[int, ...]]]:
    """A normalised copy of a flat graph and every node's per-step output shape.

    Raises:
        GraphError: one line naming the node (see :mod:`.primitives`).
    """
    warned: list[str] = []

    def singleton(msg: str) -> None:
        warned.append(msg)

    for name, node in graph.nodes.items():
        if not isinstance(node, (nir.Input, nir.Output, nir.Conv2d, nir.LIF)) and type(node) not in pr.NEW_KINDS:
            raise GraphError(f"node {pr._q(name)} has type {type(node).__name__}, which neurodeploy does not read "
                             f"(it reads: {pr.ALL_NAMES})")
    for s, d in graph.edges:
        for end in (s, d):
            if end not in graph.nodes:
                raise GraphError(f"edge {pr._q(s)}->{pr._q(d)} names node {pr._q(end)}, which the graph does not "
                                 "have; remove the edge or add the node")
    stateful = lambda n: pr.is_stateful_neuron(graph.nodes[n])  # noqa: E731
    order = topological_order(graph.nodes, graph.edges, stateful)
    back = recurrent_edges(graph.nodes, graph.edges, stateful)
    preds: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for s, d in graph.edges:
        if (s, d) not in back:  # a recurrent input's shape is known only later: compared below
            preds[d].append(s)
    shapes: dict[str, tuple[int, ...]] = {}
    nodes: dict[str, nir.NIRNode] = {}
    for name in order:
        node = graph.nodes[name]
        if isinstance(node, nir.Input):
            shape = pr.declared(node, "input_type", "input")
            if shape is None:
                raise GraphError(f"input {pr._q(name)} declares no shape; re-export the graph with an input shape")
            if len(shape) > 1 and shape[0] == 1:
                singleton(f"input {pr._q(name)} {shape}: leading batch 1 dropped")
                shape = shape[1:]
            shapes[name] = shape
            nodes[name] = nir.Input(input_type={"input": np.array(shape, dtype=np.int64)})
            continue
        ins = preds[name]
        if not ins:
            raise GraphError(f"node {pr._q(name)} has no input (a dangling node); connect it or remove it")
        in_shapes = {shapes[p] for p in ins}
        if len(in_shapes) > 1:
            squeezed = {pr.squeeze(s) for s in in_shapes}
            if len(squeezed) > 1:
                raise GraphError(f"node {pr._q(name)} sums inputs of different shapes {sorted(in_shapes)}")
            singleton(f"node {pr._q(name)} sums inputs {sorted(in_shapes)}")
        in_shape = max(in_shapes, key=len)
        if isinstance(node, nir.Output):
            out = in_shape
            new: nir.NIRNode = nir.Output(output_type={"output": np.array(out, dtype=np.int64)})
        elif isinstance(node, nir.Conv2d):
            if len(in_shape) != 3:
                raise GraphError(f"conv {pr._q(name)}: input shape {in_shape} is not (C, H, W)")
            p = pr.conv_params(name, node, in_shape)
            new = nir.Conv2d(input_shape=tuple(in_shape[1:]), weight=p["weight"], stride=p["stride"],
                             padding=p["padding"], dilation=p["dilation"], groups=p["groups"], bias=p["bias"])
            out = pr._conv_shape(name, node, p["weight"], in_shape, 2)
        elif isinstance(node, nir.Conv1d):
            out = pr.out_shape(name, node, in_shape, dt_s)
            p = pr.conv_params(name, node, in_shape)
            new = nir.Conv1d(input_shape=int(in_shape[1]), weight=p["weight"], stride=p["stride"][0],
                             padding=p["padding"][0], dilation=p["dilation"][0], groups=p["groups"], bias=p["bias"])
        elif isinstance(node, nir.LIF) or type(node) in pr.NEURON_PARAMS:
            pr.out_shape(name, node, in_shape, dt_s) if not isinstance(node, nir.LIF) else None
            params = pr.neuron_params(name, node, in_shape, dt_s) if not isinstance(node, nir.LIF) else \
                _lif_params(name, node, in_shape, dt_s)
            new = type(node)(**params)
            out = in_shape
        elif isinstance(node, (nir.Affine, nir.Linear)):
            out = pr.out_shape(name, node, in_shape, dt_s)
            weight = pr.as_array(node.weight, name, "weight")
            if isinstance(node, nir.Affine):
                bias = np.broadcast_to(pr.as_array(node.bias, name, "bias"), (weight.shape[0],)).copy()
                new = nir.Affine(weight=weight, bias=bias)
            else:
                new = nir.Linear(weight=weight)
            if in_shape != (weight.shape[1],):
                singleton(f"node {pr._q(name)} takes {in_shape} as ({weight.shape[1]},)")
        elif isinstance(node, nir.Flatten):
            out = pr.out_shape(name, node, in_shape, dt_s)
            start, end = pr.flatten_dims(name, node, in_shape)
            new = nir.Flatten(input_type={"input": np.array(in_shape, dtype=np.int64)}, start_dim=start, end_dim=end)
        elif isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
            out = pr.out_shape(name, node, in_shape, dt_s)
            p = pr.pool_params(name, node)
            new = type(node)(kernel_size=np.array(p["kernel"]), stride=np.array(p["stride"]),
                             padding=np.array(p["padding"]))
        elif isinstance(node, nir.Scale):
            out = pr.out_shape(name, node, in_shape, dt_s)
            new = nir.Scale(scale=np.broadcast_to(pr.as_array(node.scale, name, "scale"), in_shape).copy())
        elif isinstance(node, nd.SigmaDelta):  # our sigma-delta neuron (a netx file's SDNN layer): elementwise
            out = in_shape
            new = nd.SigmaDelta(shape=np.array(in_shape, dtype=np.int64), vth=float(node.vth),
                                state_exp=int(node.state_exp))
        elif isinstance(node, nir.Delay):
            out = pr.out_shape(name, node, in_shape, dt_s)
            new = nir.Delay(delay=np.broadcast_to(pr.as_array(node.delay, name, "delay"), in_shape).copy())
        else:  # pragma: no cover - refused above
            raise GraphError(f"node {pr._q(name)} has type {type(node).__name__}")
        for attr, key, want in (("input_type", "input", in_shape), ("output_type", "output", out)):
            got = pr.declared(node, attr, key)
            if isinstance(node, nir.Flatten) and attr == "input_type":
                continue  # Flatten's recorded input may carry a batch axis (primitives.flatten_dims)
            if isinstance(node, (nir.Conv1d, nir.Conv2d)) and attr == "input_type" and got is not None:
                if tuple(got) == pr.per_group(node, want):  # nir's Conv types declare C_in/groups channels
                    got = tuple(want)
            if got is not None and tuple(got) != tuple(want):
                if not pr.same_up_to_singletons(got, want):
                    raise GraphError(f"node {pr._q(name)}: declared {attr} {got} disagrees with the inferred {tuple(want)}")
                singleton(f"node {pr._q(name)} {attr} {got} read as {tuple(want)}")
        _types(new, in_shape, out)
        if isinstance(node, nir.Flatten):
            new.output_type = {"output": np.array(out, dtype=np.int64)}
        meta = getattr(node, "metadata", None)
        new.metadata = dict(meta) if isinstance(meta, dict) else {}  # a writer's node notes; damage dropped
        nr.rules_of(name, new)  # neuron rules (graph.nir of a --writer bundle) checked here, once
        nodes[name], shapes[name] = new, tuple(int(v) for v in out)
    for s, d in back:
        if pr.squeeze(shapes[s]) != pr.squeeze(shapes[preds[d][0]]):
            raise GraphError(f"recurrent edge {pr._q(s)}->{pr._q(d)}: {pr._q(s)} gives shape {shapes[s]}, "
                             f"{pr._q(d)} sums it with its input's {shapes[preds[d][0]]}; make them agree")
    if warned and warn is not None:
        more = f" (and {len(warned) - 1} more)" if len(warned) > 1 else ""
        warn(f"shapes differ from the declared types only by singleton dimensions: {warned[0]}{more}")
    flat = nir.NIRGraph(nodes={n: nodes[n] for n in graph.nodes}, edges=list(graph.edges),
                        metadata=dict(graph.metadata or {}), type_check=False)
    return flat, shapes


def _lif_params(name: str, node: nir.LIF, shape, dt_s: float) -> dict[str, np.ndarray]:
    """nir.LIF's parameters as primitives.neuron_params does for the others."""
    params = {}
    for key in ("tau", "r", "v_leak", "v_threshold", "v_reset"):
        raw = getattr(node, key, None)
        params[key] = pr._broadcast(name, key, pr.as_array(0.0 if raw is None else raw, name, key), tuple(shape))
    if np.any(params["tau"] <= 0):
        hint = ("; snntorch 0.7.0 wrote tau = r = -1/(beta+1): read it with --writer snntorch"
                if np.allclose(params["tau"], params["r"]) and np.all(params["tau"] < 0) else "")
        raise GraphError(f"neuron {pr._q(name)}: tau {params['tau'].min():g} s is not > 0 (a time constant){hint}")
    if np.any(dt_s / params["tau"] > 1):
        raise GraphError(f"neuron {pr._q(name)}: tau {params['tau'].min():g} s is shorter than dt = {dt_s:g} s (the "
                         "Euler step overshoots, no Loihi decay does that); pass the writer's --dt or --writer")
    return params


# The writers' default neuron options their files do not record (issue 28): ``--writer W`` sets
# each of W's, ``--rule NAME=off`` switches one off (``=on``: the default, said explicitly).
# name -> (the writers it belongs to, what it does); read from sinabs 3.1.3 and rockpool 3.1.0.
WRITER_RULES: dict[str, tuple[tuple[str, ...], str]] = {
    "multi-spike": (("sinabs", "rockpool"), "several spikes per step, sent as one graded spike carrying the count "
                    "(sinabs MultiSpike: unbounded, capped at 2**23 - 1, a Loihi 2 graded payload; rockpool "
                    "max_spikes_per_dt = 2**16); off: one spike per step"),
    "subtract-reset": (("sinabs",), "a spike subtracts the threshold, k spikes k thresholds (sinabs "
                       "MembraneSubtract); off: reset to 0, as --reset zero"),
    "min-v-mem": (("sinabs",), "v clamped at -v_threshold after the reset, on IF layers (sinabs' from_nir "
                  "builds IAFSqueeze(min_v_mem=-v_threshold)); off: no clamp"),
    "norm-input": (("sinabs",), "a LIF adds (1 - a) x per step, as sinabs' LIF module (norm_input=True, its "
                   "default) that wrote the file; off: it adds x, as sinabs' from_nir reads the file (norm_input=False)"),
    "lif-step": (("rockpool",), "a LIF is rockpool's LIFNeuronTorch: v = a v + x with a = exp(-dt/tau) (it writes "
                 "r = tau a / dt); off: NIR's Euler step with the r written"),
}
ROCKPOOL_MAX_SPIKES = 1 << 16  # LIFTorch/LIFNeuronTorch's default max_spikes_per_dt (lif_torch.py)


def split_writer(writer: str | None) -> tuple[str | None, str | None]:
    """``--writer NAME[@CONVENTION]`` -> (NAME, CONVENTION or None); one line for an unknown name or
    a convention the writer does not have (:data:`CONVENTIONS`)."""
    if writer is None or "@" not in writer:
        return writer, None
    name, _, convention = writer.partition("@")
    if name not in WRITERS:
        raise GraphError(f"unknown writer {name!r}; use one of {', '.join(WRITERS)}")
    known = CONVENTIONS.get(name, {})
    convention = CONVENTION_ALIASES.get(name, {}).get(convention, convention)
    if convention not in known:
        have = (f"{name} has {', '.join(known)}" if known else
                f"{name} wrote one convention in every release that writes NIR: use --writer {name}")
        raise GraphError(f"--writer {writer}: unknown convention {convention!r}; {have}")
    return name, convention


def _neurons(graph: nir.NIRGraph):
    """(name, node) of every neuron with time constants, subgraphs included (names ``SUB.inner``)."""
    for name, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            yield from ((f"{name}.{n}", v) for n, v in _neurons(node))
        elif isinstance(node, (nir.LIF, nir.LI, nir.CubaLIF, nir.CubaLI)):
            yield name, node


def _f64(node: nir.NIRNode, key: str) -> np.ndarray:
    return np.asarray(getattr(node, key), dtype=np.float64).ravel()


def snntorch_decays(graph: nir.NIRGraph, dt_s: float, convention: str) -> tuple[bool, str] | None:
    """Whether ``graph`` reads as snntorch ``convention`` wrote it, and the numbers that say so
    (one phrase); None when the graph has no neuron with a time constant.

    - 0.7.0 (``export.py``): only ``Leaky`` -> LIF, with ``tau = r = -1/(beta+1)``: plausible
      when every LIF has ``r == tau`` and ``beta = -1 - 1/tau`` is a decay in [0, 1) (snntorch
      clamps beta to [0, 1], ``leaky.py`` l.214); it writes no CubaLIF or LI.
    - 1.0.0 (0.8.0 on, ``export_nir.py``): ``tau = dt/(1-beta)``, ``r = tau/dt`` (Synaptic:
      ``tau_syn = dt/(1-alpha)``, ``w_in = tau_syn/dt``) at dt = 1e-4 s: plausible when every
      decay ``1 - dt_s/tau`` lies in [0, 1) and every input gain ``r dt_s/tau`` (``w_in``) is 1.
    """
    decays, gains, foreign = [], [], []
    for name, node in _neurons(graph):
        if convention == "0.7.0":
            if not isinstance(node, nir.LIF):
                foreign.append(f"{name} is a {type(node).__name__}")
                continue
            tau, r = _f64(node, "tau"), _f64(node, "r")
            with np.errstate(divide="ignore", invalid="ignore"):
                decays.append(-1.0 - 1.0 / tau)
            gains.append(np.where(tau != 0, r / np.where(tau != 0, tau, 1.0), np.inf))
        else:
            for key, gain_key in (("tau_mem", "r"), ("tau", "r"), ("tau_syn", "w_in")):
                if not hasattr(node, key) or (key == "tau_syn" and not isinstance(node, nir.CubaLIF)):
                    continue
                tau = _f64(node, key)
                with np.errstate(divide="ignore", invalid="ignore"):
                    decays.append(1.0 - dt_s / tau)
                    if hasattr(node, gain_key) and getattr(node, gain_key) is not None:
                        gains.append(_f64(node, gain_key) * dt_s / tau)
    if not decays and not foreign:
        return None
    if foreign:
        return False, f"{convention}: {foreign[0]} (0.7.0 writes only LIF)"
    beta = np.concatenate(decays)
    gain = np.concatenate(gains) if gains else np.ones(1)
    formula = "-1 - 1/tau" if convention == "0.7.0" else f"1 - {dt_s:g}/tau"
    fits = bool(np.all((beta >= 0) & (beta < 1)) and np.allclose(gain, 1.0, rtol=1e-3, atol=0))
    said = f"{convention}: beta = {formula} from {np.nanmin(beta):.6g} to {np.nanmax(beta):.6g}"
    if not np.allclose(gain, 1.0, rtol=1e-3, atol=0):
        said += (f", input gain {'r/tau' if convention == '0.7.0' else 'r dt/tau'} {np.nanmin(gain):.3g} to "
                 f"{np.nanmax(gain):.3g} (it writes 1)")
    return fits, said


def _taus_in_steps(graph: nir.NIRGraph, dt_s: float, convention: str) -> list[tuple[str, str, np.ndarray]]:
    """Every time constant of a norse graph, in steps of ``dt_s``, as ``convention`` reads it."""
    out = []
    for name, node in graph.nodes.items():
        if not isinstance(node, (nir.LIF, nir.LI, nir.CubaLIF, nir.CubaLI)):
            continue
        for key in pr.TIME_CONSTANTS:
            if hasattr(node, key):
                tau = np.abs(np.asarray(getattr(node, key), dtype=np.float64))
                seconds = tau / dt_s if convention == "1.1.0" else tau
                out.append((name, key, seconds / dt_s))
    return out


def choose_convention(graph: nir.NIRGraph, writer: str, dt_s: float, forced: str | None,
                      warn: Warn | None) -> dict[str, str] | None:
    """The convention of ``writer``'s releases under which ``graph`` (as written) is plausible:
    ``{"writer", "convention", "why"}``, said on ``warn`` in one line; ``forced``: the user's
    ``@CONVENTION``. norse: every time constant must lie within :data:`PLAUSIBLE_TAU_STEPS` steps of
    ``dt_s``; snntorch: every neuron's decay must lie in [0, 1) with the input gain the release
    writes (:func:`snntorch_decays`). When both or neither convention pass, the newest release on
    PyPI (the first in :data:`CONVENTIONS`) is used and the line is a warning that names the other and
    how to force it. None for a writer with one convention."""
    known = CONVENTIONS.get(writer)
    if not known:
        return None
    release = next(iter(known))  # the released convention: what a pip-installed writer writes
    lo, hi = PLAUSIBLE_TAU_STEPS

    def span(convention: str) -> tuple[float, float] | None:
        taus = [t for _, _, t in _taus_in_steps(graph, dt_s, convention) if t.size]
        if not taus:
            return None
        flat = np.concatenate([t.ravel() for t in taus])
        return float(flat.min()), float(flat.max())

    if writer == "snntorch":  # a decay in [0, 1) with the input gain the release writes
        verdicts = {c: snntorch_decays(graph, dt_s, c) for c in known}
        spans = {c: v for c, v in verdicts.items()}
        test = "gives every neuron a decay beta in [0, 1) and the input gain it writes"
        fitting = lambda c: spans[c] is not None and spans[c][0]  # noqa: E731
        said = lambda c: spans[c][1]  # noqa: E731
    else:
        spans = {c: span(c) for c in known}
        test = f"keeps every time constant within {lo:g} to {hi:g} steps"
        fitting = lambda c: spans[c] is not None and lo <= spans[c][0] and spans[c][1] <= hi  # noqa: E731

        def said(c):
            a, b = spans[c]
            return f"{c}: time constants {a:.3g} to {b:.3g} steps of dt = {dt_s:g} s"
    if forced is not None:
        chosen, why, doubt = forced, f"forced by --writer {writer}@{forced}", False
    elif all(v is None for v in spans.values()):
        return {"writer": writer, "convention": release, "why": "no time constant in the file: the conventions agree"}
    else:
        fits = [c for c in known if fitting(c)]
        if len(fits) == 1:
            chosen, doubt = fits[0], False
            other = next(c for c in known if c != chosen)
            why = f"only {chosen}'s reading {test} ({said(chosen)}; {said(other)})"
        else:
            chosen, doubt = release, True
            why = (f"{'both readings are' if fits else 'neither reading is'} plausible ({'; '.join(said(c) for c in known)}); "
                   f"read as {release}, the newest release on PyPI: force another with --writer {writer}@CONVENTION "
                   f"({', '.join(known)}), or check --dt")
    line = f"--writer {writer}: read as {writer} {chosen}'s convention ({known[chosen]}): {why}"
    if warn is not None and (doubt or forced is None):
        warn(line if doubt else "note: " + line)
    return {"writer": writer, "convention": chosen, "why": why}


def parse_rules(items, writer: str | None) -> dict[str, bool]:
    """``--rule NAME=on|off`` (repeatable) -> ``{NAME: on}``; every name one of ``writer``'s
    (:data:`WRITER_RULES`). None or empty: ``{}`` (every rule of the writer on).

    Raises:
        GraphError: one line: not ``NAME=on|off``, an unknown name, a rule of another writer,
            or a name given twice with different values.
    """
    out: dict[str, bool] = {}
    for item in items or ():
        text = str(item)
        name, sep, value = text.partition("=")
        name, value = name.strip(), value.strip().lower()
        if not sep or value not in ("on", "off"):
            raise GraphError(f"--rule {text!r} is not NAME=on or NAME=off (names: {', '.join(WRITER_RULES)})")
        if name not in WRITER_RULES:
            raise GraphError(f"--rule {name!r} is not a rule; use one of {', '.join(WRITER_RULES)}")
        owners = WRITER_RULES[name][0]
        if writer not in owners:
            raise GraphError(f"--rule {name} is a rule of --writer {' or '.join(owners)}, not of "
                             f"{'a file read without --writer' if writer in (None, 'nir') else '--writer ' + writer}")
        if name in out and out[name] != (value == "on"):
            raise GraphError(f"--rule {name} is given both on and off; give it once")
        out[name] = value == "on"
    return out


def _uniform_threshold(name: str, node: nir.NIRNode) -> float:
    th = np.asarray(node.v_threshold, dtype=np.float64)
    if not np.all(th == th.flat[0]):
        raise GraphError(f"neuron {pr._q(name)}: sinabs' min_v_mem = -v_threshold needs one threshold per layer; "
                         "pass --rule min-v-mem=off")
    return float(th.flat[0])


def writer_rules(writer: str, node: nir.NIRNode, reset: str | None = None, rules: dict[str, bool] | None = None,
                 name: str = "?", convention: str | None = None, recurrent: bool = False) -> nr.NeuronRules:
    """The neuron rules (:mod:`.rules`) of ``writer``'s spiking ``node``; ``reset``: the
    reset mechanism of a writer in :data:`RESET_WRITERS` (snntorch: default "zero", what NIR
    says and snntorch >= 1.0.0 writes as ``v_reset``; its ``convention`` 0.7.0: "subtract", what
    its Leaky does by default and nir 0.0.6, which it wrote with, says; sinabs: its default
    "subtract" unless ``--rule subtract-reset=off``); ``rules``: :func:`parse_rules`' switches
    (absent: on); ``recurrent``: the node is the destination of a recurrent edge (snntorch writes
    those for RLeaky/RSynaptic only)."""
    on = lambda key: (rules or {}).get(key, True)  # noqa: E731
    if writer == "snntorch":
        # Synaptic and RSynaptic: both resets one step late; Leaky: "subtract" one step late (its
        # "zero" clears mem before the step, the same as at once); RLeaky: both late -- its "zero"
        # clears the whole step's sum, input and recurrent spikes included (rleaky.py 1.0.0
        # _base_zero, l.405-408), as Synaptic's does
        reset = reset or ("subtract" if convention == "0.7.0" else "zero")
        late = int(reset == "subtract" or isinstance(node, nir.CubaLIF) or recurrent)
        return nr.NeuronRules(">", reset, late)
    if writer == "rockpool":
        return nr.NeuronRules(">=", "subtract", 0, ROCKPOOL_MAX_SPIKES if on("multi-spike") else 1)
    if writer == "sinabs":
        reset = reset or ("subtract" if on("subtract-reset") else "zero")
        clamp = -_uniform_threshold(name, node) if on("min-v-mem") and isinstance(node, nir.IF) else None
        return nr.NeuronRules(">=", reset, 0, nr.MAX_COUNT if on("multi-spike") else 1, clamp)
    return nr.NIR_RULES


def apply_writer(graph: nir.NIRGraph, writer: str, dt_s: float, reset: str | None = None,
                 rules: dict[str, bool] | None = None, convention: str | None = None) -> nir.NIRGraph:
    """Undo a writer's known quirk (in place on a normalised graph); see :data:`WRITERS`.

    - ``snntorch`` 0.7.0 (``convention``, :func:`choose_convention`): LIF written with
      ``tau = r = -1/(beta+1)``: read as ``beta = -1 - 1/tau`` (clamped to [0, 1] as its Leaky
      does), ``tau = dt/(1-beta)``, ``r = 1/(1-beta)``: NIR's Euler step is then ``v = beta v + x``;
      its reset defaults to "subtract" one step late (:func:`writer_rules`). snntorch 1.0.0
      (0.8.0 on): kept, read at its dt.
    - ``norse`` 1.1.0 (``convention``, :func:`choose_convention`; the default): ``tau`` (LIF, LI)
      and ``tau_mem``/``tau_syn`` were written as ``dt/(1/tau)``: the true time constant is
      ``tau / dt``. ``norse`` master: written as ``1/(1/tau)``, kept.
    - ``norse``, CubaLIF (``LIFCell``, ``lif_feed_forward_step``): the input jumps into the
      current with gain 1 (``i += x``, then ``v`` from that ``i``, then ``i`` decays), while
      it writes ``w_in = 1``; NIR's Euler step adds ``dt w_in / tau_syn x``: read with
      ``w_in = tau_syn / dt``.
    - ``sinabs``: ``IF(r)`` means ``v += r x`` per step: NIR's ``v += dt r x`` with ``r/dt``.
      ``LIF``/``LI`` (``LIF``, ``ExpLeak``) carry ``tau`` in steps and decay exactly with
      ``a = exp(-1/tau)``: ``LIF`` (its default ``norm_input=True``, rule ``norm-input``) runs
      ``v = a v + (1 - a) x``, NIR's Euler step with ``tau = dt / (1 - a)`` and ``r = 1``;
      ``ExpLeak`` (default ``norm_input=False``), and every layer sinabs' ``from_nir`` builds
      (``norm_input=False``; ``--rule norm-input=off`` for a LIF), runs ``v = a v + x``: ``r = 1 / (1 - a)``.
    - ``rockpool``: ``LIFTorch`` (a CubaLIF) runs ``I = b (I + x)``, ``v = a v + I`` with
      ``a = exp(-dt/tau_mem)``, ``b = exp(-dt/tau_syn)``, but writes ``r = tau_mem a / dt``
      and ``w_in = 1``: read as ``tau_mem = dt/(1-a)``, ``tau_syn = dt/(1-b)``,
      ``r = 1/(1-a)``, ``w_in = b/(1-b)``. Its spike rule (``>=``, subtractive
      reset, below) is exact while ``max_spikes_per_dt`` = 1 (several spikes per step have
      no NIR form).
    - ``rockpool``, LIF (``LIFNeuronTorch``, rule ``lif-step``): ``v = a v + x`` with
      ``a = exp(-dt/tau)``, written with ``r = tau a / dt``: read as ``tau = dt/(1-a)``,
      ``r = 1/(1-a)`` (NIR's Euler step is then exactly rockpool's).
    - every spiking node (IF, LIF, CubaLIF) gets the writer's neuron rules
      (:func:`writer_rules`, :mod:`.rules`): snntorch's late reset, rockpool's and sinabs'
      ``>=``, subtraction and several spikes per step, sinabs' clamp; ``reset`` for snntorch and
      sinabs; ``rules``: the switches of :func:`parse_rules`.
    """
    if writer not in WRITERS:
        raise GraphError(f"unknown writer {writer!r}; use one of {', '.join(WRITERS)}")
    check_reset(writer, reset, rules)
    on = lambda key: (rules or {}).get(key, True)  # noqa: E731
    looped = {d for _, d in recurrent_edges(graph.nodes, graph.edges, lambda n: pr.is_stateful_neuron(graph.nodes[n]))}
    for name, node in graph.nodes.items():
        if isinstance(node, nr.SPIKING):
            nr.set_rules(node, writer_rules(writer, node, reset, rules, name, convention, name in looped))
        if writer == "snntorch" and convention == "0.7.0" and isinstance(node, nir.LIF):
            # tau = r = -1/(beta+1): beta = -1 - 1/tau, clamped to [0, 1] as its Leaky does
            # (leaky.py l.214); v = beta v + x is NIR's Euler step with tau = dt/(1-beta), r = 1/(1-beta)
            tau = pr.as_array(node.tau, name, "tau")
            if np.any(tau == 0):
                raise GraphError(f"neuron {pr._q(name)}: tau 0 is no snntorch 0.7.0 value (tau = -1/(beta+1)); "
                                 "check --writer")
            beta = np.clip(-1.0 - 1.0 / tau, 0.0, 1.0)
            if np.any(beta >= 1):
                raise GraphError(f"neuron {pr._q(name)}: beta 1 (tau = -0.5, no leak) has no NIR LIF form; "
                                 "re-export it as IF")
            node.tau, node.r = dt_s / (1.0 - beta), 1.0 / (1.0 - beta)
        if writer == "norse":
            for key in pr.TIME_CONSTANTS if convention in (None, "1.1.0") else ():
                if hasattr(node, key) and isinstance(node, (nir.LIF, nir.LI, nir.CubaLIF, nir.CubaLI)):
                    setattr(node, key, pr.as_array(getattr(node, key), name, key) / dt_s)
            if isinstance(node, (nir.CubaLIF, nir.CubaLI)):
                node.w_in = pr.as_array(node.w_in, name, "w_in") * node.tau_syn / dt_s
        elif writer == "sinabs" and isinstance(node, (nir.IF, nir.I)):
            node.r = np.asarray(node.r, dtype=np.float64) / dt_s
        elif writer == "sinabs" and isinstance(node, (nir.LIF, nir.LI)):
            a = float32_decay(node.tau, 1.0)
            # LIF's norm_input=True (its default) adds (1 - a) x: r = 1; ExpLeak's default
            # norm_input=False, and from_nir's for both, adds x: r = 1 / (1 - a)
            gain_one = isinstance(node, nir.LI) or not on("norm-input")
            node.tau, node.r = dt_s / (1.0 - a), (1.0 / (1.0 - a)) if gain_one else np.ones_like(a)
        elif writer == "rockpool" and isinstance(node, (nir.CubaLIF, nir.CubaLI)):
            a, b = float32_decay(node.tau_mem, dt_s), float32_decay(node.tau_syn, dt_s)
            node.tau_mem, node.tau_syn = dt_s / (1.0 - a), dt_s / (1.0 - b)
            node.r, node.w_in = 1.0 / (1.0 - a), b / (1.0 - b)
        elif writer == "rockpool" and isinstance(node, nir.LIF) and on("lif-step"):
            a = float32_decay(node.tau, dt_s)
            node.tau, node.r = dt_s / (1.0 - a), 1.0 / (1.0 - a)
    return graph


def float32_decay(tau, dt: float) -> np.ndarray:
    """The decay factor a writer's modules step with, ``torch.exp(-dt / tau)`` on its float32 ``tau``
    (rockpool's ``lif_torch.py``, dt in seconds; sinabs' ``layers/lif.py``, ``exp(-1/tau)`` with tau in
    steps), as float64: computed in float64 instead it differs in the last bits, enough to break the
    exact ties a net on a grid meets (a rockpool LIFNeuronTorch with weights k/16 and decay 15/16 agreed
    on 94.8 % of entries with rockpool, 100 % with this)."""
    tau32 = torch.as_tensor(np.asarray(tau, dtype=np.float32))
    return torch.exp(-dt / tau32).numpy().astype(np.float64)


def writer_dt(writer: str | None, dt_s: float | None) -> float:
    """The dt to read with: ``--dt`` when given, else the writer's own, else NIR's default."""
    if dt_s is not None:
        if not (dt_s > 0 and np.isfinite(dt_s)):
            raise GraphError(f"--dt {dt_s} is not a positive number of seconds")
        return float(dt_s)
    return float(WRITER_DT_S.get(writer or "nir") or pr.DEFAULT_DT_S)


def check_reset(writer: str | None, reset: str | None, rules: dict[str, bool] | None = None) -> None:
    """``--reset`` names the reset of a writer that does not write it; anything else, or a
    ``--reset`` that says otherwise than ``--rule subtract-reset``: one line."""
    if reset is None:
        return
    switch = (rules or {}).get("subtract-reset")
    if switch is not None and switch != (reset == "subtract"):
        raise GraphError(f"--reset {reset} and --rule subtract-reset={'on' if switch else 'off'} disagree; give one "
                         "of them")
    if reset not in nr.RESETS:
        raise GraphError(f"--reset {reset!r} is not one of {', '.join(nr.RESETS)}")
    if writer not in RESET_WRITERS:
        own = (f"--writer {writer} reads {writer}'s own reset" if writer not in (None, "nir")
               else "without --writer a file is read with NIR's reset to v_reset")
        raise GraphError(f"--reset applies with --writer {' or '.join(RESET_WRITERS)}, whose files do not record "
                         f"their reset; {own}")


def rockpool_dt(graph: nir.NIRGraph) -> float | None:
    """The dt (s) a rockpool graph was written at, from its neurons' ``r``: rockpool writes no dt, but
    every release that writes NIR (2.8 to 3.1.0, ``rockpool/nn/modules/torch/nir.py`` l.249, 267,
    288) writes ``r = tau exp(-dt/tau) / dt`` (``tau_mem`` for LIFTorch's CubaLIF). With ``u = dt/tau``
    that is ``u e^u = 1/r``, one positive root for ``r > 0`` (Newton from ``u = 1/r``). None when the
    graph has no such neuron or its neurons do not agree on one dt (rel. 1e-3): not rockpool's ``r``."""
    dts = []
    for _, node in _neurons(graph):
        key = "tau_mem" if isinstance(node, (nir.CubaLIF, nir.CubaLI)) else "tau"
        if not hasattr(node, "r") or node.r is None:
            continue
        tau, r = _f64(node, key), _f64(node, "r")
        tau, r = np.broadcast_arrays(tau, r)
        if tau.size == 0 or not (np.all(tau > 0) and np.all(r > 0) and np.all(np.isfinite(r))):
            return None
        target = 1.0 / r
        u = np.minimum(target, 1.0)
        for _ in range(60):  # f(u) = u e^u - 1/r is convex and increasing for u > 0: Newton converges
            f = u * np.exp(u) - target
            u = np.maximum(u - f / ((1.0 + u) * np.exp(u)), 1e-12)
        dts.append((u * tau).ravel())
    if not dts:
        return None
    dt = np.concatenate(dts)
    mid = float(np.median(dt))
    if not np.allclose(dt, mid, rtol=1e-3, atol=0):
        return None
    return float(f"{mid:.6g}")  # float32 arrays: the dt the module had, to 6 digits


def read_foreign(graph: nir.NIRGraph, dt_s: float | None = None, writer: str | None = None,
                 warn: Warn | None = None, reset: str | None = None, rules=None,
                 ) -> tuple[nir.NIRGraph, dict[str, tuple[int, ...]], float]:
    """A (possibly nested) graph from any writer -> (flat normalised graph, shapes, dt_s);
    ``reset``: the reset mechanism of a writer that does not write it (:func:`check_reset`);
    ``rules``: ``--rule NAME=on|off`` items or their :func:`parse_rules` dict."""
    writer, forced = split_writer(writer)
    rules = rules if isinstance(rules, dict) else parse_rules(rules, writer)
    check_reset(writer, reset, rules)
    dt = writer_dt(writer, dt_s)
    flat = flatten_subgraphs(graph)
    if writer == "rockpool":  # its dt is only in r (rockpool_dt); say where it differs from what would be used
        written = rockpool_dt(flat)
        if written is not None and dt_s is None and not np.isclose(written, dt, rtol=1e-3):
            if warn is not None:
                warn(f"note: --writer rockpool: dt = {written:g} s, the dt its r = tau exp(-dt/tau)/dt encodes "
                     f"(not rockpool's default {dt:g} s); --dt overrides")
            dt = written
        elif written is not None and dt_s is not None and not np.isclose(written, dt_s, rtol=1e-3):
            if warn is not None:
                warn(f"--writer rockpool: --dt {dt_s:g} s, but the file's r = tau exp(-dt/tau)/dt encodes dt = "
                     f"{written:g} s; read at --dt as asked (drop --dt to read it at {written:g} s)")
    convention = choose_convention(flat, writer, dt, forced, warn) if writer else None
    # norse 1.1.0's tau is dt * (1/tau), snntorch 0.7.0's is negative: neither passes normalize's tau checks
    # until undone
    if writer == "norse" or (convention or {}).get("convention") == "0.7.0" and writer == "snntorch":
        flat = copy.deepcopy(flat)  # apply_writer works in place; the caller's graph stays as written
        apply_writer(flat, writer, dt, reset, rules, convention and convention["convention"])
        writer_done = True
    else:
        writer_done = False
    out, shapes = normalize(flat, dt, warn)
    if writer and not writer_done:
        apply_writer(out, writer, dt, reset, rules, convention and convention["convention"])
    if convention is not None:
        out.metadata[CONVENTION_KEY] = convention
    return out, shapes, dt


def kinds(graph: nir.NIRGraph) -> dict[str, str]:
    """GraphInfo node kind of every node of a normalised graph."""
    base = {nir.Input: "input", nir.Output: "output", nir.Conv2d: "conv", nir.LIF: "lif"}
    return {n: base.get(type(v)) or pr.NEW_KINDS[type(v)] for n, v in graph.nodes.items()}


def sequence_info(graph: nir.NIRGraph, dt_s: float):
    """The annotations of a normalised graph from another writer (:func:`read_foreign`), which
    takes a sequence: ``t_steps`` 0 (the input's length decides), ``dt_s`` seconds per step,
    ``input_shape`` the Input's per-step shape (any rank), every node in domain ``seq``, kinds
    (:func:`kinds`), per-step shapes, edge kinds (``binary`` out of spiking neurons, ``graded``
    out of those that send several spikes per step as a count, else ``real``) and each neuron's rules from its node metadata (:mod:`.rules`: the only place
    they are read; every later stage asks :meth:`GraphInfo.rules`)."""
    from neurodeploy.ir.info import EDGE_BINARY, EDGE_GRADED, EDGE_REAL, GraphInfo

    node_kinds = kinds(graph)
    shapes = {n: [int(v) for v in node.output_type["output"]] for n, node in graph.nodes.items()}
    inputs = [n for n, k in node_kinds.items() if k == "input"]
    info = GraphInfo(t_steps=0, dt_s=float(dt_s),
                     input_shape=tuple(shapes[inputs[0]]) if len(inputs) == 1 else (),
                     encode="none", decode="none",
                     edge_kinds={f"{s}->{d}": EDGE_BINARY if node_kinds[s] in pr.SPIKING_KINDS else
                                 EDGE_GRADED if node_kinds[s] in pr.GRADED_KINDS else EDGE_REAL
                                 for s, d in graph.edges},
                     node_kinds=node_kinds, domains={n: "seq" for n in graph.nodes}, shapes=shapes)
    for name, node in graph.nodes.items():
        rules = nr.rules_of(name, node)
        if rules.spike != ">":
            info.spike_condition[name] = rules.spike
        if rules.reset != "zero":
            info.reset[name] = rules.reset
        if rules.reset_delay:
            info.reset_delay[name] = int(rules.reset_delay)
        if rules.multi:
            info.max_spikes[name] = int(rules.max_spikes)
            for s_, d_ in graph.edges:  # its spikes carry counts: graded payloads, not 0/1 events
                if s_ == name:
                    info.edge_kinds[f"{s_}->{d_}"] = EDGE_GRADED
        if rules.v_min is not None:
            info.v_min[name] = float(rules.v_min)
    return info


__all__ = ["flatten_subgraphs", "normalize", "read_foreign", "apply_writer", "writer_rules", "kinds", "sequence_info",
           "WRITERS",
           "RESET_WRITERS", "build_nested", "WRITER_RULES", "parse_rules"]
