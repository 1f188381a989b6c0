"""A quantized graph from any NIR writer on Lava's ``fixed_pt`` models: executor ``lava-fixed`` of a ``.nir`` bundle.

The processes, links, latencies, delay lines and sample windows are the float executor's
(:class:`~.nir_lava.NirLavaExecutor`, same :class:`~.nir_map.LavaMap`); the numbers are the
integers of :mod:`.nir_fixed`. ``Loihi2SimCfg(select_tag="fixed_pt")`` with:

- ``Dense``: Lava's ``PyDenseModelBitAcc`` with ``2 · weight_mant`` and ``weight_exp - 1``
  (Lava drops the LSB of mixed-sign weights; ``(2 S) >> (k + 1) = S >> k``),
  ``num_message_bits = 24`` (graded input: pooled counts, integer input; identical for 0/1);
- ``Conv`` (convolutions and pooling): the project's :class:`~.processes.fixed.PyConvModelFixedFast`
  (bit-exact with Lava's ``PyConvModelFixed``, tested) or Lava's own (``fast=False``);
- neurons: ``LIFReset`` with Lava's ``PyLifResetModelBitAcc`` (``du``, ``dv``, ``vth_mant``;
  reset of ``u`` and ``v`` at the first step of each sample's window), or for a writer's rules
  the project's ``RuleLIF`` with its fixed_pt model (:class:`~.processes.models.PyRuleLIFModelFixed`:
  the same arithmetic, plus ``>=``, subtractive and late resets); the constant input
  ``const_mant`` from a ``RingBuffer`` (Lava's ``PySendModelFixed``, ``int32``) on the
  sample's T logical steps;
- the input: a ``RingBuffer`` of the quantized payloads (``PySendModelFixed``);
- delay lines: :class:`~.processes.models.PyDelayLineModelFixed` (``int32``);
- spike records: the float record sinks; I/LI/CubaLI: a ``Monitor`` of ``v`` (integers,
  times ``v_lsb`` in the Trace).
"""

from __future__ import annotations


import nir
import numpy as np

from neurodeploy.targets.loihi import compat
from neurodeploy.targets.loihi.nir_fixed import check_params, quantize_input
from neurodeploy.targets.loihi.nir_lava import NirLavaExecutor, SampleRun
from neurodeploy.targets.loihi.nir_map import GRADED_BITS, to_lava

compat.install()

from lava.proc.conv.process import Conv  # noqa: E402
from lava.proc.dense.process import Dense  # noqa: E402
from lava.proc.io.source import PySendModelFixed, RingBuffer  # noqa: E402
from lava.proc.lif.process import LIFReset  # noqa: E402

from neurodeploy.targets.loihi.processes import DelayLine, RuleLIF  # noqa: E402
from neurodeploy.targets.loihi.processes.fixed import PyConvModelFixedFast  # noqa: E402
from neurodeploy.targets.loihi.processes.models import PyDelayLineModelFixed, PyRuleLIFModelFixed  # noqa: E402


class NirLavaFixedExecutor(NirLavaExecutor):
    """A graph, its integers (``quant``, ``arrays``: :func:`~.nir_fixed.quantize_map`), on ``fixed_pt``.

    Args:
        fast: the project's vectorised fixed_pt Conv model (default) or Lava's own.
    """

    name = "lava-fixed"

    def __init__(self, graph: nir.NIRGraph, quant: dict, arrays: dict, dt_s: float | None = None, fast: bool = True):
        super().__init__(graph, dt_s)
        check_params(self.map, quant, arrays, "the quantized parameters")
        self.quant, self.arrays, self.fast = quant, arrays, fast
        self.name = "lava-fixed" if fast else "lava-fixed-stock"

    select_tag = "fixed_pt"

    def _windows(self, run: SampleRun, shape: tuple, start: int, value) -> np.ndarray:
        """Per Lava step: sample i's ``value(i)`` (shape + (T,)) on its T steps from ``start``."""
        data = np.zeros(shape + (run.steps,), dtype=np.int64)
        for i in range(run.n):
            data[..., i * run.window + start:i * run.window + start + run.t_steps] = value(i)
        return data

    def _process(self, name: str, p, run: SampleRun) -> tuple:
        quant = self.quant
        mant = self.arrays.get(name, {}).get("weight_mant")
        if p.kind == "source":
            in_shape = tuple(int(v) for v in self.graph.nodes[self.map.input].output_type["output"])
            payload = quantize_input(to_lava(run.x, in_shape), quant[self.map.input])  # (T, N, *lava shape)
            return RingBuffer(data=self._windows(run, p.shape, 0, lambda i: np.moveaxis(payload[:, i], 0, -1))), \
                PySendModelFixed
        if p.kind == "dense":
            return Dense(weights=2 * mant, weight_exp=int(quant[name].get("weight_exp", 0)) - 1,
                         num_message_bits=GRADED_BITS, name=name), None
        if p.kind == "conv":
            q = p.params
            proc = Conv(weight=mant, input_shape=q["input_shape"], padding=q["padding"], stride=q["stride"],
                        dilation=q["dilation"], groups=q["groups"], num_message_bits=GRADED_BITS, name=name)
            return proc, (PyConvModelFixedFast if self.fast else None)
        if p.kind == "delay":
            return DelayLine(shape=p.shape, delay=p.params["delay"], name=f"delay:{name}"), PyDelayLineModelFixed
        q = quant[name]  # lif
        if q.get("model") == "RuleLIF":  # a writer's rules: the project's fixed_pt RuleLIF
            return RuleLIF(shape=p.shape, du=q["du"], dv=q["dv"], vth=q["vth_mant"],
                           fire_at_equality=q["spike"] == ">=", subtract=q["reset"] == "subtract",
                           reset_delay=q["reset_delay"], name=name, **run.clear(p)), PyRuleLIFModelFixed
        return LIFReset(shape=p.shape, du=q["du"], dv=q["dv"], vth=q["vth_mant"], bias_mant=np.zeros(p.shape),
                        bias_exp=0, name=name, **run.clear(p)), None

    def _constant_input(self, name: str, p, run: SampleRun) -> tuple | None:
        const = self.arrays.get(name, {}).get("const_mant")
        if const is None:
            return None
        return RingBuffer(data=self._windows(run, p.shape, p.latency, lambda i: const[..., None])), PySendModelFixed

    def _unit(self, name: str) -> float:
        q = self.quant[name]
        return 1.0 if q["spiking"] else float(q["v_lsb"])

    def _meta(self) -> dict:
        return {"conv_model": "PyConvModelFixedFast" if self.fast else "PyConvModelFixed"}
