"""Check a NIR graph before anything runs it: one line naming the bad node (or edge).

:func:`check_graph` is the gate between a ``.nir`` file (ours, or damaged, or from
another tool) and the executors, the partition and the lowering. Those stages assume a
well-formed graph and would otherwise fail deep inside torch or numpy with a traceback
that names no node. It raises :class:`~neurodeploy.errors.GraphError` for:

- structure: nodes/edges of the wrong type, an edge naming a node the graph lacks, the
  same edge twice, edges into an Input or out of an Output, a node without input that is
  not an Input, a node that feeds nothing and is not an Output, no Input or no Output;
- cycles: without a neuron (an algebraic loop: no time step breaks it) or through a
  neuron (recurrence, not supported yet);
- node types: anything but NIR 1.0's primitives (Input, Output, Conv2d, LIF and, since
  issue 16, the rest: :data:`neurodeploy.ir.primitives.NEW_KINDS`, whose shapes and
  chip-expressible parameters :func:`neurodeploy.ir.primitives.out_shape` checks) and
  neurodeploy's own (:data:`neurodeploy.ir.nodes.NODE_TYPES`); nested NIR graphs are
  flattened by :func:`neurodeploy.ir.read_graph` before this check, refused in memory;
- fields: non-numeric or wrongly typed fields, NaN or infinite parameters (every array,
  including ``HostBlock.params``), parameter arrays of different shapes inside a node;
- shapes: every edge's source output shape against what its destination expects (conv
  input channels and ``input_shape``, neuron parameter shape, Concat channel sum,
  Output/Input shapes), and inputs that are summed must agree;
- neurodeploy metadata, when present: parseable, well typed, naming exactly the graph's
  nodes and edges, node kinds matching node types, domains (image / time steps) matching
  what the graph computes (e.g. a neuron fed a decoded image).

Graphs without neurodeploy metadata (other tools' files) get every check but the
metadata and domain ones. :func:`build_nodes` turns the node dicts of a file into nodes,
naming the node that cannot be built.
"""

from __future__ import annotations

import json
import numbers
from collections import Counter
from dataclasses import fields
from typing import Any

import nir
import numpy as np

from neurodeploy.errors import GraphError
from neurodeploy.ir import nodes as nd
from neurodeploy.ir import primitives as pr
from neurodeploy.ir.info import METADATA_KEY, GraphInfo, graph_info
from neurodeploy.ir.order import topological_order
from neurodeploy.models import host_blocks

# The NIR primitives neurodeploy's executors and lowering implement; anything else is
# refused here rather than by a KeyError deep inside an executor.
SUPPORTED_NIR = {"Input": nir.Input, "Output": nir.Output, "Conv2d": nir.Conv2d, "LIF": nir.LIF}
SUPPORTED = ", ".join([*SUPPORTED_NIR, *(nd.TYPE_PREFIX + n for n in nd.NODE_TYPES)])
# GraphInfo.node_kinds value each node type must carry (export.py writes these).
KIND_OF_TYPE = {nir.Input: "input", nir.Output: "output", nir.Conv2d: "conv", nir.LIF: "lif",
                nd.DirectEncode: "encode", nd.TemporalMean: "decode_mean", nd.Sum: "sum", nd.Concat: "concat",
                nd.Upsample: "upsample", nd.HostBlock: "host", nd.Gain: "gain", nd.Product: "product",
                nd.PatchToTime: "patch_to_time", nd.NILIF: "nilif"}
# NIR 1.0's other primitives (issue 16); their semantics and shape rules: ir/primitives.py.
SUPPORTED_NIR.update({t.__name__: t for t in pr.NEW_KINDS})
KIND_OF_TYPE.update(pr.NEW_KINDS)
SUPPORTED = ", ".join([*SUPPORTED_NIR, *(nd.TYPE_PREFIX + n for n in nd.NODE_TYPES)])
LIF_PARAMS = ("tau", "r", "v_leak", "v_threshold", "v_reset")
EDGE_KINDS = ("binary", "graded", "real")
DOMAINS = ("seq", "image")
UPSAMPLE_MODES = ("bilinear", "nearest")
MAX_T_STEPS = 1_000_000  # beyond this a T is damage, and executors would allocate T copies of the image
REEXPORT = "re-export the model with `neurodeploy export`"
FOREIGN = "annotate graphs from other tools with neurodeploy.foreign.from_foreign_nir"


