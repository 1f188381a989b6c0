"""Chip limits as data: one object per chip, each figure with the source it was read from.

This is the ground layer: it imports nothing from neurodeploy (no torch, lava or nir), so
the partition, the lowering, quantization, the integer emulator and the reports can all
read the same numbers. Nothing else in the repository should spell a chip limit as a
literal.

Two kinds of figure live here:

- **Resources** (cores, neurons, synapses, fan-in, embedded CPUs) as :class:`Figure` --
  an ``int`` that carries its :class:`Source`. Intel has published Loihi 2 figures per
  *chip* only; the per-*core* figures are Loihi 1's (Davies et al. 2018) and are flagged
  ``loihi1_only``.
- **Integer formats** (weights, decays, threshold, bias, state, accumulators, graded
  payload) as :class:`IntFormat`: bits, signedness, the range Lava's bit-accurate models
  actually hold, the rounding rule on the way in and what happens on overflow (wrap,
  saturate, or nothing: Lava does not check). These are read from the *installed*
  lava-nc 0.10 (``site-packages/lava/...``); each source names file and line and quotes
  the text on that line, and ``tests/test_limits.py`` checks both the quote and the
  behaviour (by running Lava's own ``fixed_pt`` models on edge values). Where Lava's
  code and its docstrings or ``LOIHI.md`` disagree, the code wins and ``note`` says so.

Units: every format is in *integer mantissa units* as Lava's fixed_pt models take them
(not volts, not float model units). Time is in Lava time steps.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

LAVA_VERSION = "lava-nc 0.10.0"

#: Overflow rules (what a model does with a value outside ``[lo, hi]``).
WRAP = "wrap"  # modular: lo + (x - lo) mod 2**bits
SATURATE = "saturate"  # clip to [lo, hi]
UNCHECKED = "unchecked"  # Lava keeps the value as it is; the chip's own behaviour is unknown

#: Rounding rules (how a value is shifted or truncated on its way into the format).
TOWARD_ZERO = "toward_zero"  # sign(x) * (|x| >> n)
FLOOR = "floor"  # x >> n (arithmetic shift), or dropping low bits of a two's complement value
EXACT = "exact"  # no rounding happens on the way in


@dataclass(frozen=True)
class Source:
    """Where a figure comes from.

    Attributes:
        ref: ``lava/<path>.py:<line>`` in the installed lava-nc, or a publication.
        quote: text found on that line (the tests check it, so a Lava upgrade that moves
            or changes the line fails loudly instead of leaving a stale citation).
        loihi1_only: the figure is Loihi 1's; Intel has not published the Loihi 2 one.
    """

    ref: str
    quote: str = ""
    loihi1_only: bool = False
    derived: str = ""  # how the figure was computed from sourced figures ("" when read as is)
    assumption: bool = False  # a named assumption: no source gives this figure; the report lists it

    @property
    def lava_file(self) -> str | None:
        """``proc/lif/models.py`` for a Lava reference (relative to the ``lava`` package), else None."""
        if not self.ref.startswith("lava/"):
            return None
        return self.ref.split(":", 1)[0][len("lava/"):]

    @property
    def lava_line(self) -> int | None:
        return int(self.ref.rsplit(":", 1)[1]) if self.lava_file else None


def _lava(path_line: str, quote: str) -> Source:
    return Source(f"lava/{path_line}", quote)


INTEL_BRIEF_2021 = "Intel Loihi 2 technology brief (2021), per ../shared/LOIHI.md"
DAVIES_2018 = "Davies et al., 'Loihi: a neuromorphic manycore processor with on-chip learning', IEEE Micro 38(1), 2018"


class _Sourced:
    """A number that carries its :class:`Source` and unit (arithmetic gives plain numbers): the
    shared part of :class:`Figure` (an integer) and :class:`Measure` (a real value)."""

    source: Source
    unit: str

    def __new__(cls, value, unit: str, source: Source):
        obj = super().__new__(cls, value)
        obj.source = source
        obj.unit = unit
        return obj

    def __reduce__(self):  # keep pickling/deepcopy working for a number subclass with attributes
        return (type(self), (self._plain(), self.unit, self.source))


class Figure(_Sourced, int):
    """An integer chip figure that carries its :class:`Source` (arithmetic gives plain ints)."""

    __str__ = int.__repr__  # f"{fig}" prints the number; repr() shows unit and flag

    def _plain(self) -> int:
        return int(self)

    def __repr__(self) -> str:
        flag = ", Loihi 1 figure" if self.source.loihi1_only else ""
        return f"Figure({int(self)} {self.unit}{flag})"


class Measure(_Sourced, float):
    """A real-valued chip or system figure (energy, time, bandwidth) that carries its :class:`Source`."""

    __str__ = float.__repr__

    def _plain(self) -> float:
        return float(self)

    def __repr__(self) -> str:
        return f"Measure({float(self)} {self.unit})"


def describe_figure(fig: "Figure | Measure") -> dict[str, Any]:
    """JSON for one figure: value, unit, source, and whether it is Loihi 1's, derived or assumed."""
    src = fig.source
    return {"value": float(fig) if isinstance(fig, Measure) else int(fig), "unit": fig.unit, "source": src.ref,
            "loihi1_only": src.loihi1_only, "derived": src.derived, "assumption": src.assumption,
            **({"note": src.quote} if src.quote and not src.ref.startswith("lava/") else {})}


