"""Our exported graphs in sinabs (``sinabs.from_nir``), as :mod:`.crosscheck` does for
snntorch and norse (issue 16: sinabs' importer on toy-residual's ``graph.nir``).

sinabs 3.1.3's importer builds ``LIFSqueeze`` layers that differ from NIR's LIF in four
ways; :func:`load_into_sinabs` undoes each on a copy of the graph (NIR's LIF,
:mod:`neurodeploy.ir.primitives`: ``v += dt/tau (v_leak - v + r x)``, spike ``v > th``
or our ``>=``, reset to ``v_reset``):

- ``tau`` is taken in *time steps* with the exact decay ``exp(-1/tau)`` and, with
  ``norm_input=False``, the input is added with gain 1 and ``r`` ignored -> ``tau`` is
  written as ``-1 / ln(1 - dt/tau)`` steps (the same decay per step) and the input gain
  ``dt r / tau`` is folded into the conv(s) feeding the neuron;
- its ``any(node.v_leak) != 0`` check fails on a parameter of more than one dimension
  (ValueError, "truth value ... ambiguous") -> ``v_leak`` (all zero, else refused) is
  written as one zero;
- the layers keep sinabs' defaults ``MultiSpike`` (several spikes per step) and
  ``MembraneSubtract`` -> set to ``SingleSpike`` and ``MembraneReset`` after the import
  (``v_reset`` must be 0);
- sinabs fires at ``v >= th``: our ``>=`` neurons need nothing; a ``>`` neuron is refused.

The module runs all T steps at once on ``(N·T, C, H, W)`` (the Squeeze layers' layout).
"""

from __future__ import annotations

import copy

import nir
import numpy as np
import torch
from torch import nn

from neurodeploy.errors import LoweringError
from neurodeploy.ir import predecessors
from neurodeploy.trace import Trace


def _uniform(name: str, what: str, value: np.ndarray) -> float:
    if not np.all(value == value.flat[0]):
        raise LoweringError(f"neuron '{name}': {what} varies across neurons; sinabs' layer takes one value here")
    return float(value.flat[0])


def load_into_sinabs(graph: nir.NIRGraph, batch_size: int) -> nn.Module:
    """Our exported graph (as ``nir.read`` returns it) as a sinabs module for ``batch_size`` samples."""
    import sinabs
    from sinabs.activation import MembraneReset, SingleSpike

    from neurodeploy.targets.crosscheck import plain_nir

    graph, info = plain_nir(copy.deepcopy(graph))
    dt = info.dt_s
    for name in info.neuron_layers(graph):
        lif = graph.nodes[name]
        if info.spike_condition.get(name, ">") != ">=":
            raise LoweringError(f"neuron '{name}' fires at v > th; sinabs fires at v >= th")
        if np.any(np.asarray(lif.v_leak) != 0) or np.any(np.asarray(lif.v_reset) != 0):
            raise LoweringError(f"neuron '{name}': sinabs' LIF takes v_leak = v_reset = 0")
        step = _uniform(name, "dt/tau", dt / np.asarray(lif.tau, dtype=np.float64))
        gain = _uniform(name, "dt r/tau", dt * np.asarray(lif.r, dtype=np.float64) / np.asarray(lif.tau))
        for src in predecessors(graph, name):
            conv = graph.nodes[src]
            if not isinstance(conv, nir.Conv2d):
                raise LoweringError(f"neuron '{name}' is fed by '{src}' ({type(conv).__name__}); folding its "
                                    "input gain needs a conv")
            conv.weight = np.asarray(conv.weight, dtype=np.float64) * gain
            conv.bias = np.asarray(conv.bias, dtype=np.float64) * gain
        lif.tau = np.full(np.shape(lif.tau), -1.0 / np.log(1.0 - step))
        lif.v_leak = np.zeros(1)
    return set_spike_and_reset(sinabs.from_nir(graph, batch_size=batch_size), SingleSpike, MembraneReset())


def set_spike_and_reset(module: nn.Module, spike_fn, reset_fn) -> nn.Module:
    """Every LIF layer sinabs' ``from_nir`` built (``LIFSqueeze``, MultiSpike + MembraneSubtract by
    default) with ``spike_fn`` and ``reset_fn`` instead; returns ``module``."""
    import sinabs

    for m in module.modules():
        if isinstance(m, sinabs.layers.LIFSqueeze):
            m.spike_fn, m.reset_fn = spike_fn, reset_fn
    return module


def run_sinabs(module: nn.Module, images: np.ndarray, t_steps: int, layers: list[str]) -> list[Trace]:
    """``images`` ``(N, C, H, W)`` fed on every step (direct encoding) -> one Trace per image
    (layers ``(T, C, H, W)``; output = the module's output averaged over T)."""
    from neurodeploy.targets.crosscheck import _submodule

    n = images.shape[0]
    recorded: dict[str, torch.Tensor] = {}
    handles = [_submodule(module, k).register_forward_hook(
        lambda mod, args, out, k=k: recorded.__setitem__(k, out.detach())) for k in layers]
    x = torch.as_tensor(np.repeat(images[:, None], t_steps, axis=1).reshape(n * t_steps, *images.shape[1:]),
                        dtype=torch.float32)
    try:
        with torch.no_grad():
            out = module(x)
    finally:
        for h in handles:
            h.remove()
    out = out[0] if isinstance(out, tuple) else out  # nirtorch's executor returns (output, state)
    out = out.reshape(n, t_steps, *out.shape[1:]).mean(1).double().numpy()
    spikes = {k: v.reshape(n, t_steps, *v.shape[1:]).double().numpy() for k, v in recorded.items()}
    return [Trace("sinabs", t_steps, {k: v[i] for k, v in spikes.items()}, out[i]) for i in range(n)]