def _q(name: Any) -> str:
    """A node name quoted for a one-line message (repr when it holds odd characters)."""
    text = str(name)
    return f"'{text}'" if text.isprintable() and "'" not in text and len(text) < 200 else repr(text)[:200]


def _one_line(exc: BaseException) -> str:
    """An exception's text on one line (h5py/numpy messages can span several)."""
    return " ".join(str(exc).split())[:300] or type(exc).__name__


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


# ---------------------------------------------------------------- field checks

def _is_int(value: Any) -> bool:
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def _int_tuple(value: Any, n: int | None, minimum: int, name: str, what: str) -> tuple[int, ...]:
    """``value`` as a tuple of integers >= minimum (``n`` of them when given), or GraphError."""
    if _is_int(value):
        values = [value] * (n or 1)
    elif isinstance(value, (tuple, list, np.ndarray)) and np.asarray(value, dtype=object).ndim == 1:
        values = list(value)
    else:
        raise GraphError(f"node {_q(name)}: {what} is {type(value).__name__} {_short(value)}, not integers; {REEXPORT}")
    if not all(_is_int(v) or (isinstance(v, (float, np.floating)) and float(v).is_integer()) for v in values):
        raise GraphError(f"node {_q(name)}: {what} {_short(value)} is not integers; {REEXPORT}")
    ints = tuple(int(v) for v in values)
    if n is not None and len(ints) != n:
        raise GraphError(f"node {_q(name)}: {what} {ints} has {len(ints)} entries, expected {n}; {REEXPORT}")
    if any(v < minimum for v in ints):
        raise GraphError(f"node {_q(name)}: {what} {ints} must be >= {minimum}; {REEXPORT}")
    return ints


def _short(value: Any) -> str:
    return " ".join(repr(value).split())[:60]


def _array(value: Any, name: str, what: str) -> np.ndarray:
    """A numeric, finite parameter array, or GraphError naming node and field."""
    if type(value).__name__ == "Tensor":  # in-memory graphs straight from snntorch/norse
        raise GraphError(f"node {_q(name)}: {what} is a torch tensor, not a numpy array; {FOREIGN}")
    if not isinstance(value, (np.ndarray, numbers.Real, np.number)) or isinstance(value, (bool, np.bool_)):
        raise GraphError(f"node {_q(name)}: {what} is {type(value).__name__}, not a numeric array; {REEXPORT}")
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf" or arr.dtype.itemsize > 8:  # torch has no float128/longdouble
        raise GraphError(f"node {_q(name)}: {what} has dtype {arr.dtype}, not a number type; {REEXPORT}")
    if not np.all(np.isfinite(arr)):
        raise GraphError(f"node {_q(name)}: {what} holds NaN or infinity; retrain or re-export the model "
                         "(check the checkpoint for NaN weights)")
    return arr


def _shape(value: Any, name: str, what: str) -> tuple[int, ...]:
    """A per-step shape: a 1-D array of positive integers."""
    if value is None:
        raise GraphError(f"node {_q(name)}: {what} is missing; {FOREIGN} or {REEXPORT}")
    arr = np.asarray(value) if isinstance(value, (np.ndarray, list, tuple)) else None
    if arr is None or arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iu":
        raise GraphError(f"node {_q(name)}: {what} {_short(value)} is not a list of integers; {REEXPORT}")
    if np.any(arr <= 0):
        raise GraphError(f"node {_q(name)}: {what} {tuple(int(v) for v in arr)} has a non-positive size; {REEXPORT}")
    return tuple(int(v) for v in arr)


def _string(value: Any, name: str, what: str, allowed: tuple[str, ...] | None = None) -> str:
    if not isinstance(value, str):
        raise GraphError(f"node {_q(name)}: {what} is {type(value).__name__}, not text; {REEXPORT}")
    if allowed is not None and value not in allowed:
        raise GraphError(f"node {_q(name)}: {what} {_q(value)} is not one of {', '.join(allowed)}; {REEXPORT}")
    return value


