"""Torch executor for NIR graphs: runs an exported (or foreign) graph, returns a Trace.

It executes the graph itself -- not the torch model it came from -- node by node in
topological order on whole sequences ``(T, N, C, H, W)`` (domain ``seq``) or images
``(N, C, H, W)`` (domain ``image``). A node's input is the sum of its predecessors'
outputs (NIR's rule), except :class:`~neurodeploy.ir.nodes.Concat`, which stacks them in
its recorded order. Running the exported graph and comparing with the model proves the
export lost nothing; every later lowering is checked against the same graph.

Units: the graph's own (model units for states and thresholds, time steps for T).
"""

from __future__ import annotations

import time

import nir
import numpy as np
import torch
import torch.nn.functional as F

from neurodeploy.delta_messages import cut_edges, delta_encode
from neurodeploy.ir import nodes as nd
from neurodeploy.errors import GraphError
from neurodeploy.ir import GraphInfo, predecessors, topological_order
from neurodeploy.trace import Trace
from neurodeploy.ir.primitives import NEW_KINDS
from neurodeploy.targets.nir_primitives import eval_primitive


def _lif(x: torch.Tensor, node: nir.LIF, dt: float, fires_at_equality: bool) -> torch.Tensor:
    """Euler-discretised NIR LIF on a sequence: ``v = (1 - dt/tau) v + (dt r / tau) I``, hard reset."""
    tau = torch.as_tensor(np.asarray(node.tau), dtype=x.dtype)
    r = torch.as_tensor(np.asarray(node.r), dtype=x.dtype)
    v_leak = torch.as_tensor(np.asarray(node.v_leak), dtype=x.dtype)
    v_th = torch.as_tensor(np.asarray(node.v_threshold), dtype=x.dtype)
    v_reset = torch.as_tensor(np.asarray(node.v_reset), dtype=x.dtype)
    v = torch.zeros_like(x[0]) + v_reset
    out = []
    for x_t in x:
        # v - (dt/tau) v equals the papers' V - V/tau bit for bit when dt/tau = 1/2.
        h = v - dt / tau * v + dt / tau * (v_leak + r * x_t)
        s = (h >= v_th) if fires_at_equality else (h > v_th)
        s = s.to(x.dtype)
        v = torch.where(s.bool(), v_reset, h)
        out.append(s)
    return torch.stack(out)


