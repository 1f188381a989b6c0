"""Loihi 2 systems as data: chips, links, and the assumptions that price what leaves a chip.

Ground layer, beside :mod:`neurodeploy.limits` (which holds the per-chip and per-core figures).
Every figure is a :class:`~neurodeploy.limits.Figure` or :class:`~neurodeploy.limits.Measure`
with its source; what no public source gives (link bandwidths, I/O energy per bit) is a named
assumption (``Source.assumption``) that the report and ``neurodeploy fit`` print beside the result.
Nothing else in the repository should spell a system figure as a literal.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from neurodeploy.errors import NeurodeployError
from neurodeploy.limits import INTEL_BRIEF_2021, LOIHI2, ChipLimits, Figure, Measure, Source, describe_figure

INTEL_HALA_POINT_2024 = "Intel newsroom, 'Intel builds world's largest neuromorphic system' (Hala Point), April 2024"
INTEL_KAPOHO_POINT_2022 = "Intel Neuromorphic Research Community: Kapoho Point board (8 Loihi 2 chips), 2022"
HOROWITZ_2014 = "M. Horowitz, 'Computing's energy problem (and what we can do about it)', ISSCC 2014"

_LINK = Source("assumption", quote="Loihi 2's brief lists 10GBASE-KR Ethernet among the chip's interfaces; "
                                   "that a board's host path sustains it is assumed, not published", assumption=True)
_CHIP_LINK = Source("assumption", quote="chip-to-chip bandwidth of Loihi 2 is not published; taken equal to the "
                                        "host link", assumption=True)
_IO_PJ = Source("assumption", quote="energy per bit off a chip (SerDes/Ethernet PHY class); no Loihi figure is "
                                    "published", assumption=True)
_HOST_MAC = Source(HOROWITZ_2014, quote="32-bit float MAC at 45 nm, arithmetic only: a floor for a host CPU, "
                                        "which also pays memory and control")

#: The assumptions every system shares (one place to change them; the report lists them).
HOST_LINK_BITS_PER_S = Measure(10e9, "bit/s", _LINK)
CHIP_LINK_BITS_PER_S = Measure(10e9, "bit/s per chip", _CHIP_LINK)
IO_PJ_PER_BIT = Measure(10.0, "pJ/bit", _IO_PJ)
HOST_PJ_PER_MAC = Measure(4.6, "pJ per MAC", _HOST_MAC)
AER_ADDRESS_BITS = Figure(32, "bits per spike message", Source(
    "assumption", quote="a binary spike crosses a link as one address-event message of this many bits",
    assumption=True))


@dataclass(frozen=True)
class System:
    """One Loihi 2 system.

    Attributes:
        name: what ``--system`` takes.
        title: its public name.
        chips: Loihi 2 chips (chips).
        chip: the chip's limits.
        host_link_bits_per_s: chip/host link bandwidth (bit/s).
        chip_link_bits_per_s: each chip's chip-to-chip bandwidth (bit/s).
        io_pj_per_bit: energy per bit crossing a chip boundary (pJ/bit).
        host_pj_per_mac: host CPU energy per multiply-accumulate (pJ).
    """

    name: str
    title: str
    chips: Figure
    chip: ChipLimits = LOIHI2
    host_link_bits_per_s: Measure = HOST_LINK_BITS_PER_S
    chip_link_bits_per_s: Measure = CHIP_LINK_BITS_PER_S
    io_pj_per_bit: Measure = IO_PJ_PER_BIT
    host_pj_per_mac: Measure = HOST_PJ_PER_MAC

    @property
    def cores(self) -> int:
        """Neuro cores of the whole system (cores): chips x cores per chip (derived)."""
        return int(self.chips) * int(self.chip.cores_per_chip)

    def figures(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)
                if isinstance(getattr(self, f.name), (Figure, Measure))}

    def describe(self) -> dict[str, Any]:
        """JSON: every figure with its source and flags, and the derived core count."""
        out = {"name": self.name, "title": self.title, "cores": self.cores,
               "cores_derived": f"chips x {int(self.chip.cores_per_chip)} cores per chip ({self.chip.name})"}
        out.update({k: describe_figure(v) for k, v in self.figures().items()})
        out["aer_address_bits"] = describe_figure(AER_ADDRESS_BITS)
        return out


SYSTEMS: dict[str, System] = {s.name: s for s in (
    System("oheo-gulch", "Oheo Gulch (single-chip board)", Figure(1, "chips", Source(INTEL_BRIEF_2021))),
    System("kapoho-point", "Kapoho Point (8-chip board)", Figure(8, "chips", Source(INTEL_KAPOHO_POINT_2022))),
    System("hala-point", "Hala Point (1,152-chip system)", Figure(1152, "chips", Source(INTEL_HALA_POINT_2024))),
)}
"""The systems ``--system`` names, smallest first."""


def get_system(name: str) -> System:
    """The system called ``name``; one line naming the choices otherwise."""
    try:
        return SYSTEMS[name]
    except KeyError:
        raise NeurodeployError(f"unknown system '{name}'; choose one of: {', '.join(SYSTEMS)}") from None