def _check_all_arrays(name: str, node: nir.NIRNode) -> None:
    """NaN/inf and non-numeric dtypes in every array field (and dict of arrays) of a node."""
    for f in fields(node):
        value = getattr(node, f.name, None)
        if isinstance(value, np.ndarray) and f.name not in ("input_type", "output_type"):
            _array(value, name, f.name)
        elif isinstance(value, dict) and f.name not in ("input_type", "output_type", "metadata"):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise GraphError(f"node {_q(name)}: {f.name} has a non-text key {_short(key)}; {REEXPORT}")
                _array(item, name, f"{f.name}[{_q(key)}]")


def _check_node_fields(name: str, node: nir.NIRNode) -> tuple[int, ...] | None:
    """Field types and values of one node; returns its declared output shape (None: derived)."""
    _check_all_arrays(name, node)
    if isinstance(node, nir.Input):
        if not isinstance(node.input_type, dict):
            raise GraphError(f"input {_q(name)}: input_type is not a shape; {REEXPORT}")
        return _shape(node.input_type.get("input"), name, "input shape")
    if isinstance(node, nir.Output):
        if not isinstance(node.output_type, dict):
            raise GraphError(f"output {_q(name)}: output_type is not a shape; {REEXPORT}")
        return _shape(node.output_type.get("output"), name, "output shape")
    if isinstance(node, nir.Conv2d):
        return _check_conv_fields(name, node)
    if type(node) in pr.NEW_KINDS:
        return None  # derived from its input by primitives.out_shape (in _check_shapes)
    if isinstance(node, nir.LIF):
        shapes = {}
        for key in LIF_PARAMS:
            shapes[key] = _array(getattr(node, key, None), name, key).shape
        if len(set(shapes.values())) != 1:
            listed = ", ".join(f"{k} {v}" for k, v in shapes.items())
            raise GraphError(f"neuron {_q(name)}: parameter arrays differ in shape ({listed}); "
                             f"give every parameter the layer's shape, {REEXPORT}")
        if np.any(np.asarray(node.tau) <= 0):
            raise GraphError(f"neuron {_q(name)}: tau must be > 0 s; {REEXPORT}")
        shape = shapes["v_threshold"]
        if len(shape) == 0 or 0 in shape:
            raise GraphError(f"neuron {_q(name)}: parameters have shape {shape}, not the layer's (C, H, W); {FOREIGN}")
        return tuple(int(v) for v in shape)
    if isinstance(node, nd.NeurodeployNode):
        shape = _shape(node.shape, name, "shape")
        if len(shape) != 3:
            raise GraphError(f"node {_q(name)}: shape {shape} is not (C, H, W); {REEXPORT}")
        if isinstance(node, nd.DirectEncode):
            _int_tuple(node.t_steps, 1, 1, name, "t_steps")
        elif isinstance(node, (nd.Concat, nd.Product)):
            _concat_order(name, node)
        elif isinstance(node, nd.Gain):
            if not isinstance(node.factor, (int, float, np.floating, np.integer)) or not np.isfinite(float(node.factor)):
                raise GraphError(f"gain {_q(name)}: factor {_short(node.factor)} is not a finite number; {REEXPORT}")
        elif isinstance(node, nd.Upsample):
            _int_tuple(node.scale_factor, 1, 1, name, "scale_factor")
            _string(node.mode, name, "mode", UPSAMPLE_MODES)
            if not _is_int(node.align_corners) or int(node.align_corners) not in (0, 1):
                raise GraphError(f"node {_q(name)}: align_corners {_short(node.align_corners)} is not 0 or 1; {REEXPORT}")
        elif isinstance(node, nd.PatchToTime):
            (r,) = _int_tuple(node.r, 1, 1, name, "r")
            if shape[0] % (r * r):
                raise GraphError(f"patch-to-time {_q(name)}: {shape[0]} output channels are not r² = {r * r} "
                                 f"groups; {REEXPORT}")
        elif isinstance(node, nd.NILIF):
            (levels,) = _int_tuple(node.levels, 1, 1, name, "levels")
            (positions,) = _int_tuple(node.positions, 1, 1, name, "positions")
            beta = node.beta
            if not isinstance(beta, (int, float, np.floating, np.integer)) or not 0.0 <= float(beta) <= 1.0:
                raise GraphError(f"neuron {_q(name)}: beta {_short(beta)} is not in [0, 1]; {REEXPORT}")
            if shape[0] % positions:
                raise GraphError(f"neuron {_q(name)}: {shape[0]} channels are not {positions} equal position "
                                 f"groups; {REEXPORT}")
        elif isinstance(node, nd.HostBlock):
            for key in ("block", "architecture", "module"):
                if not _string(getattr(node, key), name, key):
                    raise GraphError(f"host block {_q(name)}: {key} is empty; {REEXPORT}")
            _string(node.domain_in, name, "domain_in", DOMAINS)
            _string(node.domain_out, name, "domain_out", DOMAINS)
            try:
                config = json.loads(_string(node.config, name, "config"))
            except json.JSONDecodeError:
                config = None
            if not isinstance(config, dict):
                raise GraphError(f"host block {_q(name)}: config is not a JSON object; {REEXPORT}")
            if not isinstance(node.params, dict):
                raise GraphError(f"host block {_q(name)}: params is {type(node.params).__name__}, not a dict "
                                 f"of arrays; {REEXPORT}")
            _check_host_block(name, node)
        return shape
    return None  # unreachable: the type was checked before


