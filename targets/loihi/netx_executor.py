"""Executors ``netx`` and ``netx-float``: a bundle's ``chip.net`` through lava-dl's own loader.

``lava.lib.dl.netx.hdf5.Network`` (lava-dl 0.6) builds Lava processes from the netx file -- the
loader Intel's tutorials run on Loihi 2 -- independently of neurodeploy's lowering; this module
feeds it the same input and records every layer, so ``validate --executor lava-fixed --against
netx`` checks our lowering against Intel's.

- **Input**: a source ``RingBuffer`` (Lava's ``io.source``) sending the sample's T steps (binary
  spikes, or integer payloads) into ``Network.inp``, then zeros while the network flushes.
- **Records**: a sink ``RingBuffer`` on each block's ``out`` port (one read per layer after the
  run, not a Monitor's per-value reads); a layer that never fires (slayer's Affine readout, a
  threshold beyond 17 bits) is read by a ``Monitor`` of its ``v`` instead, in input units as ours
  (fixed: ``v / 64``). Lava's layout (X, Y, C) is turned back into (C, H, W).
- **Logical time**: a sample's step t reaches the k-th block (k = 1, 2 ... after the input)
  one Lava step per synapse later, so the block's record is cut at ``t + k`` (as
  :class:`~.executor.LavaSequenceExecutor` realigns ours); a run takes ``T + depth`` steps.
- **Reset**: one Lava run per sample on a freshly built ``Network``, with netx's own per-layer reset
  (``reset_interval``, ``reset_offset=1``: layer k is cleared at Lava step k + 1, when its first
  logical step arrives). Without it netx's LIF integrates its bias from Lava step 1 in every layer,
  k steps before the layer's first input -- a network with biases then fires earlier than the same
  network in logical time (lava-fixed, the emulator, SLAYER).
- ``netx`` runs ``Loihi2SimCfg(select_tag="fixed_pt")``: netx's block models are tagged
  ``fixed_pt`` only (``netx/blocks/models.py``); ``floating_pt`` finds no model for
  ``Network``. ``netx-float`` selects the block models through ``exception_proc_model_map``
  and runs the leaf processes' ``floating_pt`` models with netx's integers translated to their
  float meaning (Lava's float LIF takes ``du``/``dv`` as fractions, its float Dense ignores
  ``weight_exp``): ``du = (du_int + 1) / 4096``, ``dv = dv_int / 4096``, Dense weights (a
  ``RecurrentDense``'s recurrent ones too) times ``2**weight_exp``; a sigma-delta layer's float
  model sends ``s`` where the fixed one sends ``s >> 6``,
  so the weights after it take ``2**-6`` and its record is divided by ``2**6``. Thresholds and weights keep their units (a float ``a_in`` is the integer one
  before Lava's ``<< 6``). Those translations are ours, the process graph is netx's.
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

import numpy as np

from neurodeploy.errors import LavaRunError
from neurodeploy.trace import Trace

DECAY_UNIT = 4096
SDNN_STATE_EXP = 6  # netx's SigmaDelta state_exp: its fixed model sends sigma >> 6
V_LSB = 1.0 / 64  # a fixed LIF's v in input LSBs (Lava shifts a_in left by 6)


def _to_lava(x: np.ndarray) -> np.ndarray:
    """(steps, C, H, W) or (steps, N) -> Lava's (X, Y, C, steps) or (N, steps)."""
    return np.moveaxis(x, 0, -1) if x.ndim == 2 else np.transpose(x, (3, 2, 1, 0))


def _from_lava(raw: np.ndarray) -> np.ndarray:
    """Lava's (X, Y, C, steps) or (N, steps) -> (steps, C, H, W) or (steps, N)."""
    return np.moveaxis(raw, -1, 0) if raw.ndim == 2 else np.transpose(raw, (3, 2, 1, 0))


def _is_sigma_delta(block) -> bool:
    return type(getattr(block, "neuron", None)).__name__ == "SigmaDelta"


