"""NIR 1.0's primitives as neurodeploy reads them: semantics, shapes, what the chip can express.

This is the one place the semantics are written down; the torch executor
(``targets/nir_primitives.py``) and the Lava lowering (``targets/loihi/lower.py``)
implement exactly this, and their docstrings point here.

**Time.** A ``.nir`` file stores no time step. neurodeploy runs NIR's continuous-time
equations with forward Euler at ``dt`` seconds per step: ``dt_s`` = 1e-4 s unless given
(``--dt``; the NIR paper's value). Every node is evaluated once per step, in topological
order, all on the same step ``t`` (a node's input at step ``t`` is the sum of its
predecessors' outputs at step ``t``; NIR's rule "a node sums its inputs").
Shapes are per step, without batch or time axes (NIR's types have neither).

**Neurons** (``x`` = summed input at step t, ``S`` = output spike, ``I`` synaptic current,
``v`` membrane; every parameter broadcasts to the layer's shape):

- ``I`` (integrator): ``v += dt r x``; outputs ``v``.
- ``LI``: ``v += dt/tau (v_leak - v + r x)``; outputs ``v``.
- ``IF``: ``v += dt r x``; ``S = v > v_threshold``; where S: ``v = v_reset``; outputs S.
- ``LIF``: ``v += dt/tau (v_leak - v + r x)``; then as IF.
- ``CubaLI``: ``I += dt/tau_syn (-I + w_in x)``; then ``v += dt/tau_mem (v_leak - v + r I)``
  with the *updated* ``I``; outputs ``v``.
- ``CubaLIF``: as CubaLI, then as IF (spike on ``>``, reset ``v`` to ``v_reset``; ``I`` is
  not reset).
- ``Threshold``: ``S = x > threshold`` (no state).

**What NIR leaves open, and what neurodeploy assumes** (and which writers disagree, see
``benchmarks/interop.md``):

- the discretisation and dt: forward Euler at ``dt_s`` (above). A writer whose own step is
  not Euler of NIR's equation at some dt (norse writes ``tau = dt/tau_mem_inv``, sinabs
  writes ``IF(r=1)`` meaning ``v += x`` per step) needs ``--writer``;
- the initial state: ``v = v_reset`` for spiking neurons (``v = v_leak`` is what norse
  starts from; both are 0 in every file seen so far), ``v = 0`` for I/LI/CubaLI, ``I = 0``;
- the order within a CubaLIF step: the current first, the membrane from the new current
  (snntorch ``Synaptic`` and Lava's LIF; norse's ``LIFCell`` uses the old current);
- the reset: to ``v_reset`` (NIR records no subtractive reset, neuromorphs/NIR#63); the
  spike condition strictly ``>`` (NIR's equations). Writers whose neurons fire on ``>=``,
  subtract the threshold or reset one step late (snntorch, sinabs, rockpool) get those
  rules recorded on their nodes only with ``--writer`` (:mod:`.rules`);
- ``AvgPool2d`` padding counts in the average (torch's ``count_include_pad=True``);
- ``Delay.delay`` is in seconds; it must be a whole number of steps (``delay/dt``).

**Synapses and routing** (no state, applied per step): ``Affine`` ``y = W x + b``,
``Linear`` ``y = W x`` (``W`` of shape (out, in)); ``Conv1d``/``Conv2d`` as torch's
cross-correlation with stride, padding (int, pair, ``"valid"``, or ``"same"`` when it
is symmetric), dilation and groups; ``SumPool2d``/``AvgPool2d`` with kernel, stride,
padding; ``Scale`` ``y = s * x``; ``Flatten`` over the per-step axes ``start_dim..end_dim``;
``Delay`` ``y(t) = x(t - delay)`` (zeros before).

**Refused, one line naming the node** (:class:`~neurodeploy.errors.GraphError`): a
non-positive tau; ``dt/tau > 1`` (Euler overshoots; Loihi's decay is a fraction in
[0, 1] -- pass the writer's ``--dt``); a negative or non-integer delay (in steps); a
Flatten whose dims reach the time/batch axis a writer recorded in its ``input_type``;
shapes that do not fit; an unknown node type. Declared ``input_type``/``output_type``
that differ from the inferred shapes only by singleton dimensions are accepted with one
warning (rockpool writes such Output types); other differences are refused.
"""

