"""Check a NIR graph before anything runs it: one line naming the bad node (or edge).

:func:`check_graph` is the gate between a ``.nir`` file (ours, or damaged, or from
another tool) and the executors, the partition and the lowering. Those stages assume a
well-formed graph and would otherwise fail deep inside torch or numpy with a traceback
that names no node. It raises :class:`~neurodeploy.errors.GraphError` for:

- structure: nodes/edges of the wrong type, an edge naming a node the graph lacks, the
  same edge twice, edges into an Input or out of an Output, a node without input that is
  not an Input, a node that feeds nothing and is not an Output, no Input or no Output;
- cycles: without a stateful neuron (an algebraic loop: no time step breaks it); a
  recurrent loop (through a neuron, :mod:`neurodeploy.ir.order`) in a graph of neurodeploy's
  image pipeline (encoder ... decoder), which runs none -- a sequence graph (a writer's file)
  may hold them; a node that feeds itself directly;
- node types: anything but NIR 1.0's primitives (Input, Output, Conv2d, LIF and, since
  issue 16, the rest: :data:`neurodeploy.ir.primitives.NEW_KINDS`, whose shapes and
  chip-expressible parameters :func:`neurodeploy.ir.primitives.out_shape` checks) and
  neurodeploy's own (:data:`neurodeploy.ir.nodes.NODE_TYPES`); nested NIR graphs are
  flattened by :func:`neurodeploy.ir.read_graph` before this check, refused in memory;
- fields, by the node type's own checker (:mod:`neurodeploy.ir.fields`): non-numeric or
  wrongly typed fields, NaN or infinite parameters (every array, including
  ``HostBlock.params``), parameter arrays of different shapes inside a node;
- shapes: every edge's source output shape against what its destination expects (conv
  input channels and ``input_shape``, neuron parameter shape, Concat channel sum,
  Output/Input shapes), and inputs that are summed must agree;
- neurodeploy metadata, when present: parseable and well typed
  (:meth:`neurodeploy.ir.info.GraphInfo.from_json` checks that on its own), naming exactly
  the graph's nodes and edges, node kinds matching node types, domains (image / time
  steps) matching what the graph computes (e.g. a neuron fed a decoded image).

Graphs without neurodeploy metadata (other tools' files) get every check but the
metadata and domain ones. :func:`build_nodes` turns the node dicts of a file into nodes,
naming the node that cannot be built.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import nir
import numpy as np

from neurodeploy.errors import GraphError
from neurodeploy.ir import nodes as nd
from neurodeploy.ir import primitives as pr
from neurodeploy.ir.fields import check_fields, concat_order, int_tuple
from neurodeploy.ir.info import METADATA_KEY, GraphInfo
from neurodeploy.ir.order import recurrent_edges, topological_order
from neurodeploy.ir.values import REEXPORT
from neurodeploy.ir.values import one_line as _one_line
from neurodeploy.ir.values import quoted as _q
from neurodeploy.ir.values import short as _short
from neurodeploy.models import host_blocks

# The NIR primitives neurodeploy's executors and lowering implement; anything else is
# refused here rather than by a KeyError deep inside an executor.
SUPPORTED_NIR = {"Input": nir.Input, "Output": nir.Output, "Conv2d": nir.Conv2d, "LIF": nir.LIF}
# GraphInfo.node_kinds value each node type must carry (export.py writes these).
KIND_OF_TYPE = {nir.Input: "input", nir.Output: "output", nir.Conv2d: "conv", nir.LIF: "lif",
                nd.DirectEncode: "encode", nd.TemporalMean: "decode_mean", nd.Sum: "sum", nd.Concat: "concat",
                nd.Upsample: "upsample", nd.HostBlock: "host", nd.Gain: "gain", nd.Product: "product",
                nd.PatchToTime: "patch_to_time", nd.NILIF: "nilif", nd.Max: "max", nd.ReLU: "relu"}
# NIR 1.0's other primitives (issue 16); their semantics and shape rules: ir/primitives.py.
SUPPORTED_NIR.update({t.__name__: t for t in pr.NEW_KINDS})
KIND_OF_TYPE.update(pr.NEW_KINDS)
SUPPORTED = ", ".join([*SUPPORTED_NIR, *(nd.TYPE_PREFIX + n for n in nd.NODE_TYPES)])


def build_nodes(raw_nodes: Any) -> dict[str, nir.NIRNode]:
    """Node dicts (as ``nir.serialization.hdf2dict`` reads them) -> nodes, by name.

    Raises:
        GraphError: naming the first node whose dict cannot be built (missing or extra
            fields, wrong types, unknown type), with the constructor's reason.
    """
    if not isinstance(raw_nodes, dict):
        raise GraphError("the file has no node table; re-export the graph")
    out = {}
    for name, raw in raw_nodes.items():
        if not isinstance(raw, dict) or "type" not in raw:
            raise GraphError(f"node {_q(name)} has no type; the file is damaged, re-export the graph")
        try:
            out[str(name)] = nd.node_from_dict(raw)
        except Exception as exc:  # dataclass/NIR constructors raise TypeError, KeyError, ValueError, asserts
            kind = raw.get("type")
            kind = kind.decode(errors="replace") if isinstance(kind, bytes) else str(kind)
            raise GraphError(f"node {_q(name)} ({_q(kind)}) cannot be built: {_one_line(exc) or 'malformed'}; "
                             "the file is damaged or from an unsupported writer, re-export the graph") from None
    return out


# ---------------------------------------------------------------- graph checks

def _check_structure(graph: nir.NIRGraph) -> list[tuple[str, str]]:
    if not isinstance(graph, nir.NIRGraph):
        raise GraphError(f"expected a NIR graph, got {type(graph).__name__}; read it with neurodeploy.ir.read_graph")
    if not isinstance(graph.nodes, dict):
        raise GraphError(f"the graph's nodes are {type(graph.nodes).__name__}, not a dict by name; {REEXPORT}")
    for name, node in graph.nodes.items():
        if not isinstance(name, str) or not name:
            raise GraphError(f"node name {_short(name)} is not a non-empty string; {REEXPORT}")
        if isinstance(node, nir.NIRGraph):
            raise GraphError(f"node {_q(name)} is a nested NIR graph; read the file with "
                             "neurodeploy.ir.read_graph, which flattens it")
        if type(node) not in KIND_OF_TYPE:
            kind = type(node).__name__
            raise GraphError(f"node {_q(name)} has type {_q(kind)}, which neurodeploy does not support "
                             f"(supported: {SUPPORTED}); replace or remove it")
    edges = []
    if not isinstance(graph.edges, (list, tuple)):
        raise GraphError(f"the graph's edges are {type(graph.edges).__name__}, not a list; {REEXPORT}")
    for edge in graph.edges:
        if not isinstance(edge, (tuple, list)) or len(edge) != 2 or not all(isinstance(e, str) for e in edge):
            raise GraphError(f"edge {_short(edge)} is not a pair of node names; {REEXPORT}")
        edges.append((edge[0], edge[1]))
    return edges


def _check_edges(graph: nir.NIRGraph, edges: list[tuple[str, str]]) -> None:
    for src, dst in edges:
        for end in (src, dst):
            if end not in graph.nodes:
                raise GraphError(f"edge {_q(src)}->{_q(dst)} names node {_q(end)}, which the graph does not have; "
                                 "remove the edge or add the node")
        if src == dst:
            raise GraphError(f"node {_q(src)} feeds itself (edge {_q(src)}->{_q(dst)}); a recurrent loop must "
                             "pass through a synapse (Linear, Affine, Conv) back to the neuron")
        if isinstance(graph.nodes[dst], nir.Input):
            raise GraphError(f"edge {_q(src)}->{_q(dst)} leads into input {_q(dst)}; an Input takes no edges, remove it")
        if isinstance(graph.nodes[src], nir.Output):
            raise GraphError(f"edge {_q(src)}->{_q(dst)} leaves output {_q(src)}; an Output feeds nothing, remove it")
    for (src, dst), count in Counter(edges).items():
        node = graph.nodes[dst]
        allowed = concat_order(dst, node).count(src) if isinstance(node, (nd.Concat, nd.Product)) else 1
        if count > allowed:
            raise GraphError(f"edge {_q(src)}->{_q(dst)} appears {count} times (its input would be counted "
                             f"{count} times); remove the duplicate")
    if not any(isinstance(n, nir.Input) for n in graph.nodes.values()):
        raise GraphError(f"the graph has no Input node; {REEXPORT}")
    if not any(isinstance(n, nir.Output) for n in graph.nodes.values()):
        raise GraphError(f"the graph has no Output node; {REEXPORT}")
    has_in = {dst for _, dst in edges}
    has_out = {src for src, _ in edges}
    # Nodes without input first: a removed edge leaves both ends dangling, and the consumer
    # that lost its input is the one to name.
    for name, node in graph.nodes.items():
        if name not in has_in and not isinstance(node, nir.Input):
            raise GraphError(f"node {_q(name)} has no input (a dangling node); connect it or remove it")
    for name, node in graph.nodes.items():
        if name not in has_out and not isinstance(node, nir.Output):
            raise GraphError(f"node {_q(name)} feeds nothing and is not an Output (a dangling node); "
                             "connect it or remove it")


def _check_shapes(graph: nir.NIRGraph, order: list[str], edges: list[tuple[str, str]],
                  declared: dict[str, tuple[int, ...] | None], info: GraphInfo | None,
                  back: list[tuple[str, str]] = ()) -> None:
    """Propagate shapes (and, with metadata, domains) in order across the edges that are not
    recurrent; compare every edge's ends, the recurrent ones (``back``) last."""
    preds: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for src, dst in edges:
        if (src, dst) not in back:
            preds[dst].append(src)
    shape: dict[str, tuple[int, ...]] = {}
    domain: dict[str, str] = {}
    for name in order:
        node = graph.nodes[name]
        out = declared[name]
        if isinstance(node, nir.LIF) and info is not None and info.lif_params == "per_channel":
            # Parameters (C, 1, 1) broadcast over the layer, whose shape the metadata records.
            layer = tuple(info.shapes.get(name, ()))
            if len(out) != 3 or out[1:] != (1, 1) or len(layer) != 3 or layer[0] != out[0]:
                raise GraphError(f"neuron {_q(name)}: per-channel parameters of shape {out} do not fit the layer "
                                 f"{layer or 'with no recorded shape'}; {REEXPORT}")
            out = layer
            per_channel_lif = True
        else:
            per_channel_lif = False
        if isinstance(node, nir.Input):
            _check_types(name, node, out, out)
            # The image, except in a chip part (partition.chip_graph), whose inputs are the
            # host's per-step outputs, marked "seq" in its metadata.
            domain[name] = info.domains.get(name, "image") if info is not None else "image"
            shape[name] = out
            if info is not None and domain[name] == "image" and out != tuple(info.input_shape):
                raise GraphError(f"input {_q(name)}: shape {out} disagrees with the metadata's input_shape "
                                 f"{tuple(info.input_shape)}; {REEXPORT}")
            continue
        ins = preds[name]
        if not ins:  # its only inputs are recurrent edges: nothing starts the loop
            raise GraphError(f"node {_q(name)} receives only recurrent edges (from a later layer); give it an input "
                             f"from an earlier layer, or {REEXPORT}")
        if type(node) in pr.NEW_KINDS:
            _check_primitive_shape(name, node, ins, shape, domain, info)
            continue
        if isinstance(node, nd.Concat):
            order_ = concat_order(name, node)
            if Counter(order_) != Counter(ins):
                raise GraphError(f"concat {_q(name)}: order {order_} does not list exactly its inputs "
                                 f"{sorted(set(ins))}; {REEXPORT}")
            for i in ins:
                if len(shape[i]) != 3 or shape[i][1:] != out[1:]:
                    raise GraphError(f"edge {_q(i)}->{_q(name)}: {_q(i)} gives {shape[i]}, concat {_q(name)} "
                                     f"joins (C, {out[1]}, {out[2]}) channels; {REEXPORT}")
            channels = sum(shape[i][0] for i in order_)
            if channels != out[0]:
                raise GraphError(f"concat {_q(name)}: its inputs have {channels} channels in all, its shape says "
                                 f"{out[0]}; {REEXPORT}")
        if isinstance(node, nd.Product):
            order_ = concat_order(name, node)
            if len(order_) != 2 or Counter(order_) != Counter(ins):
                raise GraphError(f"product {_q(name)}: order {order_} does not list exactly its two inputs "
                                 f"{sorted(set(ins))}; {REEXPORT}")
            # the second operand may broadcast (a gate per channel or per pixel on a map): the first has
            # the product's shape, the second that shape or 1 on any axis
            a, b = (shape[o] for o in order_)
            if a != out or len(b) != len(a) or any(y not in (x, 1) for x, y in zip(a, b)):
                raise GraphError(f"product {_q(name)}: operands {a} and {b} do not give its shape {out} (the second "
                                 f"may have 1 where the first does not); {REEXPORT}")
        if isinstance(node, nd._OrderedInputs):  # operands in order, not summed: checked above
            in_domain = _joint_domain(name, ins, domain, info)
            _check_types(name, node, out, out)
            shape[name], domain[name] = out, in_domain
            _check_domain(name, in_domain, info)  # the executor picks the channel axis by it
            continue
        first = ins[0]
        for other in ins[1:]:
            if shape[other] != shape[first]:
                raise GraphError(f"node {_q(name)} sums inputs of different shapes ({_q(first)} {shape[first]}, "
                                 f"{_q(other)} {shape[other]}); make them agree, {REEXPORT}")
        in_shape, in_domain = shape[first], _joint_domain(name, ins, domain, info)
        expected, out_domain = in_shape, in_domain
        if isinstance(node, nir.Conv2d):
            c_in = int(np.asarray(node.weight).shape[1]) * int(node.groups)
            expected = (c_in, *int_tuple(node.input_shape, 2, 1, name, "input_shape"))
        elif isinstance(node, nd.Upsample):
            s = int(node.scale_factor)
            expected = (out[0], out[1] // s, out[2] // s) if out[1] % s == 0 and out[2] % s == 0 else None
        elif isinstance(node, nd.PatchToTime):
            r = int(node.r)
            expected = (out[0] // (r * r), out[1] * r, out[2] * r)
        elif isinstance(node, nd.Max):
            expected = tuple(int(v) for v in node.input_shape)
        elif isinstance(node, nd.HostBlock):
            # The blocks kept whole keep their input's shape, except VLIF-Net's compressions,
            # which change channels and divide H, W by their patch factor.
            rule = host_blocks.spec(node.block).shape
            expected = in_shape if rule == "traced" else (2 * out[0], *out[1:]) if rule == "half_channels" else out
            if info is not None and in_domain != node.domain_in:
                raise GraphError(f"host block {_q(name)} expects {_domain_word(node.domain_in)} but receives "
                                 f"{_domain_word(in_domain)}; {REEXPORT}")
            out_domain = node.domain_out
        elif isinstance(node, nd.DirectEncode):
            out_domain = "seq"
            if info is not None and in_domain != "image":
                raise GraphError(f"encoder {_q(name)} receives time steps, not an image; {REEXPORT}")
            if info is not None and int(node.t_steps) != info.t_steps:
                raise GraphError(f"encoder {_q(name)}: t_steps {int(node.t_steps)} disagrees with the metadata's "
                                 f"t_steps {info.t_steps}; {REEXPORT}")
        elif isinstance(node, nd.TemporalMean):
            out_domain = "image"
            if info is not None and in_domain != "seq":
                raise GraphError(f"decoder {_q(name)} receives an image, not time steps; {REEXPORT}")
        elif isinstance(node, (nir.LIF, nd.NILIF)):
            if info is not None and in_domain != "seq":
                raise GraphError(f"neuron {_q(name)} receives one image, not a sequence of time steps; "
                                 f"put it between the encoder and the decoder, {REEXPORT}")
        if expected is None or in_shape != expected:
            what = f"expects {expected}" if expected is not None else f"cannot take it (its shape is {out})"
            raise GraphError(f"edge {_q(first)}->{_q(name)}: {_q(first)} gives shape {in_shape}, {_q(name)} "
                             f"{what}; fix the shapes, {REEXPORT}")
        if isinstance(node, nd.DirectEncode | nd.TemporalMean | nd.Sum | nd.Gain | nd.Product | nd.NILIF | nd.ReLU
                      | nir.Output) \
                and out != in_shape:
            raise GraphError(f"node {_q(name)}: shape {out} differs from its input's {in_shape}; {REEXPORT}")
        if isinstance(node, nir.LIF) and out != in_shape:
            raise GraphError(f"edge {_q(first)}->{_q(name)}: {_q(first)} gives shape {in_shape}, neuron {_q(name)} "
                             f"has parameters of shape {out}; fix the shapes, {REEXPORT}")
        # Our node types record their own shape as input_type (NeurodeployNode.__post_init__).
        # NIR derives a per-channel LIF's types from its (C, 1, 1) parameters: nothing to compare.
        if not per_channel_lif:
            own_in = out if isinstance(node, nd.NeurodeployNode) and not isinstance(node, nd.PatchToTime | nd.Max) \
                else expected
            if isinstance(node, nir.Conv2d) and int(node.groups) > 1 \
                    and pr.declared(node, "input_type", "input") == pr.per_group(node, expected):
                own_in = pr.per_group(node, expected)  # NIR's own Conv2d declares C_in / groups; a writer may say C_in
            _check_types(name, node, own_in, out)
        shape[name], domain[name] = out, out_domain
        _check_domain(name, out_domain, info)
    for src, dst in back:  # a recurrent input is summed with the node's others: same shape and domain
        first = preds[dst][0]
        if shape[src] != shape[first] or domain[src] != domain[first]:
            raise GraphError(f"recurrent edge {_q(src)}->{_q(dst)}: {_q(src)} gives shape {shape[src]}, {_q(dst)} "
                             f"sums it with {_q(first)}'s {shape[first]}; make them agree")


def _check_primitive_shape(name: str, node: nir.NIRNode, ins: list[str], shape: dict, domain: dict,
                           info: GraphInfo | None) -> None:
    """A primitive of :data:`primitives.NEW_KINDS`: inputs agree, parameters fit, and its
    declared types (when given) say what its parameters give."""
    first = ins[0]
    for other in ins[1:]:
        if shape[other] != shape[first]:
            raise GraphError(f"node {_q(name)} sums inputs of different shapes ({_q(first)} {shape[first]}, "
                             f"{_q(other)} {shape[other]}); make them agree")
    out = pr.out_shape(name, node, shape[first], info.dt_s if info is not None else pr.DEFAULT_DT_S)
    declared = pr.declared(node, "output_type", "output")
    if declared is not None and declared != out:
        raise GraphError(f"node {_q(name)}: output_type {declared} disagrees with its parameters and input, which "
                         f"give {out}; read the file with neurodeploy.ir.read_graph (it re-infers types)")
    shape[name], domain[name] = out, _joint_domain(name, ins, domain, info)
    _check_domain(name, domain[name], info)


def _check_domain(name: str, derived: str, info: GraphInfo | None) -> None:
    """Executors read a node's domain from the metadata (default: time steps): it must be right."""
    if info is not None and info.domain(name) != derived:
        raise GraphError(f"node {_q(name)} gives {_domain_word(derived)} but the metadata says "
                         f"{_domain_word(info.domain(name))}; {REEXPORT}")


def _check_types(name: str, node: nir.NIRNode, expected_in: tuple[int, ...] | None, out: tuple[int, ...]) -> None:
    """NIR's own ``input_type``/``output_type`` must say what the fields say: other tools
    and stages (``nir.NIRGraph``, the lowering) read them instead of the fields."""
    for attr, key, want in (("input_type", "input", expected_in), ("output_type", "output", out)):
        if want is None:
            continue
        value = getattr(node, attr, None)
        got = value.get(key) if isinstance(value, dict) else None
        try:
            ok = got is not None and tuple(int(v) for v in np.asarray(got).reshape(-1)) == tuple(want)
        except (TypeError, ValueError, OverflowError):
            ok = False
        if not ok:
            raise GraphError(f"node {_q(name)}: {attr} {_short(value)} disagrees with its parameters, which give "
                             f"{tuple(want)}; {REEXPORT}")


def _domain_word(domain: str) -> str:
    return "an image" if domain == "image" else "time steps"


def _joint_domain(name: str, ins: list[str], domain: dict[str, str], info: GraphInfo | None) -> str:
    doms = {domain[i] for i in ins}
    if info is not None and len(doms) > 1:
        raise GraphError(f"node {_q(name)} joins an image with time steps (inputs {', '.join(map(_q, ins))}); "
                         f"{REEXPORT}")
    return domain[ins[0]]


# ---------------------------------------------------------------- metadata

# node-keyed tables whose every key must be a node of the graph
_NODE_TABLES = ("node_kinds", "domains", "spike_condition", "side", "island", "window", "latency", "synapse_gain",
                "neuron_form", "quant", "reset", "reset_delay", "max_spikes", "v_min")


def _check_metadata(graph: nir.NIRGraph, edges: list[tuple[str, str]]) -> GraphInfo | None:
    """The neurodeploy annotations, when present: well-formed (:meth:`GraphInfo.from_json`)
    and naming this graph's nodes and edges, with the kinds its node types have."""
    meta = graph.metadata
    if not isinstance(meta, dict) or METADATA_KEY not in meta:
        return None
    info = GraphInfo.from_json(meta[METADATA_KEY])
    if not all(n in graph.nodes for n in info.shapes):
        raise GraphError(f"the graph's neurodeploy metadata is damaged (shapes is not a map of node names to "
                         f"positive sizes); {REEXPORT}")
    for key in _NODE_TABLES:
        for name in getattr(info, key):
            if name not in graph.nodes:
                raise GraphError(f"the metadata's {key} names node {_q(name)}, which the graph does not have; "
                                 f"{REEXPORT}")
    for name, node in graph.nodes.items():
        kind = info.node_kinds.get(name)
        if kind is None:
            raise GraphError(f"node {_q(name)} has no kind in the metadata; {REEXPORT}")
        if kind != KIND_OF_TYPE[type(node)]:
            raise GraphError(f"node {_q(name)} is a {type(node).__name__} but the metadata calls it {_q(kind)}; "
                             f"{REEXPORT}")
    for name, cond in info.spike_condition.items():
        if not isinstance(graph.nodes[name], nir.LIF):
            raise GraphError(f"node {_q(name)}: spike condition {_q(cond)} needs a neuron and '>=' or '>'; {REEXPORT}")
    edge_keys = {f"{s}->{d}" for s, d in edges}
    if not all(k in edge_keys for k in info.delays):
        raise GraphError(f"the graph's neurodeploy metadata is damaged (delays is not a map of the graph's edges to "
                         f"steps >= 1); {REEXPORT}")
    for key in info.edge_kinds:
        if key not in edge_keys:
            raise GraphError(f"the metadata's edge_kinds names edge {_q(key)}, which the graph does not have; "
                             f"{REEXPORT}")
    for key in sorted(edge_keys - set(info.edge_kinds)):
        raise GraphError(f"edge {_q(key)} has no kind (binary/graded/real) in the metadata; {REEXPORT}")
    return info


# ---------------------------------------------------------------- entry point

def check_graph(graph: nir.NIRGraph) -> None:
    """Raise :class:`GraphError` (one line naming the node or edge, and what to do) if
    ``graph`` is malformed; see the module docstring for the list. Returns None if fine."""
    edges = _check_structure(graph)
    declared: dict[str, tuple[int, ...] | None] = {}
    for name, node in graph.nodes.items():
        declared[name] = _guard(name, check_fields, name, node)
    _check_edges(graph, edges)
    stateful = lambda n: pr.is_stateful_neuron(graph.nodes[n])  # noqa: E731
    order = topological_order(graph.nodes, edges, stateful)
    back = recurrent_edges(graph.nodes, edges, stateful)
    meta = graph.metadata if isinstance(graph.metadata, dict) else {}
    if back and METADATA_KEY in meta and not GraphInfo.from_json(meta[METADATA_KEY]).takes_sequences:
        src, dst = back[0]
        raise GraphError(f"edge {_q(src)}->{_q(dst)} closes a recurrent loop; neurodeploy's image pipeline "
                         "(encoder ... decoder) runs none -- recurrent loops run in sequence graphs (a writer's "
                         ".nir file); remove the edge")
    info = _check_metadata(graph, edges)
    _guard(None, _check_shapes, graph, order, edges, declared, info, back)


def _guard(name: str | None, fn, *args):
    """Run a check; an unexpected exception still comes out as a GraphError (its
    ``__cause__`` keeps the original, which the fuzzer counts as a checker bug)."""
    try:
        return fn(*args)
    except GraphError:
        raise
    except Exception as exc:
        where = f"node {_q(name)}" if name is not None else "the graph"
        raise GraphError(f"{where} is malformed ({type(exc).__name__}: {_one_line(exc)}); {REEXPORT}") from exc


def is_well_formed(graph: Any) -> bool:
    """True when :func:`check_graph` accepts ``graph`` (for callers that only branch)."""
    try:
        check_graph(graph)
    except GraphError:
        return False
    return True


__all__ = ["check_graph", "build_nodes", "is_well_formed", "SUPPORTED"]
