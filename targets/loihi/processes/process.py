"""Small Lava processes the stock library lacks: a delay line, VLIF-Net's NI-LIF and a LIF with
the neuron rules of other NIR writers.

Each follows Lava's split: the Process (here) declares ports and variables; the
ProcessModels (``models.py`` beside it, ``floating_pt`` and ``fixed_pt``) implement it,
chosen by the run config. It receives and sends within the same time step, so it adds
no latency of its own (unlike synapses, which add one step). The processes whose ports
depend on the graph (relays, routing, host islands, record sinks) are in ``functions.py``.

- :class:`DelayLine` delays a stream by ``delay`` time steps (payload kept: binary,
  graded or real). It balances paths of different depth at joins. On Loihi 2 this maps
  to synaptic/axonal delays or relay neurons; here it is a CPU process.
- :class:`NILIF` is VLIF-Net's normalised integer LIF with graded spikes 0..D, scanning
  ``positions`` channel groups within one Lava step (the r² sub-steps of patch-to-time),
  so that every other layer keeps T steps per image.
- :class:`LoopGate` passes a recurrent loop's spikes on, except on the one step of each sample
  window before the neuron's first logical step, so that a sample's last spikes never reach the
  next sample through the loop's recurrent ``Dense`` (Lava's synapse keeps them one step).
- :class:`Readout` accumulates its input, weighted per step, over each image window and sends what it
  holds: with weights 1/T (float; integers: 1) the decoder's mean over T kept on the chip, read by
  the host once per image; with weights (1, 0, ..., 0) a hold -- the image, sent once per image,
  repeated on the chip for the T steps of direct encoding (issue 31).
- :class:`RuleLIF` is Lava's ``LIFReset`` with the rules of :mod:`neurodeploy.ir.rules`:
  spike on ``>`` or ``>=``, reset to 0 or by subtracting ``vth``, at once or one step late
  (snntorch's ``Synaptic``, rockpool's ``LIFTorch``, sinabs' ``>=``); Lava's LIF fires on
  ``>`` and resets to 0 at once only.
"""

from __future__ import annotations

import numpy as np

from neurodeploy.targets.loihi import compat

compat.install()

from lava.magma.core.process.ports.ports import InPort, OutPort  # noqa: E402
from lava.magma.core.process.process import AbstractProcess  # noqa: E402
from lava.magma.core.process.variable import Var  # noqa: E402


class DelayLine(AbstractProcess):
    """Output at step k = input at step k - ``delay`` (zeros for the first ``delay`` steps).

    Args:
        shape: shape of the stream (Lava layout, e.g. (X, Y, C)).
        delay: delay in time steps, >= 1.
    """

    def __init__(self, *, shape: tuple[int, ...], delay: int, name: str | None = None) -> None:
        if delay < 1:
            raise ValueError(f"DelayLine needs delay >= 1, got {delay}")
        super().__init__(shape=shape, delay=delay, name=name)
        self.s_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.buffer = Var(shape=shape + (delay,), init=np.zeros(shape + (delay,)))



class LoopGate(AbstractProcess):
    """Output = input, but zeros on the steps with ``time_step % interval == offset``.

    It sits on a recurrent loop between the neuron and its recurrent synapse (issue 28): Lava's
    ``Dense`` sends at step ``s + 1`` what it received at ``s``, so the neuron's spikes of the step
    before its next sample begins would enter that sample's first step. The neurons' state is
    cleared once per sample window (``reset_offset``, as ``LIFReset``); the gate clears what is in
    flight on the loop, one step earlier (``offset = reset_offset - 1``, a step of the gap between
    samples, so a sample's own spikes are never touched). Receives and sends in the same step: no
    latency. On Loihi 2 a recurrent synapse needs no gate: each sample starts from a cleared chip.

    Args:
        shape: shape of the stream (Lava layout); interval: Lava steps per sample window;
        offset: the window's step that is muted.
    """

    def __init__(self, *, shape: tuple[int, ...], interval: int, offset: int, name: str | None = None) -> None:
        super().__init__(shape=shape, interval=int(interval), offset=int(offset) % int(interval), name=name)
        self.s_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)