from __future__ import annotations

import numbers
from typing import Any

import nir
import numpy as np

from neurodeploy.errors import GraphError
from neurodeploy.ir import nodes as nd

DEFAULT_DT_S = 1e-4  # the NIR paper's time step; .nir files store none

# node kind (GraphInfo.node_kinds) of every primitive beyond Input/Output/Conv2d/LIF
NEW_KINDS: dict[type, str] = {
    nir.Affine: "affine", nir.Linear: "linear", nir.Conv1d: "conv1d", nir.Flatten: "flatten",
    nir.SumPool2d: "sumpool", nir.AvgPool2d: "avgpool", nir.Scale: "scale", nir.Delay: "delay",
    nir.I: "i", nir.LI: "li", nir.IF: "if", nir.CubaLI: "cubali", nir.CubaLIF: "cubalif",
    nir.Threshold: "threshold",
}
# a sequence graph may hold our sigma-delta neuron beside NIR's primitives (a netx file's SDNN layers)
NEW_KINDS[nd.SigmaDelta] = "sigma_delta"
# NIR's neuron kinds (the layers a Trace records are info.NEURON_KINDS: these and NI-LIF)
NIR_NEURON_KINDS = ("lif", "if", "cubalif", "threshold", "li", "cubali", "i")
# the neuron kinds of a sequence graph: NIR's and the sigma-delta neuron (graded messages)
SEQUENCE_NEURON_KINDS = NIR_NEURON_KINDS + ("sigma_delta",)
GRADED_KINDS = ("sigma_delta",)
# NIR's synapses (pooling too: fixed weights), each a Lava Dense or Conv and one step of latency
SYNAPSE_TYPES = (nir.Affine, nir.Linear, nir.Conv1d, nir.Conv2d, nir.SumPool2d, nir.AvgPool2d)
SPIKING_KINDS = ("lif", "if", "cubalif", "threshold")
# neuron parameters per type, and which are time constants (seconds, > 0)
NEURON_PARAMS: dict[type, tuple[str, ...]] = {
    nir.I: ("r",), nir.LI: ("tau", "r", "v_leak"), nir.IF: ("r", "v_threshold", "v_reset"),
    nir.LIF: ("tau", "r", "v_leak", "v_threshold", "v_reset"),
    nir.CubaLI: ("tau_syn", "tau_mem", "r", "v_leak", "w_in"),
    nir.CubaLIF: ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"),
    nir.Threshold: ("threshold",),
}
TIME_CONSTANTS = ("tau", "tau_syn", "tau_mem")
# the neurons with a state (a time step), which break a recurrent loop (neurodeploy.ir.order); a
# Threshold has none, so a loop through Threshold only is an algebraic loop
STATEFUL_NEURONS = (nir.LIF, nir.IF, nir.LI, nir.CubaLIF, nir.CubaLI, nir.I, nd.NILIF, nd.SigmaDelta)


def is_stateful_neuron(node: nir.NIRNode) -> bool:
    """Whether ``node`` keeps a state from one time step to the next (it may close a recurrent loop)."""
    return isinstance(node, STATEFUL_NEURONS)
ELEMENTWISE = (nir.Scale, nir.Delay)
ALL_NAMES = ", ".join(["Input", "Output", "Conv2d", "LIF", *sorted(t.__name__ for t in NEW_KINDS), "NIRGraph"])


def _q(name: str) -> str:
    """A node name quoted for a one-line message (repr when it holds odd characters)."""
    text = str(name)
    return f"'{text}'" if text.isprintable() and "'" not in text and len(text) < 200 else repr(text)[:200]


def _short(value: Any) -> str:
    """A value on one short line (numpy reprs of arrays span lines)."""
    return " ".join(repr(value).split())[:60]


def as_array(value: Any, name: str, what: str) -> np.ndarray:
    """A NIR parameter (numpy array, torch tensor, number) as a finite float64 array."""
    if type(value).__name__ == "Tensor":
        value = value.detach().cpu().double().numpy()
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise GraphError(f"node {_q(name)}: {what} is {type(value).__name__}, not numbers") from None
    if not np.all(np.isfinite(arr)):
        raise GraphError(f"node {_q(name)}: {what} holds NaN or infinity")
    return arr


