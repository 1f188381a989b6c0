"""Run a graph from any NIR writer on Lava's CPU simulator (``Loihi2SimCfg``), as Traces.

The mapping (which Lava process, which parameters) is :mod:`.nir_map`; the NIR semantics
it implements are :mod:`neurodeploy.ir.primitives`. Samples stream through one Lava run
back to back, each in a window of ``T + gap`` steps (``gap`` = the network's latency --
every synapse adds a Lava step -- plus what delay lines hold), neurons are
``LIFReset`` processes (``RuleLIF`` for a writer's rules, :mod:`.nir_map`) that reset at
the first step of their window, so no state crosses
from one sample to the next (the torch executor starts each sample from rest too).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from neurodeploy.errors import LavaRunError
from neurodeploy.targets.loihi import compat
from neurodeploy.targets.loihi.nir_map import (GRADED_BITS, LavaMap, build_map, from_lava, lava_weights,
                                               to_lava)
from neurodeploy.trace import Trace

compat.install()

from lava.magma.core.run_conditions import RunSteps  # noqa: E402
from lava.magma.core.run_configs import Loihi2SimCfg  # noqa: E402
from lava.proc.conv.process import Conv  # noqa: E402
from lava.proc.dense.process import Dense  # noqa: E402
from lava.proc.io.source import RingBuffer  # noqa: E402
from lava.proc.lif.process import LIFReset  # noqa: E402
from lava.proc.monitor.process import Monitor  # noqa: E402

from neurodeploy.targets.loihi.network import kill_run  # noqa: E402
from neurodeploy.targets.loihi.processes import DelayLine, RuleLIF  # noqa: E402
from neurodeploy.targets.loihi.processes.fast import PyConvModelFloatFast  # noqa: E402
from neurodeploy.targets.loihi.processes.functions import record_process  # noqa: E402


class SampleRun:
    """One run of N samples of T steps, each in a window of ``window`` Lava steps (``steps`` in all)."""

    def __init__(self, x: np.ndarray, t_steps: int, n: int, window: int, steps: int):
        self.x, self.t_steps, self.n, self.window, self.steps = x, t_steps, n, window, steps

    def clear(self, p) -> dict[str, int]:
        """A neuron's reset at the first step of its window (``LIFReset``/``RuleLIF`` arguments)."""
        return {"reset_interval": self.window, "reset_offset": (p.latency + 1) % self.window}