def _check_host_block(name: str, node: nd.HostBlock) -> None:
    """The block must be declared and rebuild from its architecture with exactly the
    parameters it carries (executors and the partition rebuild it; a mismatch would
    fail inside torch)."""
    from neurodeploy.errors import NeurodeployError

    try:
        host_blocks.spec(node.block)
        host_blocks.check_params(node.block, node.architecture, node.config, node.module, node.params)
    except NeurodeployError as exc:
        raise GraphError(f"host block {_q(name)}: {_one_line(exc)}") from None
    except Exception as exc:  # unknown config keys, state_dict mismatches, ...
        raise GraphError(f"host block {_q(name)}: cannot rebuild {_q(node.module)} of architecture "
                         f"{_q(node.architecture)} with its config and parameters ({_one_line(exc)}); {REEXPORT}") from None


def _check_conv_fields(name: str, node: nir.Conv2d) -> tuple[int, ...]:
    weight = _array(node.weight, name, "weight")
    if weight.ndim != 4 or 0 in weight.shape:
        raise GraphError(f"conv {_q(name)}: weight has shape {weight.shape}, expected (C_out, C_in/groups, kH, kW); "
                         f"{REEXPORT}")
    bias = _array(node.bias, name, "bias")
    if bias.shape != (weight.shape[0],):
        raise GraphError(f"conv {_q(name)}: bias has shape {bias.shape}, expected ({weight.shape[0]},) "
                         f"for {weight.shape[0]} output channels; {REEXPORT}")
    if isinstance(node.padding, str):
        raise GraphError(f"conv {_q(name)}: padding {_q(node.padding)} is not supported; use integer padding "
                         f"({FOREIGN})")
    stride = _int_tuple(node.stride, 2, 1, name, "stride")
    padding = _int_tuple(node.padding, 2, 0, name, "padding")
    dilation = _int_tuple(node.dilation, 2, 1, name, "dilation")
    (groups,) = _int_tuple(node.groups, 1, 1, name, "groups")
    if weight.shape[0] % groups:
        raise GraphError(f"conv {_q(name)}: {weight.shape[0]} output channels do not divide into {groups} groups; "
                         f"{REEXPORT}")
    if node.input_shape is None:
        raise GraphError(f"conv {_q(name)}: input_shape is missing; {FOREIGN}")
    in_hw = _int_tuple(node.input_shape, 2, 1, name, "input_shape")
    out_hw = tuple((in_hw[i] + 2 * padding[i] - dilation[i] * (weight.shape[2 + i] - 1) - 1) // stride[i] + 1
                   for i in range(2))
    if min(out_hw) < 1:
        raise GraphError(f"conv {_q(name)}: kernel {weight.shape[2:]} does not fit its {in_hw} input "
                         f"(padding {padding}); {REEXPORT}")
    out = (int(weight.shape[0]), *out_hw)
    # Executors size buffers from output_type (graph.node_shape): it must agree.
    declared = node.output_type.get("output") if isinstance(node.output_type, dict) else None
    if declared is None or tuple(np.asarray(declared).reshape(-1).tolist()) != out:
        raise GraphError(f"conv {_q(name)}: output_type {_short(declared)} disagrees with its weight and input_shape "
                         f"(which give {out}); {REEXPORT}")
    return out


