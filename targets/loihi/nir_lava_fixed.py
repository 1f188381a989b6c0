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

import tempfile
from pathlib import Path

import nir
import numpy as np

from neurodeploy.targets.loihi import compat
from neurodeploy.targets.loihi.nir_fixed import check_params, quantize_input
from neurodeploy.targets.loihi.nir_lava import NirLavaExecutor
from neurodeploy.targets.loihi.nir_map import GRADED_BITS, from_lava, to_lava
from neurodeploy.trace import Trace

compat.install()

from lava.proc.conv.process import Conv  # noqa: E402
from lava.proc.dense.process import Dense  # noqa: E402
from lava.proc.io.source import PySendModelFixed, RingBuffer  # noqa: E402
from lava.proc.lif.process import LIFReset  # noqa: E402
from lava.proc.monitor.process import Monitor  # noqa: E402

from neurodeploy.targets.loihi.processes import DelayLine, RuleLIF  # noqa: E402
from neurodeploy.targets.loihi.processes.fixed import PyConvModelFixedFast  # noqa: E402
from neurodeploy.targets.loihi.processes.functions import record_process  # noqa: E402
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

    def run_sequences(self, x: np.ndarray, timeout_s: float | None = None) -> list[Trace]:
        """``x``: ``(T, N, *input_shape)`` values -> one Trace per sample (layers ``(T, *shape)``, model units)."""
        x = np.asarray(x, dtype=np.float64)
        t_steps, n = x.shape[:2]
        m, quant = self.map, self.quant
        window = t_steps + m.gap
        steps = n * window
        in_shape = tuple(int(v) for v in self.graph.nodes[m.input].output_type["output"])
        payload = quantize_input(to_lava(x, in_shape), quant[m.input])  # (T, N, *lava shape)

        def windows(shape, start: int, value) -> np.ndarray:
            """Per Lava step: sample i's ``value(i)`` (shape + (T,)) on its T steps from ``start``."""
            data = np.zeros(shape + (steps,), dtype=np.int64)
            for i in range(n):
                data[..., i * window + start:i * window + start + t_steps] = value(i)
            return data

        procs, models, records, monitors = {}, {}, {}, {}
        with tempfile.TemporaryDirectory(prefix="neurodeploy-nirlava-fixed-") as tmp:
            for name, p in m.procs.items():
                mant = self.arrays.get(name, {}).get("weight_mant")
                if p.kind == "source":
                    proc = RingBuffer(data=windows(p.shape, 0, lambda i: np.moveaxis(payload[:, i], 0, -1)))
                    models[proc] = PySendModelFixed
                elif p.kind == "dense":
                    proc = Dense(weights=2 * mant, weight_exp=int(quant[name].get("weight_exp", 0)) - 1,
                                 num_message_bits=GRADED_BITS, name=name)
                elif p.kind == "conv":
                    q = p.params
                    proc = Conv(weight=mant, input_shape=q["input_shape"], padding=q["padding"], stride=q["stride"],
                                dilation=q["dilation"], groups=q["groups"], num_message_bits=GRADED_BITS, name=name)
                    if self.fast:
                        models[proc] = PyConvModelFixedFast
                elif p.kind == "delay":
                    proc = DelayLine(shape=p.shape, delay=p.params["delay"], name=f"delay:{name}")
                    models[proc] = PyDelayLineModelFixed
                else:  # lif
                    q = quant[name]
                    clear = {"reset_interval": window, "reset_offset": (p.latency + 1) % window}
                    if q.get("model") == "RuleLIF":  # a writer's rules: the project's fixed_pt RuleLIF
                        proc = RuleLIF(shape=p.shape, du=q["du"], dv=q["dv"], vth=q["vth_mant"],
                                       fire_at_equality=q["spike"] == ">=", subtract=q["reset"] == "subtract",
                                       reset_delay=q["reset_delay"], name=name, **clear)
                        models[proc] = PyRuleLIFModelFixed
                    else:
                        proc = LIFReset(shape=p.shape, du=q["du"], dv=q["dv"], vth=q["vth_mant"],
                                        bias_mant=np.zeros(p.shape), bias_exp=0, name=name, **clear)
                    const = self.arrays.get(name, {}).get("const_mant")
                    if const is not None:
                        source = RingBuffer(data=windows(p.shape, p.latency, lambda i: const[..., None]))
                        models[source] = PySendModelFixed
                        source.s_out.connect(proc.a_in)
                    if q["spiking"]:
                        records[name] = Path(tmp) / f"spikes-{len(records)}.npy"
                        sink, model = record_process(f"record:{name}", p.shape, steps, str(records[name]))
                        models[sink] = model
                        proc.s_out.connect(sink.a_in)
                    else:
                        monitors[name] = Monitor()
                        monitors[name].probe(target=proc.v, num_steps=steps)
                procs[name] = proc
            for link in m.links:
                src, dst = procs[link.src], procs[link.dst]
                out = src.a_out if m.procs[link.src].kind in ("dense", "conv") else src.s_out
                if link.reshape is not None:
                    out = out.reshape(link.reshape)
                out.connect(dst.a_in if m.procs[link.dst].kind == "lif" else dst.s_in)
            raw = self._run(procs, models, monitors, records, steps, timeout_s, select_tag="fixed_pt")
        traces = []
        for i in range(n):
            layers = {}
            for name in m.layers:
                start = i * window + m.procs[name].latency
                cut = np.moveaxis(raw[name][..., start:start + t_steps], -1, 0)
                unit = 1.0 if quant[name]["spiking"] else float(quant[name]["v_lsb"])
                layers[name] = from_lava(cut, m.shapes[name]) * unit
            traces.append(Trace(self.name, t_steps, layers, layers[m.output_layer].copy(),
                                meta={"lava_steps": steps, "dt_s": self.dt_s, "select_tag": "fixed_pt",
                                      "conv_model": "PyConvModelFixedFast" if self.fast else "PyConvModelFixed"}))
        return traces