class NILIF(AbstractProcess):
    """NI-LIF over ``positions`` channel groups per Lava step (see :class:`neurodeploy.ir.nodes.NILIF`).

    The input's last axis holds ``positions`` groups of ``C`` channels; within one Lava
    step the process runs the groups in order as consecutive sub-steps, carrying the
    residual ``h`` from group to group and from the last group of a step to the first of
    the next, and sends all groups' spikes at once (``positions·C`` channels). On Loihi 2
    this is a microcode neuron whose compartments for the r² positions are chained
    (each position's residual feeds the next; a sequential dependency inside one step,
    r² neuron updates per step instead of one).

    ``floating_pt`` (model units, one level = 1.0): ``u = h + a_in``,
    ``K = clip(round_half_even(u), 0, levels)``, ``h = beta·(u - K)``, sends ``K / levels``.
    ``fixed_pt`` (integers, ``v`` LSB = ``1/level_lsbs`` of a level): ``u = h + (a_in << 6)``
    saturated to 24 bits, ``K`` = number of ``thresholds`` that ``u`` exceeds (the rounding
    points between levels, :func:`neurodeploy.quantize.ptq.nilif_thresholds`),
    ``h = trunc0((u - K·level_lsbs)·(4096 - dv) / 4096)``, sends the payload ``K``.

    The residual is cleared at the first step of every image (``time_step % reset_interval
    == reset_offset``, as Lava's ``LIFReset``), so images streamed back to back never see
    each other's state.

    Args:
        shape: (X, Y, positions·C).
        positions: channel groups scanned per step (1: a plain NI-LIF).
        levels: D; beta: leak of the residual per sub-step, in [0, 1] (floating_pt).
        thresholds: D int thresholds in ``v`` units; level_lsbs: ``v`` LSBs per level;
            dv: 12-bit decay (4096·(1 - beta)) (fixed_pt).
        reset_interval, reset_offset: as ``LIFReset``.
    """

    def __init__(self, *, shape: tuple[int, ...], positions: int = 1, levels: int = 4, beta: float = 0.25,
                 thresholds: np.ndarray | None = None, level_lsbs: int = 64, dv: int = 0,
                 reset_interval: int = 1, reset_offset: int = 0, name: str | None = None) -> None:
        if shape[-1] % positions:
            raise ValueError(f"NILIF: {shape[-1]} channels are not {positions} equal groups")
        thresholds = np.zeros(levels, dtype=np.int64) if thresholds is None else np.asarray(thresholds, dtype=np.int64)
        super().__init__(shape=shape, positions=positions, levels=levels, beta=beta, thresholds=thresholds,
                         level_lsbs=level_lsbs, dv=dv, reset_interval=reset_interval, reset_offset=reset_offset,
                         name=name)
        group = tuple(shape[:-1]) + (shape[-1] // positions,)
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.h = Var(shape=group, init=np.zeros(group))


class RuleLIF(AbstractProcess):
    """Lava's ``LIFReset`` (``u = u (1 - du) + a_in``; ``v = v (1 - dv) + u``) with a writer's rules.

    Per step (``floating_pt``; model units): the state update above; where a spike of the
    previous step is pending (``reset_delay`` = 1), ``v`` is reset now; ``s = v > vth``
    (``v >= vth`` when ``fire_at_equality``); with ``reset_delay`` = 0 the spiking
    neurons' ``v`` is reset at once, else their reset is pending for the next step. Reset:
    ``v = 0`` (``subtract`` False) or ``v -= vth`` (``subtract`` True). ``u``, ``v`` and the
    pending spikes are cleared at the first step of every sample (``time_step %
    reset_interval == reset_offset``, as ``LIFReset``). With ``max_spikes`` > 1 (several spikes
    per step, sinabs' MultiSpike, rockpool's ``max_spikes_per_dt``) a neuron that fires sends
    the count ``k = floor(v / vth)`` (``ceil(v / vth) - 1`` on ``>``), at most ``max_spikes``, as
    one graded spike (Loihi 2's payload; the synapses downstream take graded messages), and the
    subtractive reset takes ``k vth`` off. ``v_min`` (None: none) clamps ``v`` from below after
    the reset (sinabs' ``min_v_mem``; Lava's state units, ``v - v_reset``). The mapping from NIR's parameters
    is :mod:`neurodeploy.targets.loihi.lower`. ``fixed_pt`` (integers: ``du``, ``dv``
    12-bit, ``vth`` the 17-bit ``vth_mant``, compared and subtracted as ``vth << 6``): the same
    rules on Lava's bit-accurate LIF arithmetic (:mod:`neurodeploy.quantize.ptq`, :func:`~neurodeploy.targets.emulator.lif_int`).

    Args:
        shape: Lava layout; du, dv: decays in [0, 1]; vth: threshold (model units).
        fire_at_equality, subtract, reset_delay: the rules (``reset_delay`` 0 or 1 steps).
        max_spikes: spikes per step (1: binary spikes; > 1: a graded count, with ``reset_delay`` 0).
        v_min: lower clamp of ``v`` (model units; fixed_pt: integer ``v`` units, i.e. after ``<< 6``).
        reset_interval, reset_offset: as ``LIFReset``.
    """

    def __init__(self, *, shape: tuple[int, ...], du: float, dv: float, vth: float, fire_at_equality: bool = False,
                 subtract: bool = False, reset_delay: int = 0, reset_interval: int = 1, reset_offset: int = 0,
                 max_spikes: int = 1, v_min: float | None = None, name: str | None = None) -> None:
        if reset_delay not in (0, 1):
            raise ValueError(f"RuleLIF: reset_delay {reset_delay} is not 0 or 1")
        if int(max_spikes) < 1 or (int(max_spikes) > 1 and reset_delay):
            raise ValueError(f"RuleLIF: max_spikes {max_spikes} is not >= 1, or comes with a late reset")
        super().__init__(shape=shape, du=du, dv=dv, vth=vth, fire_at_equality=bool(fire_at_equality),
                         subtract=bool(subtract), reset_delay=int(reset_delay), reset_interval=reset_interval,
                         reset_offset=reset_offset, max_spikes=int(max_spikes), v_min=v_min, name=name)
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.u = Var(shape=shape, init=np.zeros(shape))
        self.v = Var(shape=shape, init=np.zeros(shape))
        self.pending = Var(shape=shape, init=np.zeros(shape))


class Readout(AbstractProcess):
    """Accumulates over each sample window of ``interval`` Lava steps (cleared at ``offset``, as a
    neuron's reset) the input of window step t times ``weights[t]`` (0 beyond them), and sends at
    every step what it holds. Float: the weights themselves (1/T: the running mean); fixed_pt:
    integer weight mantissas (the sum's scale is PTQ's).

    On Loihi 2: a graded neuron per element that integrates without leak (``du = dv = 0``) with a
    per-step input gain (a readout: the host reads it once per image, after the window's T-th step;
    a hold: weights (1, 0, ..., 0), it keeps the first step's value).

    Args:
        shape: shape of the stream (Lava layout); interval: Lava steps per sample window;
        offset: the window step at which the sum is cleared; weights: per window step.
    """

    def __init__(self, *, shape: tuple[int, ...], interval: int, offset: int, weights,
                 name: str | None = None) -> None:
        super().__init__(shape=shape, interval=int(interval), offset=int(offset) % int(interval),
                         weights=[float(w) for w in weights], name=name)
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.acc = Var(shape=shape, init=np.zeros(shape))
