"""NIR 1.0's primitives in torch, on sequences ``(T, N, *shape)``: the reference executor of
graphs from other NIR writers.

The semantics (equations, dt, reset, initial state, what NIR leaves open) are written once,
in :mod:`neurodeploy.ir.primitives` (and the writers' neuron rules NIR cannot carry, in
:mod:`neurodeploy.ir.rules`); this module implements exactly that, in float64 by
default. :func:`eval_primitive` evaluates one node (used by ``nir_torch.eval_node`` for
graphs of ours that hold these primitives); :class:`NirSequenceExecutor` runs a whole graph
read by :func:`neurodeploy.ir.read_graph` on an input sequence (events or values, not
images) and returns Traces whose layers are the neuron nodes (spikes of spiking neurons,
the state ``v`` of I/LI/CubaLI).

Units: time steps of ``dt_s`` seconds; parameters in the file's units.
"""

from __future__ import annotations

import time

import nir
import numpy as np
import torch
import torch.nn.functional as F

from neurodeploy.errors import GraphError
from neurodeploy.ir import nodes as nd
from neurodeploy.ir import primitives as pr
from neurodeploy.ir import rules as nr
from neurodeploy.ir import loops_of, topological_order
from neurodeploy.trace import Trace


def _t(value, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=like.dtype)


def _per_step(fn, x: torch.Tensor) -> torch.Tensor:
    t, n = x.shape[:2]
    y = fn(x.flatten(0, 1))
    return y.reshape(t, n, *y.shape[1:])


def _neuron(name: str, node: nir.NIRNode, x: torch.Tensor, dt: float,
            rules: nr.NeuronRules = nr.NIR_RULES, membrane: list | None = None) -> torch.Tensor:
    """The neuron equations of :mod:`neurodeploy.ir.primitives`, one Euler step per time step,
    fired and reset by ``rules`` (:mod:`neurodeploy.ir.rules`; NIR's by default). ``membrane``:
    a list that gets ``v`` of every step (after that step's reset and clamp; model units).

    With several spikes per step (``rules.max_spikes`` > 1) a spiking layer's output is the
    count ``k`` of each neuron (``floor((v - v_reset) / (v_th - v_reset))`` where it fires,
    at most ``max_spikes``), the subtractive reset takes ``k`` thresholds off; ``rules.v_min``
    clamps ``v`` from below after the reset (sinabs' ``min_v_mem``)."""
    shape = tuple(x.shape[2:])
    p = {k: _t(v, x) for k, v in pr.neuron_params(name, node, shape, dt).items()}
    if isinstance(node, nir.Threshold):
        return (x > p["threshold"]).to(x.dtype)
    spiking = isinstance(node, (nir.IF, nir.LIF, nir.CubaLIF))
    v = torch.zeros_like(x[0]) + (p["v_reset"] if spiking else 0.0)
    cur = torch.zeros_like(x[0])
    if spiking:
        fires = torch.ge if rules.spike == ">=" else torch.gt
        depth = p["v_threshold"] - p["v_reset"]
        reset = (lambda u: u - depth) if rules.reset == "subtract" else (lambda u: torch.zeros_like(u) + p["v_reset"])
        low = None if rules.v_min is None else torch.as_tensor(float(rules.v_min), dtype=x.dtype)
        pending = torch.zeros_like(x[0], dtype=torch.bool)  # spikes whose reset lands on the next step
    out = []
    for x_t in x:
        if isinstance(node, (nir.I, nir.IF)):
            v = v + dt * p["r"] * x_t
        elif isinstance(node, (nir.LI, nir.LIF)):
            v = v + dt / p["tau"] * (p["v_leak"] - v + p["r"] * x_t)
        else:  # CubaLI, CubaLIF: the current first, the membrane from the new current
            cur = cur + dt / p["tau_syn"] * (-cur + p["w_in"] * x_t)
            v = v + dt / p["tau_mem"] * (p["v_leak"] - v + p["r"] * cur)
        if spiking and rules.multi:  # the count k of spikes this step: one graded spike (rules.py)
            s = fires(v, p["v_threshold"])
            rel = (v - p["v_reset"]) / depth
            k = torch.floor(rel) if rules.spike == ">=" else torch.ceil(rel) - 1
            k = torch.where(s, k.clamp(1, rules.max_spikes), torch.zeros_like(k))
            v = v - k * depth if rules.reset == "subtract" else torch.where(s, reset(v), v)
            if low is not None:
                v = torch.maximum(v, low)
            out.append(k)
        elif spiking:
            if rules.reset_delay:
                v = torch.where(pending, reset(v), v)
            s = fires(v, p["v_threshold"])
            if rules.reset_delay:
                pending = s
            else:
                v = torch.where(s, reset(v), v)
            if low is not None:
                v = torch.maximum(v, low)
            out.append(s.to(x.dtype))
        else:
            out.append(v)
        if membrane is not None:
            membrane.append(v)
    return torch.stack(out)


