"""The integer formats quantization writes, as a view of :mod:`neurodeploy.limits` (no numbers here).

:data:`LOIHI2` is :class:`FixedPointFormats` over :data:`neurodeploy.limits.LOIHI2`: the bit
widths quantization needs under short names, and every :class:`~neurodeploy.limits.IntFormat`
(range, rounding, overflow, source) through :meth:`FixedPointFormats.formats`.
"""

from __future__ import annotations

from dataclasses import dataclass

from neurodeploy import limits
from neurodeploy.limits import ChipLimits, IntFormat


@dataclass(frozen=True)
class FixedPointFormats:
    """Bit widths of a chip's neuron and synapse formats, read from its :class:`ChipLimits`.

    Attributes (all derived from ``chip``):
        weight_bits: synaptic weight mantissa (signed), shared ``weight_exp`` per layer.
        decay_bits: ``du``/``dv`` (unsigned; 4096 = 1.0, see ``chip.decay_unit``).
        vth_bits: threshold mantissa (unsigned); compared with ``v`` after ``<< state_shift``.
        state_bits: ``u`` and ``v`` (signed).
        state_shift: left shift applied to ``a_in`` and ``vth``.
        message_bits: graded-spike payload.
    """

    chip: ChipLimits

    @property
    def weight_bits(self) -> int:
        return self.chip.weight_mant_bits

    @property
    def decay_bits(self) -> int:
        return self.chip.decay_bits

    @property
    def vth_bits(self) -> int:
        return self.chip.vth_mant_bits

    @property
    def state_bits(self) -> int:
        return self.chip.state_bits

    @property
    def state_shift(self) -> int:
        return int(self.chip.state_shift_bits)

    @property
    def message_bits(self) -> int:
        return self.chip.graded_payload_bits

    def formats(self) -> dict[str, IntFormat]:
        return self.chip.formats()

    @staticmethod
    def signed_range(bits: int) -> tuple[int, int]:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


LOIHI2 = FixedPointFormats(limits.LOIHI2)
"""Loihi 2 formats: a view of :data:`neurodeploy.limits.LOIHI2`."""