@dataclass(frozen=True)
class IntFormat:
    """One integer format as a Lava ``fixed_pt`` model holds it.

    Attributes:
        name: what the value is (``vth_mant``, ``u_state`` ...).
        bits: mantissa bits (for ``step > 1``, the value is ``step * mantissa``).
        signed: two's complement mantissa.
        lo, hi: the range the model actually holds (inclusive; integer units). Not always
            the textbook two's complement range: Lava's ``u`` holds ``(-2**23, 2**23]``,
            ``v`` the symmetric ``[-(2**23 - 1), 2**23 - 1]``.
        overflow: :data:`WRAP`, :data:`SATURATE` or :data:`UNCHECKED`.
        rounding: :data:`TOWARD_ZERO`, :data:`FLOOR` or :data:`EXACT`: how a value is
            shifted or truncated on its way into this format.
        source: where the bits and the rules were read.
        step: spacing of representable values (2 for mixed-sign weights, whose LSB Lava drops).
        note: what surprised us, or what the chip may do differently.
    """

    name: str
    bits: int
    signed: bool
    lo: int
    hi: int
    overflow: str
    rounding: str
    source: Source
    step: int = 1
    note: str = ""

    @property
    def range(self) -> tuple[int, int]:
        return (self.lo, self.hi)

    def contains(self, x: Any) -> Any:
        """True where ``x`` is representable (in range and on the step grid)."""
        x = np.asarray(x)
        return (x >= self.lo) & (x <= self.hi) & (np.mod(x - self.lo, self.step) == 0)

    def clip(self, x: Any) -> Any:
        """Saturate to ``[lo, hi]`` (int64 array)."""
        return np.clip(np.asarray(x, dtype=np.int64), self.lo, self.hi)

    def wrap(self, x: Any) -> Any:
        """Wrap modulo ``step * 2**bits`` into ``[lo, lo + step * 2**bits)`` (int64 array)."""
        x = np.asarray(x, dtype=np.int64)
        return self.lo + np.mod(x - self.lo, self.step << self.bits)

    def fit(self, x: Any) -> Any:
        """What the model stores for ``x``: the overflow rule, then the rounding onto the step grid.

        :data:`UNCHECKED` formats return ``x`` unchanged (as an int64 array): Lava keeps it.
        """
        x = np.asarray(x, dtype=np.int64)
        if self.overflow == SATURATE:
            x = self.clip(x)
        elif self.overflow == WRAP:
            x = self.wrap(x)
        if self.step > 1:
            x = shift_right(x, 0, self.rounding, step=self.step)
        return x

    def shift_right(self, x: Any, n: int) -> Any:
        """``x / 2**n`` rounded by this format's rule (the hardware shift, not a float rounding)."""
        return shift_right(x, n, self.rounding)