def _delay(name: str, node: nir.Delay, x: torch.Tensor, dt: float) -> torch.Tensor:
    steps = np.broadcast_to(pr.delay_steps(name, node, dt), tuple(x.shape[2:]))
    out = torch.zeros_like(x)
    for d in np.unique(steps):
        mask = torch.as_tensor(steps == d)
        shifted = torch.zeros_like(x)
        if d < x.shape[0]:
            shifted[int(d):] = x[:x.shape[0] - int(d)]
        out = torch.where(mask, shifted, out)
    return out


def eval_primitive(name: str, node: nir.NIRNode, x: torch.Tensor, dt: float,
                   rules: nr.NeuronRules = nr.NIR_RULES, membrane: list | None = None) -> torch.Tensor:
    """One primitive of :data:`neurodeploy.ir.primitives.NEW_KINDS` (or Conv2d/LIF) on its
    summed input ``x`` of shape ``(T, N, *in_shape)``; returns ``(T, N, *out_shape)``. A neuron
    fires and resets by ``rules`` (its graph's ``GraphInfo.rules``; NIR's by default) and, given
    a list ``membrane``, appends its ``v`` per step to it."""
    if isinstance(node, (nir.Affine, nir.Linear)):
        weight = _t(node.weight, x)
        y = x.reshape(*x.shape[:2], weight.shape[1]) @ weight.T
        return y + _t(node.bias, x) if isinstance(node, nir.Affine) else y
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        p = pr.conv_params(name, node, tuple(x.shape[2:]))
        conv = F.conv1d if isinstance(node, nir.Conv1d) else F.conv2d
        w, b = _t(p["weight"], x), _t(p["bias"], x)
        return _per_step(lambda z: conv(z, w, b, p["stride"], p["padding"], p["dilation"], p["groups"]), x)
    if isinstance(node, nir.Flatten):
        start, end = pr.flatten_dims(name, node, tuple(x.shape[2:]))
        return x.flatten(2 + start, 2 + end)
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        p = pr.pool_params(name, node)
        # AvgPool2d: padding counts in the average (ir/primitives.py); SumPool2d = that average times the area
        area = None if isinstance(node, nir.AvgPool2d) else 1
        return _per_step(lambda z: F.avg_pool2d(z, p["kernel"], p["stride"], p["padding"], count_include_pad=True,
                                                divisor_override=area), x)
    if isinstance(node, nir.Scale):
        return x * _t(node.scale, x)
    if isinstance(node, nir.Delay):
        return _delay(name, node, x, dt)
    if isinstance(node, nd.SigmaDelta):
        return _sigma_delta(node, x)
    if type(node) in pr.NEURON_PARAMS or isinstance(node, nir.LIF):
        if isinstance(node, nir.LIF):
            node = nir.LIF(**{k: np.asarray(getattr(node, k), dtype=np.float64)
                              for k in ("tau", "r", "v_leak", "v_threshold", "v_reset")})
        return _neuron(name, node, x, dt, rules, membrane)
    raise GraphError(f"node '{name}' ({type(node).__name__}) has no torch implementation")


def _sigma_delta(node: "nd.SigmaDelta", x: torch.Tensor) -> torch.Tensor:
    """The sigma-delta neuron's float form (:class:`neurodeploy.ir.nodes.SigmaDelta`), ``x``: ``(T, N, *shape)``."""
    sigma = torch.zeros_like(x[0])
    act_prev, residue = torch.zeros_like(sigma), torch.zeros_like(sigma)
    vth, out = float(node.vth), torch.zeros_like(x)
    for t in range(x.shape[0]):
        sigma = sigma + x[t] * 2.0 ** -int(node.state_exp)
        act = torch.relu(sigma)
        delta = act - act_prev + residue
        s = torch.where(delta.abs() >= vth, delta, torch.zeros_like(delta))
        residue, act_prev = delta - s, act
        out[t] = s
    return out


def delayed(x: torch.Tensor) -> torch.Tensor:
    """``x`` ``(T, ...)`` one time step later: ``y[t] = x[t - 1]``, ``y[0] = 0`` (a recurrent edge)."""
    y = torch.zeros_like(x)
    y[1:] = x[:-1]
    return y


