"""Loihi 2 fixed-point formats, as data (one object per chip, not ``if``s in the mapper).

Source: Lava's bit-accurate models (``lava.proc.lif.models.PyLifModelBitAcc``,
``lava.proc.dense``/``conv`` fixed_pt models) and ../shared/LOIHI.md.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FixedPointFormats:
    """Bit widths of a chip's neuron and synapse state (all signed unless noted).

    Attributes:
        weight_bits: synaptic weight mantissa (signed), shared ``weight_exp`` per layer.
        decay_bits: ``du``/``dv`` (unsigned; decay factor ``(2**decay_bits - d) / 2**decay_bits``).
        vth_bits: threshold mantissa (unsigned); compared with ``v`` after ``<< state_shift``.
        state_bits: ``u`` and ``v`` (signed).
        state_shift: left shift applied to ``a_in`` and ``vth`` (Lava: 6).
        message_bits: maximum graded-spike payload.
    """

    weight_bits: int
    decay_bits: int
    vth_bits: int
    state_bits: int
    state_shift: int
    message_bits: int

    def signed_range(self, bits: int) -> tuple[int, int]:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


LOIHI2 = FixedPointFormats(weight_bits=8, decay_bits=12, vth_bits=17, state_bits=24, state_shift=6, message_bits=24)