def ints(value: Any, n: int, name: str, what: str, minimum: int) -> tuple[int, ...]:
    """An int or a sequence of ``n`` ints (>= minimum), as NIR's pooling/conv fields hold them."""
    if type(value).__name__ == "Tensor":
        value = value.tolist()
    arr = np.atleast_1d(np.asarray(value, dtype=object)).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, n)
    ok = arr.size == n and all(isinstance(v, numbers.Real) and not isinstance(v, bool) and float(v).is_integer()
                               for v in arr)
    if not ok:
        raise GraphError(f"node {_q(name)}: {what} {_short(value)} is not {n} integer(s)")
    out = tuple(int(v) for v in arr)
    if any(v < minimum for v in out):
        raise GraphError(f"node {_q(name)}: {what} {out} must be >= {minimum}")
    return out


def squeeze(shape) -> tuple[int, ...]:
    return tuple(int(v) for v in shape if int(v) != 1)


def same_up_to_singletons(a, b) -> bool:
    return squeeze(a) == squeeze(b)


def declared(node: nir.NIRNode, attr: str, key: str) -> tuple[int, ...] | None:
    """A node's declared input/output type, or None when the writer left it out."""
    t = getattr(node, attr, None)
    value = t.get(key) if isinstance(t, dict) else None
    if value is None:
        return None
    arr = np.asarray(value).reshape(-1)
    if arr.size == 0:
        return None  # snntorch/norse neurons with scalar parameters declare ()
    try:
        return tuple(int(v) for v in arr)
    except (TypeError, ValueError):
        return None