def _float_params(net) -> None:
    """netx's integers in the units Lava's floating_pt models read (module docstring)."""
    previous = None
    for block in net.layers:
        neuron = getattr(block, "neuron", None)
        if neuron is not None and hasattr(neuron, "du"):
            neuron.du.init = (int(np.asarray(neuron.du.init)) + 1) / DECAY_UNIT
            neuron.dv.init = int(np.asarray(neuron.dv.init)) / DECAY_UNIT
        synapse = getattr(block, "synapse", None)
        if synapse is not None and hasattr(synapse, "weights"):
            exp = int(synapse.proc_params.get("weight_exp", 0))
            # a sigma-delta layer's float model sends s, its fixed one s >> state_exp: the next weights take 2**-state_exp
            exp -= SDNN_STATE_EXP if previous is not None and _is_sigma_delta(previous) else 0
            synapse.weights.init = np.asarray(synapse.weights.init, dtype=np.float64) * 2.0 ** exp
        rec = getattr(block, "synapse_rec", None)  # a RecurrentDense's synapse back into its own neurons
        if rec is not None and hasattr(rec, "weights"):
            exp = int(rec.proc_params.get("weight_exp", 0))
            rec.weights.init = np.asarray(rec.weights.init, dtype=np.float64) * 2.0 ** exp
        previous = block