def shift_right(x: Any, n: int, rounding: str, step: int = 1) -> Any:
    """``x / 2**n`` as an integer under ``rounding``, then onto multiples of ``step``.

    :data:`TOWARD_ZERO` is Lava's LIF decay (``sign(x) * (|x| >> n)``); :data:`FLOOR`
    is numpy's arithmetic ``>>`` (Dense's negative ``weight_exp``, the bias's negative
    exponent, the weight LSB drop).
    """
    x = np.asarray(x, dtype=np.int64)
    if rounding == TOWARD_ZERO:
        x = np.sign(x) * (np.abs(x) >> n)
    elif rounding == FLOOR:
        x = x >> n
    elif rounding != EXACT or n:
        raise ValueError(f"cannot shift by {n} with rounding {rounding!r}")
    if step > 1:
        x = np.floor_divide(x, step) * step if rounding == FLOOR else np.sign(x) * (np.abs(x) // step) * step
    return x


def _signed(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def _unsigned(bits: int) -> tuple[int, int]:
    return 0, (1 << bits) - 1


@dataclass(frozen=True)
class ChipLimits:
    """Resources and integer formats of one chip. All resource counts are per chip or per core as named.

    Neuron arithmetic (Lava ``PyLifModelBitAcc``, one step, integer units)::

        u = wrap24(trunc0(u * (decay_unit - du - du_offset) >> decay_shift_bits) + (a_in << state_shift_bits))
        v = sat24(trunc0(v * (decay_unit - dv - dv_offset) >> decay_shift_bits) + u + (bias_mant << bias_exp))
        spike = v > (vth_mant << state_shift_bits)      # strictly greater; then v = 0

    ``trunc0`` rounds toward zero; ``wrap24``/``sat24`` are :attr:`u_state`/:attr:`v_state`.
    """

    name: str
    # resources
    cores_per_chip: Figure
    neurons_per_chip: Figure
    synapses_per_chip: Figure
    embedded_cpus_per_chip: Figure
    compartments_per_core: Figure
    synaptic_memory_bytes_per_core: Figure
    fan_in_axons_per_core: Figure
    # neuron arithmetic constants
    decay_shift_bits: Figure
    decay_unit: Figure
    du_offset: Figure
    dv_offset: Figure
    state_shift_bits: Figure
    # formats
    weight_mixed: IntFormat
    weight_excitatory: IntFormat
    weight_inhibitory: IntFormat
    weight_exp: IntFormat
    du: IntFormat
    dv: IntFormat
    vth_mant: IntFormat
    bias_mant: IntFormat
    bias_exp: IntFormat
    u_state: IntFormat
    v_state: IntFormat
    dense_accumulator: IntFormat
    conv_accumulator: IntFormat
    graded_payload: IntFormat
    a_in: IntFormat
    spike_rule: str = "v > vth_mant << state_shift_bits (strictly greater), then v = 0"

    # --- names with units for the figures callers use most ---------------------------------
    @property
    def weight_mant_bits(self) -> int:
        return self.weight_mixed.bits

    @property
    def decay_bits(self) -> int:
        return self.du.bits

    @property
    def vth_mant_bits(self) -> int:
        return self.vth_mant.bits

    @property
    def bias_mant_bits(self) -> int:
        return self.bias_mant.bits

    @property
    def state_bits(self) -> int:
        return self.v_state.bits

    @property
    def graded_payload_bits(self) -> int:
        return self.graded_payload.bits

    # --- tiny pure helpers of the neuron arithmetic ----------------------------------------
    def current_retained(self, du: int) -> int:
        """Multiplier of ``u`` per step, out of :attr:`decay_unit` (``du = 4095`` clears u; ``du = 0`` still decays)."""
        return int(self.decay_unit - du - self.du_offset)

    def voltage_retained(self, dv: int) -> int:
        """Multiplier of ``v`` per step, out of :attr:`decay_unit` (``dv = 0`` keeps v; no dv clears it)."""
        return int(self.decay_unit - dv - self.dv_offset)

    def decay_current(self, u: Any, du: int) -> Any:
        """``u`` after one step's decay (before input), in integer state units."""
        product = np.asarray(u, dtype=np.int64) * self.current_retained(du)
        return self.u_state.shift_right(product, self.decay_shift_bits)

    def decay_voltage(self, v: Any, dv: int) -> Any:
        """``v`` after one step's decay (before ``u`` and bias are added), in integer state units."""
        product = np.asarray(v, dtype=np.int64) * self.voltage_retained(dv)
        return self.v_state.shift_right(product, self.decay_shift_bits)

    def effective_bias(self, bias_mant: Any, bias_exp: Any) -> Any:
        """``bias_mant << bias_exp`` (a negative exponent shifts right, rounding down), state units."""
        m, e = np.broadcast_arrays(np.asarray(bias_mant, dtype=np.int64), np.asarray(bias_exp, dtype=np.int64))
        return np.where(e >= 0, m << np.maximum(e, 0), m >> np.maximum(-e, 0))

    def effective_vth(self, vth_mant: int) -> int:
        """The value ``v`` must *exceed* to spike, in state units."""
        return int(vth_mant) << self.state_shift_bits

    def synaptic_input(self, a_in: Any) -> Any:
        """Synaptic input as added to ``u`` (``a_in << state_shift_bits``)."""
        return np.asarray(a_in, dtype=np.int64) << self.state_shift_bits

    def weight_format(self, weights: Any) -> IntFormat:
        """The weight format Lava's Dense picks for a matrix (its sign mode, from the values)."""
        w = np.asarray(weights)
        if w.size == 0 or w.min() >= 0:
            return self.weight_excitatory
        if w.max() <= 0:
            return self.weight_inhibitory
        return self.weight_mixed

    # --- listings ---------------------------------------------------------------------------
    def formats(self) -> dict[str, IntFormat]:
        return {f.name: getattr(self, f.name) for f in fields(self) if isinstance(getattr(self, f.name), IntFormat)}

    def figures(self) -> dict[str, Figure]:
        return {f.name: getattr(self, f.name) for f in fields(self) if isinstance(getattr(self, f.name), Figure)}

    def sources(self) -> dict[str, Source]:
        """Every cited source, by the figure or format name."""
        out = {n: f.source for n, f in self.figures().items()}
        out.update({n: f.source for n, f in self.formats().items()})
        return out


_STATE_BITS = 24  # lava/proc/lif/models.py:101 (cited below); every state format derives from it
_HALF = 1 << (_STATE_BITS - 1)
_WEIGHT_BITS = 8  # lava/proc/dense/models.py:68 and :87 (cited below)

LOIHI2 = ChipLimits(
    name="Loihi 2",
    # Intel's brief gives Loihi 2 per-chip figures ("up to"); per-core figures are public for Loihi 1 only.
    cores_per_chip=Figure(128, "neuro cores", Source(INTEL_BRIEF_2021)),
    neurons_per_chip=Figure(1_000_000, "neurons (up to)", Source(INTEL_BRIEF_2021)),
    synapses_per_chip=Figure(120_000_000, "synapses (up to)", Source(INTEL_BRIEF_2021)),
    embedded_cpus_per_chip=Figure(6, "embedded CPUs", Source(INTEL_BRIEF_2021)),
    compartments_per_core=Figure(1024, "compartments", Source(DAVIES_2018, loihi1_only=True)),
    synaptic_memory_bytes_per_core=Figure(128 * 1024, "bytes", Source(DAVIES_2018, loihi1_only=True)),
    fan_in_axons_per_core=Figure(4096, "axons", Source(DAVIES_2018, loihi1_only=True)),
    decay_shift_bits=Figure(12, "bits", _lava("proc/lif/models.py:104", "self.decay_shift = 12")),
    decay_unit=Figure(4096, "(= 1.0)", _lava("proc/lif/models.py:105", "self.decay_unity = 2**self.decay_shift")),
    # Loihi 1's 1-bit offset registers: du + 1 is the current's decay, dv + 0 the voltage's.
    du_offset=Figure(1, "decay units", _lava("proc/lif/models.py:94", "self.ds_offset = 1")),
    dv_offset=Figure(0, "decay units", _lava("proc/lif/models.py:95", "self.dm_offset = 0")),
    state_shift_bits=Figure(6, "bits", _lava("proc/lif/models.py:107", "self.vth_shift = 6")),
    weight_mixed=IntFormat(
        "weight_mixed", _WEIGHT_BITS, True, -256, 254, SATURATE, FLOOR,
        _lava("utils/weightutils.py:283", "min_wgt = (-2 ** num_bits) * mixed_flag"), step=2,
        note="mixed-sign matrix: Dense clips to [-256, 255] (weightutils.py:283-287) then drops the LSB "
             "(weightutils.py:236-239, arithmetic >>, so odd values round down: 127 -> 126, -1 -> -2); "
             "the 8-bit signed mantissa is weight/2. Conv (fixed_pt) clips nothing (conv/models.py:76)"),
    weight_excitatory=IntFormat(
        "weight_excitatory", _WEIGHT_BITS, False, *_unsigned(_WEIGHT_BITS), SATURATE, FLOOR,
        _lava("utils/weightutils.py:284", "max_wgt = 2 ** num_bits - 1 - learning_simulation * mixed_flag"),
        note="all weights >= 0: 8-bit magnitude 0..255, saturating; sign mode is picked from the values"),
    weight_inhibitory=IntFormat(
        "weight_inhibitory", _WEIGHT_BITS, True, -((1 << _WEIGHT_BITS) - 1), 0, SATURATE, FLOOR,
        _lava("utils/weightutils.py:281", "weights = -weights"),
        note="all weights <= 0: negated, clipped to 0..255, negated back (-255..0)"),
    weight_exp=IntFormat(
        "weight_exp", 8, True, *_signed(8), UNCHECKED, FLOOR,
        _lava("proc/conv/models.py:31", "weight_exp: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)"),
        note="Dense: sum << weight_exp, or >> -weight_exp rounding down (dense/models.py:103-107); no range "
             "check. Conv fixed_pt ignores weight_exp altogether (lava-nc#803). Loihi's own exponent range "
             "is not in the sources at hand"),
    du=IntFormat(
        "du", 12, False, *_unsigned(12), UNCHECKED, EXACT,
        _lava("proc/lif/models.py:82", "du: int = LavaPyType(int, np.uint16, precision=12)"),
        note="current keeps (4096 - du - 1)/4096 per step: du = 4095 clears u, du = 0 still decays by 1/4096"),
    dv=IntFormat(
        "dv", 12, False, *_unsigned(12), UNCHECKED, EXACT,
        _lava("proc/lif/models.py:83", "dv: int = LavaPyType(int, np.uint16, precision=12)"),
        note="voltage keeps (4096 - dv)/4096 per step: dv = 0 keeps v, dv = 4095 keeps 1/4096 (never clears)"),
    vth_mant=IntFormat(
        "vth_mant", 17, False, *_unsigned(17), UNCHECKED, EXACT,
        _lava("proc/lif/models.py:262", "vth: int = LavaPyType(int, np.int32, precision=17)"),
        note="compared as v > vth << 6 (lif/models.py:273, 278); Lava accepts any vth, e.g. 2**17 "
             "(2**23 after the shift, above every v)"),
    bias_mant=IntFormat(
        "bias_mant", 13, True, *_signed(13), UNCHECKED, EXACT,
        _lava("proc/lif/models.py:84", "bias_mant: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=13)"),
        note="13 bits are not enforced; the array is int16, so values beyond 16 bits wrap modulo 2**16 "
             "when Lava builds the model (py_builder.py:403)"),
    bias_exp=IntFormat(
        "bias_exp", 3, False, *_unsigned(3), UNCHECKED, FLOOR,
        _lava("proc/lif/models.py:85", "bias_exp: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=3)"),
        note="documented 0..7 (lif/models.py:256); the code also takes a negative exponent as an arithmetic "
             "right shift, rounding down (-3 >> 1 = -2) (lif/models.py:117-121)"),
    u_state=IntFormat(
        "u_state", _STATE_BITS, True, -_HALF + 1, _HALF, WRAP, TOWARD_ZERO,
        _lava("proc/lif/models.py:161", "wrapped_curr = np.where("),
        note="wraps by one +-2**24 correction when u > 2**23 or u <= -2**23 (lif/models.py:161-170), so "
             "u = +2**23 is kept and -2**23 becomes +2**23: the range is (-2**23, 2**23], not the "
             "two's complement one. One correction equals a modular wrap for |x| < 3 * 2**23, which is "
             "all a step reaches from an in-range u and the 16-bit a_in of lif/models.py:78. The decay "
             "rounds toward zero (lif/models.py:150)"),
    v_state=IntFormat(
        "v_state", _STATE_BITS, True, -_HALF + 1, _HALF - 1, SATURATE, TOWARD_ZERO,
        _lava("proc/lif/models.py:186", "self.v[:] = np.clip(updated_volt, neg_voltage_limit, pos_voltage_limit)"),
        note="saturates symmetrically to +-(2**23 - 1) (lif/models.py:176-177), unlike u, which wraps"),
    dense_accumulator=IntFormat(
        "dense_accumulator", 32, True, *_signed(32), WRAP, FLOOR,
        _lava("proc/dense/models.py:64", "a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=16)"),
        note="declared 16 bits but never clamped: the int32 numpy sum (and << weight_exp) wraps at 32 bits"),
    conv_accumulator=IntFormat(
        "conv_accumulator", _STATE_BITS, True, *_signed(_STATE_BITS), WRAP, EXACT,
        _lava("proc/conv/models.py:79", "return utils.signed_clamp(x, bits=24)"),
        note="'signed_clamp' wraps modulo 2**24 (conv/utils.py:84), it does not saturate"),
    graded_payload=IntFormat(
        "graded_payload", _STATE_BITS, True, *_signed(_STATE_BITS), UNCHECKED, EXACT,
        _lava("proc/conv/models.py:73", "s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)"),
        note="Lava's Dense/Conv only test num_message_bits > 0 (binary vs graded) and pass any int32 "
             "payload; 24 bits is the width Lava declares for Conv input and LIF output (lif/models.py:261)"),
    a_in=IntFormat(
        "a_in", 16, True, *_signed(16), UNCHECKED, EXACT,
        _lava("proc/lif/models.py:78", "a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int16, precision=16)"),
        note="a neuron's synaptic input per step, added to u as a_in << 6. Declared int16; Lava's CPU "
             "models do not enforce it (a_in = 65536 reaches u as 2**22, tests/test_limits.py), so the "
             "quantizers keep every neuron input inside the declared 16 bits, as a chip would need"),
)
"""Loihi 2 as Lava 0.10's bit-accurate models and Intel's public figures describe it."""


# --------------------------------------------------------------------------------------------
# Per-core budgets and per-operation costs, for the mapping pass (neurodeploy.passes.mapping)
# --------------------------------------------------------------------------------------------

DAVIES_2018_TABLE = DAVIES_2018 + ", Table 1 (pre-silicon, 14 nm)"


@dataclass(frozen=True)
class CoreBudget:
    """What one neuro core holds, the limits the mapping pass checks every block against.

    Attributes:
        name: ``loihi2-derived`` or ``loihi1``.
        neurons: compartments per core (neurons).
        synapses: stored synaptic weights per core (synapses), or 0 when the budget is in bits.
        synaptic_memory_bits: synaptic memory per core (bits), or 0 when the budget is in synapses.
        fan_in_axons: distinct input axons per core (axons).
        fan_out_axons: distinct (source neuron, destination core) routes per core (axons).
    """

    name: str
    neurons: Figure
    synapses: Figure
    synaptic_memory_bits: Figure
    fan_in_axons: Figure
    fan_out_axons: Figure

    def figures(self) -> dict[str, Figure]:
        return {f.name: getattr(self, f.name) for f in fields(self) if isinstance(getattr(self, f.name), Figure)}


_PER_CHIP = "Loihi 2 per-chip figure / cores_per_chip (Intel publishes no per-core figure)"
_FAN_OUT_ASSUMED = Source(DAVIES_2018, quote="fan-out assumed equal to the fan-in figure: LOIHI.md gives fan-in only",
                          loihi1_only=True, assumption=True)

LOIHI2_DERIVED_CORE = CoreBudget(
    name="loihi2-derived",
    neurons=Figure(int(LOIHI2.neurons_per_chip) // int(LOIHI2.cores_per_chip), "neurons",
                   Source(INTEL_BRIEF_2021, derived=f"neurons_per_chip / cores_per_chip; {_PER_CHIP}")),
    synapses=Figure(int(LOIHI2.synapses_per_chip) // int(LOIHI2.cores_per_chip), "synapses",
                    Source(INTEL_BRIEF_2021, derived=f"synapses_per_chip / cores_per_chip; {_PER_CHIP}")),
    synaptic_memory_bits=Figure(0, "bits", Source(INTEL_BRIEF_2021, quote="not published for Loihi 2; the "
                                                  "budget counts stored synapses instead")),
    fan_in_axons=LOIHI2.fan_in_axons_per_core,
    fan_out_axons=Figure(int(LOIHI2.fan_in_axons_per_core), "axons", _FAN_OUT_ASSUMED),
)
"""Loihi 2 per core where only per-chip figures exist: derived (flagged), fan-in and fan-out Loihi 1's."""

LOIHI1_CORE = CoreBudget(
    name="loihi1",
    neurons=LOIHI2.compartments_per_core,
    synapses=Figure(0, "synapses", Source(DAVIES_2018, quote="the budget is memory bits", loihi1_only=True)),
    synaptic_memory_bits=Figure(int(LOIHI2.synaptic_memory_bytes_per_core) * 8, "bits",
                                Source(DAVIES_2018, loihi1_only=True, derived="128 KB x 8 bits")),
    fan_in_axons=LOIHI2.fan_in_axons_per_core,
    fan_out_axons=Figure(int(LOIHI2.fan_in_axons_per_core), "axons", _FAN_OUT_ASSUMED),
)
"""Loihi 1's published per-core figures (Davies et al. 2018), the basis the reports used before the mapping."""

CORE_BUDGETS = {b.name: b for b in (LOIHI2_DERIVED_CORE, LOIHI1_CORE)}


@dataclass(frozen=True)
class OpCosts:
    """Energy (pJ) and time (ns) per chip operation. Loihi 1 figures: Intel has not published Loihi 2's.

    The energies are those of ``../shared/LOIHI.md``; the times are read from the same table of
    Davies et al. 2018 (they are not in LOIHI.md: check them against the paper first).
    """

    synop_pj: Measure
    synaptic_update_pj: Measure
    neuron_update_pj: Measure
    spike_within_tile_pj: Measure
    hop_east_west_pj: Measure
    hop_north_south_pj: Measure
    synop_ns: Measure
    neuron_update_ns: Measure
    spike_within_tile_ns: Measure
    hop_east_west_ns: Measure
    hop_north_south_ns: Measure

    def figures(self) -> dict[str, Measure]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


_DAVIES_T = Source(DAVIES_2018_TABLE, loihi1_only=True)
_DAVIES_TIME = Source(DAVIES_2018_TABLE, quote="time figures are not in LOIHI.md; verify against the paper",
                      loihi1_only=True)

LOIHI1_OPS = OpCosts(
    synop_pj=Measure(23.6, "pJ per synaptic op", _DAVIES_T),
    synaptic_update_pj=Measure(120.0, "pJ per synaptic update (learning)", _DAVIES_T),
    neuron_update_pj=Measure(52.0, "pJ per neuron update (active)", _DAVIES_T),
    spike_within_tile_pj=Measure(1.7, "pJ per spike within a tile", _DAVIES_T),
    hop_east_west_pj=Measure(3.0, "pJ per east-west hop", _DAVIES_T),
    hop_north_south_pj=Measure(4.0, "pJ per north-south hop", _DAVIES_T),
    synop_ns=Measure(3.5, "ns per synaptic op", _DAVIES_TIME),
    neuron_update_ns=Measure(8.4, "ns per neuron update (active)", _DAVIES_TIME),
    spike_within_tile_ns=Measure(2.1, "ns per spike within a tile", _DAVIES_TIME),
    hop_east_west_ns=Measure(4.1, "ns per east-west hop", _DAVIES_TIME),
    hop_north_south_ns=Measure(6.5, "ns per north-south hop", _DAVIES_TIME),
)
"""Per-operation energy and time of Loihi 1 (the only published figures); Loihi 2 is said to be faster."""