def per_group(node: nir.NIRNode, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """A conv's input ``shape`` (C_in, ...) as NIR's Conv1d/Conv2d declare it: C_in / groups channels
    (None when the groups do not divide C_in)."""
    groups = int(np.asarray(node.groups).reshape(-1)[0])
    if groups < 1 or int(shape[0]) % groups:
        return None
    return (int(shape[0]) // groups, *(int(v) for v in shape[1:]))


def _broadcast(name: str, what: str, arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``arr`` broadcast to the layer shape; a parameter may also differ by singleton dims."""
    if arr.shape != shape and arr.size == int(np.prod(shape)) and same_up_to_singletons(arr.shape, shape):
        arr = arr.reshape(shape)
    try:
        return np.broadcast_to(arr, shape).copy()
    except ValueError:
        raise GraphError(f"node {_q(name)}: {what} has shape {arr.shape}, its input {shape}") from None


def conv_padding(name: str, padding: Any, kernel: tuple[int, ...], stride: tuple[int, ...],
                 dilation: tuple[int, ...]) -> tuple[int, ...]:
    """NIR padding (int, tuple, "valid", "same") as symmetric integer padding per axis."""
    n = len(kernel)
    if isinstance(padding, bytes):
        padding = padding.decode()
    if isinstance(padding, str):
        if padding == "valid":
            return (0,) * n
        span = [dilation[i] * (kernel[i] - 1) for i in range(n)]
        if padding == "same" and all(s == 1 for s in stride) and all(p % 2 == 0 for p in span):
            return tuple(p // 2 for p in span)
        raise GraphError(f"conv {_q(name)}: padding {_short(padding)} with stride {stride}, kernel {kernel} and dilation "
                         f"{dilation} is not symmetric zero padding; write integer padding")
    return ints(padding, n, name, "padding", 0)


def conv_out(in_hw: tuple[int, ...], kernel, stride, padding, dilation) -> tuple[int, ...]:
    return tuple((in_hw[i] + 2 * padding[i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1
                 for i in range(len(in_hw)))


def delay_steps(name: str, node: nir.Delay, dt_s: float) -> np.ndarray:
    """``Delay.delay`` (seconds) in whole steps of ``dt_s``; refuses negative or fractional."""
    delay = as_array(node.delay, name, "delay")
    steps = delay / dt_s
    whole = np.round(steps)
    if np.any(delay < 0):
        raise GraphError(f"delay {_q(name)}: delay {delay.min():g} s is negative")
    if not np.allclose(steps, whole, rtol=0, atol=1e-6):
        bad = float(steps.flat[np.argmax(np.abs(steps - whole))])
        raise GraphError(f"delay {_q(name)}: delay {bad:g} steps of dt = {dt_s:g} s is not a whole number of "
                         "steps; pass the writer's --dt or round the delay")
    return whole.astype(np.int64)


def neuron_params(name: str, node: nir.NIRNode, shape: tuple[int, ...], dt_s: float) -> dict[str, np.ndarray]:
    """The neuron's parameters broadcast to its layer ``shape``, checked (see module doc)."""
    out = {}
    for key in NEURON_PARAMS[type(node)]:
        raw = getattr(node, key, None)
        if raw is None and key == "v_reset":
            raw = 0.0
        if raw is None and key == "w_in":
            raw = 1.0
        out[key] = _broadcast(name, key, as_array(raw, name, key), shape)
    for key in TIME_CONSTANTS:
        if key in out:
            if np.any(out[key] <= 0):
                raise GraphError(f"neuron {_q(name)}: {key} {out[key].min():g} s is not > 0 (a time constant)")
            if np.any(dt_s / out[key] > 1):
                raise GraphError(f"neuron {_q(name)}: {key} {out[key].min():g} s is shorter than dt = {dt_s:g} s "
                                 "(the Euler step overshoots, no Loihi decay does that); pass the writer's --dt "
                                 "or --writer")
    return out


def out_shape(name: str, node: nir.NIRNode, in_shape: tuple[int, ...], dt_s: float = DEFAULT_DT_S) -> tuple[int, ...]:
    """Output shape of a primitive of :data:`NEW_KINDS` fed ``in_shape``; checks its parameters.

    Raises:
        GraphError: one line naming the node (parameters NIR allows but the chip cannot
            express, shapes that do not fit).
    """
    if isinstance(node, (nir.Affine, nir.Linear)):
        weight = as_array(node.weight, name, "weight")
        if weight.ndim != 2:
            raise GraphError(f"node {_q(name)}: weight has shape {weight.shape}; neurodeploy reads (out, in) matrices")
        if squeeze(in_shape) != squeeze((weight.shape[1],)):
            raise GraphError(f"node {_q(name)}: weight {weight.shape} takes {weight.shape[1]} inputs, its input has "
                             f"shape {in_shape} (put a Flatten before it)")
        if isinstance(node, nir.Affine):
            bias = as_array(node.bias, name, "bias")
            if bias.size not in (1, weight.shape[0]):
                raise GraphError(f"node {_q(name)}: bias has {bias.size} entries, weight {weight.shape[0]} outputs")
        return (int(weight.shape[0]),)
    if isinstance(node, nir.Conv1d):
        weight = as_array(node.weight, name, "weight")
        if weight.ndim != 3 or len(in_shape) != 2:
            raise GraphError(f"conv {_q(name)}: weight {weight.shape} and input {in_shape} are not (C_out, C_in/g, K) "
                             "and (C_in, N)")
        return _conv_shape(name, node, weight, in_shape, 1)
    if isinstance(node, nir.Flatten):
        return _flatten_shape(name, node, in_shape)
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        if len(in_shape) != 3:
            raise GraphError(f"pool {_q(name)}: input shape {in_shape} is not (C, H, W)")
        kernel = ints(node.kernel_size, 2, name, "kernel_size", 1)
        stride = ints(node.stride if node.stride is not None else kernel, 2, name, "stride", 1)
        padding = ints(node.padding if node.padding is not None else 0, 2, name, "padding", 0)
        hw = conv_out(in_shape[1:], kernel, stride, padding, (1, 1))
        if min(hw) < 1:
            raise GraphError(f"pool {_q(name)}: kernel {kernel} does not fit its input {in_shape}")
        return (in_shape[0], *hw)
    if isinstance(node, nir.Scale):
        _broadcast(name, "scale", as_array(node.scale, name, "scale"), in_shape)
        return in_shape
    if isinstance(node, nir.Delay):
        _broadcast(name, "delay", delay_steps(name, node, dt_s).astype(np.float64), in_shape)
        return in_shape
    if type(node) in NEURON_PARAMS:
        neuron_params(name, node, in_shape, dt_s)
        return in_shape
    if isinstance(node, nd.SigmaDelta):  # elementwise, its own shape
        if tuple(int(v) for v in node.shape) != tuple(in_shape):
            raise GraphError(f"neuron {_q(name)}: shape {tuple(int(v) for v in node.shape)} is not its input's "
                             f"{tuple(in_shape)}")
        return tuple(in_shape)
    raise GraphError(f"node {_q(name)} has type {type(node).__name__}, which neurodeploy does not read "
                     f"(it reads: {ALL_NAMES})")


def _conv_shape(name: str, node, weight: np.ndarray, in_shape: tuple[int, ...], n: int) -> tuple[int, ...]:
    groups = ints(node.groups, 1, name, "groups", 1)[0]
    if weight.shape[1] * groups != in_shape[0] or weight.shape[0] % groups:
        raise GraphError(f"conv {_q(name)}: weight {weight.shape} with groups={groups} does not fit its input "
                         f"{in_shape}")
    kernel = tuple(int(k) for k in weight.shape[2:])
    stride = ints(node.stride, n, name, "stride", 1)
    dilation = ints(node.dilation, n, name, "dilation", 1)
    padding = conv_padding(name, node.padding, kernel, stride, dilation)
    bias = as_array(node.bias if node.bias is not None else 0.0, name, "bias")
    if bias.size not in (1, weight.shape[0]):
        raise GraphError(f"conv {_q(name)}: bias has {bias.size} entries for {weight.shape[0]} output channels")
    hw = conv_out(in_shape[1:], kernel, stride, padding, dilation)
    if min(hw) < 1:
        raise GraphError(f"conv {_q(name)}: kernel {kernel} does not fit its input {in_shape}")
    return (int(weight.shape[0]), *hw)


def flatten_dims(name: str, node: nir.Flatten, in_shape: tuple[int, ...]) -> tuple[int, int]:
    """Flatten's ``(start, end)`` as indices into the per-step shape (inclusive).

    NIR's types hold no batch or time axis, so its dims index the per-step shape. Writers
    that take dims from ``torch.nn.Flatten`` (whose dim 0 is the batch) record an
    ``input_type`` with that extra leading axis: then dims are shifted by one, and a
    start at that axis would mix time steps (or samples) into the features: refused.
    """
    rank = len(in_shape)
    recorded = declared(node, "input_type", "input")
    offset = 1 if recorded is not None and len(recorded) == rank + 1 else 0
    full = rank + offset
    start, end = (ints(v, 1, name, what, -full)[0] for v, what in ((node.start_dim, "start_dim"),
                                                                   (node.end_dim, "end_dim")))
    start, end = (d + full if d < 0 else d for d in (start, end))
    if offset and start == 0:
        raise GraphError(f"flatten {_q(name)}: start_dim {_short(node.start_dim)} reaches the batch/time axis of its recorded "
                         f"input_type {recorded}, which would mix time steps; a chip flattens within one step")
    start, end = start - offset, end - offset
    if not 0 <= start <= end < rank:
        raise GraphError(f"flatten {_q(name)}: dims {_short(node.start_dim)}..{_short(node.end_dim)} do not fit its "
                         f"input {in_shape}")
    return start, end


def _flatten_shape(name: str, node: nir.Flatten, in_shape: tuple[int, ...]) -> tuple[int, ...]:
    start, end = flatten_dims(name, node, in_shape)
    return (*in_shape[:start], int(np.prod(in_shape[start:end + 1])), *in_shape[end + 1:])


def conv_params(name: str, node, in_shape: tuple[int, ...]) -> dict[str, Any]:
    """Conv1d/Conv2d fields as plain values: weight, bias (C_out,), stride, padding, dilation, groups."""
    weight = as_array(node.weight, name, "weight")
    n = weight.ndim - 2
    kernel = tuple(int(k) for k in weight.shape[2:])
    stride = ints(node.stride, n, name, "stride", 1)
    dilation = ints(node.dilation, n, name, "dilation", 1)
    bias = as_array(node.bias if node.bias is not None else 0.0, name, "bias")
    return {"weight": weight, "bias": np.broadcast_to(bias, (weight.shape[0],)).copy(), "stride": stride,
            "padding": conv_padding(name, node.padding, kernel, stride, dilation), "dilation": dilation,
            "groups": ints(node.groups, 1, name, "groups", 1)[0]}


def pool_params(name: str, node) -> dict[str, tuple[int, int]]:
    kernel = ints(node.kernel_size, 2, name, "kernel_size", 1)
    return {"kernel": kernel, "stride": ints(node.stride if node.stride is not None else kernel, 2, name, "stride", 1),
            "padding": ints(node.padding if node.padding is not None else 0, 2, name, "padding", 0)}