def _concat_order(name: str, node: nd.Concat | nd.Product) -> list[str]:
    try:
        order = json.loads(_string(node.order, name, "order"))
    except json.JSONDecodeError:
        order = None
    if not isinstance(order, list) or not order or not all(isinstance(o, str) for o in order):
        raise GraphError(f"concat {_q(name)}: order {_short(node.order)} is not a JSON list of input names; "
                         f"{REEXPORT}")
    return order


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
            raise GraphError(f"node {_q(name)} is a nested NIR graph (a recurrent layer?); "
                             "recurrent graphs are not supported yet")
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
            raise GraphError(f"node {_q(src)} feeds itself (edge {_q(src)}->{_q(dst)}); "
                             "recurrent graphs are not supported yet")
        if isinstance(graph.nodes[dst], nir.Input):
            raise GraphError(f"edge {_q(src)}->{_q(dst)} leads into input {_q(dst)}; an Input takes no edges, remove it")
        if isinstance(graph.nodes[src], nir.Output):
            raise GraphError(f"edge {_q(src)}->{_q(dst)} leaves output {_q(src)}; an Output feeds nothing, remove it")
    for (src, dst), count in Counter(edges).items():
        node = graph.nodes[dst]
        allowed = _concat_order(dst, node).count(src) if isinstance(node, (nd.Concat, nd.Product)) else 1
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
                  declared: dict[str, tuple[int, ...] | None], info: GraphInfo | None) -> None:
    """Propagate shapes (and, with metadata, domains) in order; compare every edge's ends."""
    preds: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for src, dst in edges:
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
        if type(node) in pr.NEW_KINDS:
            _check_primitive_shape(name, node, ins, shape, domain, info)
            continue
        if isinstance(node, nd.Concat):
            order_ = _concat_order(name, node)
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
            in_domain = _joint_domain(name, ins, domain, info)
            _check_types(name, node, out, out)
            shape[name], domain[name] = out, in_domain
            _check_domain(name, in_domain, info)  # the executor picks the channel axis by it
            continue
        if isinstance(node, nd.Product):
            order_ = _concat_order(name, node)
            if len(order_) != 2 or Counter(order_) != Counter(ins):
                raise GraphError(f"product {_q(name)}: order {order_} does not list exactly its two inputs "
                                 f"{sorted(set(ins))}; {REEXPORT}")
        first = ins[0]
        for other in ins[1:]:
            if shape[other] != shape[first]:
                raise GraphError(f"node {_q(name)} sums inputs of different shapes ({_q(first)} {shape[first]}, "
                                 f"{_q(other)} {shape[other]}); make them agree, {REEXPORT}")
        in_shape, in_domain = shape[first], _joint_domain(name, ins, domain, info)
        expected, out_domain = in_shape, in_domain
        if isinstance(node, nir.Conv2d):
            c_in = int(np.asarray(node.weight).shape[1]) * int(node.groups)
            expected = (c_in, *_int_tuple(node.input_shape, 2, 1, name, "input_shape"))
        elif isinstance(node, nd.Upsample):
            s = int(node.scale_factor)
            expected = (out[0], out[1] // s, out[2] // s) if out[1] % s == 0 and out[2] % s == 0 else None
        elif isinstance(node, nd.PatchToTime):
            r = int(node.r)
            expected = (out[0] // (r * r), out[1] * r, out[2] * r)
        elif isinstance(node, nd.HostBlock):
            # The blocks kept whole keep their input's shape, except VLIF-Net's compressions,
            # which change channels and divide H, W by their patch factor.
            expected = in_shape if host_blocks.spec(node.block).shape == "traced" else out
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
        if isinstance(node, nd.DirectEncode | nd.TemporalMean | nd.Sum | nd.Gain | nd.Product | nd.NILIF | nir.Output) \
                and out != in_shape:
            raise GraphError(f"node {_q(name)}: shape {out} differs from its input's {in_shape}; {REEXPORT}")
        if isinstance(node, nir.LIF) and out != in_shape:
            raise GraphError(f"edge {_q(first)}->{_q(name)}: {_q(first)} gives shape {in_shape}, neuron {_q(name)} "
                             f"has parameters of shape {out}; fix the shapes, {REEXPORT}")
        # Our node types record their own shape as input_type (NeurodeployNode.__post_init__).
        # NIR derives a per-channel LIF's types from its (C, 1, 1) parameters: nothing to compare.
        if not per_channel_lif:
            own_in = out if isinstance(node, nd.NeurodeployNode) and not isinstance(node, nd.PatchToTime) else expected
            _check_types(name, node, own_in, out)
        shape[name], domain[name] = out, out_domain
        _check_domain(name, out_domain, info)


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

_INFO_FIELDS = {f.name for f in fields(GraphInfo)}
_DICT_FIELDS = ("edge_kinds", "node_kinds", "spike_condition", "modules", "folded_batchnorm", "domains",
                "side", "island", "window", "reset")
_NODE_TABLES = ("node_kinds", "domains", "spike_condition", "side", "island", "window", "reset")
_VALUES = {"side": ("chip", "host"), "window": host_blocks.WINDOWS, "reset": ("zero", "subtract")}


def _check_metadata(graph: nir.NIRGraph, edges: list[tuple[str, str]]) -> GraphInfo | None:
    """The neurodeploy annotations, when present: well-formed and naming this graph."""
    meta = graph.metadata
    if not isinstance(meta, dict) or METADATA_KEY not in meta:
        return None
    raw = meta[METADATA_KEY]
    if isinstance(raw, np.ndarray) and raw.ndim == 0:
        raw = raw.item()
    bad = f"the graph's neurodeploy metadata is damaged ({{}}); {REEXPORT}"
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise GraphError(bad.format("not UTF-8")) from None
    if not isinstance(raw, str):
        raise GraphError(bad.format(f"{type(raw).__name__}, not JSON text"))
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise GraphError(bad.format(f"not JSON: {_one_line(exc)}")) from None
    if not isinstance(data, dict):
        raise GraphError(bad.format("not a JSON object"))
    unknown = sorted(set(data) - _INFO_FIELDS)
    if unknown:
        raise GraphError(bad.format(f"unknown field {_q(unknown[0])}"))
    for key in ("t_steps", "dt_s", "input_shape"):
        if key not in data:
            raise GraphError(bad.format(f"no {key}"))
    if not _is_int(data["t_steps"]) or not 1 <= data["t_steps"] <= MAX_T_STEPS:
        raise GraphError(bad.format(f"t_steps {_short(data['t_steps'])} is not an integer in 1..{MAX_T_STEPS}"))
    dt = data["dt_s"]
    # float() of a huge JSON integer overflows; executors compute dt/tau in floats anyway.
    try:
        dt_ok = isinstance(dt, (int, float)) and not isinstance(dt, bool) and np.isfinite(float(dt)) and dt > 0
    except OverflowError:
        dt_ok = False
    if not dt_ok:
        raise GraphError(bad.format(f"dt_s {_short(dt)} is not a positive number of seconds"))
    shape = data["input_shape"]
    if not isinstance(shape, list) or len(shape) != 3 or not all(_is_int(v) and v > 0 for v in shape):
        raise GraphError(bad.format(f"input_shape {_short(shape)} is not (C, H, W)"))
    for key in ("encode", "decode"):
        if key in data and not isinstance(data[key], str):
            raise GraphError(bad.format(f"{key} is not text"))
    for key in _DICT_FIELDS:
        value = data.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise GraphError(bad.format(f"{key} is not a map of names to text"))
    # GraphInfo.shapes (added beside this checker): node -> per-step shape; partition reads it.
    shapes = data.get("shapes", {})
    if not isinstance(shapes, dict) or not all(
            n in graph.nodes and isinstance(v, list) and v and all(_is_int(x) and x > 0 for x in v)
            for n, v in shapes.items()):
        raise GraphError(bad.format("shapes is not a map of node names to positive sizes"))
    kinds, domains = data.get("node_kinds", {}), data.get("domains", {})
    for key in _NODE_TABLES:
        for name, value in data.get(key, {}).items():
            if name not in graph.nodes:
                raise GraphError(f"the metadata's {key} names node {_q(name)}, which the graph does not have; "
                                 f"{REEXPORT}")
            if key in _VALUES and value not in _VALUES[key]:
                raise GraphError(f"node {_q(name)}: the metadata's {key} {_q(value)} is not one of "
                                 f"{', '.join(_VALUES[key])}; {REEXPORT}")
    for name, node in graph.nodes.items():
        kind = kinds.get(name)
        if kind is None:
            raise GraphError(f"node {_q(name)} has no kind in the metadata; {REEXPORT}")
        if kind != KIND_OF_TYPE[type(node)]:
            raise GraphError(f"node {_q(name)} is a {type(node).__name__} but the metadata calls it {_q(kind)}; "
                             f"{REEXPORT}")
        if name in domains and domains[name] not in DOMAINS:
            raise GraphError(f"node {_q(name)}: the metadata's domain {_q(domains[name])} is not seq or image; "
                             f"{REEXPORT}")
    for name, cond in data.get("spike_condition", {}).items():
        if not isinstance(graph.nodes[name], nir.LIF) or cond not in (">=", ">"):
            raise GraphError(f"node {_q(name)}: spike condition {_q(cond)} needs a neuron and '>=' or '>'; {REEXPORT}")
    for key, ok, what in (("latency", lambda v: _is_int(v) and v >= 0, "a number of steps >= 0"),
                          ("reset_delay", lambda v: _is_int(v) and v in (0, 1), "0 or 1 (steps)"),
                          ("synapse_gain", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
                           and np.isfinite(v), "a finite number"),
                          ("neuron_form", lambda v: isinstance(v, dict), "a map of parameters"),
                          ("quant", lambda v: isinstance(v, dict), "a map of integer parameters")):
        table = data.get(key, {})
        if not isinstance(table, dict):
            raise GraphError(bad.format(f"{key} is not a map of node names"))
        for name, value in table.items():
            if name not in graph.nodes:
                raise GraphError(f"the metadata's {key} names node {_q(name)}, which the graph does not have; "
                                 f"{REEXPORT}")
            if not ok(value):
                raise GraphError(f"node {_q(name)}: the metadata's {key} {_short(value)} is not {what}; {REEXPORT}")
    delays = data.get("delays", {})
    edge_names = {f"{s}->{d}" for s, d in edges}
    if not isinstance(delays, dict) or not all(k in edge_names and _is_int(v) and v >= 1 for k, v in delays.items()):
        raise GraphError(bad.format("delays is not a map of the graph's edges to steps >= 1"))
    edge_kinds = data.get("edge_kinds", {})
    edge_keys = {f"{s}->{d}" for s, d in edges}
    for key, kind in edge_kinds.items():
        if key not in edge_keys:
            raise GraphError(f"the metadata's edge_kinds names edge {_q(key)}, which the graph does not have; "
                             f"{REEXPORT}")
        if kind not in EDGE_KINDS:
            raise GraphError(f"edge {_q(key)}: kind {_q(kind)} is not one of {', '.join(EDGE_KINDS)}; {REEXPORT}")
    for key in sorted(edge_keys - set(edge_kinds)):
        raise GraphError(f"edge {_q(key)} has no kind (binary/graded/real) in the metadata; {REEXPORT}")
    try:  # what every later stage calls; after the checks above it cannot fail
        return graph_info(graph)
    except Exception as exc:
        raise GraphError(bad.format(_one_line(exc))) from None


# ---------------------------------------------------------------- entry point

def check_graph(graph: nir.NIRGraph) -> None:
    """Raise :class:`GraphError` (one line naming the node or edge, and what to do) if
    ``graph`` is malformed; see the module docstring for the list. Returns None if fine."""
    edges = _check_structure(graph)
    declared: dict[str, tuple[int, ...] | None] = {}
    for name, node in graph.nodes.items():
        declared[name] = _guard(name, _check_node_fields, name, node)
    _check_edges(graph, edges)
    order = topological_order(graph.nodes, edges, lambda n: isinstance(graph.nodes[n], nir.LIF)
                              or type(graph.nodes[n]) in pr.NEURON_PARAMS)
    info = _check_metadata(graph, edges)
    _guard(None, _check_shapes, graph, order, edges, declared, info)


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