class NirLavaExecutor:
    """A flat graph read by :func:`neurodeploy.ir.read_graph`, on ``Loihi2SimCfg(floating_pt)``.

    Args:
        graph: the graph (a DeployGraph, or its NIR graph); dt_s: seconds per step (default: the dt
            it was read with).
    """

    name = "lava-float"

    def __init__(self, graph, dt_s: float | None = None):
        from neurodeploy.ir import as_deploy_graph

        g = as_deploy_graph(graph, dt_s)
        self.graph, self.info = g.nir, g.info
        self.dt_s = float(g.info.dt_s)
        self.map: LavaMap = build_map(g)
        self.layers = self.map.layers

    def run(self, x: np.ndarray, timeout_s: float | None = None) -> list[Trace]:
        """``x``: ``(T, N, *input_shape)`` -> one Trace per sample (layers ``(T, *shape)``;
        output = the Output's layer).

        The processes come from :meth:`_process` and :meth:`_constant_input` (one per kind; the
        fixed_pt executor overrides them); records, monitors, links, the run and the cut into
        samples are shared."""
        x = np.asarray(x, dtype=np.float64)
        t_steps, n = x.shape[:2]
        m = self.map
        window = t_steps + m.gap
        run = SampleRun(x, t_steps, n, window, n * window)
        steps = run.steps
        procs, models, records, monitors = {}, {}, {}, {}
        with tempfile.TemporaryDirectory(prefix="neurodeploy-nirlava-") as tmp:
            for name, p in m.procs.items():
                proc, model = self._process(name, p, run)
                if model is not None:
                    models[proc] = model
                if p.kind == "lif":
                    const = self._constant_input(name, p, run)
                    if const is not None:
                        source, model = const
                        if model is not None:
                            models[source] = model
                        source.s_out.connect(proc.a_in)
                    if m.spiking[name]:
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
                into = dst.a_in if m.procs[link.dst].kind == "lif" else dst.s_in
                out.connect(into)
            raw = self._run(procs, models, monitors, records, steps, timeout_s, select_tag=self.select_tag)
        traces = []
        for i in range(n):
            layers = {}
            for name in m.layers:
                start = i * window + m.procs[name].latency
                cut = np.moveaxis(raw[name][..., start:start + t_steps], -1, 0)
                layers[name] = from_lava(cut, m.shapes[name]) * self._unit(name)
            traces.append(Trace(self.name, t_steps, layers, layers[m.output_layer].copy(),
                                meta={"lava_steps": steps, "lava_steps_per_image": window, "dt_s": self.dt_s,
                                      "select_tag": self.select_tag, **self._meta()}))
        return traces

    # ------------------------------------------------------------- per kind (floating_pt)
    select_tag = "floating_pt"

    def _process(self, name: str, p, run: "SampleRun") -> tuple:
        """The Lava process of mapped process ``p`` and its ProcessModel (None: Lava's choice by tag)."""
        if p.kind == "source":
            in_shape = tuple(int(v) for v in self.graph.nodes[self.map.input].output_type["output"])
            data = np.zeros(p.shape + (run.steps,))
            for i in range(run.n):
                data[..., i * run.window:i * run.window + run.t_steps] = np.moveaxis(to_lava(run.x[:, i], in_shape),
                                                                                     0, -1)
            return RingBuffer(data=data), None
        if p.kind == "dense":
            return Dense(weights=lava_weights(p), num_message_bits=GRADED_BITS, name=name), None
        if p.kind == "conv":
            q = p.params
            proc = Conv(weight=lava_weights(p), input_shape=q["input_shape"], padding=q["padding"],
                        stride=q["stride"], dilation=q["dilation"], groups=q["groups"],
                        num_message_bits=GRADED_BITS, name=name)
            return proc, PyConvModelFloatFast
        if p.kind == "delay":
            return DelayLine(shape=p.shape, delay=p.params["delay"], name=f"delay:{name}"), None
        q = p.params  # lif
        vth = q["vth"] if np.isfinite(q["vth"]) else np.finfo(np.float64).max
        rules = q["rules"]
        if rules.is_nir:
            return LIFReset(shape=p.shape, du=q["du"], dv=q["dv"], vth=vth, bias_mant=np.zeros(p.shape),
                            name=name, **run.clear(p)), None
        # a writer's rules (neurodeploy.ir.rules) that Lava's LIF has not
        return RuleLIF(shape=p.shape, du=q["du"], dv=q["dv"], vth=vth, name=name,
                       fire_at_equality=rules.spike == ">=", subtract=rules.reset == "subtract",
                       reset_delay=rules.reset_delay, **run.clear(p)), None

    def _constant_input(self, name: str, p, run: "SampleRun") -> tuple | None:
        """A neuron's constant input (bias, leak target) as a source process and its model, or None."""
        if not np.any(p.params["const"] != 0):
            return None
        # the constant input starts at the layer's first logical step of each window
        data = np.zeros(p.shape + (run.steps,))
        for i in range(run.n):
            data[..., i * run.window + p.latency:(i + 1) * run.window] = p.params["const"][..., None]
        return RingBuffer(data=data), None

    def _unit(self, name: str) -> float:
        """Model units per recorded value of layer ``name``."""
        return 1.0

    def _meta(self) -> dict:
        return {}

    def _run(self, procs, models, monitors, records, steps, timeout_s,
             select_tag: str = "floating_pt") -> dict[str, np.ndarray]:
        any_proc = next(iter(procs.values()))
        timeout_s = timeout_s or 120.0 + 2.0 * len(procs) * steps / 100
        start = time.perf_counter()
        cfg = Loihi2SimCfg(select_tag=select_tag, exception_proc_model_map=models)
        try:
            any_proc.run(condition=RunSteps(num_steps=steps, blocking=False), run_cfg=cfg)
            runtime = any_proc.runtime
            while not all(port.probe() for port in runtime.service_to_runtime):
                if time.perf_counter() - start > timeout_s:
                    raise LavaRunError(f"the Lava run did not finish within {timeout_s:.0f} s ({steps} steps); all "
                                       "its processes were stopped")
                time.sleep(0.005)
            runtime.wait()
            raw = {name: np.load(path) for name, path in records.items()}
            for name, mon in monitors.items():
                data = mon.get_data()
                probed = next(iter(data.values()))["v"]  # (steps, *shape)
                raw[name] = np.moveaxis(np.asarray(probed, dtype=np.float64), 0, -1)
        except BaseException as exc:
            kill_run(any_proc)
            if isinstance(exc, RuntimeError) and "Exception(s) occurred" in str(exc):
                raise LavaRunError(f"a Lava process failed during the run ({exc}); all processes were stopped") from None
            raise
        any_proc.stop()
        return raw
