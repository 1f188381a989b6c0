"""The integer reference of a quantized graph from any NIR writer: executor ``emulator`` of a ``.nir`` bundle.

It runs the integers of :mod:`neurodeploy.targets.loihi.nir_fixed` on logical time steps in
torch ``int64``, with the integer kernels of the model bundles' emulator
(:mod:`neurodeploy.targets.emulator`: ``lif_int`` is Lava's ``PyLifModelBitAcc``, ``conv_int``
its ``PyConvModelFixed``), in Lava's layout ``(X, Y, C)`` (the layout the mapping's Dense
columns and conv kernels are in):

- source: ``clip(round_half_even(x / scale), ±lim)``;
- Dense: ``(sum weight_mant · x) >> -weight_exp`` (rounding down; Lava: ``(sum 2 · weight_mant · x) >>
  (1 - weight_exp)``, the same integer);
- Conv: Lava's true convolution in (X, Y, C) = torch's cross-correlation with the kernel
  flipped back, wrapped at 24 bits;
- delay line (a NIR Delay): the payload ``d`` steps later (zeros before); the delays on edges
  that balance a join (pipeline latency, :mod:`~neurodeploy.targets.loihi.lower`) are no logical time;
- neuron: ``a_in`` = the sum of its synapses plus ``const_mant``, then ``lif_int`` (wrap of
  ``u``, saturation of ``v``, ``v > vth_mant << 6``, reset to 0; with a writer's rules --
  ``>=``, subtractive or late reset -- the project's fixed_pt ``RuleLIF``: the same ``lif_int``
  given the rules).

Traces: spikes 0/1 for spiking layers; ``v · v_lsb`` (model units) for I/LI/CubaLI; each
sample from rest. Lava's one-step synaptic latencies are the Lava executor's business
(:class:`neurodeploy.targets.loihi.executor.LavaSequenceExecutor` realigns them).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from neurodeploy.ir.rules import NeuronRules
from neurodeploy.targets.emulator import conv_int, lif_int, rescale
from neurodeploy.targets.loihi.lower import LoweredNetwork, from_lava, to_lava
from neurodeploy.targets.loihi.nir_fixed import quantize_input
from neurodeploy.trace import Trace


def lava_kernel_to_torch(weight: np.ndarray) -> np.ndarray:
    """Lava's conv kernel ``(C_out, kx, ky, C_in/g)`` (true convolution) -> torch's ``(C_out, C_in/g, kx, ky)``
    (cross-correlation) over ``(C, X, Y)``: the flip and permutation of the mapping, undone."""
    return np.ascontiguousarray(np.asarray(weight).transpose(0, 3, 1, 2)[:, :, ::-1, ::-1])


class NirIntegerEmulator:
    """A quantized sequence network (``quant``, ``arrays`` from :func:`~.loihi.nir_fixed.quantize_network`).

    Args:
        m: the float :class:`~.loihi.lower.LoweredNetwork` of the graph; quant, arrays: its integers;
            dt_s: seconds per step (Trace metadata).
    """

    name = "emulator"

    def __init__(self, m: LoweredNetwork, quant: dict, arrays: dict, dt_s: float | None = None):
        self.lowered, self.quant, self.arrays, self.dt_s = m, quant, arrays, dt_s
        self.layers = m.layers
        self.input = next(n for n, node in m.nodes.items() if node.kind == "input")
        self.in_shape = tuple(m.nodes[self.input].params["nir_shape"])
        self.counts: dict[str, dict[str, int]] = {}  # per process: u_wrapped, v_saturated, acc_wrapped (last run)

    def run_values(self, x: np.ndarray) -> dict[str, torch.Tensor]:
        """``x``: ``(T, N, *input_shape)`` values -> every process's integers ``(T, N, *lava_shape)``
        (neurons: spikes, or ``v`` for non-spiking ones)."""
        m, quant = self.lowered, self.quant
        t_steps, n = x.shape[:2]
        self.counts = {name: {} for name in m.nodes}
        vals: dict[str, torch.Tensor] = {
            self.input: torch.as_tensor(quantize_input(to_lava(np.asarray(x), self.in_shape), quant[self.input]))}
        for name, proc in m.nodes.items():
            if name == self.input:
                continue
            ins = []
            for e in (k for k in m.edges if k.dst == name):
                v = vals[e.src]
                ins.append(v.reshape(t_steps, n, *e.reshape) if e.reshape is not None else v)
            x_in = sum(ins[1:], ins[0])
            q = quant[name]
            if proc.kind == "dense":
                w = torch.as_tensor(self.arrays[name]["weight_mant"])
                vals[name] = rescale(x_in @ w.T, 1, -int(q.get("weight_exp", 0)))
            elif proc.kind == "conv":
                vals[name] = self._conv(name, x_in)
            elif proc.kind == "delay":  # a NIR Delay: logical time
                d = int(proc.params["delay"])
                out = torch.zeros_like(x_in)
                if d < t_steps:
                    out[d:] = x_in[:t_steps - d]
                vals[name] = out
            else:  # lif
                const = self.arrays.get(name, {}).get("const_mant")
                a_in = x_in if const is None else x_in + torch.as_tensor(const)
                if q.get("model") == "RuleLIF":
                    rules = NeuronRules(q["spike"], q["reset"], int(q["reset_delay"]))
                    vals[name] = lif_int(a_in, q["du"], q["dv"], q["vth_mant"], counts=self.counts[name], rules=rules)
                elif q["spiking"]:
                    vals[name] = lif_int(a_in, q["du"], q["dv"], q["vth_mant"], counts=self.counts[name])
                else:
                    vals[name] = lif_int(a_in, q["du"], q["dv"], q["vth_mant"], state=True, counts=self.counts[name])[2]
        return vals

    def _conv(self, name: str, x: torch.Tensor) -> torch.Tensor:
        p = self.lowered.nodes[name].params
        w = torch.as_tensor(lava_kernel_to_torch(self.arrays[name]["weight_mant"]))
        t, n = x.shape[:2]
        y = conv_int(x.flatten(0, 1).permute(0, 3, 1, 2), w, p["stride"], p["padding"], p["dilation"], p["groups"],
                     counts=self.counts[name])
        return y.permute(0, 2, 3, 1).reshape(t, n, *y.shape[2:], y.shape[1])

    def run(self, x: np.ndarray) -> list[Trace]:
        """``x``: ``(T, N, *input_shape)`` -> one Trace per sample (layers ``(T, *shape)``, model units)."""
        start = time.perf_counter()
        with torch.no_grad():
            vals = self.run_values(np.asarray(x, dtype=np.float64))
        seconds = time.perf_counter() - start
        t_steps, n = x.shape[:2]
        layers = {}
        for name in self.layers:
            q = self.quant[name]
            unit = 1.0 if q["spiking"] else float(q["v_lsb"])
            layers[name] = from_lava(vals[name].numpy().astype(np.float64) * unit,
                                     self.lowered.nodes[name].params["nir_shape"])
        return [Trace(self.name, t_steps, {k: v[:, i] for k, v in layers.items()}, layers[self.lowered.output_layer][:, i],
                      meta={"run_s": seconds / n, "dt_s": self.dt_s, "arithmetic": "int64 (Lava fixed_pt)"})
                for i in range(n)]
