"""ProcessModels of :mod:`.process`: ``floating_pt`` and ``fixed_pt`` of the delay line, of NI-LIF, of
RuleLIF and of the readout.

Lava finds them by scanning this folder when it compiles a network.
"""

from __future__ import annotations

import numpy as np

from neurodeploy.limits import LOIHI2
from neurodeploy.targets.loihi import compat

compat.install()

from lava.magma.core.decorator import implements, requires, tag  # noqa: E402
from lava.magma.core.model.py.model import PyLoihiProcessModel  # noqa: E402
from lava.magma.core.model.py.ports import PyInPort, PyOutPort  # noqa: E402
from lava.magma.core.model.py.type import LavaPyType  # noqa: E402
from lava.magma.core.resources import CPU  # noqa: E402
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol  # noqa: E402

from neurodeploy.targets.loihi.processes.process import NILIF, DelayLine, LoopGate, Readout, RuleLIF  # noqa: E402


class _PyDelayLineModel(PyLoihiProcessModel):
    def run_spk(self) -> None:
        slot = (self.time_step - 1) % self.buffer.shape[-1]
        data = self.s_in.recv()
        out = self.buffer[..., slot].copy()
        self.buffer[..., slot] = data
        self.s_out.send(out)


@implements(proc=DelayLine, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyDelayLineModelFloat(_PyDelayLineModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    buffer: np.ndarray = LavaPyType(np.ndarray, float)


@implements(proc=DelayLine, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyDelayLineModelFixed(_PyDelayLineModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=LOIHI2.graded_payload_bits)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=LOIHI2.graded_payload_bits)
    buffer: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=LOIHI2.graded_payload_bits)



class _PyLoopGateModel(PyLoihiProcessModel):
    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.interval, self.offset = int(proc_params["interval"]), int(proc_params["offset"])

    def run_spk(self) -> None:
        data = self.s_in.recv()
        self.s_out.send(np.zeros_like(data) if self.time_step % self.interval == self.offset else data)


@implements(proc=LoopGate, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyLoopGateModelFloat(_PyLoopGateModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)


@implements(proc=LoopGate, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyLoopGateModelFixed(_PyLoopGateModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=LOIHI2.graded_payload_bits)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=LOIHI2.graded_payload_bits)


class _PyNILIFModel(PyLoihiProcessModel):
    """The scan over positions shared by both models; ``_step`` is one sub-step on one group."""

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.positions = int(proc_params["positions"])
        self.levels = int(proc_params["levels"])
        self.reset_interval = int(proc_params["reset_interval"])
        self.reset_offset = int(proc_params["reset_offset"]) % self.reset_interval

    def run_spk(self) -> None:
        if self.time_step % self.reset_interval == self.reset_offset:
            self.h[...] = 0
        a = self.a_in.recv()
        c = a.shape[-1] // self.positions
        out = np.empty_like(a)
        for p in range(self.positions):
            out[..., p * c:(p + 1) * c] = self._step(a[..., p * c:(p + 1) * c])
        self.s_out.send(out)


@implements(proc=NILIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyNILIFModelFloat(_PyNILIFModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    h: np.ndarray = LavaPyType(np.ndarray, float)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.beta = float(proc_params["beta"])

    def _step(self, x: np.ndarray) -> np.ndarray:
        u = self.h + x
        k = np.clip(np.round(u), 0, self.levels)  # np.round: half to even, as torch.round
        self.h[...] = self.beta * (u - k)
        return k / self.levels


@implements(proc=NILIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyNILIFModelFixed(_PyNILIFModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=LOIHI2.graded_payload_bits)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=LOIHI2.graded_payload_bits)
    h: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=LOIHI2.state_bits)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.thresholds = np.asarray(proc_params["thresholds"], dtype=np.int64)
        self.level_lsbs = int(proc_params["level_lsbs"])
        self.keep = LOIHI2.voltage_retained(int(proc_params["dv"]))
        self.shift, self.decay_bits = int(LOIHI2.state_shift_bits), int(LOIHI2.decay_shift_bits)
        self.limit = (1 << (LOIHI2.state_bits - 1)) - 1

    def _step(self, x: np.ndarray) -> np.ndarray:
        u = np.clip(self.h.astype(np.int64) + (x.astype(np.int64) << self.shift), -self.limit, self.limit)
        k = (u[..., None] > self.thresholds).sum(axis=-1)
        rest = (u - k * self.level_lsbs) * self.keep
        self.h[...] = np.sign(rest) * (np.abs(rest) >> self.decay_bits)
        return k


@implements(proc=RuleLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyRuleLIFModelFloat(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    u: np.ndarray = LavaPyType(np.ndarray, float)
    v: np.ndarray = LavaPyType(np.ndarray, float)
    pending: np.ndarray = LavaPyType(np.ndarray, float)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.du, self.dv, self.vth = (float(proc_params[k]) for k in ("du", "dv", "vth"))
        self.fires = np.greater_equal if proc_params["fire_at_equality"] else np.greater
        self.subtract, self.delay = bool(proc_params["subtract"]), int(proc_params["reset_delay"])
        self.reset_interval = int(proc_params["reset_interval"])
        self.reset_offset = int(proc_params["reset_offset"]) % self.reset_interval
        self.max_spikes = int(proc_params.get("max_spikes", 1))
        self.v_min = proc_params.get("v_min")

    def _reset(self, where: np.ndarray) -> None:
        if self.subtract:
            self.v[where] -= self.vth
        else:
            self.v[where] = 0

    def _counts(self) -> np.ndarray:
        """Several spikes per step: the count k of each neuron, v reset by it (see RuleLIF)."""
        s = self.fires(self.v, self.vth)
        rel = self.v / self.vth
        k = np.floor(rel) if self.fires is np.greater_equal else np.ceil(rel) - 1
        k = np.where(s, np.clip(k, 1, self.max_spikes), 0.0)
        if self.subtract:
            self.v[:] = self.v - k * self.vth
        else:
            self.v[s] = 0
        return k

    def run_spk(self) -> None:
        a = self.a_in.recv()
        if self.time_step % self.reset_interval == self.reset_offset:
            self.u[...], self.v[...], self.pending[...] = 0, 0, 0
        # the same arithmetic as Lava's float LIF (AbstractPyLifModelFloat.subthr_dynamics), bias 0
        self.u[:] = self.u * (1 - self.du)
        self.u[:] += a
        self.v[:] = self.v * (1 - self.dv) + self.u
        if self.max_spikes > 1:
            s = self._counts()
        else:
            if self.delay:
                self._reset(self.pending > 0)
            s = self.fires(self.v, self.vth)
            if self.delay:
                self.pending[...] = s
            else:
                self._reset(s)
        if self.v_min is not None:  # sinabs' min_v_mem, after the reset
            np.maximum(self.v, self.v_min, out=self.v)
        self.s_out.send(s.astype(float))


@implements(proc=RuleLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyRuleLIFModelFixed(PyLoihiProcessModel):
    """RuleLIF in Lava's bit-accurate LIF arithmetic (``PyLifModelBitAcc``, :mod:`neurodeploy.limits`):
    ``du``, ``dv`` 12-bit, ``vth`` the 17-bit ``vth_mant``. Per step: ``u = wrap(trunc0(u (4096 - du - 1)
    / 4096) + (a_in << 6))`` (Lava's one-step wrap), ``v = sat(trunc0(v (4096 - dv) / 4096) + u)``;
    then the writer's rules as in the float model with ``vth << 6``: a pending reset (``reset_delay``
    1), the spike test (``>`` or ``>=``), the immediate reset; a reset sets ``v = 0`` or subtracts
    ``vth << 6`` (saturating). Several spikes per step (``max_spikes`` > 1): the count ``k = v //
    (vth << 6)`` (``(v - 1) // (vth << 6)`` on ``>``), at most ``max_spikes``, sent as the graded
    payload, ``v -= k (vth << 6)``; then ``v = max(v, v_min)`` (integer ``v`` units). A Loihi 2
    microcode neuron would run this; Lava 0.10 has no such model."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=16)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    u: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    v: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    pending: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=1)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.du, self.dv = int(proc_params["du"]), int(proc_params["dv"])
        self.vth = LOIHI2.effective_vth(int(proc_params["vth"]))
        self.fires = np.greater_equal if proc_params["fire_at_equality"] else np.greater
        self.subtract, self.delay = bool(proc_params["subtract"]), int(proc_params["reset_delay"])
        self.reset_interval = int(proc_params["reset_interval"])
        self.reset_offset = int(proc_params["reset_offset"]) % self.reset_interval
        self.half = 1 << (LOIHI2.state_bits - 1)
        self.max_spikes = int(proc_params.get("max_spikes", 1))
        low = proc_params.get("v_min")
        self.v_min = None if low is None else int(low)

    def _reset(self, v: np.ndarray, where: np.ndarray) -> None:
        if self.subtract:
            v[where] = np.maximum(v[where] - self.vth, 1 - self.half)
        else:
            v[where] = 0

    def run_spk(self) -> None:
        a = self.a_in.recv().astype(np.int64)
        if self.time_step % self.reset_interval == self.reset_offset:
            self.u[...], self.v[...], self.pending[...] = 0, 0, 0
        cur = LOIHI2.decay_current(self.u, self.du) + LOIHI2.synaptic_input(a)
        wrapped = np.where(cur > self.half, cur - 2 * self.half, cur)  # Lava's one-step wrap (lif/models.py:161)
        u = np.where(wrapped <= -self.half, cur + 2 * self.half, wrapped)
        v = np.clip(LOIHI2.decay_voltage(self.v, self.dv) + u, 1 - self.half, self.half - 1)
        if self.max_spikes > 1:  # the count of spikes, one graded payload
            fired = self.fires(v, self.vth)
            k = np.where(fired, (v if self.fires is np.greater_equal else v - 1) // self.vth, 0)
            s = np.where(fired, np.clip(k, 1, self.max_spikes), 0)
            v = np.maximum(v - s * self.vth, 1 - self.half) if self.subtract else np.where(fired, 0, v)
        else:
            if self.delay:
                self._reset(v, self.pending > 0)
            s = self.fires(v, self.vth)
            if self.delay:
                self.pending[...] = s
            else:
                self._reset(v, s)
        if self.v_min is not None:  # sinabs' min_v_mem, after the reset
            v = np.maximum(v, self.v_min)
        self.u[...], self.v[...] = u, v
        self.s_out.send(s.astype(np.int32))


class _PyReadoutModel(PyLoihiProcessModel):
    weight_type: type = float

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.interval, self.offset = int(proc_params["interval"]), int(proc_params["offset"])
        self.weights = [self.weight_type(w) for w in proc_params["weights"]]

    def run_spk(self) -> None:
        step = (self.time_step - self.offset) % self.interval
        if step == 0:
            self.acc[...] = 0
        x = self.a_in.recv()
        if step < len(self.weights) and self.weights[step]:
            self.acc[...] = self.acc + self.weights[step] * x
        self.s_out.send(self.acc.copy())


@implements(proc=Readout, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyReadoutModelFloat(_PyReadoutModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    acc: np.ndarray = LavaPyType(np.ndarray, float)


@implements(proc=Readout, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyReadoutModelFixed(_PyReadoutModel):
    weight_type = int
    # the weighted sum of T inputs: PTQ sizes them as 16-bit payloads (2x headroom over the calibrated
    # peak) and the weights as mantissas <= 127, so it holds 32 bits for T < 516; nothing checks larger T
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=LOIHI2.graded_payload_bits)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=32)
    acc: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=32)
