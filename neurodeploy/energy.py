"""Energy models: three stated conventions, each a small class with its constants and sources.

Every model turns one :class:`OpCounts` (per image) into an energy in pJ. Definitions of
the counts are in :mod:`neurodeploy.ops` (NeuroBench effective operations). The three
models answer different questions and disagree by orders of magnitude; a report prints
all three with the reason:

- :class:`PapersConvention` -- what the derainer papers print (``../shared/DERAINERS.md``):
  ``12.5 pJ × FLOPs + 77 fJ × SOPs + 3.7 pJ × spikes``, where FLOPs are thop's count
  (only layers of an exact type thop knows, i.e. mostly *not* the spiking convs) and SOPs
  the synaptic operations thop saw. It reproduces ESDNet's 9.15e4 µJ, but it mostly
  prices the real-valued attention layers; it is not a hardware estimate.
- :class:`Horowitz45nm` -- the convention most SNN papers use: every accumulate (a
  binary-spike synaptic op) 0.9 pJ, every multiply-accumulate (graded/real input, host
  blocks) 4.6 pJ; 32-bit float at 45 nm (Horowitz, ISSCC 2014). Memory traffic ignored.
- :class:`LoihiPerOp` -- per-operation energies of Loihi **1** (Davies et al. 2018,
  pre-silicon, 14 nm; Intel has not published Loihi 2's): 23.6 pJ per synaptic op,
  52 pJ per neuron update, 1.7 pJ per spike within a tile. Chip part only: the host
  blocks run elsewhere and are listed apart (their MACs at 45 nm).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

from neurodeploy.limits import LOIHI1_OPS
from neurodeploy.systems import HOST_PJ_PER_MAC

PJ_PER_UJ = 1e6


@dataclass(frozen=True)
class OpCounts:
    """Operation counts of one image (all T steps). Units: operations, spikes, updates.

    Attributes:
        synops: effective ops on binary spike inputs (accumulates), chip part.
        effective_macs: effective ops on graded or real inputs on the chip part (multiply-accumulates).
        host_macs: multiply-accumulates of the host part (host blocks, host convs).
        spikes: spikes emitted by all neurons.
        neuron_updates: neurons × T steps (every compartment is updated every step).
        flops_paper: thop's FLOPs (the papers' convention, :mod:`neurodeploy.models.counting`).
        synops_paper: synaptic ops through layers thop sees (the papers' SOP term).
    """

    synops: float = 0.0
    effective_macs: float = 0.0
    host_macs: float = 0.0
    spikes: float = 0.0
    neuron_updates: float = 0.0
    flops_paper: float = 0.0
    synops_paper: float = 0.0


@dataclass(frozen=True)
class EnergyModel:
    """An energy convention: ``energy_pj(counts)`` and the terms it adds up."""

    key: ClassVar[str] = ""
    title: ClassVar[str] = ""
    sources: ClassVar[tuple[str, ...]] = ()
    note: ClassVar[str] = ""

    def terms_pj(self, c: OpCounts) -> dict[str, float]:  # pragma: no cover - abstract
        raise NotImplementedError

    def energy_pj(self, c: OpCounts) -> float:
        """Energy of one image in pJ."""
        return float(sum(self.terms_pj(c).values()))

    def energy_uj(self, c: OpCounts) -> float:
        """Energy of one image in µJ."""
        return self.energy_pj(c) / PJ_PER_UJ

    def describe(self, c: OpCounts, fps: float | None = None) -> dict:
        """JSON: total per image (µJ), per second of video at ``fps`` (µJ/s = µW), terms, constants, sources."""
        e = self.energy_uj(c)
        return {
            "title": self.title,
            "per_image_uj": e,
            "fps": fps,
            "per_second_uj": e * fps if fps else None,
            "terms_uj": {k: v / PJ_PER_UJ for k, v in self.terms_pj(c).items()},
            "constants_pj": asdict(self),
            "sources": list(self.sources),
            "note": self.note,
        }


@dataclass(frozen=True)
class PapersConvention(EnergyModel):
    """``E = flop_pj × FLOPs(thop) + sop_pj × SOPs + spike_pj × spikes`` (pJ; DERAINERS.md)."""

    flop_pj: float = 12.5
    sop_pj: float = 0.077
    spike_pj: float = 3.7
    key: ClassVar[str] = "papers"
    title: ClassVar[str] = "derainer papers' convention (12.5 pJ/FLOP thop + 77 fJ/SOP + 3.7 pJ/spike)"
    sources: ClassVar[tuple[str, ...]] = (
        "ESDNet (Song et al., IJCAI 2024) and VLIF-Net energy sections, as summarised in ../shared/DERAINERS.md",)
    note: ClassVar[str] = ("FLOPs are thop's: layers of a type thop does not know (the spiking convs) count zero, so "
                           "this mostly prices the real-valued attention layers; it reproduces the papers' figures, "
                           "it is not a hardware estimate")

    def terms_pj(self, c: OpCounts) -> dict[str, float]:
        return {"flops": self.flop_pj * c.flops_paper, "sops": self.sop_pj * c.synops_paper,
                "spikes": self.spike_pj * c.spikes}


@dataclass(frozen=True)
class Horowitz45nm(EnergyModel):
    """``E = ac_pj × synops + mac_pj × (effective MACs + host MACs)`` (pJ)."""

    ac_pj: float = 0.9
    mac_pj: float = float(HOST_PJ_PER_MAC)  # one copy, with its source, in systems.py
    key: ClassVar[str] = "horowitz45nm"
    title: ClassVar[str] = "45 nm AC/MAC (0.9 pJ per AC, 4.6 pJ per MAC, 32-bit float)"
    sources: ClassVar[tuple[str, ...]] = (
        "M. Horowitz, 'Computing's energy problem (and what we can do about it)', ISSCC 2014 (via ../shared/LOIHI.md)",)
    note: ClassVar[str] = "arithmetic only (no memory access, no neuron updates); the convention of most SNN papers"

    def terms_pj(self, c: OpCounts) -> dict[str, float]:
        return {"synops": self.ac_pj * c.synops, "macs": self.mac_pj * (c.effective_macs + c.host_macs)}


@dataclass(frozen=True)
class LoihiPerOp(EnergyModel):
    """``E = synop_pj × (synops + effective MACs) + neuron_update_pj × neuron updates + spike_pj × spikes`` (pJ).

    Graded and real inputs on the chip arrive as graded spikes: one synaptic op each.
    Host MACs are not in the total (they are not on Loihi); ``host_macs`` is reported beside.
    """

    # the one copy of these figures is limits.LOIHI1_OPS, with its source
    synop_pj: float = float(LOIHI1_OPS.synop_pj)
    neuron_update_pj: float = float(LOIHI1_OPS.neuron_update_pj)
    spike_pj: float = float(LOIHI1_OPS.spike_within_tile_pj)
    key: ClassVar[str] = "loihi"
    title: ClassVar[str] = (f"Loihi per-operation (Loihi 1 figures: {LOIHI1_OPS.synop_pj:g} pJ/synop, "
                            f"{LOIHI1_OPS.neuron_update_pj:g} pJ/neuron update, "
                            f"{LOIHI1_OPS.spike_within_tile_pj:g} pJ/spike)")
    sources: ClassVar[tuple[str, ...]] = (
        "Davies et al., 'Loihi: a neuromorphic manycore processor with on-chip learning', IEEE Micro 38(1), 2018 "
        "(pre-silicon, 14 nm; via ../shared/LOIHI.md)",)
    note: ClassVar[str] = ("Loihi 1 figures: Intel has not published Loihi 2 per-operation energies; chip part only, "
                           "host blocks excluded")

    def terms_pj(self, c: OpCounts) -> dict[str, float]:
        return {"synops": self.synop_pj * (c.synops + c.effective_macs),
                "neuron_updates": self.neuron_update_pj * c.neuron_updates, "spikes": self.spike_pj * c.spikes}


#: The three models every report prints, by key.
MODELS: dict[str, EnergyModel] = {m.key: m for m in (PapersConvention(), Horowitz45nm(), LoihiPerOp())}

WHY_THEY_DIFFER = (
    "The papers' convention prices thop's FLOPs at 12.5 pJ each -- thop skips the spiking convs, so it prices the "
    "real-valued attention layers and little else; 45 nm prices every effective AC (0.9 pJ) and MAC (4.6 pJ) of the "
    "whole network as 32-bit float arithmetic, memory ignored; Loihi prices every synaptic event on the chip at "
    "23.6 pJ (Loihi 1, pre-silicon), real-valued inputs sent as graded spikes too, and adds a neuron "
    "update per neuron per step; the host part is not in it.")


def energy_section(counts: OpCounts, fps: float | None = None) -> dict:
    """The ``energy`` section of a report: counts, every model's totals and terms, why they differ."""
    return {"counts": asdict(counts), "fps": fps,
            "models": {k: m.describe(counts, fps) for k, m in MODELS.items()}, "why_they_differ": WHY_THEY_DIFFER}