class NetxExecutor:
    """Runs a netx file with ``netx.hdf5.Network`` on Lava's CPU simulator, returning Traces.

    Args:
        net_file: the netx HDF5 file (a bundle's ``chip.net``).
        layers: Trace layer name -> netx layer index in the file, in graph order (the manifest's
            ``netx.layers``).
        skip_layers: netx's ``skip_layers`` (1 when the file's input layer has a neuron).
        input_shape: the per-step input shape in NIR layout ((N,) or (C, H, W)).
        select_tag: ``fixed_pt`` (``netx``) or ``floating_pt`` (``netx-float``).
        dt_s: seconds per step (Trace metadata).
        timeout_s: seconds a sample's run may take before every process is killed.
    """

    def __init__(self, net_file: Path, layers: dict[str, int], skip_layers: int, input_shape: tuple[int, ...],
                 select_tag: str = "fixed_pt", dt_s: float | None = None, timeout_s: float = 300.0,
                 state_layers: tuple[str, ...] = (), sigma_delta: bool = False):
        self.net_file, self.layers = Path(net_file), dict(layers)
        self.sigma_delta = sigma_delta  # the network has SDNN layers (no reset of their own in Lava)
        self.state_layers = set(state_layers)  # layers that never fire: their v is the record (a Monitor)
        self.skip_layers, self.input_shape = int(skip_layers), tuple(input_shape)
        self.select_tag, self.dt_s, self.timeout_s = select_tag, dt_s, timeout_s
        self.name = "netx" if select_tag == "fixed_pt" else "netx-float"

    def run(self, x: np.ndarray) -> list[Trace]:
        """``x``: ``(T, N, *input_shape)`` -> one Trace per sample (layers ``(T, *shape)``; spikes 0/1,
        graded payloads as integers)."""
        x = np.asarray(x, dtype=np.float64)
        return [self._run_one(x[:, i]) for i in range(x.shape[1])]

    def _run_one(self, x: np.ndarray) -> Trace:
        # lava.lib.dl imports slayer, which prints a warning about an optional dataset toolbox on stdout, and
        # netx prints its weight-fitting warnings there too: stdout is a --json command's, so they go to stderr
        with contextlib.redirect_stdout(sys.stderr):
            return self._run_one_quiet(x)

    def _run_one_quiet(self, x: np.ndarray) -> Trace:
        import neurodeploy.targets.loihi  # noqa: F401  -- Lava's Python 3.11 shim before lava is imported
        from lava.lib.dl.netx import hdf5
        from lava.lib.dl.netx.blocks import models as block_models
        from lava.lib.dl.netx.blocks import process as blocks
        from lava.magma.core.run_conditions import RunSteps
        from lava.magma.core.run_configs import Loihi2SimCfg
        from lava.proc.io.sink import RingBuffer as Sink
        from lava.proc.io.source import RingBuffer as Source
        from lava.proc.monitor.process import Monitor

        from neurodeploy.targets.loihi.network import kill_run

        t_steps = x.shape[0]
        start = time.perf_counter()
        # netx's own per-layer reset (reset_interval, reset_offset): layer k (offset k + 1 with reset_offset=1) starts
        # from rest at the Lava step its first logical step arrives, as our executors' layers do; without it a
        # layer's bias would integrate for the k steps before (netx's LIF starts at Lava step 1 everywhere).
        # SDNN layers have no reset (netx warns and ignores it): not asked for there.
        reset = {} if self.sigma_delta else {"reset_interval": t_steps + len(self.layers) + 1, "reset_offset": 1}
        net = hdf5.Network(net_config=str(self.net_file), skip_layers=self.skip_layers,
                           input_message_bits=0 if np.all((x == 0) | (x == 1)) else 16, **reset)
        blocks_run = list(net.layers)
        if len(blocks_run) != len(self.layers):
            raise LavaRunError(f"{self.net_file}: netx built {len(blocks_run)} layers, the bundle records "
                               f"{len(self.layers)}; re-export the bundle")
        steps = t_steps + len(blocks_run)
        data = np.zeros((*_to_lava(x[:1]).shape[:-1], steps))
        data[..., :t_steps] = _to_lava(x)
        source = Source(data=data)
        source.s_out.connect(net.inp)
        sinks, monitors = [], {}
        for name, block in zip(self.layers, blocks_run):
            sink = Sink(shape=block.out.shape, buffer=steps)
            block.out.connect(sink.a_in)
            sinks.append(sink)
            if name in self.state_layers:  # a readout that never fires: its v, as our executors record it
                monitors[name] = Monitor()
                monitors[name].probe(target=block.neuron.v, num_steps=steps)
        exceptions = {}
        if self.select_tag == "floating_pt":
            from lava.proc.lif.models import PyLifResetModelFloat
            from lava.proc.lif.process import LIFReset

            _float_params(net)
            exceptions = {hdf5.Network: hdf5.PyNetworkModel, blocks.Dense: block_models.PyDenseModel,
                          blocks.Conv: block_models.PyConvModel, blocks.Input: block_models.PyInputModel,
                          LIFReset: PyLifResetModelFloat}
        cfg = Loihi2SimCfg(select_tag=self.select_tag, exception_proc_model_map=exceptions)
        built = time.perf_counter()
        try:
            net.run(condition=RunSteps(num_steps=steps, blocking=False), run_cfg=cfg)
            runtime = net.runtime
            while not all(port.probe() for port in runtime.service_to_runtime):
                if time.perf_counter() - start > self.timeout_s:
                    raise LavaRunError(f"the netx run did not finish within {self.timeout_s:.0f} s ({steps} steps); all "
                                       "its processes were stopped")
                time.sleep(0.005)
            runtime.wait()
            raws = [np.asarray(s.data.get(), dtype=np.float64) for s in sinks]
            for i, name in enumerate(self.layers):
                if name in monitors:
                    v = np.asarray(next(iter(monitors[name].get_data().values()))["v"], dtype=np.float64)
                    # Lava's fixed v counts 1/64 of an input LSB (a_in << 6); the float model's v is in input units
                    raws[i] = np.moveaxis(v, 0, -1) * (V_LSB if self.select_tag == "fixed_pt" else 1.0)
        except BaseException as exc:
            kill_run(net)
            if isinstance(exc, RuntimeError) and "Exception(s) occurred" in str(exc):
                raise LavaRunError(f"a netx process failed during the run ({exc}); all processes were stopped") from None
            raise
        net.stop()
        seconds = time.perf_counter() - start
        layers = {}
        for depth, (name, raw, block) in enumerate(zip(self.layers, raws, blocks_run), start=1):
            if self.select_tag == "floating_pt" and _is_sigma_delta(block):
                raw = raw * 2.0 ** -SDNN_STATE_EXP  # messages in payload units, as the fixed model sends them
            # logical step t of the k-th block is Lava step t + k (one step per synapse)
            layers[name] = np.ascontiguousarray(_from_lava(raw)[depth:depth + t_steps])
        out = layers[list(self.layers)[-1]].copy()
        meta = {"run_s": seconds, "build_s": built - start, "lava_steps": steps, "lava_steps_per_image": steps,
                "dt_s": self.dt_s, "select_tag": self.select_tag, "loader": "lava.lib.dl.netx.hdf5.Network",
                "lava_processes": len(blocks_run) * 2 + 1 + len(sinks)}
        if self.select_tag == "floating_pt":
            meta["float_params"] = "netx's integers as fractions: du = (du + 1) / 4096, dv / 4096, Dense w * 2**weight_exp"
        return Trace(self.name, t_steps, layers, out, meta=meta)


__all__ = ["NetxExecutor"]