def run_with_loops(order: list[str], preds: dict[str, list[str]], loops, evaluate,
                   values: dict[str, torch.Tensor], restart=None) -> dict[str, torch.Tensor]:
    """Evaluate a graph's nodes on whole sequences ``(T, N, ...)`` in ``order``, recurrent loops
    included: ``evaluate(name, inputs)`` computes a node from the list of its inputs' sequences
    (in ``preds[name]``'s order; summed or stacked by the caller's rule), ``values`` holds the given
    ones (the input) and gets every node's. ``loops``: the graph's
    :class:`neurodeploy.ir.order.Loops`; a ``delayed`` edge brings its source's sequence one step
    later (:func:`delayed`), a ``back`` edge its source's sequence of the previous pass.

    Without loops: one pass. With loops, the nodes at or after a loop are evaluated again, each pass
    fed the previous pass's values over the back edges (zeros at first), until those values no
    longer change. This is exact, not an approximation: every node is causal (step t depends on
    steps <= t of its inputs) and every cycle holds a delayed edge, so a pass whose back-edge values
    are right up to step k makes them right up to step k + 1; the values that reproduce themselves
    are the recurrent network's own, reached in at most T + 1 passes (usually far fewer: the passes
    stop at the first one that changes nothing). ``restart(nodes)`` is called before each pass after
    the first with the nodes it evaluates again (e.g. to clear their per-run counters).
    """
    back, late = set(loops.back), set(loops.delayed)
    if not back:
        for name in order:
            if name not in values:
                values[name] = evaluate(name, [values[p] for p in preds[name]])
        return values
    again = {d for _, d in back}  # the loops' nodes and everything after them: evaluated on every pass
    for name in order:
        if any(p in again for p in preds[name] if (p, name) not in back):
            again.add(name)
    given = set(values)
    fed: dict[str, torch.Tensor] = {}
    t_steps, attempt = 0, 0
    while True:
        if attempt and restart is not None:
            restart(again - given)
        for name in order:
            if name in given or (attempt and name not in again):
                continue
            ins: list[torch.Tensor | None] = []
            for p in preds[name]:
                x = fed.get(p) if (p, name) in back else values[p]
                ins.append(None if x is None else delayed(x) if (p, name) in late else x)
            known = next((x for x in ins if x is not None), None)
            if known is None:
                raise GraphError(f"node '{name}' has no input but its recurrent loop's; feed it from the graph's input")
            values[name] = evaluate(name, [torch.zeros_like(known) if x is None else x for x in ins])
            t_steps = values[name].shape[0]
        now = {s: values[s] for s, _ in back}
        if fed and all(torch.equal(now[s], fed[s]) for s in now):
            return values
        if attempt > t_steps + 1:  # pragma: no cover - impossible for causal nodes (docstring)
            raise RuntimeError("recurrent loop: the fed-back values did not settle within T + 1 passes")
        fed, attempt = now, attempt + 1


class NirSequenceExecutor:
    """A graph from any NIR writer (as :func:`neurodeploy.ir.read_deploy_graph` returns it), run on
    input sequences.

    Args:
        graph: flat, normalised graph (one Input, one Output), a DeployGraph or its NIR graph.
        dt_s: seconds per step (default: the dt the graph was read with).
        dtype: torch.float64 by default.
    """

    name = "nir-torch"

    def __init__(self, graph, dt_s: float | None = None, dtype: torch.dtype = torch.float64):
        from neurodeploy.ir import as_deploy_graph

        g = as_deploy_graph(graph, dt_s)
        self.graph, self.info, self.dtype = g.nir, g.info, dtype
        self.dt_s = float(g.info.dt_s)
        self.order = topological_order(self.graph)
        self.loops = loops_of(self.graph)
        self.kinds = g.info.node_kinds
        self.layers = [n for n in self.order if self.kinds[n] in pr.SEQUENCE_NEURON_KINDS]
        self.input = next(n for n in self.order if isinstance(self.graph.nodes[n], nir.Input))
        self.output = next(n for n in self.order if isinstance(self.graph.nodes[n], nir.Output))
        self.preds = {n: [s for s, d in self.graph.edges if d == n] for n in self.graph.nodes}

    def run_values(self, x: np.ndarray) -> dict[str, torch.Tensor]:
        """``x``: ``(T, N, *input_shape)`` -> every node's output ``(T, N, *shape)``; each neuron
        layer's membrane ``v`` per step in :attr:`membranes` (``(T, N, *shape)``, model units)."""
        values = {self.input: torch.as_tensor(np.asarray(x), dtype=self.dtype)}
        self.membranes: dict[str, torch.Tensor] = {}

        def evaluate(name: str, ins: list[torch.Tensor]) -> torch.Tensor:
            total = sum(ins[1:], ins[0])
            node = self.graph.nodes[name]
            v: list | None = [] if name in self.layers and not isinstance(node, (nir.Threshold, nd.SigmaDelta)) \
                else None
            out = total if isinstance(node, nir.Output) else eval_primitive(
                name, node, total, self.dt_s, self.info.rules(name), v)
            if v:
                self.membranes[name] = torch.stack(v)
            return out

        with torch.no_grad():  # a recurrent edge brings the previous step's values (run_with_loops)
            return run_with_loops(self.order, self.preds, self.loops, evaluate, values)

    def run(self, x: np.ndarray) -> list[Trace]:
        """``x``: ``(T, N, *input_shape)`` -> one Trace per sample (layers ``(T, *shape)``,
        output = the Output node's sequence ``(T, *shape)``)."""
        start = time.perf_counter()
        values = self.run_values(x)
        seconds = time.perf_counter() - start
        t_steps, n = values[self.input].shape[:2]
        return [Trace(self.name, t_steps, {k: values[k][:, i].numpy() for k in self.layers},
                      values[self.output][:, i].numpy(),
                      {k: v[:, i].numpy() for k, v in self.membranes.items()}, meta={"run_s": seconds / n,
                                                                                      "dt_s": self.dt_s})
                for i in range(n)]