def patch_to_time(x: torch.Tensor, r: int) -> torch.Tensor:
    """``(T, N, C, H, W)`` -> ``(T, N, r²·C, H/r, W/r)``, channel ``p·C + c`` = pixel ``(i, j)``
    (``p = i·r + j``) of each r×r patch (:class:`~neurodeploy.ir.nodes.PatchToTime`)."""
    t, n, c, h, w = x.shape
    x = x.reshape(t, n, c, h // r, r, w // r, r).permute(0, 1, 4, 6, 2, 3, 5)
    return x.reshape(t, n, r * r * c, h // r, w // r)


def nilif(x: torch.Tensor, levels: int, beta: float, positions: int) -> torch.Tensor:
    """NI-LIF over ``positions`` channel groups per step (:class:`~neurodeploy.ir.nodes.NILIF`):
    ``(T, N, P·C, ...)`` input in level units -> graded spikes ``K / levels``, same shape."""
    t_steps, n, pc = x.shape[:3]
    groups = x.reshape(t_steps, n, positions, pc // positions, *x.shape[3:])
    h = torch.zeros_like(groups[0, :, 0])
    out = torch.empty_like(groups)
    for t in range(t_steps):
        for p in range(positions):
            u = h + groups[t, :, p]
            k = torch.clamp(torch.round(u), 0, levels)
            h = beta * (u - k)
            out[t, :, p] = k / levels
    return out.reshape(x.shape)


def max_over(x: torch.Tensor, over: str) -> torch.Tensor:
    """A :class:`~neurodeploy.ir.nodes.Max` on ``(..., C, H, W)``: over the pixels of each channel
    (``pixels``) or the channels of each pixel; exact on integers too (the emulator's)."""
    return x.amax(dim=(-2, -1), keepdim=True) if over == "pixels" else x.amax(dim=-3, keepdim=True)


def _per_step(fn, x: torch.Tensor, seq: bool) -> torch.Tensor:
    if not seq:
        return fn(x)
    t, n = x.shape[:2]
    y = fn(x.flatten(0, 1))
    return y.reshape(t, n, *y.shape[1:])


def eval_node(graph: nir.NIRGraph, info: GraphInfo, name: str, values: dict[str, torch.Tensor],
              blocks: dict[str, torch.nn.Module], dtype: torch.dtype) -> torch.Tensor:
    """Evaluate one node from its predecessors' values (``values``; an Input node's value
    is given). ``blocks``: the rebuilt modules of HostBlock nodes, by node name."""
    node = graph.nodes[name]
    preds = predecessors(graph, name)
    if isinstance(node, nir.Input):
        return values[name]
    if isinstance(node, nd.Product):
        a, b = node.inputs
        return values[a] * values[b]
    if isinstance(node, nd.Concat):
        seq = info.domain(name) == "seq"
        return torch.cat([values[p] for p in node.inputs], dim=2 if seq else 1)
    if not preds:
        raise GraphError(f"node '{name}' has no input")
    x = sum(values[p] for p in preds)
    seq = x.dim() == 5
    if isinstance(node, (nir.Output, nd.Sum)):
        return x
    if isinstance(node, nd.Gain):
        return x * float(node.factor)
    if isinstance(node, nd.Max):
        return max_over(x, node.over)
    if isinstance(node, nd.ReLU):
        return torch.relu(x)
    if isinstance(node, nd.DirectEncode):
        return x.unsqueeze(0).expand(node.t_steps, *x.shape)
    if isinstance(node, nd.TemporalMean):
        weights = node.step_weights
        if weights:  # a weighted readout (SpikeRain's temporal fusion)
            return (x * torch.as_tensor(weights, dtype=x.dtype).reshape(-1, *([1] * (x.dim() - 1)))).sum(0)
        return x.mean(0)
    if isinstance(node, nir.Conv2d):
        weight = torch.as_tensor(np.asarray(node.weight), dtype=dtype)
        bias = torch.as_tensor(np.asarray(node.bias), dtype=dtype)
        return _per_step(lambda z: F.conv2d(z, weight, bias, tuple(node.stride), tuple(node.padding),
                                            tuple(node.dilation), int(node.groups)), x, seq)
    if isinstance(node, nir.LIF):
        if not seq:
            raise GraphError(f"neuron '{name}' receives one image, not a sequence of time steps")
        return _lif(x, node, info.dt_s, info.rules(name).spike == ">=")
    if isinstance(node, nd.PatchToTime):
        return patch_to_time(x, int(node.r))
    if isinstance(node, nd.NILIF):
        if not seq:
            raise GraphError(f"neuron '{name}' receives one image, not a sequence of time steps")
        return nilif(x, int(node.levels), float(node.beta), int(node.positions))
    if isinstance(node, nd.Upsample):
        align = bool(node.align_corners) if node.mode in ("bilinear", "bicubic") else None
        return _per_step(lambda z: F.interpolate(z, scale_factor=int(node.scale_factor), mode=node.mode,
                                                 align_corners=align), x, seq)
    if isinstance(node, nd.HostBlock):
        return blocks[name](x)
    if type(node) in NEW_KINDS:  # NIR's other primitives (issue 16), semantics in ir/primitives.py
        seq = info.domain(name) == "seq"
        y = eval_primitive(name, node, x if seq else x.unsqueeze(0), info.dt_s, info.rules(name))
        return y if seq else y[0]
    raise GraphError(f"node '{name}' ({type(node).__name__}) has no torch implementation")


class NirTorchExecutor:
    """Runs a NIR graph (with neurodeploy's node types and metadata) in torch.

    Args:
        graph, info: the graph and its annotations.
        dtype: ``torch.float64`` by default (the float parameters are stored in float64).
    """

    def __init__(self, graph: nir.NIRGraph, info: GraphInfo, dtype: torch.dtype = torch.float64,
                 delta_threshold: float | None = None):
        self.graph, self.info, self.dtype = graph, info, dtype
        # Sigma-delta across the chip/host cut (neurodeploy.delta_messages): None runs the graph as is;
        # a threshold (model units; 0 = exact) makes every value that crosses the cut arrive as the
        # receiver of its messages holds it, and counts the messages (Trace.meta["cut_messages_per_step"]).
        # Default: the graph's own (GraphInfo.delta_threshold, chosen at export).
        # A threshold passed here is every edge's; else each source's own (GraphInfo.delta_thresholds) or the graph's.
        self.delta_threshold = info.delta_threshold if delta_threshold is None else delta_threshold
        self.edge_thresholds = {} if delta_threshold is not None else dict(info.delta_thresholds)
        self.cut_maxima: dict[str, float] = {}  # source -> largest |value| it sent in the last run (model units)
        self.order = topological_order(graph)
        self.layers = info.neuron_layers(graph)
        self.name = "nir-torch"
        self._blocks = {n: nd.host_module(node, dtype) for n, node in graph.nodes.items()
                        if isinstance(node, nd.HostBlock)}

    def run(self, images: np.ndarray) -> list[Trace]:
        """``images``: ``(N, C, H, W)`` in model units -> one Trace per image."""
        image = torch.as_tensor(np.asarray(images), dtype=self.dtype)
        inputs = [n for n in self.order if isinstance(self.graph.nodes[n], nir.Input)]
        values: dict[str, torch.Tensor] = {n: image for n in inputs}
        crossing: dict[str, list[str]] = {}  # destination -> its sources across the cut
        if self.delta_threshold is not None:
            for s, d in cut_edges(self.graph.edges, self.info):
                crossing.setdefault(d, []).append(s)
        sent: dict[str, torch.Tensor] = {}  # source -> what the receivers hold
        messages: dict[str, list[int]] = {}  # source -> messages it sent, per image
        start = time.perf_counter()
        with torch.no_grad():
            for name in self.order:
                if name in values:
                    continue
                view = values
                if name in crossing:
                    for s in crossing[name]:
                        if s in sent:
                            continue
                        if self.info.domain(s) == "image":  # a readout: its values, once per image
                            sent[s] = values[s]
                            messages[s] = [int(torch.count_nonzero(v)) for v in values[s]]
                            continue
                        self.cut_maxima[s] = float(values[s].abs().max()) if values[s].numel() else 0.0
                        threshold = self.edge_thresholds.get(s, self.delta_threshold)
                        held = [delta_encode(values[s][:, i], threshold) for i in range(len(image))]
                        sent[s] = torch.stack([h for h, _ in held], dim=1)
                        messages[s] = [m for _, m in held]
                    view = {**values, **{s: sent[s] for s in crossing[name]}}
                values[name] = eval_node(self.graph, self.info, name, view, self._blocks, self.dtype)
        seconds = time.perf_counter() - start
        t_steps = self.info.t_steps
        out_name = next(n for n in self.order if isinstance(self.graph.nodes[n], nir.Output))
        out = values[out_name]
        return [Trace(self.name, self.info.t_steps,
                      {n: values[n][:, i].numpy().astype(np.float64) for n in self.layers},
                      out[i].numpy().astype(np.float64),
                      meta={"run_s": seconds / len(images)} | ({"cut_messages_per_step": {
                          f"{s}->{d}": messages[s][i] / t_steps for d, ss in crossing.items() for s in ss}}
                          if crossing else {}))
                for i in range(len(images))]
