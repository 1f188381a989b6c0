"""The fields of each node type, checked on their own: one checker per type, registered by type.

NIR checks a node's fields where the node is defined; neurodeploy cannot add checks to
NIR's classes and reads files whose nodes were built without them, so the checks live
here, one function per type in :data:`FIELD_CHECKS`. :func:`check_fields` runs the one
for a node's type and returns the output shape the fields declare (None where it follows
from the input: NIR 1.0's other primitives, whose parameters
:func:`neurodeploy.ir.primitives.out_shape` checks against their input's shape).
What relates nodes to each other (edges, shapes along edges, metadata) is
:mod:`neurodeploy.ir.check`'s.

Every refusal is a :class:`~neurodeploy.errors.GraphError` of one line naming the node.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from typing import Any, Callable

import nir
import numpy as np

from neurodeploy.errors import GraphError, NeurodeployError
from neurodeploy.ir import nodes as nd
from neurodeploy.ir import primitives as pr
from neurodeploy.ir.info import DOMAINS
from neurodeploy.ir.values import FOREIGN, REEXPORT
from neurodeploy.ir.values import is_int as _is_int
from neurodeploy.ir.values import one_line as _one_line
from neurodeploy.ir.values import quoted as _q
from neurodeploy.ir.values import short as _short
from neurodeploy.models import host_blocks

LIF_PARAMS = ("tau", "r", "v_leak", "v_threshold", "v_reset")
UPSAMPLE_MODES = ("bilinear", "nearest")

FieldCheck = Callable[[str, Any], "tuple[int, ...] | None"]
FIELD_CHECKS: dict[type, FieldCheck] = {}


def checks(*types: type) -> Callable[[FieldCheck], FieldCheck]:
    """Register the decorated function as the field check of ``types``."""
    def register(fn: FieldCheck) -> FieldCheck:
        for t in types:
            FIELD_CHECKS[t] = fn
        return fn
    return register


def check_fields(name: str, node: nir.NIRNode) -> tuple[int, ...] | None:
    """Field types and values of one node of a supported type (every array finite and
    numeric, then its type's checker); returns its declared output shape (None: derived)."""
    _check_all_arrays(name, node)
    return FIELD_CHECKS[type(node)](name, node)


# ---------------------------------------------------------------- field values

def int_tuple(value: Any, n: int | None, minimum: int, name: str, what: str) -> tuple[int, ...]:
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
    for f in dataclasses.fields(node):
        value = getattr(node, f.name, None)
        if isinstance(value, np.ndarray) and f.name not in ("input_type", "output_type"):
            _array(value, name, f.name)
        elif isinstance(value, dict) and f.name not in ("input_type", "output_type", "metadata"):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise GraphError(f"node {_q(name)}: {f.name} has a non-text key {_short(key)}; {REEXPORT}")
                _array(item, name, f"{f.name}[{_q(key)}]")


def concat_order(name: str, node: nd.Concat | nd.Product) -> list[str]:
    """The operand names of a Concat or Product (its ``order``, a JSON list)."""
    try:
        order = json.loads(_string(node.order, name, "order"))
    except json.JSONDecodeError:
        order = None
    if not isinstance(order, list) or not order or not all(isinstance(o, str) for o in order):
        raise GraphError(f"concat {_q(name)}: order {_short(node.order)} is not a JSON list of input names; "
                         f"{REEXPORT}")
    return order


# ---------------------------------------------------------------- NIR's types

@checks(nir.Input)
def _input(name: str, node: nir.Input) -> tuple[int, ...]:
    if not isinstance(node.input_type, dict):
        raise GraphError(f"input {_q(name)}: input_type is not a shape; {REEXPORT}")
    return _shape(node.input_type.get("input"), name, "input shape")


@checks(nir.Output)
def _output(name: str, node: nir.Output) -> tuple[int, ...]:
    if not isinstance(node.output_type, dict):
        raise GraphError(f"output {_q(name)}: output_type is not a shape; {REEXPORT}")
    return _shape(node.output_type.get("output"), name, "output shape")


@checks(nir.Conv2d)
def _conv2d(name: str, node: nir.Conv2d) -> tuple[int, ...]:
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
    stride = int_tuple(node.stride, 2, 1, name, "stride")
    padding = int_tuple(node.padding, 2, 0, name, "padding")
    dilation = int_tuple(node.dilation, 2, 1, name, "dilation")
    (groups,) = int_tuple(node.groups, 1, 1, name, "groups")
    if weight.shape[0] % groups:
        raise GraphError(f"conv {_q(name)}: {weight.shape[0]} output channels do not divide into {groups} groups; "
                         f"{REEXPORT}")
    if node.input_shape is None:
        raise GraphError(f"conv {_q(name)}: input_shape is missing; {FOREIGN}")
    in_hw = int_tuple(node.input_shape, 2, 1, name, "input_shape")
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


@checks(nir.LIF)
def _lif(name: str, node: nir.LIF) -> tuple[int, ...]:
    shapes = {key: _array(getattr(node, key, None), name, key).shape for key in LIF_PARAMS}
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


@checks(*pr.NEW_KINDS)
def _derived(name: str, node: nir.NIRNode) -> None:
    return None  # its parameters fit or not its input's shape: primitives.out_shape, a graph check


# ---------------------------------------------------------------- neurodeploy's types

def _own_shape(name: str, node: nd.NeurodeployNode) -> tuple[int, ...]:
    shape = _shape(node.shape, name, "shape")
    if len(shape) != 3:
        raise GraphError(f"node {_q(name)}: shape {shape} is not (C, H, W); {REEXPORT}")
    return shape


@checks(nd.TemporalMean)
def _temporal_mean(name: str, node: nd.TemporalMean) -> tuple[int, ...]:
    shape = _own_shape(name, node)
    try:
        weights = json.loads(_string(node.weights, name, "weights"))
        ok = isinstance(weights, list) and all(isinstance(w, (int, float)) and math.isfinite(w) for w in weights)
    except ValueError:
        ok = False
    if not ok:
        raise GraphError(f"decoder {_q(name)}: weights {_short(node.weights)} are not a JSON list of numbers; "
                         f"{REEXPORT}")
    return shape


@checks(nd.Sum, nd.ReLU)
def _shape_only(name: str, node: nd.NeurodeployNode) -> tuple[int, ...]:
    return _own_shape(name, node)


@checks(nd.DirectEncode)
def _direct_encode(name: str, node: nd.DirectEncode) -> tuple[int, ...]:
    shape = _own_shape(name, node)
    int_tuple(node.t_steps, 1, 1, name, "t_steps")
    return shape


@checks(nd.Concat, nd.Product)
def _ordered_inputs(name: str, node: nd.Concat | nd.Product) -> tuple[int, ...]:
    shape = _own_shape(name, node)
    concat_order(name, node)
    return shape


@checks(nd.Gain)
def _gain(name: str, node: nd.Gain) -> tuple[int, ...]:
    shape = _own_shape(name, node)
    if not isinstance(node.factor, (int, float, np.floating, np.integer)) or not np.isfinite(float(node.factor)):
        raise GraphError(f"gain {_q(name)}: factor {_short(node.factor)} is not a finite number; {REEXPORT}")
    return shape


@checks(nd.Upsample)
def _upsample(name: str, node: nd.Upsample) -> tuple[int, ...]:
    shape = _own_shape(name, node)
    int_tuple(node.scale_factor, 1, 1, name, "scale_factor")
    _string(node.mode, name, "mode", UPSAMPLE_MODES)
    if not _is_int(node.align_corners) or int(node.align_corners) not in (0, 1):
        raise GraphError(f"node {_q(name)}: align_corners {_short(node.align_corners)} is not 0 or 1; {REEXPORT}")
    return shape


@checks(nd.Max)
def _max(name: str, node: nd.Max) -> tuple[int, ...]:
    shape = _own_shape(name, node)
    over = _string(node.over, name, "over", nd.MAX_OVER)
    in_shape = _shape(node.input_shape, name, "input_shape")
    if len(in_shape) != 3 or shape != ((in_shape[0], 1, 1) if over == "pixels" else (1, *in_shape[1:])):
        raise GraphError(f"max {_q(name)}: shape {shape} is not the max over the {over} of its input_shape "
                         f"{in_shape}; {REEXPORT}")
    return shape


@checks(nd.PatchToTime)
def _patch_to_time(name: str, node: nd.PatchToTime) -> tuple[int, ...]:
    shape = _own_shape(name, node)
    (r,) = int_tuple(node.r, 1, 1, name, "r")
    if shape[0] % (r * r):
        raise GraphError(f"patch-to-time {_q(name)}: {shape[0]} output channels are not r² = {r * r} "
                         f"groups; {REEXPORT}")
    return shape


@checks(nd.NILIF)
def _nilif(name: str, node: nd.NILIF) -> tuple[int, ...]:
    shape = _own_shape(name, node)
    int_tuple(node.levels, 1, 1, name, "levels")
    (positions,) = int_tuple(node.positions, 1, 1, name, "positions")
    beta = node.beta
    if not isinstance(beta, (int, float, np.floating, np.integer)) or not 0.0 <= float(beta) <= 1.0:
        raise GraphError(f"neuron {_q(name)}: beta {_short(beta)} is not in [0, 1]; {REEXPORT}")
    if shape[0] % positions:
        raise GraphError(f"neuron {_q(name)}: {shape[0]} channels are not {positions} equal position "
                         f"groups; {REEXPORT}")
    return shape


@checks(nd.SigmaDelta)
def _sigma_delta(name: str, node: nd.SigmaDelta) -> tuple[int, ...]:
    shape = _shape(node.shape, name, "shape")  # a sequence graph's layer: any rank, (N,) or (C, H, W)
    vth = node.vth
    if not isinstance(vth, (int, float, np.floating, np.integer)) or not np.isfinite(float(vth)) or float(vth) < 0:
        raise GraphError(f"neuron {_q(name)}: vth {_short(vth)} is not a number >= 0; {REEXPORT}")
    int_tuple(node.state_exp, 1, 1, name, "state_exp")
    return shape


@checks(nd.HostBlock)
def _host_block(name: str, node: nd.HostBlock) -> tuple[int, ...]:
    shape = _own_shape(name, node)
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
    _rebuilds(name, node)
    return shape


def _rebuilds(name: str, node: nd.HostBlock) -> None:
    """The block must be declared and rebuild from its architecture with exactly the
    parameters it carries (executors and the partition rebuild it; a mismatch would
    fail inside torch)."""
    try:
        host_blocks.spec(node.block)
        host_blocks.check_params(node.block, node.architecture, node.config, node.module, node.params)
    except NeurodeployError as exc:
        raise GraphError(f"host block {_q(name)}: {_one_line(exc)}") from None
    except Exception as exc:  # unknown config keys, state_dict mismatches, ...
        raise GraphError(f"host block {_q(name)}: cannot rebuild {_q(node.module)} of architecture "
                         f"{_q(node.architecture)} with its config and parameters ({_one_line(exc)}); {REEXPORT}") from None
